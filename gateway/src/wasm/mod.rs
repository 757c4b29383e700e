//! WASM middleware modules (`--enable-wasm`): operators register WebAssembly components
//! implementing `smg:gateway`'s WIT (`gateway/wit/smg.wit`, upstream SMG's interface plus an
//! optional `middleware-on-error` export), and the serving routes run them on each request,
//! response and upstream failure, sandboxed by `wasmtime` with upstream's limits.
//!
//! - [`service`]: registration (by path or upload), removal, persistence, metrics;
//! - [`runtime`]: the engine, limits and calls;
//! - [`middleware`]: the axum layer on the serving routes;
//! - [`validate`]: the module file checks;
//! - [`abi`]: the WIT types on the host side.

pub mod abi;
pub mod middleware;
pub mod runtime;
pub mod service;
pub mod validate;

pub use middleware::layer;
pub use runtime::{ExecError, Limits, LoadError, WasmRuntime};
pub use service::{RemoveError, WasmError, WasmService};

#[cfg(test)]
mod tests;
