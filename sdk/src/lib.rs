//! Typed wire types and an async client for the Shepherd Model Gateway (SMG) HTTP API.

pub mod types;

pub use types::*;
