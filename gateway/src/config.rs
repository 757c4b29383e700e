//! Gateway settings, parsed from `smg launch` flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct GatewayConfig {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 30000)]
    pub port: u16,
    /// Workers registered at start-up (not persisted; they come from flags every time).
    #[arg(long, num_args = 1.., value_name = "URL")]
    pub worker_urls: Vec<String>,

    /// Load-balancing policy of the data plane.
    #[arg(long, value_enum, default_value = "cache_aware")]
    pub policy: crate::proxy::policy::PolicyKind,
    /// cache_aware: smallest fraction of a prompt matched by a worker's recent prompts for
    /// the request to go to that worker (0.0–1.0).
    #[arg(long, default_value_t = 0.3, value_parser = unit_interval)]
    pub cache_threshold: f32,
    /// cache_aware: in-flight difference between the busiest and idlest worker beyond
    /// which load wins over cache affinity (with --balance-rel-threshold).
    #[arg(long, default_value_t = 64)]
    pub balance_abs_threshold: usize,
    /// cache_aware: ratio of the busiest to the idlest worker's in-flight requests beyond
    /// which load wins over cache affinity (with --balance-abs-threshold; at least 1.0).
    #[arg(long, default_value_t = 1.5, value_parser = at_least_one)]
    pub balance_rel_threshold: f32,

    /// Retries of a failed proxied request, each on another worker. This and every
    /// --retry-*/--cb-* setting is a gateway-wide default a worker's `resilience` overrides.
    #[arg(long, default_value_t = 5)]
    pub retry_max_retries: u32,
    /// Backoff before the first retry, in ms.
    #[arg(long, default_value_t = 50)]
    pub retry_initial_backoff_ms: u64,
    /// Longest backoff between retries, in ms.
    #[arg(long, default_value_t = 30000)]
    pub retry_max_backoff_ms: u64,
    /// Growth of the backoff per retry (at least 1.0).
    #[arg(long, default_value_t = 1.5, value_parser = at_least_one)]
    pub retry_backoff_multiplier: f32,
    /// Random spread of each backoff, as a fraction of it (0.0–1.0).
    #[arg(long, default_value_t = 0.2, value_parser = unit_interval)]
    pub retry_jitter_factor: f32,
    /// Never retry a proxied request on another worker.
    #[arg(long)]
    pub disable_retries: bool,
    /// Consecutive failures of a worker that open its circuit breaker.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub cb_failure_threshold: u32,
    /// Successes of a half-open worker that close its circuit breaker.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub cb_success_threshold: u32,
    /// Seconds an open circuit breaker skips its worker before letting a probe through.
    #[arg(long, default_value_t = 60)]
    pub cb_timeout_duration_secs: u64,
    /// Longest span, in seconds, of a run of failures that opens a circuit breaker.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub cb_window_duration_secs: u64,
    /// Never open a worker's circuit breaker.
    #[arg(long)]
    pub disable_circuit_breaker: bool,
    /// Longest wait for a worker to start answering a proxied request (and longest gap
    /// between streamed chunks).
    #[arg(long, default_value_t = 1800)]
    pub request_timeout_secs: u64,
    /// Address of the Prometheus metrics listener [default: --host].
    #[arg(long)]
    pub prometheus_host: Option<String>,
    /// Port of the Prometheus metrics listener (`GET /metrics`; 0 picks a free one).
    #[arg(long, default_value_t = 29000)]
    pub prometheus_port: u16,

    /// Embedded store file holding runtime state (workers, tokenizers, modules, keys, audit).
    #[arg(long, default_value = "smg.db", value_name = "PATH")]
    pub store: PathBuf,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub max_payload_size: usize,

    /// Seconds between health probes of a worker.
    #[arg(long, default_value_t = 60)]
    pub health_check_interval_secs: u64,
    /// Largest `/parse/*` request body, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_parse_body_bytes: usize,

    /// Run WASM middleware modules on the serving routes and enable `/wasm` (otherwise 503).
    #[arg(long)]
    pub enable_wasm: bool,
    /// Largest WASM module `POST /wasm` accepts, uploaded or read from a file on this host, in
    /// bytes.
    #[arg(long, default_value_t = 50 * 1024 * 1024, value_name = "BYTES")]
    pub max_wasm_upload_bytes: usize,

    /// Health probe timeout.
    #[arg(long, default_value_t = 5)]
    pub health_check_timeout_secs: u64,
    /// Path probed on each worker.
    #[arg(long, default_value = "/health")]
    pub health_check_endpoint: String,
    /// Consecutive successes that make a worker ready.
    #[arg(long, default_value_t = 2)]
    pub health_success_threshold: u32,
    /// Consecutive failures that make a ready worker not ready.
    #[arg(long, default_value_t = 3)]
    pub health_failure_threshold: u32,
    /// Seconds a deleted worker stays `draining` before it is removed.
    #[arg(long, default_value_t = 5)]
    pub drain_settle_secs: u64,
    /// Remove workers that reach `failed`.
    #[arg(long)]
    pub remove_unhealthy_workers: bool,

    /// How long a new worker may take to answer its first health probe.
    #[arg(long, default_value_t = 1800)]
    pub worker_startup_timeout_secs: u64,
    /// Seconds between start-up probes of a worker that is not answering yet.
    #[arg(long, default_value_t = 30)]
    pub worker_startup_check_interval_secs: u64,
    /// Timeout of each metadata-discovery call during registration.
    #[arg(long, default_value_t = 10)]
    pub discovery_timeout_secs: u64,

    /// Per-worker timeout of `/get_loads` and of each load-monitor poll.
    #[arg(long, default_value_t = 5)]
    pub load_timeout_secs: u64,
    /// Seconds between two polls of every worker's engine load by the load monitor, which
    /// `GET /loads` and the `engine_load` of `GET /workers` serve (0 turns the monitor off).
    /// Each worker's poll is bounded by --load-timeout-secs.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub load_poll_interval_secs: u64,
    /// Workers the load monitor polls at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub load_poll_concurrency: usize,
    /// Per-worker timeout of `/flush_cache`.
    #[arg(long, default_value_t = 45)]
    pub flush_timeout_secs: u64,
    /// Per-worker timeout of `/start_profile` and `/stop_profile` (profilers can take minutes
    /// to write their traces).
    #[arg(long, default_value_t = 630, value_name = "SECS")]
    pub profile_timeout_secs: u64,
    /// How long `POST /workers/{id}/retire` waits for a worker's in-flight requests to finish
    /// when the request gives no `timeout_secs`.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub retire_timeout_secs: u64,
    /// Most workers contacted at once by one fan-out (loads, flush, metrics).
    #[arg(long, default_value_t = 1024)]
    pub fanout_concurrency: usize,
    /// Most health probes in flight at once.
    #[arg(long, default_value_t = 128)]
    pub health_check_concurrency: usize,

    /// Queued worker jobs before `POST /workers` answers 503.
    #[arg(long, default_value_t = 1000)]
    pub job_queue_capacity: usize,
    /// Worker jobs running at once.
    #[arg(long, default_value_t = 200)]
    pub job_concurrency: usize,
    /// How long a failed job stays visible in `job_status` (decision D3: at least 300).
    #[arg(long, default_value_t = 300)]
    pub job_status_retention_secs: u64,

    /// Hugging Face Hub endpoint tokenizers are fetched from.
    #[arg(
        long,
        env = "HF_ENDPOINT",
        default_value = "https://huggingface.co",
        value_name = "URL"
    )]
    pub hf_endpoint: String,
    /// Longest a tokenizer fetch from the Hugging Face Hub may take before its load fails.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub hf_hub_timeout_secs: u64,
    /// Hugging Face cache directory for fetched tokenizer files [default: $HF_HOME/hub, else
    /// ~/.cache/huggingface/hub]. The Hub token comes from HF_TOKEN.
    #[arg(long, value_name = "PATH")]
    pub hf_cache_dir: Option<PathBuf>,
    /// Tokenizer loads running at once (more are queued as `pending`).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub tokenizer_load_concurrency: usize,

    #[command(flatten)]
    pub auth: crate::auth::AuthConfig,

    /// Log filter (`info`, `debug`, `smg_gateway=trace`, …).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
}

fn parse_f32(s: &str) -> Result<f32, String> {
    s.parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("'{s}' is not a number"))
}

fn unit_interval(s: &str) -> Result<f32, String> {
    parse_f32(s).and_then(|v| {
        (0.0..=1.0)
            .contains(&v)
            .then_some(v)
            .ok_or_else(|| format!("{v} is not between 0.0 and 1.0"))
    })
}

fn at_least_one(s: &str) -> Result<f32, String> {
    parse_f32(s).and_then(|v| {
        (v >= 1.0)
            .then_some(v)
            .ok_or_else(|| format!("{v} is less than 1.0"))
    })
}

impl GatewayConfig {
    /// Gateway-wide retry settings.
    pub fn retry(&self) -> crate::proxy::RetryConfig {
        crate::proxy::RetryConfig {
            disabled: self.disable_retries,
            max_retries: self.retry_max_retries,
            initial_backoff: Duration::from_millis(self.retry_initial_backoff_ms),
            max_backoff: Duration::from_millis(self.retry_max_backoff_ms),
            multiplier: f64::from(self.retry_backoff_multiplier),
            jitter: f64::from(self.retry_jitter_factor),
        }
    }

    /// Gateway-wide circuit-breaker settings.
    pub fn breaker(&self) -> crate::proxy::breaker::BreakerConfig {
        crate::proxy::breaker::BreakerConfig {
            disabled: self.disable_circuit_breaker,
            failure_threshold: self.cb_failure_threshold,
            success_threshold: self.cb_success_threshold,
            timeout: Duration::from_secs(self.cb_timeout_duration_secs),
            window: Duration::from_secs(self.cb_window_duration_secs),
        }
    }

    /// cache_aware tuning.
    pub fn cache_aware(&self) -> crate::proxy::policy::CacheAwareConfig {
        crate::proxy::policy::CacheAwareConfig {
            cache_threshold: f64::from(self.cache_threshold),
            balance_abs_threshold: self.balance_abs_threshold,
            balance_rel_threshold: f64::from(self.balance_rel_threshold),
            ..Default::default()
        }
    }

    pub fn health_check_interval(&self) -> Duration {
        Duration::from_secs(self.health_check_interval_secs)
    }

    pub fn health_check_timeout(&self) -> Duration {
        Duration::from_secs(self.health_check_timeout_secs)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: GatewayConfig,
        }
        // Defaults live in one place: the clap attributes above.
        match Wrapper::try_parse_from(["smg"]) {
            Ok(w) => w.config,
            Err(e) => unreachable!("defaults must parse: {e}"),
        }
    }
}
