//! Names of the metrics on the gateway's Prometheus endpoint (`--prometheus-port`,
//! `GET /metrics`) and of their labels, defined once for the gateway that writes them and the
//! dashboards and scripts that read them.

/// Counter: proxied requests, labelled [`labels::ROUTE`], [`labels::MODEL`],
/// [`labels::WORKER`], [`labels::STATUS`] (an HTTP status, `error` or `stream_error`).
pub const REQUESTS_TOTAL: &str = "smg_requests_total";
/// Histogram: seconds from receiving a proxied request to the end of its response, labelled
/// route, model, worker.
pub const REQUEST_DURATION_SECONDS: &str = "smg_request_duration_seconds";
/// Gauge: proxied requests in flight, labelled worker.
pub const REQUESTS_IN_FLIGHT: &str = "smg_requests_in_flight";
/// Counter: retries of proxied requests, labelled route and the worker that failed.
pub const RETRIES_TOTAL: &str = "smg_retries_total";
/// Gauge: circuit breaker per worker (0 closed, 1 open, 2 half-open).
pub const CIRCUIT_BREAKER_STATE: &str = "smg_circuit_breaker_state";
/// Gauge: 1 when the worker is ready, else 0; labelled worker and status.
pub const WORKER_HEALTHY: &str = "smg_worker_healthy";
/// Gauge: requests in flight through the gateway per worker.
pub const WORKER_LOAD: &str = "smg_worker_load";
/// Gauge: requests the worker's engine reports, labelled worker and [`labels::STATE`].
pub const WORKER_ENGINE_REQUESTS: &str = "smg_worker_engine_requests";
/// Gauge: KV-cache usage the worker's engine reports, 0..1, labelled worker.
pub const WORKER_ENGINE_TOKEN_USAGE: &str = "smg_worker_engine_token_usage";
/// Gauge: worker jobs queued or running.
pub const JOB_QUEUE_DEPTH: &str = "smg_job_queue_depth";

/// Every metric name above.
pub const ALL: &[&str] = &[
    REQUESTS_TOTAL,
    REQUEST_DURATION_SECONDS,
    REQUESTS_IN_FLIGHT,
    RETRIES_TOTAL,
    CIRCUIT_BREAKER_STATE,
    WORKER_HEALTHY,
    WORKER_LOAD,
    WORKER_ENGINE_REQUESTS,
    WORKER_ENGINE_TOKEN_USAGE,
    JOB_QUEUE_DEPTH,
];

/// Label keys of the metrics above.
pub mod labels {
    /// The route of a proxied request (from the fixed route table).
    pub const ROUTE: &str = "route";
    /// The model of a proxied request (one that workers serve).
    pub const MODEL: &str = "model";
    /// A worker's registered URL.
    pub const WORKER: &str = "worker";
    /// An HTTP status, `error` or `stream_error` on requests; a worker's health status on
    /// `smg_worker_healthy`.
    pub const STATUS: &str = "status";
    /// The engine's request state on `smg_worker_engine_requests`.
    pub const STATE: &str = "state";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_unique_prefixed_and_valid() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL {
            assert!(seen.insert(*name), "{name} listed twice");
            assert!(name.starts_with("smg_"), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name} is not a valid metric name"
            );
        }
    }
}
