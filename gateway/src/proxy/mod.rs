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
use axum::http::header::CONNECTION;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;
use serde_json::value::RawValue;
use smg_sdk::error_codes;
use smg_sdk::{ConnectionMode, ResilienceUpdate, WorkerType};

use crate::error::{ApiError, error_type};
use crate::metrics::Metrics;
use crate::upstream::{CallError, classify};
use crate::workers::url::base_url;
use crate::workers::{Registry, Worker};
use policy::Policy;

/// Set as a response extension when a proxied request failed: no worker could take it, or
/// the worker was unreachable, timed out or answered 5xx. WASM `OnError` modules run on
/// exactly these responses, never on the gateway's own errors.
#[derive(Debug, Clone)]
pub struct UpstreamFailure {
    /// The worker that failed, when one was chosen.
    pub worker: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// Retry settings: the gateway-wide ones (`--retry-*` flags), which a worker's `resilience`
/// overrides field by field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryConfig {
    pub disabled: bool,
    /// Retries after the first attempt, each on another worker.
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    pub jitter: f64,
}

/// Upstream's CLI defaults.
impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            disabled: false,
            max_retries: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(30_000),
            multiplier: 1.5,
            jitter: 0.2,
        }
    }
}

/// Statuses retried on another worker unless a worker lists its own.
const RETRYABLE_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// One worker's effective retry settings.
struct Retry<'a> {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
    jitter: f64,
    retryable: &'a [u16],
}

impl RetryConfig {
    fn resolve<'a>(&self, r: &'a ResilienceUpdate) -> Retry<'a> {
        Retry {
            max_retries: if r.disable_retry.unwrap_or(self.disabled) {
                0
            } else {
                r.max_retries.unwrap_or(self.max_retries)
            },
            initial_backoff: r
                .initial_backoff_ms
                .map(Duration::from_millis)
                .unwrap_or(self.initial_backoff),
            max_backoff: r
                .max_backoff_ms
                .map(Duration::from_millis)
                .unwrap_or(self.max_backoff),
            multiplier: r
                .backoff_multiplier
                .map(f64::from)
                .unwrap_or(self.multiplier)
                .max(1.0),
            jitter: r
                .jitter_factor
                .map(f64::from)
                .unwrap_or(self.jitter)
                .clamp(0.0, 1.0),
            retryable: r
                .retryable_status_codes
                .as_deref()
                .unwrap_or(&RETRYABLE_STATUSES),
        }
    }
}

impl Retry<'_> {
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.initial_backoff.as_secs_f64()
            * self
                .multiplier
                .powi(i32::try_from(attempt).unwrap_or(i32::MAX));
        let capped = base.min(self.max_backoff.as_secs_f64());
        let spread = capped * self.jitter;
        let jittered = capped + rand::rng().random_range(-spread..=spread);
        Duration::from_secs_f64(jittered.max(0.0))
    }
}

/// What the proxy needs from a request body, in one pass: the model and, for cache-aware
/// routing, the prompt fields (kept raw, parsed only when the policy wants the prompt).
/// Everything else is skipped without being materialised.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    text: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    query: Option<&'a RawValue>,
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

impl Peek<'_> {
    /// The text a cache-aware policy matches on: message contents, then the other prompt
    /// fields; parts that do not have the expected shape are skipped.
    fn prompt_text(&self) -> String {
        let mut out = String::new();
        let messages = self
            .messages
            .and_then(|raw| serde_json::from_str::<Vec<MessagePeek>>(raw.get()).ok());
        for message in messages.iter().flatten() {
            push_text(&message.content, &mut out);
            out.push('\n');
        }
        for raw in [self.prompt, self.text, self.input, self.query]
            .into_iter()
            .flatten()
        {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(raw.get()) {
                push_text(&value, &mut out);
            }
        }
        out
    }
}

/// Request headers never forwarded: hop-by-hop ones (RFC 9110 §7.6.1; plus those the
/// `Connection` header names), and the caller's credentials (the worker gets its own
/// `api_key`).
const DROPPED_REQUEST_HEADERS: [&str; 13] = [
    "connection",
    "proxy-connection",
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

const DROPPED_RESPONSE_HEADERS: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` may cross the proxy: not in `dropped`, and not named by the message's
/// `Connection` header (`listed`, lower-case), which makes it hop-by-hop.
fn forwardable(name: &HeaderName, dropped: &[&str], listed: &[String]) -> bool {
    let name = name.as_str();
    !dropped.contains(&name) && !listed.iter().any(|l| l == name)
}

/// The header names a `Connection` header lists (empty, without allocating, when absent).
fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// The headers of `headers` that cross the proxy.
fn forwarded_headers<'a>(
    headers: &'a HeaderMap,
    dropped: &'a [&'a str],
) -> impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)> + 'a {
    let listed = connection_listed(headers);
    headers
        .iter()
        .filter(move |(name, _)| forwardable(name, dropped, &listed))
}

pub struct Proxy {
    clients: crate::upstream::Clients,
    policy: Policy,
    metrics: Arc<Metrics>,
    request_timeout: Duration,
    retry: RetryConfig,
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
        retry: RetryConfig,
    ) -> Result<Self, reqwest::Error> {
        let clients = crate::upstream::Clients::build(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(256)
                .pool_idle_timeout(Duration::from_secs(90))
                .tcp_nodelay(true)
                .read_timeout(request_timeout)
        })?;
        Ok(Self {
            clients,
            policy,
            metrics,
            request_timeout,
            retry,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Workers that may take a request for `model` (`None`: any): ready, not cordoned, HTTP,
    /// regular serving, serving the model (wildcards serve all), circuit not open.
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
                ok && w.is_ready()
                    && !w.is_disabled()
                    && !exclude.contains(&w.id)
                    && w.breaker_allows()
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
        let (model, prompt) = match serde_json::from_slice::<Peek>(&body) {
            Ok(peek) => (
                peek.model.as_deref().map(str::to_owned),
                self.policy.needs_prompt().then(|| peek.prompt_text()),
            ),
            Err(e) => {
                return ApiError::bad_request(
                    error_codes::BAD_REQUEST,
                    format!("Request body is not valid JSON: {e}"),
                )
                .into_response();
            }
        };
        let mut tried: Vec<String> = Vec::new();
        // The previous attempt's failure and the backoff before the next attempt.
        let mut last_failure: Option<(Failure, Duration)> = None;
        let mut attempt: u32 = 0;
        loop {
            let (candidates, serves_model) = self.eligible(registry, model.as_deref(), &tried);
            let Some(worker) = self.policy.select(&candidates, prompt.as_deref()) else {
                if let Some((failure, _)) = last_failure {
                    return failure.into_response();
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
                let mut response =
                    ApiError::unavailable(error_codes::NO_AVAILABLE_WORKERS, message.clone())
                        .into_response();
                // No worker to send it to is a failed proxied request too (WASM `OnError`).
                response.extensions_mut().insert(UpstreamFailure {
                    worker: None,
                    message,
                });
                return response;
            };
            if let Some((failure, backoff)) = &last_failure {
                tokio::time::sleep(*backoff).await;
                self.metrics
                    .retries
                    .with_label_values(&[route, failure.worker()])
                    .inc();
                tracing::debug!(worker = %failure.worker(), attempt, "retrying on another worker");
            }
            let spec = worker.spec();
            let retry = self.retry.resolve(&spec.resilience);
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
                return finish(guard, result).await;
            }
            tried.push(worker.id.clone());
            // The failed attempt is over: keep what answering with it needs, release its
            // in-flight count and connection now rather than after the next attempt.
            last_failure = Some((
                Failure::collect(guard, result).await,
                retry.backoff(attempt),
            ));
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
        let mut request = self.clients.for_worker(&spec).post(url).body(body);
        for (name, value) in forwarded_headers(headers, &DROPPED_REQUEST_HEADERS) {
            request = request.header(name, value);
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

/// Largest body kept from a failed attempt while the request is retried elsewhere.
const MAX_FAILED_BODY: usize = 64 * 1024;
/// Longest wait for a failed attempt's body.
const FAILED_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// A failed attempt kept while the request is retried on another worker: only what
/// answering with it needs, should no other worker take the request.
enum Failure {
    /// The worker answered a retryable status; `body` is `None` when it could not be read
    /// within bounds.
    Answered {
        url: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Option<Bytes>,
    },
    /// The worker could not be reached or timed out.
    Unreachable { url: String, error: CallError },
}

impl Failure {
    /// Read a failed answer's body (bounded in size and time) and end the attempt: its guard
    /// drops here, so the worker's load and in-flight gauge fall and its metrics are recorded.
    async fn collect(guard: InFlight, attempt: Attempt) -> Self {
        let url = guard.url.clone();
        match attempt {
            Attempt::Failed(error) => Self::Unreachable { url, error },
            Attempt::Response(upstream) => {
                let status = upstream.status();
                let mut headers = HeaderMap::new();
                for (name, value) in
                    forwarded_headers(upstream.headers(), &DROPPED_RESPONSE_HEADERS)
                {
                    headers.append(name.clone(), value.clone());
                }
                // The kept body is re-framed when sent.
                headers.remove(axum::http::header::CONTENT_LENGTH);
                let body = tokio::time::timeout(FAILED_BODY_TIMEOUT, read_capped(upstream))
                    .await
                    .ok()
                    .flatten();
                Self::Answered {
                    url,
                    status,
                    headers,
                    body,
                }
            }
        }
    }

    fn worker(&self) -> &str {
        match self {
            Self::Answered { url, .. } | Self::Unreachable { url, .. } => url,
        }
    }

    /// The answer when no other worker could take the request.
    fn into_response(self) -> Response {
        match self {
            Self::Unreachable { url, error } => unreachable_response(&url, error),
            Self::Answered {
                url,
                status,
                headers,
                body,
            } => {
                let mut response = match body {
                    Some(body) if is_json(&headers, &body) => {
                        let mut response = Response::new(Body::from(body));
                        *response.status_mut() = status;
                        *response.headers_mut() = headers;
                        response
                    }
                    body => wrapped_worker_error(&url, status, &headers, body.as_deref()),
                };
                if status.is_server_error() {
                    response.extensions_mut().insert(UpstreamFailure {
                        worker: Some(url),
                        message: format!("worker answered {status}"),
                    });
                }
                response
            }
        }
    }
}

/// The whole body, or `None` past [`MAX_FAILED_BODY`] or on a read error.
async fn read_capped(mut upstream: reqwest::Response) -> Option<Bytes> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = upstream.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_FAILED_BODY {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

/// The response for the final attempt: the worker's answer streamed through, or a D1 error
/// when it could not be reached. Either way a failure carries [`UpstreamFailure`]. An error
/// answer that is not JSON is read (bounded) and wrapped into decision D1's body.
async fn finish(guard: InFlight, attempt: Attempt) -> Response {
    match attempt {
        Attempt::Response(upstream)
            if is_error(upstream.status()) && !has_json_type(upstream.headers()) =>
        {
            Failure::collect(guard, Attempt::Response(upstream))
                .await
                .into_response()
        }
        Attempt::Response(upstream) => stream_back(guard, upstream),
        Attempt::Failed(error) => unreachable_response(&guard.url, error),
    }
}

pub(crate) fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// A JSON media type: `application/json` or a `+json` one.
fn has_json_type(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|media| media.trim().to_ascii_lowercase())
        .is_some_and(|media| media == "application/json" || media.ends_with("+json"))
}

/// A worker's error body that is JSON by its type or, mislabelled, by its content: passed
/// through unchanged.
pub(crate) fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    has_json_type(headers) || serde_json::from_slice::<&RawValue>(body).is_ok()
}

/// Longest part of a worker's non-JSON error text quoted in the wrapped message.
const MAX_QUOTED_ERROR: usize = 1024;

/// Decision D1's body for a worker's error answer that is not JSON (e.g. the plain text
/// `Failed to buffer the request body: length limit exceeded` with 413): the worker's status
/// is kept, `type` follows that status as for the gateway's own errors, `code` is
/// `WORKER_ERROR`, and the message quotes the worker's text. A `Retry-After` is kept.
pub fn wrapped_worker_error(
    url: &str,
    status: StatusCode,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Response {
    let text = body
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        match body {
            Some(_) => format!("worker {url} answered {status} with an empty body"),
            None => format!("worker {url} answered {status} with an unreadable or oversized body"),
        }
    } else {
        let mut end = text.len().min(MAX_QUOTED_ERROR);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let ellipsis = if end < text.len() { "…" } else { "" };
        format!(
            "{}{ellipsis} (worker {url} answered {status})",
            &text[..end]
        )
    };
    let mut error = ApiError::new(
        status,
        error_type(status),
        error_codes::WORKER_ERROR,
        message,
    );
    if let Some(secs) = headers
        .get(axum::http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
    {
        error = error.with_retry_after(secs);
    }
    error.into_response()
}

/// The D1 answer for a worker that could not be reached or timed out.
fn unreachable_response(url: &str, error: CallError) -> Response {
    let (status, kind, code) = match error {
        CallError::Timeout(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            "gateway_timeout",
            error_codes::WORKER_TIMEOUT,
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            error_codes::WORKER_UNREACHABLE,
        ),
    };
    let message = format!("worker {url} failed: {error}");
    let mut response = ApiError::new(status, kind, code, message.clone()).into_response();
    response.extensions_mut().insert(UpstreamFailure {
        worker: Some(url.to_string()),
        message,
    });
    response
}

fn stream_back(mut guard: InFlight, upstream: reqwest::Response) -> Response {
    let status = upstream.status();
    guard.status = status.as_str().to_string();
    let failure = status.is_server_error().then(|| UpstreamFailure {
        worker: Some(guard.url.clone()),
        message: format!("worker answered {status}"),
    });
    let mut headers = HeaderMap::new();
    for (name, value) in forwarded_headers(upstream.headers(), &DROPPED_RESPONSE_HEADERS) {
        headers.append(name.clone(), value.clone());
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
        let prompt_text = |body: &[u8]| {
            serde_json::from_slice::<Peek>(body)
                .map(|peek| peek.prompt_text())
                .unwrap_or_default()
        };
        let chat = br#"{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#;
        assert_eq!(prompt_text(chat), "sys\nhi\n");
        assert_eq!(prompt_text(br#"{"prompt":"p"}"#), "p");
        assert_eq!(prompt_text(br#"{"text":["a","b"]}"#), "ab");
        assert_eq!(prompt_text(br#"{"messages":"odd","query":"q"}"#), "q");
        assert_eq!(prompt_text(br#"not json"#), "");
    }

    #[test]
    fn a_wildcard_worker_is_eligible_for_any_model() {
        use smg_sdk::{ModelCard, WorkerSpec, WorkerStatus};
        let registry = Registry::default();
        let mut named = WorkerSpec::new("http://named:1");
        named.models.push(ModelCard::new("m"));
        registry.insert(Arc::new(Worker::new(
            "a".into(),
            named,
            WorkerStatus::Ready,
        )));
        let wildcard = WorkerSpec::new("http://wildcard:1");
        registry.insert(Arc::new(Worker::new(
            "b".into(),
            wildcard,
            WorkerStatus::Ready,
        )));
        let proxy = Proxy::new(
            Policy::new(policy::PolicyKind::RoundRobin, Default::default()),
            Arc::new(Metrics::new().unwrap()),
            Duration::from_secs(1),
            RetryConfig::default(),
        )
        .unwrap();
        let ids = |model: Option<&str>| {
            let (workers, serves) = proxy.eligible(&registry, model, &[]);
            (
                workers.iter().map(|w| w.id.clone()).collect::<Vec<_>>(),
                serves,
            )
        };
        assert_eq!(ids(Some("other")), (vec!["b".to_string()], true));
        assert_eq!(
            ids(Some("m")),
            (vec!["a".to_string(), "b".to_string()], true)
        );
        assert_eq!(ids(None).0.len(), 2);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let spec = ResilienceUpdate {
            initial_backoff_ms: Some(100),
            max_backoff_ms: Some(300),
            backoff_multiplier: Some(2.0),
            jitter_factor: Some(0.0),
            ..Default::default()
        };
        let r = RetryConfig::default().resolve(&spec);
        assert_eq!(r.backoff(0), Duration::from_millis(100));
        assert_eq!(r.backoff(1), Duration::from_millis(200));
        assert_eq!(r.backoff(5), Duration::from_millis(300));
        assert_eq!(r.retryable, RETRYABLE_STATUSES);
        let off = ResilienceUpdate {
            disable_retry: Some(true),
            ..Default::default()
        };
        assert_eq!(RetryConfig::default().resolve(&off).max_retries, 0);
    }

    #[test]
    fn gateway_defaults_are_upstreams_and_workers_override_them() {
        let base = RetryConfig::default();
        let none = ResilienceUpdate::default();
        let r = base.resolve(&none);
        assert_eq!(r.max_retries, 5);
        assert_eq!(r.initial_backoff, Duration::from_millis(50));
        assert_eq!(r.max_backoff, Duration::from_secs(30));
        assert!((r.multiplier - 1.5).abs() < 1e-9);
        assert!((r.jitter - 0.2).abs() < 1e-6);
        let disabled = RetryConfig {
            disabled: true,
            ..base
        };
        assert_eq!(
            disabled.resolve(&ResilienceUpdate::default()).max_retries,
            0
        );
        let own = ResilienceUpdate {
            disable_retry: Some(false),
            max_retries: Some(2),
            retryable_status_codes: Some(vec![503]),
            ..Default::default()
        };
        let r = disabled.resolve(&own);
        assert_eq!(r.max_retries, 2);
        assert_eq!(r.retryable, [503]);
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert("connection", HeaderValue::from_static("keep-alive, X-Hop"));
        headers.append("connection", HeaderValue::from_static("x-other"));
        headers.insert("x-hop", HeaderValue::from_static("1"));
        headers.insert("x-other", HeaderValue::from_static("1"));
        headers.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("authorization", HeaderValue::from_static("Bearer caller"));
        headers.insert("x-request-id", HeaderValue::from_static("r-1"));
        headers.insert("x-custom", HeaderValue::from_static("kept"));
        let names = |dropped: &[&str]| {
            let mut names: Vec<String> = forwarded_headers(&headers, dropped)
                .map(|(n, _)| n.to_string())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(&DROPPED_REQUEST_HEADERS),
            ["x-custom", "x-request-id"]
        );
        // Responses keep end-to-end headers such as `authorization`-like ones untouched.
        assert_eq!(
            names(&DROPPED_RESPONSE_HEADERS),
            ["authorization", "x-custom", "x-request-id"]
        );
        assert!(connection_listed(&HeaderMap::new()).is_empty());
    }
}
