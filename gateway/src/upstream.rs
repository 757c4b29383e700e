//! Outbound calls from the gateway to workers: every call has a timeout and carries the
//! worker's API key.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use smg_sdk::{ConnectionMode, WorkerSpec};

use crate::workers::url::base_url;

#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{0} workers are not supported by this gateway yet")]
    Unsupported(&'static str),
    #[error("timed out after {}s", .0.as_secs_f32())]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP {}", fmt_status(.0))]
    Status(StatusCode),
    #[error("invalid response: {0}")]
    Body(String),
}

fn fmt_status(status: &StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

impl CallError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Status(s) if *s == StatusCode::NOT_FOUND)
    }
}

/// One HTTP/1.1 client and one HTTP/2 (prior knowledge) client for the workers that ask for it
/// with `http2: true`; each keeps its own connection pool.
#[derive(Clone)]
pub struct Clients {
    http1: reqwest::Client,
    http2: reqwest::Client,
}

impl Clients {
    /// Both clients, from one builder recipe.
    pub fn build(builder: impl Fn() -> reqwest::ClientBuilder) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http1: builder().build()?,
            http2: builder().http2_prior_knowledge().build()?,
        })
    }

    /// The client that speaks the worker's protocol.
    pub fn for_worker(&self, spec: &WorkerSpec) -> &reqwest::Client {
        if spec.http2 { &self.http2 } else { &self.http1 }
    }
}

/// The shared HTTP clients used for health probes, discovery and fan-outs.
#[derive(Clone)]
pub struct WorkerHttp {
    clients: Clients,
}

impl WorkerHttp {
    pub fn new() -> Result<Self, reqwest::Error> {
        let clients = Clients::build(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .pool_idle_timeout(Duration::from_secs(50))
                .pool_max_idle_per_host(8)
                .tcp_nodelay(true)
        })?;
        Ok(Self { clients })
    }

    /// The client for `spec`'s worker (HTTP/2 when it says `http2: true`).
    pub fn client(&self, spec: &WorkerSpec) -> &reqwest::Client {
        self.clients.for_worker(spec)
    }

    /// Send `method path` to the worker and require a 2xx.
    pub async fn call(
        &self,
        spec: &WorkerSpec,
        method: Method,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        self.send(spec, method, path, None, timeout).await
    }

    /// POST `body` as JSON to the worker's `path` and require a 2xx.
    pub async fn post_json<B: serde::Serialize + ?Sized>(
        &self,
        spec: &WorkerSpec,
        path: &str,
        body: &B,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        let body = serde_json::to_vec(body).map_err(|e| CallError::Body(e.to_string()))?;
        self.send(spec, Method::POST, path, Some(body), timeout)
            .await
    }

    async fn send(
        &self,
        spec: &WorkerSpec,
        method: Method,
        path: &str,
        json: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        match spec.connection_mode {
            ConnectionMode::Http => {}
            ConnectionMode::Grpc => return Err(CallError::Unsupported("gRPC")),
            ConnectionMode::Zmq => return Err(CallError::Unsupported("ZMQ (ipc://)")),
        }
        let url = format!("{}{path}", base_url(&spec.url));
        let mut request = self.client(spec).request(method, url).timeout(timeout);
        if let Some(body) = json {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        if let Some(key) = &spec.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request.send().await.map_err(|e| classify(e, timeout))?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status()));
        }
        Ok(response)
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        spec: &WorkerSpec,
        path: &str,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let response = self.call(spec, Method::GET, path, timeout).await?;
        response.json().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout(timeout)
            } else {
                CallError::Body(e.to_string())
            }
        })
    }

    pub async fn get_text(
        &self,
        spec: &WorkerSpec,
        path: &str,
        timeout: Duration,
    ) -> Result<String, CallError> {
        let response = self.call(spec, Method::GET, path, timeout).await?;
        response.text().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout(timeout)
            } else {
                CallError::Body(e.to_string())
            }
        })
    }
}

pub fn classify(e: reqwest::Error, timeout: Duration) -> CallError {
    if e.is_timeout() {
        CallError::Timeout(timeout)
    } else {
        // The innermost cause says what actually happened (refused, reset, DNS).
        let mut source: &dyn std::error::Error = &e;
        while let Some(next) = source.source() {
            source = next;
        }
        CallError::Connect(source.to_string())
    }
}
