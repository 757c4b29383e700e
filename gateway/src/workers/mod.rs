//! The worker registry and everything that changes it: registration, health checks,
//! updates and removal.

pub mod health;
pub mod jobs;
pub mod queue;
pub mod registration;
pub mod registry;
pub mod service;
pub mod url;

pub use registry::{Registry, Worker};
pub use service::{CreateWorkerRequest, WorkerError, WorkerListPieces, WorkerService};
