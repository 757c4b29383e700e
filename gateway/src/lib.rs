//! A Shepherd Model Gateway (SMG) compatible gateway: worker control plane, fan-out admin
//! operations, and the public health and model routes.

pub mod app;
pub mod auth;
pub mod config;
pub mod demo;
pub mod error;
pub mod info;
pub mod loads;
pub mod metrics;
pub mod monitor;
pub mod parsers;
pub mod proxy;
pub mod request_id;
pub mod routes;
pub mod store;
pub mod tokenizers;
pub mod upstream;
pub mod wasm;
pub mod workers;

pub use app::{Gateway, StartError};
pub use config::GatewayConfig;
