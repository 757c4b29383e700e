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

/// The shared HTTP client used for health probes, discovery and fan-outs.
#[derive(Clone)]
pub struct WorkerHttp {
    client: reqwest::Client,
}

impl WorkerHttp {
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_max_idle_per_host(8)
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send `method path` to the worker and require a 2xx.
    pub async fn call(
        &self,
        spec: &WorkerSpec,
        method: Method,
        path: &str,
        timeout: Duration,
    ) -> Result<reqwest::Response, CallError> {
        match spec.connection_mode {
            ConnectionMode::Http => {}
            ConnectionMode::Grpc => return Err(CallError::Unsupported("gRPC")),
            ConnectionMode::Zmq => return Err(CallError::Unsupported("ZMQ (ipc://)")),
        }
        let url = format!("{}{path}", base_url(&spec.url));
        let mut request = self.client.request(method, url).timeout(timeout);
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
