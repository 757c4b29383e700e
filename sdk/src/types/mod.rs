//! Wire types: serde only, one module per resource. Field names and enum spellings are
//! upstream SMG's.

pub mod error;
pub mod health;
pub mod loads;
pub mod models;
pub mod parse;
pub mod secret;
pub mod workers;

pub use error::*;
pub use health::*;
pub use loads::*;
pub use models::*;
pub use parse::*;
pub use secret::*;
pub use workers::*;
