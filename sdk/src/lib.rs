//! Typed wire types and an async client for the Shepherd Model Gateway (SMG) HTTP API.
//!
//! - [`types`]: the request and response bodies, with upstream SMG's field names and enum
//!   spellings, shared by the gateway, the CLI and the TUI.
//! - [`Client`]: an async client with separate control-plane and serving credentials,
//!   idempotency-aware retries, per-request timeouts, one [`Error`] type that understands every
//!   upstream error shape, helpers that wait for the jobs behind `202 Accepted`, and a worker
//!   watch stream.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use smg_sdk::{Client, WorkerSpec};
//!
//! #[tokio::main]
//! async fn main() -> smg_sdk::Result<()> {
//!     let client = Client::builder("http://localhost:30000")
//!         .admin_token(std::env::var("SMG_ADMIN_TOKEN").unwrap_or_default())
//!         .build()?;
//!
//!     // Register a worker and wait until the gateway routes to it.
//!     let worker = client
//!         .workers()
//!         .create_and_wait(&WorkerSpec::new("http://10.0.0.5:8000"), Duration::from_secs(120))
//!         .await?;
//!     println!("{} is {:?}", worker.id, worker.status);
//!
//!     // List every worker.
//!     for w in client.workers().list().await?.workers {
//!         println!("{}  {}  {}", w.id, w.spec.url, w.status.map_or("-", |s| s.as_str()));
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Errors carry what an operator needs:
//!
//! ```no_run
//! # async fn demo(client: smg_sdk::Client) {
//! match client.workers().get("0198c1f2-0000-7000-8000-000000000000").await {
//!     Ok(info) => println!("{info:?}"),
//!     Err(e) if e.is_not_found() => println!("no such worker"),
//!     Err(e) => eprintln!("{e}"), // status, code, message and request id
//! }
//! # }
//! ```
//!
//! # Automation examples
//!
//! `sdk/examples/` holds one runnable program per job a CI pipeline or an operator's script
//! does with the gateway. Each reads the gateway URL from `SMG_URL` (default
//! `http://127.0.0.1:30000`) and the admin token from `SMG_ADMIN_TOKEN`, prints what it did, and
//! exits non-zero with the cause when something fails:
//!
//! | Example | Automation | Routes |
//! |---|---|---|
//! | `register_and_wait` | add a worker and wait until it takes traffic | `POST /workers`, `GET /workers/{id}` |
//! | `retire` | drain a worker and remove it without failing a request | `POST /workers/{id}/retire`, `GET /workers/{id}` |
//! | `rotate_key` | rotate a runtime API key and hand the new secret on | `GET /admin/api-keys`, `POST /admin/api-keys/{id}/rotate`, `GET /admin/whoami` |
//! | `loads` | read the engine loads of the fleet | `GET /get_loads`, or `GET /loads` |
//!
//! ```text
//! SMG_URL=http://gateway:30000 SMG_ADMIN_TOKEN=… cargo run -p smg-sdk --example retire -- <worker-id>
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod error;
pub mod prometheus;
pub mod types;

pub use client::{
    ApiKeys, ApiRequest, Client, ClientBuilder, EventStream, GatewayIdentity, GatewayKind,
    RouteKind, Tokenizers, Wasm, WorkerEvent, Workers,
};
pub use error::{ApiError, Error, Result, Unsupported, UnsupportedKind};
pub use reqwest::Method;
pub use types::*;
