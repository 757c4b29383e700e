//! Public health, info and model-listing routes.

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind, read_text};
use crate::error::{ApiError, Error, Result};
use crate::types::{ModelList, ModelObject, ReadinessResponse};

impl Client {
    /// The response header in which this project's gateway reports its own version (an
    /// addition to upstream SMG's wire format).
    pub const VERSION_HEADER: &'static str = super::VERSION_HEADER;

    /// The gateway's own version, read from the [`VERSION_HEADER`](Self::VERSION_HEADER) of
    /// `GET /liveness`; `Ok(None)` when the gateway does not report one (e.g. an upstream
    /// SMG). This is not a worker's engine version: that is in [`server_info`](Self::server_info).
    pub async fn gateway_version(&self) -> Result<Option<String>> {
        let req = ApiRequest::new(Method::GET, "/liveness", RouteKind::Public);
        let resp = self.execute(req).await?;
        Ok(resp
            .headers()
            .get(Self::VERSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// `GET /liveness`: `OK` while the gateway process is up.
    pub async fn liveness(&self) -> Result<String> {
        self.public_text("/liveness").await
    }

    /// `GET /health`: `OK` while the gateway process is up.
    pub async fn health(&self) -> Result<String> {
        self.public_text("/health").await
    }

    /// `GET /readiness`. The 503 "not ready" answer is `Ok` too (with
    /// [`ReadinessResponse::is_ready`] false) and is not retried; any other error is `Err`.
    pub async fn readiness(&self) -> Result<ReadinessResponse> {
        let req = ApiRequest::new(Method::GET, "/readiness", RouteKind::Public).accept_status(503);
        let resp = self.execute(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let url = resp.url().to_string();
        let body = read_text(resp).await?;
        match serde_json::from_str::<ReadinessResponse>(&body) {
            Ok(r) if status != 503 || r.status.contains("ready") => Ok(r),
            Ok(_) => Err(ApiError::parse(status, &headers, &body).into()),
            Err(_) if status == 503 => Err(ApiError::parse(status, &headers, &body).into()),
            Err(e) => Err(Error::decode(&url, e, body.as_bytes())),
        }
    }

    /// `GET /health_generate`: asks a worker to generate; the body as the worker returned it.
    pub async fn health_generate(&self) -> Result<String> {
        self.public_text("/health_generate").await
    }

    /// `GET /v1/models`: the models the gateway routes to. Sends the API key if one is set
    /// (the gateway reads it on this route).
    pub async fn models(&self) -> Result<ModelList> {
        let req = ApiRequest::new(Method::GET, "/v1/models", RouteKind::Serving);
        self.send_json(req).await
    }

    /// `GET /v1/models/{id}` (public): one model the gateway routes to; 404 for an unknown id.
    pub async fn model(&self, id: &str) -> Result<ModelObject> {
        if id.trim().is_empty() {
            return Err(Error::InvalidInput("model id must not be empty".into()));
        }
        let segments = vec!["v1".to_string(), "models".into(), id.to_string()];
        let req = ApiRequest::from_segments(Method::GET, segments, RouteKind::Public);
        self.send_json(req).await
    }

    /// `GET /get_model_info`: a worker's model info, passed through.
    pub async fn model_info(&self) -> Result<serde_json::Value> {
        let req = ApiRequest::new(Method::GET, "/get_model_info", RouteKind::Public);
        self.send_json(req).await
    }

    /// `GET /get_server_info`: a worker's server info, passed through.
    pub async fn server_info(&self) -> Result<serde_json::Value> {
        let req = ApiRequest::new(Method::GET, "/get_server_info", RouteKind::Public);
        self.send_json(req).await
    }

    /// `GET /engine_metrics`: the workers' Prometheus metrics, aggregated, as text.
    pub async fn engine_metrics(&self) -> Result<String> {
        self.public_text("/engine_metrics").await
    }

    async fn public_text(&self, path: &str) -> Result<String> {
        self.send_text(ApiRequest::new(Method::GET, path, RouteKind::Public))
            .await
    }
}
