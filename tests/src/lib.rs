//! Test support.

pub mod harness;
pub mod mock;
pub mod upstream;
pub mod wasm;
