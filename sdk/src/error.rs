//! The client's error type.
//!
//! [`Error`] separates what the gateway *answered* ([`Error::Api`], with the status, the machine
//! code, the request id and the raw body; [`Error::Unsupported`] when the answer means the
//! gateway does not offer the route at all) from what went wrong on the way there
//! ([`Error::Connect`], [`Error::Timeout`], [`Error::Http`]) and from what the client itself
//! decided ([`Error::Decode`], [`Error::JobFailed`], [`Error::WaitTimeout`], …).

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::client::GatewayIdentity;
use crate::types::{ERROR_CODE_HEADER, WorkerStatus};

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Header the gateway echoes the request id in.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest message taken from a plain-text error body, and longest body snippet in
/// [`Error::Decode`].
const SNIPPET_CHARS: usize = 512;

/// Everything that can go wrong when talking to the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway answered with an error status (after any retries). Boxed to keep
    /// `Result<T, Error>` small.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// The gateway does not offer what was asked: a route it lacks (upstream SMG has no
    /// `/admin/*`, no `/parse/parsers`, …) or WASM without `--enable-wasm`. Its answer is
    /// kept, so [`Error::status`] and [`Error::api`] still work.
    #[error("{0}")]
    Unsupported(Box<Unsupported>),

    /// The gateway could not be reached (connection refused, DNS failure, TLS failure, connect
    /// timeout).
    #[error("could not connect to the gateway at {url}: {}", root_cause(source))]
    Connect {
        /// The URL that was requested.
        url: String,
        /// The underlying transport error.
        source: reqwest::Error,
    },

    /// The request did not complete within the request timeout.
    #[error("request to {url} timed out")]
    Timeout {
        /// The URL that was requested.
        url: String,
    },

    /// A successful response whose body could not be decoded into the expected type.
    #[error("could not decode the response from {url}: {message}; body: {body_snippet}")]
    Decode {
        /// The URL that was requested.
        url: String,
        /// What the decoder said.
        message: String,
        /// The beginning of the body.
        body_snippet: String,
    },

    /// The base URL is not a valid `http://` or `https://` URL.
    #[error("invalid gateway URL: {0}")]
    InvalidUrl(String),

    /// Any other transport error.
    #[error("HTTP transport error: {}", root_cause(.0))]
    Http(#[source] reqwest::Error),

    /// A background job behind a 202 failed (or the worker failed or vanished while waiting).
    #[error("job for worker {id} failed: {message}")]
    JobFailed {
        /// Worker id.
        id: String,
        /// Why, as the gateway reported it.
        message: String,
    },

    /// A wait helper gave up before the worker reached the wanted state.
    #[error(
        "timed out after {} waiting for worker {id} (last status: {})",
        fmt_duration(*waited),
        last_status.map_or("unknown", WorkerStatus::as_str)
    )]
    WaitTimeout {
        /// Worker id.
        id: String,
        /// The last status seen, if the worker was seen at all.
        last_status: Option<WorkerStatus>,
        /// How long the helper waited.
        waited: Duration,
    },

    /// An argument was rejected before anything was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl Error {
    /// The API error, if the gateway answered with an error status (for
    /// [`Error::Unsupported`], the answer it gave).
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e.as_ref()),
            Self::Unsupported(u) => Some(&u.answer),
            _ => None,
        }
    }

    /// What the gateway does not offer, for [`Error::Unsupported`].
    pub fn unsupported(&self) -> Option<&Unsupported> {
        match self {
            Self::Unsupported(u) => Some(u),
            _ => None,
        }
    }

    /// True when the gateway does not offer the route or feature ([`Error::Unsupported`]).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, Self::Unsupported(_))
    }

    /// The HTTP status of an [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The machine code of an [`Error::Api`] (e.g. `WORKER_NOT_FOUND`).
    pub fn code(&self) -> Option<&str> {
        self.api().and_then(|e| e.code.as_deref())
    }

    /// True for a 404 answer.
    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_not_found)
    }

    /// True for a 409 answer.
    pub fn is_conflict(&self) -> bool {
        self.api().is_some_and(ApiError::is_conflict)
    }

    /// True for a 401 or 403 answer.
    pub fn is_auth(&self) -> bool {
        self.api().is_some_and(ApiError::is_auth)
    }

    /// True when trying again later may succeed: connection failures, timeouts and retryable
    /// statuses.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.is_retryable(),
            Self::Connect { .. } | Self::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Build a [`Error::Decode`] from a decoder message and the body that failed.
    pub(crate) fn decode(url: &str, message: impl fmt::Display, body: &[u8]) -> Self {
        Self::Decode {
            url: url.to_string(),
            message: message.to_string(),
            body_snippet: snippet(&String::from_utf8_lossy(body)),
        }
    }

    /// Classify a transport error.
    pub(crate) fn from_transport(err: reqwest::Error, url: &str) -> Self {
        if err.is_connect() {
            Self::Connect {
                url: url.to_string(),
                source: err,
            }
        } else if err.is_timeout() {
            Self::Timeout {
                url: url.to_string(),
            }
        } else {
            Self::Http(err)
        }
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

/// What [`Error::Unsupported`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnsupportedKind {
    /// The gateway has no such route.
    Route,
    /// `/wasm*` on a gateway started without `--enable-wasm` (upstream answers 500 with an
    /// empty body, this project's gateway 503 `WASM_DISABLED`).
    WasmDisabled,
}

/// A route or feature the gateway does not offer ([`Error::Unsupported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Route missing, or WASM disabled.
    pub kind: UnsupportedKind,
    /// The path asked for (`/admin/api-keys`).
    pub route: String,
    /// The gateway, when known (`upstream SMG 1.13.0`).
    pub gateway: Option<GatewayIdentity>,
    /// What the gateway answered.
    pub answer: ApiError,
}

impl fmt::Display for Unsupported {
    /// `upstream SMG 1.13.0 does not offer `/admin/api-keys``, or the WASM hint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            UnsupportedKind::WasmDisabled => {
                f.write_str("WASM is disabled on this gateway: start it with --enable-wasm")
            }
            UnsupportedKind::Route => match &self.gateway {
                Some(g) => write!(f, "{g} does not offer `{}`", self.route),
                None => write!(f, "this gateway does not offer `{}`", self.route),
            },
        }
    }
}

/// Whether an error answer to `path` means the route or feature is not offered. `ours`: the
/// answer carried this project's version header.
///
/// - WASM disabled: 503 `WASM_DISABLED` (ours), or 500 with an empty body on `/wasm*`
///   (upstream).
/// - No route: ours answers 404 `NOT_FOUND` "No route for …"; upstream 1.13 answers 404
///   `unknown_url`, older upstreams 404 with an empty body; 501 is "not implemented" on both.
pub(crate) fn unsupported_kind(
    path: &str,
    answer: &ApiError,
    ours: bool,
) -> Option<UnsupportedKind> {
    let code = answer.code.as_deref();
    let empty = answer.body.trim().is_empty();
    let wasm = path == "/wasm" || path.starts_with("/wasm/");
    if wasm
        && ((answer.status == 503 && code == Some(crate::types::error_codes::WASM_DISABLED))
            || (!ours && answer.status == 500 && empty))
    {
        return Some(UnsupportedKind::WasmDisabled);
    }
    let no_route = match answer.status {
        404 if ours => {
            code == Some(crate::types::error_codes::NOT_FOUND)
                && answer.message.starts_with("No route for ")
        }
        404 => code == Some("unknown_url") || empty,
        501 => true,
        _ => false,
    };
    no_route.then_some(UnsupportedKind::Route)
}

/// An error answer from the gateway, in whichever of upstream's shapes it came.
///
/// Understood bodies: the D1 body `{"error":{"message","type","code"}}`, OpenAI-style
/// `{"error":{"type","code","message","param"}}`, the workers API's `{"error":"…","code":"…"}`,
/// `{"error":{"message","type"}}`, `{"id":"","status":"failed","message":"…"}`,
/// `{"success":false,"message":"…"}`, `{"error":"…","success":false}`, `{"error":"…"}`, plain
/// text and empty bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Error kind (the body's `type`, e.g. `not_found`), when the body has one.
    pub kind: Option<String>,
    /// Machine code (e.g. `WORKER_NOT_FOUND`), from the body or else the `X-SMG-Error-Code`
    /// header.
    pub code: Option<String>,
    /// Human-readable message; the canonical reason phrase when the body has none.
    pub message: String,
    /// The `x-request-id` response header, for correlating with gateway logs.
    pub request_id: Option<String>,
    /// The `Retry-After` response header, if any.
    pub retry_after: Option<Duration>,
    /// The raw response body.
    pub body: String,
}

impl ApiError {
    /// Parse an error answer from its status, headers and body.
    pub fn parse(status: u16, headers: &HeaderMap, body: &str) -> Self {
        let header_str = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let (kind, code, message) = parse_body(body);
        let message = message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| reason_phrase(status));
        Self {
            status,
            kind,
            code: code.or_else(|| header_str(ERROR_CODE_HEADER)),
            message,
            request_id: header_str(REQUEST_ID_HEADER),
            retry_after: parse_retry_after(headers),
            body: body.to_string(),
        }
    }

    /// The canonical reason phrase of the status (`Not Found`, …).
    pub fn reason(&self) -> String {
        reason_phrase(self.status)
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// 409.
    pub fn is_conflict(&self) -> bool {
        self.status == 409
    }

    /// 401 or 403.
    pub fn is_auth(&self) -> bool {
        matches!(self.status, 401 | 403)
    }

    /// 408, 429, 502, 503 or 504: the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        is_retryable_status(self.status)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "gateway answered {} {}", self.status, self.reason())?;
        if let Some(code) = &self.code {
            write!(f, " [{code}]")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id: {id})")?;
        }
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {})", fmt_duration(after))?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Statuses worth retrying.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 502 | 503 | 504)
}

/// `(type, code, message)` from any known body shape.
fn parse_body(body: &str) -> (Option<String>, Option<String>, Option<String>) {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return (None, None, None);
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(trimmed)
    else {
        // Plain text (axum rejections, auth failures, `/wasm`, …).
        return (None, None, Some(snippet(trimmed)));
    };
    let top_code = obj.get("code").and_then(scalar_string);
    match obj.get("error") {
        // D1, E1, E3: {"error":{"message","type","code"?}}
        Some(serde_json::Value::Object(inner)) => {
            let kind = inner.get("type").and_then(scalar_string);
            let code = inner.get("code").and_then(scalar_string).or(top_code);
            let message = inner
                .get("message")
                .and_then(scalar_string)
                .or_else(|| obj.get("message").and_then(scalar_string));
            (kind, code, message)
        }
        // E2, E6, E11: {"error":"msg", "code"?, "success"?}
        Some(serde_json::Value::String(msg)) => (None, top_code, Some(msg.clone())),
        // E4, E5: {"message":"…", …}; anything else: the raw JSON.
        _ => {
            let kind = obj.get("type").and_then(scalar_string);
            let message = obj
                .get("message")
                .and_then(scalar_string)
                .or_else(|| Some(snippet(trimmed)));
            (kind, top_code, message)
        }
    }
}

/// A JSON string, number or bool as a string; `None` for null, empty strings and containers.
fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The canonical reason phrase, or `HTTP <status>` for unknown statuses.
pub(crate) fn reason_phrase(status: u16) -> String {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_string)
}

/// `Retry-After` as a delay: delta-seconds or an HTTP-date (a past date is zero).
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = raw.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let delta = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// At most [`SNIPPET_CHARS`] characters of `s`, with `…` when cut.
pub(crate) fn snippet(s: &str) -> String {
    match s.char_indices().nth(SNIPPET_CHARS) {
        Some((idx, _)) => format!("{}…", &s[..idx]),
        None => s.to_string(),
    }
}

/// The innermost cause of an error chain (reqwest's own message repeats the URL).
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `1.5s`, `250ms`, `30s`.
fn fmt_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(status: u16, body: &str) -> ApiError {
        ApiError::parse(status, &HeaderMap::new(), body)
    }

    #[test]
    fn d1_body() {
        let e = parse(
            404,
            r#"{"error":{"message":"Worker u not found","type":"not_found","code":"WORKER_NOT_FOUND"}}"#,
        );
        assert_eq!(e.kind.as_deref(), Some("not_found"));
        assert_eq!(e.code.as_deref(), Some("WORKER_NOT_FOUND"));
        assert_eq!(e.message, "Worker u not found");
        assert!(e.is_not_found());
    }

    #[test]
    fn e1_openai_body() {
        let e = parse(
            503,
            r#"{"error":{"type":"Service Unavailable","code":"no_workers","message":"No workers are available","param":null}}"#,
        );
        assert_eq!(e.kind.as_deref(), Some("Service Unavailable"));
        assert_eq!(e.code.as_deref(), Some("no_workers"));
        assert_eq!(e.message, "No workers are available");
        assert!(e.is_retryable());
    }

    #[test]
    fn e2_workers_body() {
        let e = parse(
            409,
            r#"{"error":"Worker already exists","code":"WORKER_ALREADY_EXISTS"}"#,
        );
        assert_eq!(e.kind, None);
        assert_eq!(e.code.as_deref(), Some("WORKER_ALREADY_EXISTS"));
        assert_eq!(e.message, "Worker already exists");
        assert!(e.is_conflict());
    }

    #[test]
    fn e3_no_code() {
        let e = parse(
            404,
            r#"{"error":{"message":"Tokenizer t not found","type":"not_found"}}"#,
        );
        assert_eq!(e.kind.as_deref(), Some("not_found"));
        assert_eq!(e.code, None);
        assert_eq!(e.message, "Tokenizer t not found");
    }

    #[test]
    fn e4_e5_e6_e11() {
        let e = parse(
            409,
            r#"{"id":"","status":"failed","message":"Tokenizer already exists"}"#,
        );
        assert_eq!(e.message, "Tokenizer already exists");
        let e = parse(404, r#"{"success":false,"message":"Tokenizer not found"}"#);
        assert_eq!(e.message, "Tokenizer not found");
        let e = parse(400, r#"{"error":"Unknown parser 'x'","success":false}"#);
        assert_eq!(e.message, "Unknown parser 'x'");
        assert_eq!(e.code, None);
        let e = parse(400, r#"{"error":"Failed to read request body: boom"}"#);
        assert_eq!(e.message, "Failed to read request body: boom");
    }

    #[test]
    fn text_and_empty_bodies() {
        let e = parse(401, "Missing or invalid Authorization header\n");
        assert_eq!(e.message, "Missing or invalid Authorization header");
        assert!(e.is_auth());
        let e = parse(401, "");
        assert_eq!(e.message, "Unauthorized");
        assert_eq!(e.body, "");
        let e = parse(599, "");
        assert_eq!(e.message, "HTTP 599");
        let e = parse(500, "[1,2]");
        assert_eq!(e.message, "[1,2]");
    }

    #[test]
    fn headers_fill_code_request_id_and_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("x-smg-error-code", HeaderValue::from_static("RATE_LIMITED"));
        h.insert("x-request-id", HeaderValue::from_static("req-abc"));
        h.insert("retry-after", HeaderValue::from_static("7"));
        let e = ApiError::parse(
            429,
            &h,
            r#"{"error":{"message":"slow down","type":"rate_limited"}}"#,
        );
        assert_eq!(e.code.as_deref(), Some("RATE_LIMITED"));
        assert_eq!(e.request_id.as_deref(), Some("req-abc"));
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        let shown = Error::from(e).to_string();
        assert!(shown.contains("429 Too Many Requests"), "{shown}");
        assert!(shown.contains("RATE_LIMITED"), "{shown}");
        assert!(shown.contains("slow down"), "{shown}");
        assert!(shown.contains("req-abc"), "{shown}");
    }

    #[test]
    fn body_code_wins_over_header() {
        let mut h = HeaderMap::new();
        h.insert("x-smg-error-code", HeaderValue::from_static("OTHER"));
        let e = ApiError::parse(404, &h, r#"{"error":"gone","code":"WORKER_NOT_FOUND"}"#);
        assert_eq!(e.code.as_deref(), Some("WORKER_NOT_FOUND"));
    }

    #[test]
    fn retry_after_http_date() {
        let mut h = HeaderMap::new();
        let future = chrono::Utc::now() + chrono::Duration::seconds(120);
        let value = future.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        h.insert("retry-after", HeaderValue::from_str(&value).unwrap());
        let d = parse_retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(
            "retry-after",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(parse_retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        let long = "é".repeat(SNIPPET_CHARS + 10);
        let s = snippet(&long);
        assert!(s.ends_with('…'));
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
    }

    #[test]
    fn unsupported_answers() {
        use UnsupportedKind::*;
        let upstream_unknown = parse(
            404,
            r#"{"error":{"type":"invalid_request_error","code":"unknown_url","message":"Invalid URL (GET /admin/api-keys)","param":null}}"#,
        );
        assert_eq!(
            unsupported_kind("/admin/api-keys", &upstream_unknown, false),
            Some(Route)
        );
        assert_eq!(unsupported_kind("/x", &parse(404, ""), false), Some(Route));
        // A missing resource is not a missing route.
        let worker = parse(
            404,
            r#"{"error":"Worker u not found","code":"WORKER_NOT_FOUND"}"#,
        );
        assert_eq!(unsupported_kind("/workers/u", &worker, false), None);
        let ours_unknown = parse(
            404,
            r#"{"error":{"message":"No route for /loads","type":"not_found","code":"NOT_FOUND"}}"#,
        );
        assert_eq!(unsupported_kind("/loads", &ours_unknown, true), Some(Route));
        let ours_no_job = parse(
            404,
            r#"{"error":{"message":"Tokenizer 't' not found and no pending job","type":"not_found","code":"NOT_FOUND"}}"#,
        );
        assert_eq!(
            unsupported_kind("/v1/tokenizers/t/status", &ours_no_job, true),
            None
        );
        assert_eq!(unsupported_kind("/x", &parse(404, ""), true), None);
        assert_eq!(
            unsupported_kind("/ha/status", &parse(501, "no"), true),
            Some(Route)
        );
        // WASM: upstream's empty 500, our 503.
        assert_eq!(
            unsupported_kind("/wasm", &parse(500, ""), false),
            Some(WasmDisabled)
        );
        assert_eq!(
            unsupported_kind("/wasm/u", &parse(500, "boom"), false),
            None
        );
        assert_eq!(unsupported_kind("/workers", &parse(500, ""), false), None);
        let ours_wasm = parse(
            503,
            r#"{"error":{"message":"WASM modules are disabled","type":"service_unavailable","code":"WASM_DISABLED"}}"#,
        );
        assert_eq!(
            unsupported_kind("/wasm", &ours_wasm, true),
            Some(WasmDisabled)
        );
        assert_eq!(unsupported_kind("/workers", &ours_wasm, true), None);
    }

    #[test]
    fn unsupported_messages() {
        let answer = parse(404, "");
        let mut u = Unsupported {
            kind: UnsupportedKind::Route,
            route: "/admin/api-keys".into(),
            gateway: Some(GatewayIdentity::upstream("smg-1.13.0")),
            answer,
        };
        let err = Error::Unsupported(Box::new(u.clone()));
        assert_eq!(
            err.to_string(),
            "upstream SMG 1.13.0 does not offer `/admin/api-keys`"
        );
        assert!(err.is_unsupported() && err.is_not_found());
        assert_eq!(err.status(), Some(404));
        u.gateway = None;
        assert_eq!(
            u.to_string(),
            "this gateway does not offer `/admin/api-keys`"
        );
        u.kind = UnsupportedKind::WasmDisabled;
        assert_eq!(
            u.to_string(),
            "WASM is disabled on this gateway: start it with --enable-wasm"
        );
    }

    #[test]
    fn wait_timeout_display() {
        let e = Error::WaitTimeout {
            id: "w1".into(),
            last_status: Some(WorkerStatus::Pending),
            waited: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 1.5s waiting for worker w1 (last status: pending)"
        );
    }
}
