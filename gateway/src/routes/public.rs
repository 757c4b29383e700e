//! Public routes (no auth): liveness, health, readiness, model list, engine metrics, and the
//! info routes proxied to the first ready worker.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Deserialize;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::error::ApiError;
use crate::info;
use crate::proxy::{is_error, is_json, wrapped_worker_error};
use crate::upstream::classify;
use crate::workers::url::base_url;

/// Request headers passed on to the worker. The client's `Authorization` is deliberately
/// not among them: the worker gets its own `api_key`, never the caller's gateway credential.
const FORWARDED: [&str; 6] = [
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "x-smg-routing-key",
    "x-smg-target-worker",
];

pub async fn ok_text() -> &'static str {
    "OK"
}

pub async fn readiness(State(state): State<AppState>) -> Response {
    let body = info::readiness(&state.workers.registry, state.is_draining());
    let status = if body.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

pub async fn models(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = info::model_list(&state.workers.registry);
    if list.data.is_empty() {
        return Err(ApiError::unavailable(
            "NO_MODELS_AVAILABLE",
            "No models available",
        ));
    }
    Ok(Json(list).into_response())
}

/// `GET /v1/models/{id}`; the id may contain `/` (e.g. `meta-llama/Llama-3.1-8B-Instruct`).
pub async fn model(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    info::find_model(&state.workers.registry, &id)
        .map(|model| Json(model).into_response())
        .ok_or_else(|| {
            ApiError::not_found(
                "model_not_found",
                format!("The model '{id}' does not exist (GET /v1/models lists the models served)"),
            )
        })
}

#[derive(Deserialize)]
pub struct LoadsQuery {
    model: Option<String>,
}

/// `GET /loads[?model=ID]`: the load monitor's last snapshot; never contacts a worker. A
/// model no worker serves gives an empty snapshot, as `GET /workers?model=` gives an empty
/// list.
pub async fn loads(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LoadsQuery>,
) -> Response {
    Json(crate::monitor::snapshot(
        &state.workers.registry,
        query.model.as_deref(),
    ))
    .into_response()
}

pub async fn engine_metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let workers = state.workers.registry.all();
    match state.fanout().engine_metrics(workers).await {
        Ok(text) => Ok((
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response()),
        Err(message) => Err(ApiError::unavailable("NO_METRICS_AVAILABLE", message)),
    }
}

pub async fn health_generate(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    proxy_get(&state, "/health_generate", &headers).await
}

pub async fn get_model_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    proxy_get(&state, "/get_model_info", &headers).await
}

pub async fn get_server_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    proxy_get(&state, "/get_server_info", &headers).await
}

/// GET `path` on the first ready HTTP worker and pass its answer through verbatim.
async fn proxy_get(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let worker = state
        .workers
        .ready_workers()
        .into_iter()
        .find(|w| w.spec().connection_mode == smg_sdk::ConnectionMode::Http)
        .ok_or_else(|| ApiError::unavailable("no_workers", "No workers are available"))?;
    let spec = worker.spec();
    let timeout = Duration::from_secs(state.config.discovery_timeout_secs.max(1));
    let mut request = state
        .http
        .client(&spec)
        .get(format!("{}{path}", base_url(&spec.url)))
        .timeout(timeout);
    for name in FORWARDED {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    if let Some(key) = &spec.api_key {
        request = request.bearer_auth(key.expose());
    }
    let upstream = request.send().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "WORKER_UNREACHABLE",
            format!(
                "worker {} did not answer {path}: {}",
                spec.url,
                classify(e, timeout)
            ),
        )
    })?;
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    let body = upstream.bytes().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "WORKER_UNREACHABLE",
            format!("worker {} broke off its answer to {path}: {e}", spec.url),
        )
    })?;
    if is_error(status) && !is_json(&headers, &body) {
        return Ok(wrapped_worker_error(&spec.url, status, &headers, Some(&body)));
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    } else {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
    }
    Ok(response)
}
