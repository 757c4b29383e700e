//! Routes other than inference: health, metadata, loads, metrics, cache flush and the
//! `/_mock/*` control surface.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use smg_sdk::{SchedulerLoadSnapshot, WorkerLoadResponse};

use super::engine::EngineSnapshot;
use super::{
    CONTEXT_LENGTH, FaultPatch, FlushFault, HealthFault, MockRuntime, SGLANG_VERSION, VLLM_VERSION,
    WorkerState, inference,
};

type Shared = State<Arc<WorkerState>>;

/// An error answered as `{"error":{"message":…,"type":…,"code":<status>}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>, kind: &'static str) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
        }
    }

    /// 400 `invalid_request_error`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, "invalid_request_error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "code": self.status.as_u16(),
        }});
        (self.status, Json(body)).into_response()
    }
}

pub(crate) fn router(state: Arc<WorkerState>) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/health_generate", get(health_generate))
        .route("/v1/models", get(models))
        .route("/v1/loads", get(loads))
        .route("/metrics", get(metrics))
        // SGLang accepts both methods.
        .route("/flush_cache", post(flush_cache).get(flush_cache))
        .route("/start_profile", post(start_profile))
        .route("/stop_profile", post(stop_profile))
        .route("/generate", post(inference::generate))
        .route("/v1/chat/completions", post(inference::chat_completions))
        .route("/v1/completions", post(inference::completions))
        .route("/v1/embeddings", post(inference::embeddings))
        .route("/v1/rerank", post(inference::rerank))
        .route("/rerank", post(inference::rerank))
        .route("/v1/classify", post(inference::classify))
        .route("/v1/messages", post(inference::messages))
        .route("/_mock/fault", get(get_fault).post(patch_fault))
        .route("/_mock/stats", get(stats))
        .route("/_mock/reset", post(reset));
    router = match state.config.runtime {
        MockRuntime::Sglang => router
            .route("/server_info", get(server_info))
            .route("/get_server_info", get(server_info))
            .route("/model_info", get(model_info))
            .route("/get_model_info", get(model_info)),
        MockRuntime::Vllm => router.route("/version", get(version)),
    };
    router.fallback(not_found).with_state(state)
}

/// Both engines are FastAPI apps, whose 404 body is this.
async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response()
}

fn unhealthy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "unhealthy (injected fault)",
    )
        .into_response()
}

async fn health(State(state): Shared) -> Response {
    state.count_health_probe();
    match state.fault().health {
        HealthFault::Ok => "OK".into_response(),
        HealthFault::Fail => unhealthy(),
    }
}

async fn health_generate(State(state): Shared) -> Response {
    state.count_health_probe();
    match state.fault().health {
        HealthFault::Ok => "OK".into_response(),
        HealthFault::Fail => unhealthy(),
    }
}

async fn models(State(state): Shared) -> Json<Value> {
    let model = state.served_model();
    Json(json!({
        "object": "list",
        "data": [{
            "id": model,
            "object": "model",
            "created": 0,
            "owned_by": state.config.runtime.as_str(),
            "root": model,
            "max_model_len": CONTEXT_LENGTH,
        }],
    }))
}

async fn server_info(State(state): Shared) -> Json<Value> {
    let model = state.served_model();
    let engine = state.engine.snapshot();
    Json(json!({
        "model_path": model,
        "served_model_name": model,
        "tokenizer_path": model,
        "tp_size": 1,
        "dp_size": 1,
        "pp_size": 1,
        "max_running_requests": engine.max_running_requests,
        "max_total_num_tokens": engine.max_total_tokens,
        "context_length": CONTEXT_LENGTH,
        "version": SGLANG_VERSION,
        "is_embedding": false,
        "load_balance_method": "round_robin",
        "disaggregation_mode": "null",
        "weight_version": "default",
        "host": state.config.host,
        "port": state.port,
    }))
}

async fn model_info(State(state): Shared) -> Json<Value> {
    let model = state.served_model();
    Json(json!({
        "model_path": model,
        "tokenizer_path": model,
        "is_generation": true,
        "has_image_understanding": false,
        "has_audio_understanding": false,
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "weight_version": "default",
    }))
}

async fn version() -> Json<Value> {
    Json(json!({ "version": VLLM_VERSION }))
}

/// The `/v1/loads` body for `engine` (query parameters such as `include` are ignored).
pub(crate) fn load_response(engine: &EngineSnapshot) -> WorkerLoadResponse {
    let clamp = |n: i64| i32::try_from(n.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX);
    let running = clamp(i64::try_from(engine.running).unwrap_or(i64::MAX));
    let waiting = clamp(i64::try_from(engine.waiting).unwrap_or(i64::MAX));
    WorkerLoadResponse {
        timestamp: chrono::Utc::now().to_rfc3339(),
        version: String::new(),
        dp_rank_count: 1,
        loads: vec![SchedulerLoadSnapshot {
            dp_rank: 0,
            num_running_reqs: running,
            num_waiting_reqs: waiting,
            num_waiting_uncached_tokens: clamp(engine.waiting_tokens),
            num_total_reqs: running.saturating_add(waiting),
            num_used_tokens: clamp(engine.used_tokens),
            max_total_num_tokens: engine.max_total_tokens,
            token_usage: engine.token_usage(),
            gen_throughput: engine.gen_throughput,
            cache_hit_rate: engine.cache_hit_rate,
            utilization: engine.utilization(),
            max_running_requests: clamp(
                i64::try_from(engine.max_running_requests).unwrap_or(i64::MAX),
            ),
            ..SchedulerLoadSnapshot::default()
        }],
    }
}

async fn loads(State(state): Shared) -> Json<WorkerLoadResponse> {
    Json(load_response(&state.engine.snapshot()))
}

/// Prometheus text exposition (format 0.0.4).
struct Exposition {
    text: String,
    labels: String,
}

impl Exposition {
    fn new(model: &str) -> Self {
        let escaped = model
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        Self {
            text: String::new(),
            labels: format!("model_name=\"{escaped}\""),
        }
    }

    fn sample(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            self.text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{}}} {value}",
            self.labels
        );
    }
}

pub(crate) fn render_metrics(runtime: MockRuntime, model: &str, e: &EngineSnapshot) -> String {
    let mut out = Exposition::new(model);
    let running = e.running as f64;
    let waiting = e.waiting as f64;
    match runtime {
        MockRuntime::Sglang => {
            out.sample(
                "sglang:num_running_reqs",
                "gauge",
                "The number of running requests.",
                running,
            );
            out.sample(
                "sglang:num_queue_reqs",
                "gauge",
                "The number of requests in the waiting queue.",
                waiting,
            );
            out.sample(
                "sglang:num_used_tokens",
                "gauge",
                "The number of used tokens.",
                e.used_tokens as f64,
            );
            out.sample(
                "sglang:token_usage",
                "gauge",
                "The token usage.",
                e.token_usage(),
            );
            out.sample(
                "sglang:gen_throughput",
                "gauge",
                "The generation throughput (token/s).",
                e.gen_throughput,
            );
            out.sample(
                "sglang:cache_hit_rate",
                "gauge",
                "The prefix cache hit rate.",
                e.cache_hit_rate,
            );
            out.sample(
                "sglang:max_total_num_tokens",
                "gauge",
                "Maximum total number of tokens in the KV cache pool.",
                f64::from(e.max_total_tokens),
            );
            out.sample(
                "sglang:prompt_tokens_total",
                "counter",
                "Number of prefill tokens processed.",
                e.prompt_tokens_total as f64,
            );
            out.sample(
                "sglang:generation_tokens_total",
                "counter",
                "Number of generation tokens processed.",
                e.generation_tokens_total as f64,
            );
        }
        MockRuntime::Vllm => {
            let usage = e.token_usage();
            out.sample(
                "vllm:num_requests_running",
                "gauge",
                "Number of requests in model execution batches.",
                running,
            );
            out.sample(
                "vllm:num_requests_waiting",
                "gauge",
                "Number of requests waiting to be processed.",
                waiting,
            );
            out.sample(
                "vllm:kv_cache_usage_perc",
                "gauge",
                "KV-cache usage. 1 means 100 percent usage.",
                usage,
            );
            out.sample(
                "vllm:gpu_cache_usage_perc",
                "gauge",
                "GPU KV-cache usage. 1 means 100 percent usage.",
                usage,
            );
            out.sample(
                "vllm:prefix_cache_hits_total",
                "counter",
                "Prefix cache hits, in terms of number of cached tokens.",
                e.cached_tokens_total as f64,
            );
            out.sample(
                "vllm:prefix_cache_queries_total",
                "counter",
                "Prefix cache queries, in terms of number of queried tokens.",
                e.prompt_tokens_total as f64,
            );
            out.sample(
                "vllm:prompt_tokens_total",
                "counter",
                "Number of prefill tokens processed.",
                e.prompt_tokens_total as f64,
            );
            out.sample(
                "vllm:generation_tokens_total",
                "counter",
                "Number of generation tokens processed.",
                e.generation_tokens_total as f64,
            );
        }
    }
    out.text
}

async fn metrics(State(state): Shared) -> Response {
    let body = render_metrics(
        state.config.runtime,
        state.served_model(),
        &state.engine.snapshot(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn flush_cache(State(state): Shared) -> Response {
    state.count_flush();
    match state.fault().flush {
        FlushFault::Ok => {
            state.engine.flush();
            Json(json!({"message": "Cache flushed successfully"})).into_response()
        }
        FlushFault::Fail => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cache not flushed (injected fault)",
            "server_error",
        )
        .into_response(),
    }
}

/// SGLang's answer; the options (a JSON body, optional) are kept for `/_mock/stats`.
async fn start_profile(State(state): Shared, body: Bytes) -> Response {
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(options) => Some(options),
            Err(e) => {
                return ApiError::bad_request(format!("invalid profile options: {e}"))
                    .into_response();
            }
        }
    };
    state.count_profile(Some(options));
    "Start profiling.\n".into_response()
}

async fn stop_profile(State(state): Shared) -> &'static str {
    state.count_profile(None);
    "Stop profiling. This will take some time.\n"
}

async fn get_fault(State(state): Shared) -> Response {
    Json(state.fault()).into_response()
}

async fn patch_fault(State(state): Shared, body: Bytes) -> Response {
    // An empty body is an empty patch: it just returns the current fault.
    let patch = if body.iter().all(u8::is_ascii_whitespace) {
        FaultPatch::default()
    } else {
        match serde_json::from_slice::<FaultPatch>(&body) {
            Ok(patch) => patch,
            Err(e) => return ApiError::bad_request(format!("invalid fault: {e}")).into_response(),
        }
    };
    if let Some(Some(status)) = patch.status
        && StatusCode::from_u16(status).is_err()
    {
        return ApiError::bad_request(format!(
            "invalid fault: status {status} is not an HTTP status"
        ))
        .into_response();
    }
    let mut fault = super::lock(&state.fault);
    fault.apply(&patch);
    Json(*fault).into_response()
}

async fn stats(State(state): Shared) -> Response {
    Json(state.stats()).into_response()
}

async fn reset(State(state): Shared) -> Response {
    state.reset();
    Json(state.stats()).into_response()
}
