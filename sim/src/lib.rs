//! Simulated inference workers: a fleet of HTTP servers that answer like SGLang or vLLM
//! engines (health, model metadata, loads, metrics, cache flush and the inference
//! endpoints), with a small engine model behind them so that loads move with traffic, and
//! `/_mock/*` routes for fault injection and statistics.
//!
//! Each worker serves:
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /health`, `GET /health_generate` | 200 `OK`; 503 with `health: fail` |
//! | `GET /v1/models` | one model, `owned_by` = runtime, `max_model_len` |
//! | `GET /server_info`, `/get_server_info`, `/model_info`, `/get_model_info` | SGLang only (404 on vLLM) |
//! | `GET /version` | vLLM only (404 on SGLang) |
//! | `GET /v1/loads` | [`smg_sdk::WorkerLoadResponse`] from the engine model |
//! | `GET /metrics` | Prometheus text, `sglang:` or `vllm:` names |
//! | `POST /flush_cache` | empties the prefix cache; 500 with `flush: fail` |
//! | `POST /start_profile`, `POST /stop_profile` | SGLang's text answers; counted, with the start options kept |
//! | `POST /generate`, `/v1/chat/completions`, `/v1/completions`, `/v1/messages` | JSON or SSE (`stream: true`) |
//! | `POST /v1/embeddings`, `/v1/rerank`, `/rerank`, `/v1/classify` | JSON |
//! | `GET`/`POST /_mock/fault`, `GET /_mock/stats`, `POST /_mock/reset` | control; never faulted or authenticated |
//!
//! Faults (`POST /_mock/fault` merges a partial [`Fault`]): `health`, `flush`, `latency_ms`,
//! `drop_connections`, `status` (e.g. `{"status": 503}`: inference answers that status;
//! `null` clears it) and `break_stream_after` (streams are cut after that many tokens).
//!
//! Every response carries [`WORKER_HEADER`] and [`PORT_HEADER`].
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use smg_sim::{Fault, HealthFault, MockConfig, MockFleet};
//! let fleet = MockFleet::start(0, 2, MockConfig::default()).await?;
//! let urls = fleet.urls();
//! fleet.workers()[0].set_fault(Fault { health: HealthFault::Fail, ..Fault::default() });
//! fleet.shutdown().await;
//! # Ok(()) }
//! ```

mod cache;
mod engine;
mod inference;
mod routes;
mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use cache::BLOCK_SIZE;
pub use server::{PORT_HEADER, WORKER_HEADER};

use engine::Engine;

/// Model id served when none is configured.
pub const DEFAULT_MODEL: &str = "mock-model";
/// Context window advertised by `/v1/models` (`max_model_len`) and `/server_info`.
pub const CONTEXT_LENGTH: u32 = 32768;
/// Version string a vLLM worker reports on `GET /version`.
pub const VLLM_VERSION: &str = "0.9.0";
/// Version string an SGLang worker reports in `/server_info`.
pub const SGLANG_VERSION: &str = "0.4.10";

/// Which engine the simulated worker pretends to be.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum MockRuntime {
    /// SGLang: `/server_info`, `/model_info`, `sglang:` metrics; no `/version`.
    #[default]
    Sglang,
    /// vLLM: `/version`, `vllm:` metrics; no `/server_info` or `/model_info`.
    Vllm,
}

impl MockRuntime {
    /// The wire spelling (also the `owned_by` of `/v1/models`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sglang => "sglang",
            Self::Vllm => "vllm",
        }
    }
}

impl fmt::Display for MockRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Injected health state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum HealthFault {
    /// `/health` and `/health_generate` answer 200.
    #[default]
    Ok,
    /// `/health` and `/health_generate` answer 503.
    Fail,
}

/// Injected cache-flush behaviour.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum FlushFault {
    /// `/flush_cache` answers 200 and empties the prefix cache.
    #[default]
    Ok,
    /// `/flush_cache` answers 500 and keeps the cache.
    Fail,
}

/// The faults a worker currently injects. `/_mock/*` routes are never affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// Health endpoints fail with 503.
    pub health: HealthFault,
    /// Extra delay added before answering every request.
    pub latency_ms: u64,
    /// `/flush_cache` fails with 500.
    pub flush: FlushFault,
    /// Close every connection without an HTTP response.
    pub drop_connections: bool,
    /// Answer every inference request with this status (and an error body) instead of
    /// serving it; `None`: serve normally.
    pub status: Option<u16>,
    /// Break every streamed answer after this many generated tokens: the connection is cut
    /// without the stream's end. `None`: streams finish.
    pub break_stream_after: Option<u32>,
}

/// A partial [`Fault`]: the body of `POST /_mock/fault`. Set fields replace the current ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPatch {
    /// New health state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthFault>,
    /// New extra latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// New flush behaviour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flush: Option<FlushFault>,
    /// New connection-dropping state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_connections: Option<bool>,
    /// New injected status: a code sets it, `null` clears it.
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub status: Option<Option<u16>>,
    /// New stream-breaking point: a count sets it, `null` clears it.
    #[serde(deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub break_stream_after: Option<Option<u32>>,
}

/// A field that is present (possibly `null`) in a patch; absent fields stay `None` through
/// `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl Fault {
    /// Merge `patch` into `self`.
    pub fn apply(&mut self, patch: &FaultPatch) {
        if let Some(health) = patch.health {
            self.health = health;
        }
        if let Some(latency_ms) = patch.latency_ms {
            self.latency_ms = latency_ms;
        }
        if let Some(flush) = patch.flush {
            self.flush = flush;
        }
        if let Some(drop_connections) = patch.drop_connections {
            self.drop_connections = drop_connections;
        }
        if let Some(status) = patch.status {
            self.status = status;
        }
        if let Some(after) = patch.break_stream_after {
            self.break_stream_after = after;
        }
    }
}

/// Configuration shared by every worker of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockConfig {
    /// Model id served (`/v1/models`, `served_model_name`).
    pub model: String,
    /// Engine flavour.
    pub runtime: MockRuntime,
    /// Time to first token (prefill) of every inference request, in ms.
    pub latency_ms: u64,
    /// Delay between generated tokens, in ms.
    pub itl_ms: u64,
    /// Concurrent requests before new ones wait.
    pub max_running_requests: usize,
    /// KV-cache capacity in tokens.
    pub max_total_tokens: i32,
    /// When set, every non-`/_mock` request needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Address to bind.
    pub host: String,
    /// Fault in force at start-up (and after nothing else: `/_mock/reset` clears it).
    pub fault: Fault,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.to_string(),
            runtime: MockRuntime::Sglang,
            latency_ms: 0,
            itl_ms: 0,
            max_running_requests: 64,
            max_total_tokens: 65536,
            api_key: None,
            host: "127.0.0.1".to_string(),
            fault: Fault::default(),
        }
    }
}

/// What a worker has seen, as returned by `GET /_mock/stats`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MockStats {
    /// Inference requests received (generate, chat, completions, embeddings, rerank,
    /// classify, messages), including rejected ones.
    pub requests_total: u64,
    /// Every answered non-`/_mock` request by path (at most a few hundred distinct paths;
    /// the rest count under `<other>`).
    pub requests_by_path: BTreeMap<String, u64>,
    /// `/flush_cache` requests received (successful or failed).
    pub flushes: u64,
    /// `/health` and `/health_generate` requests received.
    pub health_probes: u64,
    /// Connections closed without a response because of `drop_connections`.
    pub dropped_connections: u64,
    /// `Authorization` header of the latest non-`/_mock` request (`None` when it had none).
    pub last_authorization: Option<String>,
    /// Headers of the latest non-`/_mock` POST (inference, flush; health probes are GETs
    /// and leave it alone), by lower-case name; repeated headers are joined with `, `.
    pub last_request_headers: BTreeMap<String, String>,
    /// HTTP version of the latest non-`/_mock` request (`HTTP/1.1`, `HTTP/2.0`).
    pub last_http_version: Option<String>,
    /// `/start_profile` requests received.
    pub profile_starts: u64,
    /// `/stop_profile` requests received.
    pub profile_stops: u64,
    /// JSON body of the latest `/start_profile` (`None`: none yet, or it had no body).
    pub last_profile_options: Option<serde_json::Value>,
    /// Requests holding a running slot now.
    pub running: usize,
    /// Requests waiting for a running slot now.
    pub waiting: usize,
    /// Blocks in the prefix cache.
    pub cache_entries: usize,
    /// Prompt tokens of generation requests admitted.
    pub prompt_tokens_total: u64,
    /// Of those, tokens found in the prefix cache.
    pub cached_tokens_total: u64,
    /// Tokens generated.
    pub generation_tokens_total: u64,
}

/// Distinct paths tracked in [`MockStats::requests_by_path`]; bounds memory under scans.
const MAX_TRACKED_PATHS: usize = 256;
const OTHER_PATH: &str = "<other>";

/// Per-request bookkeeping that `/_mock/reset` clears (the engine keeps the rest).
#[derive(Debug, Default)]
struct Counters {
    requests_total: u64,
    requests_by_path: BTreeMap<String, u64>,
    flushes: u64,
    health_probes: u64,
    dropped_connections: u64,
    last_authorization: Option<String>,
    last_request_headers: BTreeMap<String, String>,
    last_http_version: Option<String>,
    profile_starts: u64,
    profile_stops: u64,
    last_profile_options: Option<serde_json::Value>,
}

/// Lock a mutex, ignoring poisoning: the guarded data are plain counters that stay
/// consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Everything one worker owns.
struct WorkerState {
    index: usize,
    port: u16,
    url: String,
    config: MockConfig,
    fault: Mutex<Fault>,
    counters: Mutex<Counters>,
    engine: Arc<Engine>,
    next_id: AtomicU64,
}

impl WorkerState {
    fn fault(&self) -> Fault {
        *lock(&self.fault)
    }

    fn served_model(&self) -> &str {
        &self.config.model
    }

    /// A fresh response id, unique per worker, e.g. `chatcmpl-mock0-7`.
    fn new_id(&self, prefix: &str) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-mock{}-{n}", self.index)
    }

    fn record_request(
        &self,
        path: &str,
        version: String,
        authorization: Option<String>,
        headers: Option<BTreeMap<String, String>>,
    ) {
        let mut counters = lock(&self.counters);
        counters.last_http_version = Some(version);
        if let Some(headers) = headers {
            counters.last_request_headers = headers;
        }
        let key = if counters.requests_by_path.contains_key(path)
            || counters.requests_by_path.len() < MAX_TRACKED_PATHS
        {
            path
        } else {
            OTHER_PATH
        };
        *counters
            .requests_by_path
            .entry(key.to_string())
            .or_default() += 1;
        counters.last_authorization = authorization;
    }

    fn count_inference(&self) {
        lock(&self.counters).requests_total += 1;
    }

    fn count_flush(&self) {
        lock(&self.counters).flushes += 1;
    }

    /// A profiler start (with its JSON options, if any) or stop.
    fn count_profile(&self, start: Option<Option<serde_json::Value>>) {
        let mut counters = lock(&self.counters);
        match start {
            Some(options) => {
                counters.profile_starts += 1;
                counters.last_profile_options = options;
            }
            None => counters.profile_stops += 1,
        }
    }

    fn count_health_probe(&self) {
        lock(&self.counters).health_probes += 1;
    }

    fn count_dropped_connection(&self) {
        lock(&self.counters).dropped_connections += 1;
    }

    fn stats(&self) -> MockStats {
        let engine = self.engine.snapshot();
        let counters = lock(&self.counters);
        MockStats {
            requests_total: counters.requests_total,
            requests_by_path: counters.requests_by_path.clone(),
            flushes: counters.flushes,
            health_probes: counters.health_probes,
            dropped_connections: counters.dropped_connections,
            last_authorization: counters.last_authorization.clone(),
            last_request_headers: counters.last_request_headers.clone(),
            last_http_version: counters.last_http_version.clone(),
            profile_starts: counters.profile_starts,
            profile_stops: counters.profile_stops,
            last_profile_options: counters.last_profile_options.clone(),
            running: engine.running,
            waiting: engine.waiting,
            cache_entries: engine.cache_entries,
            prompt_tokens_total: engine.prompt_tokens_total,
            cached_tokens_total: engine.cached_tokens_total,
            generation_tokens_total: engine.generation_tokens_total,
        }
    }

    fn reset(&self) {
        *lock(&self.fault) = Fault::default();
        *lock(&self.counters) = Counters::default();
        self.engine.reset();
    }
}

/// Handle on one simulated worker; cheap to clone.
#[derive(Clone)]
pub struct MockWorker {
    state: Arc<WorkerState>,
}

impl fmt::Debug for MockWorker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockWorker")
            .field("index", &self.state.index)
            .field("url", &self.state.url)
            .finish_non_exhaustive()
    }
}

impl MockWorker {
    /// Base URL, e.g. `http://127.0.0.1:31000`.
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// Bound port.
    pub fn port(&self) -> u16 {
        self.state.port
    }

    /// Position in the fleet (also the `x-mock-worker` response header).
    pub fn index(&self) -> usize {
        self.state.index
    }

    /// The configuration the worker runs with.
    pub fn config(&self) -> &MockConfig {
        &self.state.config
    }

    /// Replace the injected fault.
    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.state.fault) = fault;
    }

    /// Merge a partial fault into the current one; returns the result.
    pub fn patch_fault(&self, patch: &FaultPatch) -> Fault {
        let mut fault = lock(&self.state.fault);
        fault.apply(patch);
        *fault
    }

    /// The injected fault.
    pub fn fault(&self) -> Fault {
        self.state.fault()
    }

    /// Counters and engine state.
    pub fn stats(&self) -> MockStats {
        self.state.stats()
    }

    /// Clear faults, counters and the prefix cache (what `POST /_mock/reset` does).
    pub fn reset(&self) {
        self.state.reset();
    }
}

/// N simulated workers on one tokio runtime, each with its own listener and state.
///
/// Dropping the fleet stops accepting connections; [`MockFleet::shutdown`] also waits for
/// the listeners to close and aborts open connections.
#[derive(Debug)]
pub struct MockFleet {
    workers: Vec<MockWorker>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl MockFleet {
    /// Bind `count` workers on `base_port`, `base_port + 1`, … (`base_port` 0: each worker
    /// gets an ephemeral port) and start serving.
    pub async fn start(base_port: u16, count: usize, config: MockConfig) -> std::io::Result<Self> {
        let (shutdown, _) = watch::channel(false);
        // Built incrementally so that an early return drops `fleet`, whose dropped
        // sender stops the workers already started.
        let mut fleet = Self {
            workers: Vec::with_capacity(count),
            shutdown,
            tasks: Vec::with_capacity(count),
        };
        for index in 0..count {
            let port = if base_port == 0 {
                0
            } else {
                u16::try_from(index)
                    .ok()
                    .and_then(|i| base_port.checked_add(i))
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            format!("port {base_port} + {index} exceeds 65535"),
                        )
                    })?
            };
            let listener = TcpListener::bind((config.host.as_str(), port))
                .await
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot bind {}:{port}: {e}", config.host),
                    )
                })?;
            let addr = listener.local_addr()?;
            let worker = MockWorker {
                state: Arc::new(WorkerState {
                    index,
                    port: addr.port(),
                    url: base_url(addr.ip(), addr.port()),
                    engine: Arc::new(Engine::new(
                        config.max_running_requests,
                        config.max_total_tokens,
                    )),
                    fault: Mutex::new(config.fault),
                    counters: Mutex::new(Counters::default()),
                    config: config.clone(),
                    next_id: AtomicU64::new(0),
                }),
            };
            let router = routes::router(Arc::clone(&worker.state));
            fleet.tasks.push(tokio::spawn(server::serve(
                listener,
                Arc::clone(&worker.state),
                router,
                fleet.shutdown.subscribe(),
            )));
            tracing::debug!(index, url = %worker.state.url, "mock worker listening");
            fleet.workers.push(worker);
        }
        Ok(fleet)
    }

    /// Base URLs, in worker order.
    pub fn urls(&self) -> Vec<String> {
        self.workers.iter().map(MockWorker::url).collect()
    }

    /// Worker handles, in order.
    pub fn workers(&self) -> &[MockWorker] {
        &self.workers
    }

    /// Stop every worker: close listeners and abort open connections.
    pub async fn shutdown(mut self) {
        // Ignored error: no receiver left means every worker already stopped.
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "mock worker task failed");
            }
        }
    }
}

/// The URL clients should use: a wildcard bind address is reached through loopback.
fn base_url(ip: IpAddr, port: u16) -> String {
    let ip = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        other => other,
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}"),
    }
}
