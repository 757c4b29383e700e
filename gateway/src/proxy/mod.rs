//! The data plane: routes inference requests to ready workers.

/// Set as a response extension when a proxied request failed at the worker (unreachable,
/// timed out, or answered 5xx), so middleware such as WASM `OnError` modules can react.
#[derive(Debug, Clone)]
pub struct UpstreamFailure {
    /// The worker that failed, when one was chosen.
    pub worker: Option<String>,
    /// What went wrong.
    pub message: String,
}
