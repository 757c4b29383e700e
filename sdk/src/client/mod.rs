//! The async client: [`Client`], its [`ClientBuilder`], and the request plumbing every resource
//! group shares.
//!
//! Each request goes through one path ([`Client::execute`]):
//!
//! 1. the credential is chosen by [`RouteKind`]: the admin token on control-plane routes, the
//!    API key on serving routes, nothing on public routes;
//! 2. idempotent requests (GET, PUT, DELETE, HEAD, OPTIONS) are retried on connection errors,
//!    timeouts and statuses 408, 429, 502, 503 and 504, with exponential backoff and full jitter,
//!    honouring `Retry-After`; POST only with [`ClientBuilder::retry_post`], PATCH never;
//! 3. any other non-2xx answer becomes [`Error::Api`], or [`Error::Unsupported`] when it
//!    means the gateway does not offer the route (a route upstream SMG lacks, WASM disabled);
//! 4. JSON bodies are decoded with a clear [`Error::Decode`] that quotes the body.
//!
//! Every response also teaches the client what the gateway is ([`GatewayIdentity`]).

mod admin;
mod audit;
mod health;
mod identity;
mod inference;
mod keys;
mod parse;
mod profile;
mod tokenizers;
mod wasm;
mod watch;
mod workers;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use rand::Rng;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{
    ApiError, Error, Result, Unsupported, is_retryable_status, parse_retry_after, unsupported_kind,
};
use crate::types::SecretString;

pub use identity::{GatewayIdentity, GatewayKind, VERSION_HEADER};
pub use inference::EventStream;
pub use keys::ApiKeys;
pub use tokenizers::Tokenizers;
pub use wasm::Wasm;
pub use watch::WorkerEvent;
pub use workers::Workers;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Default first backoff step.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(200);
/// Default longest computed backoff.
pub const DEFAULT_RETRY_CAP: Duration = Duration::from_secs(5);
/// Longest `Retry-After` the client will sleep for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Default interval between polls of the wait helpers.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Which credential a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Control-plane routes (`/workers*`, `/get_loads`, `/flush_cache`, `/parse/*`, `/wasm*`,
    /// `/v1/tokenizers*`, `/admin/*`, …): the admin token, if set.
    Admin,
    /// Serving routes (`/v1/chat/completions`, `/generate`, `/v1/tokenize`, `/v1/models`, …): the
    /// API key, if set.
    Serving,
    /// Public routes (`/liveness`, `/health`, `/readiness`, `/loads`, `/v1/models/{id}`, …):
    /// no credential.
    Public,
}

impl RouteKind {
    /// The kind of a gateway path, by the gateway's route table. Unknown paths are treated as
    /// serving routes.
    pub fn for_path(path: &str) -> Self {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = path.trim_end_matches('/');
        const PUBLIC: [&str; 9] = [
            "/liveness",
            "/readiness",
            "/health",
            "/health_generate",
            "/engine_metrics",
            "/get_model_info",
            "/get_server_info",
            "/loads",
            "/openapi.json",
        ];
        const ADMIN_EXACT: [&str; 6] = [
            "/flush_cache",
            "/get_loads",
            "/ha",
            "/start_profile",
            "/stop_profile",
            "/wasm",
        ];
        const ADMIN_PREFIX: [&str; 6] = [
            "/workers",
            "/parse/",
            "/wasm/",
            "/v1/tokenizers",
            "/admin/",
            "/ha/",
        ];
        // `/v1/models` itself reads the API key; one model by id is public (upstream 1.13).
        let one_model = path
            .strip_prefix("/v1/models/")
            .is_some_and(|id| !id.is_empty());
        if PUBLIC.contains(&path) || one_model {
            Self::Public
        } else if ADMIN_EXACT.contains(&path)
            || path == "/admin"
            || ADMIN_PREFIX.iter().any(|p| path.starts_with(p))
        {
            Self::Admin
        } else {
            Self::Serving
        }
    }
}

/// An async client for the gateway's HTTP API. Cheap to clone (the connection pool is shared).
///
/// Build one with [`Client::builder`]. Resource groups hang off it: [`Client::workers`],
/// plus admin and health calls directly on the client ([`Client::loads`],
/// [`Client::readiness`], …).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: Url,
    http: reqwest::Client,
    admin_auth: Option<HeaderValue>,
    serving_auth: Option<HeaderValue>,
    user_agent: HeaderValue,
    request_timeout: Duration,
    max_retries: u32,
    retry_post: bool,
    retry_base: Duration,
    retry_cap: Duration,
    poll_interval: Duration,
    /// What the gateway is, once known ([`Client::identity`]).
    identity: Mutex<Option<GatewayIdentity>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let redact = |v: &Option<HeaderValue>| v.as_ref().map(|_| "***");
        f.debug_struct("Client")
            .field("base_url", &i.base_url.as_str())
            .field("admin_token", &redact(&i.admin_auth))
            .field("api_key", &redact(&i.serving_auth))
            .field("user_agent", &i.user_agent)
            .field("request_timeout", &i.request_timeout)
            .field("max_retries", &i.max_retries)
            .field("retry_post", &i.retry_post)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Start building a client for the gateway at `base_url` (e.g. `http://localhost:30000`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url)
    }

    /// A client with every default and no credentials.
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        Self::builder(base_url).build()
    }

    /// The gateway's base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The workers API (`/workers`).
    pub fn workers(&self) -> Workers<'_> {
        Workers::new(self)
    }

    /// The URL of the gateway path made of `segments` (each percent-encoded, so a segment may
    /// contain `/`) with the given query pairs, under the base URL (whose path is kept as a
    /// prefix).
    pub fn url_for(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url> {
        let mut url = self.inner.base_url.clone();
        {
            let mut path = url.path_segments_mut().map_err(|()| {
                Error::InvalidUrl(format!("{} cannot be a base URL", self.inner.base_url))
            })?;
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Send a request with a JSON body (or none) and decode a JSON answer.
    ///
    /// The escape hatch for routes this crate has no typed method for yet. `path` is a gateway
    /// path such as `/v1/tokenizers/abc`; its segments are percent-encoded, so pass them raw.
    ///
    /// ```no_run
    /// # async fn demo(client: smg_sdk::Client) -> smg_sdk::Result<()> {
    /// use smg_sdk::RouteKind;
    /// let wasm: serde_json::Value = client
    ///     .request_json(reqwest::Method::GET, "/wasm", None, RouteKind::Admin)
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn request_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        route: RouteKind,
    ) -> Result<T> {
        let mut req = ApiRequest::new(method, path, route);
        if let Some(body) = body {
            req = req.json(body)?;
        }
        self.send_json(req).await
    }

    /// Send `req` and decode its JSON answer.
    pub async fn send_json<T: DeserializeOwned>(&self, req: ApiRequest) -> Result<T> {
        let resp = self.execute(req).await?;
        decode_json(resp).await
    }

    /// Send `req` and return its body as text.
    pub async fn send_text(&self, req: ApiRequest) -> Result<String> {
        let resp = self.execute(req).await?;
        read_text(resp).await
    }

    /// Send `req` with the credential of its route kind and the retry rules, and return the
    /// response once it has a 2xx status (or one accepted with [`ApiRequest::accept_status`]).
    /// The body is not read, so streaming answers can be consumed from it. Every other status
    /// becomes [`Error::Api`].
    pub async fn execute(&self, req: ApiRequest) -> Result<reqwest::Response> {
        let inner = &*self.inner;
        let url = self.url_for_request(&req)?;
        let url_str = url.as_str().to_string();
        let auth = match req.route {
            RouteKind::Admin => inner.admin_auth.as_ref(),
            RouteKind::Serving => inner.serving_auth.as_ref(),
            RouteKind::Public => None,
        };
        let retries = if self.may_retry(&req.method) {
            inner.max_retries
        } else {
            0
        };
        let timeout = req.timeout.unwrap_or(Some(inner.request_timeout));

        let mut attempt: u32 = 0;
        loop {
            let mut builder = inner
                .http
                .request(req.method.clone(), url.clone())
                .header(USER_AGENT, inner.user_agent.clone());
            if let Some(auth) = auth {
                builder = builder.header(AUTHORIZATION, auth.clone());
            }
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            if let Some(body) = &req.body {
                builder = builder
                    .header(CONTENT_TYPE, body.content_type.clone())
                    .body(body.bytes.clone());
            }
            for (name, value) in &req.headers {
                builder = builder.header(name, value.clone());
            }

            let can_retry = attempt < retries;
            match builder.send().await {
                Ok(resp) => {
                    let ours = self.observe_headers(resp.headers());
                    let status = resp.status();
                    if status.is_success() || req.accept.contains(&status.as_u16()) {
                        return Ok(resp);
                    }
                    if can_retry && is_retryable_status(status.as_u16()) {
                        let delay = parse_retry_after(resp.headers())
                            .map(|d| d.min(MAX_RETRY_AFTER))
                            .unwrap_or_else(|| self.backoff(attempt));
                        tracing::debug!(
                            method = %req.method, url = %url_str, status = status.as_u16(),
                            attempt, delay_ms = delay.as_millis() as u64, "retrying"
                        );
                        drop(resp);
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    let answer = api_error(resp).await;
                    return Err(self.diagnose(&req, answer, ours).await);
                }
                Err(err) => {
                    if can_retry && (err.is_connect() || err.is_timeout() || err.is_request()) {
                        let delay = self.backoff(attempt);
                        tracing::debug!(
                            method = %req.method, url = %url_str, error = %err,
                            attempt, delay_ms = delay.as_millis() as u64, "retrying"
                        );
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::from_transport(err, &url_str));
                }
            }
        }
    }

    /// An error answer as [`Error::Unsupported`] when it means the gateway does not offer the
    /// route (naming the gateway, probed if not yet known), else as [`Error::Api`].
    async fn diagnose(&self, req: &ApiRequest, answer: ApiError, ours: bool) -> Error {
        let route = req.path();
        let Some(kind) = unsupported_kind(&route, &answer, ours) else {
            return answer.into();
        };
        let gateway = self.identity().await.ok();
        Error::Unsupported(Box::new(Unsupported {
            kind,
            route,
            gateway,
            answer,
        }))
    }

    fn url_for_request(&self, req: &ApiRequest) -> Result<Url> {
        let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let query: Vec<(&str, &str)> = req
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.url_for(&segments, &query)
    }

    fn may_retry(&self, method: &Method) -> bool {
        match *method {
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD | Method::OPTIONS => true,
            Method::POST => self.inner.retry_post,
            _ => false,
        }
    }

    /// Full jitter: uniform in `0..=min(cap, base * 2^attempt)`.
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.inner.retry_base.as_millis() as u64;
        let cap = self.inner.retry_cap.as_millis() as u64;
        let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap);
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }

    pub(crate) fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }
}

/// A request to send with [`Client::execute`], [`Client::send_json`] or [`Client::send_text`].
#[derive(Debug, Clone)]
pub struct ApiRequest {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    body: Option<Body>,
    headers: Vec<(http::HeaderName, HeaderValue)>,
    route: RouteKind,
    timeout: Option<Option<Duration>>,
    accept: Vec<u16>,
}

#[derive(Clone)]
struct Body {
    content_type: HeaderValue,
    bytes: Bytes,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bodies may carry secrets (worker api_key): show only their size.
        f.debug_struct("Body")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ApiRequest {
    /// A request for the gateway path `path` (e.g. `/workers/abc`). Segments are
    /// percent-encoded when the URL is built, so pass them unencoded. A `?query` part, if any,
    /// is parsed as `application/x-www-form-urlencoded` pairs (prefer [`query`](Self::query)).
    pub fn new(method: Method, path: &str, route: RouteKind) -> Self {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut req = Self::from_segments(method, segments, route);
        req.query = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        req
    }

    /// A request for a path given as segments, each percent-encoded (so a segment may contain
    /// `/`).
    pub fn from_segments(method: Method, segments: Vec<String>, route: RouteKind) -> Self {
        Self {
            method,
            segments,
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            route,
            timeout: None,
            accept: Vec::new(),
        }
    }

    /// The gateway path, `/`-joined (segments unencoded, no query).
    pub fn path(&self) -> String {
        format!("/{}", self.segments.join("/"))
    }

    /// Add a query parameter (encoded when the URL is built).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Send `body` as JSON.
    pub fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::InvalidInput(format!("could not serialise the request body: {e}"))
        })?;
        self.body = Some(Body {
            content_type: HeaderValue::from_static("application/json"),
            bytes: Bytes::from(bytes),
        });
        Ok(self)
    }

    /// Send raw bytes with the given content type.
    pub fn bytes(mut self, content_type: HeaderValue, bytes: impl Into<Bytes>) -> Self {
        self.body = Some(Body {
            content_type,
            bytes: bytes.into(),
        });
        self
    }

    /// Add a request header.
    pub fn header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Override the client's request timeout for this request; `None` means no timeout (for
    /// streams and long polls).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Treat `status` as a normal answer: it is returned rather than turned into
    /// [`Error::Api`], and never retried (e.g. 503 from `/readiness`).
    pub fn accept_status(mut self, status: u16) -> Self {
        self.accept.push(status);
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The route kind.
    pub fn route(&self) -> RouteKind {
        self.route
    }
}

/// Builds a [`Client`]. Start with [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    admin_token: Option<SecretString>,
    api_key: Option<SecretString>,
    connect_timeout: Duration,
    request_timeout: Duration,
    user_agent: String,
    max_retries: u32,
    retry_post: bool,
    retry_base: Duration,
    retry_cap: Duration,
    poll_interval: Duration,
    http_client: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("admin_token", &self.admin_token)
            .field("api_key", &self.api_key)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("user_agent", &self.user_agent)
            .field("max_retries", &self.max_retries)
            .field("retry_post", &self.retry_post)
            .field("custom_http_client", &self.http_client.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A builder for the gateway at `base_url`, with every default.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            admin_token: None,
            api_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            user_agent: format!("smg-sdk/{}", env!("CARGO_PKG_VERSION")),
            max_retries: DEFAULT_MAX_RETRIES,
            retry_post: false,
            retry_base: DEFAULT_RETRY_BASE,
            retry_cap: DEFAULT_RETRY_CAP,
            poll_interval: DEFAULT_POLL_INTERVAL,
            http_client: None,
        }
    }

    /// Control-plane credential (an admin API key or JWT), sent as `Authorization: Bearer` on
    /// control-plane routes only. An empty token means none.
    pub fn admin_token(mut self, token: impl Into<SecretString>) -> Self {
        self.admin_token = non_empty(token.into());
        self
    }

    /// Serving API key, sent as `Authorization: Bearer` on serving routes (and `/v1/models`)
    /// only. An empty key means none.
    pub fn api_key(mut self, key: impl Into<SecretString>) -> Self {
        self.api_key = non_empty(key.into());
        self
    }

    /// How long to wait for a connection (default 10 s). Ignored with
    /// [`http_client`](Self::http_client): configure that client instead.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline of each request, response body included (default 30 s). Applied per request,
    /// not client-wide, so streams and watches can opt out.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// `User-Agent` header (default `smg-sdk/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Retries after the first attempt (default 2; 0 disables retries).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Also retry POST requests (default `false`: a POST may not be safe to repeat).
    pub fn retry_post(mut self, retry: bool) -> Self {
        self.retry_post = retry;
        self
    }

    /// Backoff between retries: full jitter over `base * 2^attempt`, capped at `cap`
    /// (defaults 200 ms and 5 s). A `Retry-After` answer wins over it.
    pub fn retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry_base = base;
        self.retry_cap = cap;
        self
    }

    /// Interval between polls of the wait helpers, e.g. [`Workers::wait_for_worker`]
    /// (default 250 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Use this `reqwest::Client` (proxies, custom CAs, …). Do not give it a total `timeout`:
    /// it would cut off streams and watches.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Validate the settings and build the client.
    pub fn build(self) -> Result<Client> {
        let base_url = parse_base_url(&self.base_url)?;
        let bearer = |secret: &Option<SecretString>, what: &str| -> Result<Option<HeaderValue>> {
            secret
                .as_ref()
                .map(|s| {
                    let mut v =
                        HeaderValue::from_str(&format!("Bearer {}", s.expose())).map_err(|_| {
                            Error::InvalidInput(format!(
                                "{what} contains characters not allowed in an HTTP header"
                            ))
                        })?;
                    v.set_sensitive(true);
                    Ok(v)
                })
                .transpose()
        };
        let admin_auth = bearer(&self.admin_token, "admin token")?;
        let serving_auth = bearer(&self.api_key, "API key")?;
        let user_agent = HeaderValue::from_str(&self.user_agent).map_err(|_| {
            Error::InvalidInput(
                "user agent contains characters not allowed in an HTTP header".into(),
            )
        })?;
        let http = match self.http_client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .build()
                .map_err(Error::Http)?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                base_url,
                http,
                admin_auth,
                serving_auth,
                user_agent,
                request_timeout: self.request_timeout,
                max_retries: self.max_retries,
                retry_post: self.retry_post,
                retry_base: self.retry_base,
                retry_cap: self.retry_cap.max(self.retry_base),
                poll_interval: self.poll_interval.max(Duration::from_millis(1)),
                identity: Mutex::new(None),
            }),
        })
    }
}

fn non_empty(secret: SecretString) -> Option<SecretString> {
    (!secret.expose().trim().is_empty()).then_some(secret)
}

fn parse_base_url(raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|e| {
        Error::InvalidUrl(format!(
            "'{raw}': {e} (expected something like http://localhost:30000)"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl(format!(
            "'{raw}': scheme must be http or https (expected something like http://localhost:30000)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl(format!("'{raw}': missing host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidUrl(
            "credentials in the URL are not supported; use admin_token or api_key".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::InvalidUrl(format!(
            "'{raw}': must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// Build an [`ApiError`] from an error response, reading its body.
async fn api_error(resp: reqwest::Response) -> ApiError {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap_or_default();
    ApiError::parse(status, &headers, &body)
}

/// Read the whole body, classifying transport errors.
async fn read_bytes(resp: reqwest::Response) -> Result<(String, Bytes)> {
    let url = resp.url().to_string();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::from_transport(e, &url))?;
    Ok((url, bytes))
}

/// Decode a JSON body.
pub(crate) async fn decode_json<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let (url, bytes) = read_bytes(resp).await?;
    serde_json::from_slice(&bytes).map_err(|e| Error::decode(&url, e, &bytes))
}

/// Read a text body.
pub(crate) async fn read_text(resp: reqwest::Response) -> Result<String> {
    let (_, bytes) = read_bytes(resp).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_validation() {
        assert!(matches!(
            Client::new("localhost:30000"),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(Client::new("ftp://h"), Err(Error::InvalidUrl(_))));
        assert!(matches!(
            Client::new("not a url"),
            Err(Error::InvalidUrl(_))
        ));
        assert!(matches!(
            Client::new("http://u:p@h:1"),
            Err(Error::InvalidUrl(_))
        ));
        assert!(Client::new("https://gw.example:30000").is_ok());
    }

    #[test]
    fn urls_encode_segments_and_keep_prefix() {
        let c = Client::new("http://h:1/prefix/").unwrap();
        let u = c
            .url_for(&["workers", "a/b c"], &[("model", "m&x")])
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://h:1/prefix/workers/a%2Fb%20c?model=m%26x"
        );
        let c = Client::new("http://h:1").unwrap();
        assert_eq!(
            c.url_for(&["health"], &[]).unwrap().as_str(),
            "http://h:1/health"
        );
    }

    #[test]
    fn request_path_with_query() {
        let c = Client::new("http://h:1").unwrap();
        let req = ApiRequest::new(Method::GET, "/workers?model=a%2Fb&x=1", RouteKind::Admin)
            .query("y", "2");
        assert_eq!(
            c.url_for_request(&req).unwrap().as_str(),
            "http://h:1/workers?model=a%2Fb&x=1&y=2"
        );
    }

    #[test]
    fn empty_credentials_are_none() {
        let b = Client::builder("http://h:1").admin_token("").api_key(" ");
        assert!(b.admin_token.is_none() && b.api_key.is_none());
    }

    #[test]
    fn route_kinds() {
        assert_eq!(RouteKind::for_path("/workers/x"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/workers?model=m"), RouteKind::Admin);
        assert_eq!(
            RouteKind::for_path("/v1/tokenizers/x/status"),
            RouteKind::Admin
        );
        assert_eq!(RouteKind::for_path("/wasm"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/admin/keys"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/health"), RouteKind::Public);
        assert_eq!(RouteKind::for_path("/openapi.json"), RouteKind::Public);
        assert_eq!(RouteKind::for_path("/ha"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/ha/"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/v1/models"), RouteKind::Serving);
        assert_eq!(RouteKind::for_path("/v1/models/"), RouteKind::Serving);
        assert_eq!(RouteKind::for_path("/v1/models/m%2Fx"), RouteKind::Public);
        assert_eq!(RouteKind::for_path("/loads?model=m"), RouteKind::Public);
        assert_eq!(RouteKind::for_path("/get_loads"), RouteKind::Admin);
        assert_eq!(RouteKind::for_path("/v1/tokenize"), RouteKind::Serving);
        assert_eq!(RouteKind::for_path("/generate"), RouteKind::Serving);
    }

    #[test]
    fn backoff_is_bounded() {
        let c = Client::builder("http://h:1")
            .retry_backoff(Duration::from_millis(100), Duration::from_millis(300))
            .build()
            .unwrap();
        for attempt in 0..40 {
            let d = c.backoff(attempt);
            assert!(d <= Duration::from_millis(300), "{d:?}");
            if attempt == 0 {
                assert!(d <= Duration::from_millis(100));
            }
        }
    }

    #[test]
    fn secrets_not_in_debug() {
        let b = Client::builder("http://h:1")
            .admin_token("tok-SECRET")
            .api_key("key-SECRET");
        assert!(!format!("{b:?}").contains("SECRET"));
        let c = b.build().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn bad_header_values_rejected() {
        assert!(matches!(
            Client::builder("http://h:1").admin_token("a\nb").build(),
            Err(Error::InvalidInput(_))
        ));
    }
}
