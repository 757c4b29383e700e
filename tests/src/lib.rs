//! Test support.

pub mod harness;
pub mod mock;
pub mod wasm;
