//! Wire types: serde only, one module per resource. Field names and enum spellings are
//! upstream SMG's.

pub mod audit;
pub mod error;
pub mod error_codes;
pub mod health;
pub mod inference;
pub mod keys;
pub mod loads;
pub mod metric_names;
pub mod models;
pub mod parse;
pub mod profile;
pub mod secret;
pub mod tokenizers;
pub mod wasm;
pub mod workers;

pub use audit::*;
pub use error::*;
pub use health::*;
pub use inference::*;
pub use keys::*;
pub use loads::*;
pub use models::*;
pub use parse::*;
pub use profile::*;
pub use secret::*;
pub use tokenizers::*;
pub use wasm::*;
pub use workers::*;
