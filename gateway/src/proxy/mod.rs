//! The data plane: routes inference requests to ready workers with a load-balancing
//! policy, retries to another worker on connection failures and retryable statuses (never
//! once a response has begun streaming), honours each worker's circuit breaker, and streams
//! responses through chunk by chunk. A client that disconnects drops the upstream stream,
//! which cancels the worker's request.

pub mod breaker;
pub mod policy;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;
use smg_sdk::{ConnectionMode, ResilienceUpdate, WorkerType};

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::upstream::{CallError, classify};
use crate::workers::url::base_url;
use crate::workers::{Registry, Worker};
use policy::Policy;

/// Set as a response extension when a proxied request failed at the worker (unreachable,
/// timed out, or answered 5xx), so middleware such as WASM `OnError` modules can react.
#[derive(Debug, Clone)]
pub struct UpstreamFailure {
    /// The worker that failed, when one was chosen.
    pub worker: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Retry settings of one worker: its `resilience` overrides over these defaults.
#[derive(Debug, Clone)]
struct RetryConfig {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: f64,
    retryable: Vec<u16>,
}

impl RetryConfig {
    fn from_spec(r: &ResilienceUpdate) -> Self {
        Self {
            max_retries: if r.disable_retry == Some(true) {
                0
            } else {
                r.max_retries.unwrap_or(3)
            },
            initial_backoff: Duration::from_millis(r.initial_backoff_ms.unwrap_or(50)),
            max_backoff: Duration::from_millis(r.max_backoff_ms.unwrap_or(5_000)),
            multiplier: f64::from(r.backoff_multiplier.unwrap_or(2.0)).max(1.0),
            jitter: f64::from(r.jitter_factor.unwrap_or(0.2)).clamp(0.0, 1.0),
            retryable: r
                .retryable_status_codes
                .clone()
                .unwrap_or_else(|| vec![408, 429, 500, 502, 503, 504]),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.initial_backoff.as_secs_f64() * self.multiplier.powi(attempt as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let spread = capped * self.jitter;
        let jittered = capped + rand::rng().random_range(-spread..=spread);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

/// What the proxy needs from a request body: the model and, for cache-aware routing, the
/// prompt. Everything else is skipped without being materialised.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct PromptPeek {
    #[serde(default)]
    messages: Option<Vec<MessagePeek>>,
    #[serde(default)]
    prompt: Option<serde_json::Value>,
    #[serde(default)]
    text: Option<serde_json::Value>,
    #[serde(default)]
    input: Option<serde_json::Value>,
    #[serde(default)]
    query: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MessagePeek {
    #[serde(default)]
    content: serde_json::Value,
}

fn push_text(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::String(s) => out.push_str(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| push_text(v, out)),
        serde_json::Value::Object(map) => {
            if let Some(text) = map.get("text") {
                push_text(text, out);
            }
        }
        _ => {}
    }
}

fn prompt_text(body: &[u8]) -> String {
    let mut out = String::new();
    if let Ok(peek) = serde_json::from_slice::<PromptPeek>(body) {
        for message in peek.messages.iter().flatten() {
            push_text(&message.content, &mut out);
            out.push('\n');
        }
        for value in [&peek.prompt, &peek.text, &peek.input, &peek.query]
            .into_iter()
            .flatten()
        {
            push_text(value, &mut out);
        }
    }
    out
}

/// Request headers never forwarded: hop-by-hop ones, and the caller's credentials (the
/// worker gets its own `api_key`).
const DROPPED_REQUEST_HEADERS: [&str; 12] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "authorization",
    "x-api-key",
];

const DROPPED_RESPONSE_HEADERS: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub struct Proxy {
    client: reqwest::Client,
    policy: Policy,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
}

/// One request in flight to one worker: counted in the worker's `load` from the moment it is
/// sent until its response body is finished or dropped (client gone); records metrics then.
struct InFlight {
    worker: Arc<Worker>,
    url: String,
    metrics: Arc<Metrics>,
    route: &'static str,
    model: String,
    status: String,
    started: Instant,
    stream_failed: bool,
}

impl InFlight {
    fn start(
        worker: Arc<Worker>,
        metrics: Arc<Metrics>,
        route: &'static str,
        started: Instant,
    ) -> Self {
        worker.in_flight.fetch_add(1, Ordering::Relaxed);
        let url = worker.url();
        metrics.in_flight.with_label_values(&[url.as_str()]).inc();
        // Label by the model the worker serves, never by a client-chosen string.
        let model = worker.spec().primary_model().unwrap_or("*").to_string();
        Self {
            worker,
            url,
            metrics,
            route,
            model,
            status: "error".into(),
            started,
            stream_failed: false,
        }
    }

    fn observe(&mut self, failed: bool) {
        self.stream_failed |= failed;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.worker.in_flight.fetch_sub(1, Ordering::Relaxed);
        let url = self.url.as_str();
        self.metrics.in_flight.with_label_values(&[url]).dec();
        if self.stream_failed {
            self.worker.record_outcome(false);
            self.status = "stream_error".into();
        }
        self.metrics
            .requests
            .with_label_values(&[self.route, self.model.as_str(), url, self.status.as_str()])
            .inc();
        self.metrics
            .duration
            .with_label_values(&[self.route, self.model.as_str(), url])
            .observe(self.started.elapsed().as_secs_f64());
    }
}

enum Attempt {
    Response(reqwest::Response),
    Failed(CallError),
}

impl Proxy {
    pub fn new(
        policy: Policy,
        metrics: Arc<Metrics>,
        request_timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .read_timeout(request_timeout)
            .build()?;
        Ok(Self {
            client,
            policy,
            metrics,
            request_timeout,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Workers that may take a request for `model` (`None`: any): ready, HTTP, regular
    /// serving, serving the model (wildcards serve all), circuit not open.
    fn eligible(
        &self,
        registry: &Registry,
        model: Option<&str>,
        exclude: &[String],
    ) -> (Vec<Arc<Worker>>, bool) {
        let mut serves_model = false;
        let workers = registry
            .all()
            .into_iter()
            .filter(|w| {
                let spec = w.spec();
                let ok = spec.connection_mode == ConnectionMode::Http
                    && spec.worker_type == WorkerType::Regular
                    && model.is_none_or(|m| spec.serves(m));
                serves_model |= ok;
                ok && w.is_ready() && !exclude.contains(&w.id) && w.breaker_allows()
            })
            .collect();
        (workers, serves_model)
    }

    /// Forward `body` to a worker's `path` and stream the answer back.
    pub async fn forward(
        &self,
        registry: &Registry,
        route: &'static str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response {
        let started = Instant::now();
        let model = match serde_json::from_slice::<Peek>(&body) {
            Ok(peek) => peek.model.map(Cow::into_owned),
            Err(e) => {
                return ApiError::bad_request(
                    "BAD_REQUEST",
                    format!("Request body is not valid JSON: {e}"),
                )
                .into_response();
            }
        };
        let prompt = self.policy.needs_prompt().then(|| prompt_text(&body));
        let mut tried: Vec<String> = Vec::new();
        let mut last_failure: Option<(InFlight, Attempt)> = None;
        let mut attempt: u32 = 0;
        loop {
            let (candidates, serves_model) = self.eligible(registry, model.as_deref(), &tried);
            let Some(worker) = self.policy.select(&candidates, prompt.as_deref()) else {
                if let Some((guard, failure)) = last_failure {
                    return finish(guard, failure);
                }
                let message = match (&model, serves_model) {
                    (Some(m), false) => format!("No worker serves model '{m}'"),
                    (Some(m), true) => format!("No ready worker for model '{m}'"),
                    (None, _) => "No ready workers available".to_string(),
                };
                self.metrics
                    .requests
                    .with_label_values(&[route, "", "", "503"])
                    .inc();
                return ApiError::unavailable("NO_AVAILABLE_WORKERS", message).into_response();
            };
            let retry = RetryConfig::from_spec(&worker.spec().resilience);
            let mut guard = InFlight::start(worker.clone(), self.metrics.clone(), route, started);
            let result = self.send(&worker, route, headers, body.clone()).await;
            let (retryable, failed) = match &result {
                Attempt::Response(r) => {
                    guard.status = r.status().as_str().to_string();
                    (
                        retry.retryable.contains(&r.status().as_u16()),
                        r.status().is_server_error(),
                    )
                }
                Attempt::Failed(_) => (true, true),
            };
            if worker.record_outcome(!failed) == breaker::BreakerState::Open && failed {
                tracing::warn!(worker = %guard.url, "circuit breaker open");
            }
            if !retryable || attempt >= retry.max_retries {
                return finish(guard, result);
            }
            self.metrics
                .retries
                .with_label_values(&[route, guard.url.as_str()])
                .inc();
            tracing::debug!(worker = %guard.url, attempt, "retrying on another worker");
            tried.push(worker.id.clone());
            // The failed attempt is over: it no longer counts as in flight.
            drop(last_failure.take());
            last_failure = Some((guard, result));
            tokio::time::sleep(retry.backoff(attempt)).await;
            attempt += 1;
        }
    }

    async fn send(
        &self,
        worker: &Worker,
        route: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Attempt {
        let spec = worker.spec();
        let url = format!("{}{route}", base_url(&spec.url));
        let mut request = self.client.post(url).body(body);
        for (name, value) in headers {
            if !DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        if let Some(key) = &spec.api_key {
            request = request.bearer_auth(key.expose());
        }
        let timeout = spec
            .http_pool
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(self.request_timeout);
        // The timeout bounds the wait for the response head; a stream then runs as long as
        // chunks keep coming (the client's read timeout bounds the gaps).
        match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => Attempt::Response(response),
            Ok(Err(e)) => Attempt::Failed(classify(e, timeout)),
            Err(_) => Attempt::Failed(CallError::Timeout(timeout)),
        }
    }
}

/// The response for the final attempt: the worker's answer streamed through, or a D1 error
/// when it could not be reached. Either way a failure carries [`UpstreamFailure`].
fn finish(guard: InFlight, attempt: Attempt) -> Response {
    match attempt {
        Attempt::Response(upstream) => stream_back(guard, upstream),
        Attempt::Failed(error) => {
            let (status, kind, code) = match error {
                CallError::Timeout(_) => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway_timeout",
                    "WORKER_TIMEOUT",
                ),
                _ => (StatusCode::BAD_GATEWAY, "bad_gateway", "WORKER_UNREACHABLE"),
            };
            let message = format!("worker {} failed: {error}", guard.url);
            let mut response = ApiError::new(status, kind, code, message.clone()).into_response();
            response.extensions_mut().insert(UpstreamFailure {
                worker: Some(guard.url.clone()),
                message,
            });
            response
        }
    }
}

fn stream_back(mut guard: InFlight, upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    guard.status = status.as_str().to_string();
    let failure = status.is_server_error().then(|| UpstreamFailure {
        worker: Some(guard.url.clone()),
        message: format!("worker answered {status}"),
    });
    let mut headers = HeaderMap::new();
    for (name, value) in upstream.headers() {
        if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    // The closure owns the guard (a method call captures all of it, not one field), so the
    // in-flight count drops when the body ends or the client goes away.
    let stream = upstream.bytes_stream().map(move |chunk| {
        guard.observe(chunk.is_err());
        chunk
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    if let Some(failure) = failure {
        response.extensions_mut().insert(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_text_reads_every_request_shape() {
        let chat = br#"{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
        assert_eq!(prompt_text(chat), "sys\nhi\n");
        assert_eq!(prompt_text(br#"{"prompt":"p"}"#), "p");
        assert_eq!(prompt_text(br#"{"text":["a","b"]}"#), "ab");
        assert_eq!(prompt_text(br#"not json"#), "");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = RetryConfig::from_spec(&ResilienceUpdate {
            initial_backoff_ms: Some(100),
            max_backoff_ms: Some(300),
            jitter_factor: Some(0.0),
            ..Default::default()
        });
        assert_eq!(r.backoff(0), Duration::from_millis(100));
        assert_eq!(r.backoff(1), Duration::from_millis(200));
        assert_eq!(r.backoff(5), Duration::from_millis(300));
        let off = RetryConfig::from_spec(&ResilienceUpdate {
            disable_retry: Some(true),
            ..Default::default()
        });
        assert_eq!(off.max_retries, 0);
    }
}
