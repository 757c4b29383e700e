//! Public routes (no auth): liveness, health, readiness, model list, engine metrics, and the
//! info routes proxied to the first ready worker.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use smg_sdk::error_codes;
use smg_sdk::{ErrorBody, LoadsSnapshot, ModelList, ModelObject, ReadinessResponse};

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

/// `GET /liveness`: the process answers.
#[utoipa::path(
    get,
    path = "/liveness",
    tag = "health",
    responses((status = 200, description = "The gateway process is up", content_type = "text/plain", body = String, example = "OK")),
)]
pub async fn liveness() -> &'static str {
    "OK"
}

/// `GET /health`: the same as `/liveness` (upstream's spelling).
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses((status = 200, description = "The gateway process is up", content_type = "text/plain", body = String, example = "OK")),
)]
pub async fn health() -> &'static str {
    "OK"
}

/// `GET /readiness`: whether the gateway can route.
#[utoipa::path(
    get,
    path = "/readiness",
    tag = "health",
    responses(
        (status = 200, description = "Ready: healthy and total worker counts", body = ReadinessResponse),
        (status = 503, description = "Not ready (no healthy worker, or draining), with the reason", body = ReadinessResponse),
    ),
)]
pub async fn readiness(State(state): State<AppState>) -> Response {
    let body = info::readiness(&state.workers.registry, state.is_draining());
    let status = if body.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /v1/models`: the models of the registered workers.
#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "models",
    responses(
        (status = 200, description = "Every model a worker serves, once", body = ModelList),
        (status = 503, description = "No worker serves a model (`NO_MODELS_AVAILABLE`)", body = ErrorBody),
    ),
)]
pub async fn models(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = info::model_list(&state.workers.registry);
    if list.data.is_empty() {
        return Err(ApiError::unavailable(
            error_codes::NO_MODELS_AVAILABLE,
            "No models available",
        ));
    }
    Ok(Json(list).into_response())
}

/// `GET /v1/models/{id}`; the id may contain `/` (e.g. `meta-llama/Llama-3.1-8B-Instruct`).
#[utoipa::path(
    get,
    path = "/v1/models/{model_id}",
    tag = "models",
    params(("model_id" = String, Path, description = "Model id; may contain `/`")),
    responses(
        (status = 200, description = "The model", body = ModelObject),
        (status = 404, description = "No worker serves it (`model_not_found`)", body = ErrorBody),
    ),
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoadsQuery {
    /// Only the workers serving this model.
    model: Option<String>,
}

/// `GET /loads[?model=ID]`: the load monitor's last snapshot; never contacts a worker. A
/// model no worker serves gives an empty snapshot, as `GET /workers?model=` gives an empty
/// list.
#[utoipa::path(
    get,
    path = "/loads",
    tag = "loads",
    params(LoadsQuery),
    responses(
        (status = 200, description = "The load monitor's last snapshot, each entry with its age", body = LoadsSnapshot),
        (status = 400, description = "A malformed query (`BAD_REQUEST`)", body = ErrorBody),
    ),
)]
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

/// `GET /engine_metrics`: every worker's Prometheus metrics, merged.
#[utoipa::path(
    get,
    path = "/engine_metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
        (status = 503, description = "No worker answered (`NO_METRICS_AVAILABLE`)", body = ErrorBody),
    ),
)]
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
        Err(message) => Err(ApiError::unavailable(
            error_codes::NO_METRICS_AVAILABLE,
            message,
        )),
    }
}

/// `GET /health_generate`: A generation health check of the first ready HTTP worker, passed through.
#[utoipa::path(
    get,
    path = "/health_generate",
    tag = "health",
    responses(
        (status = 503, description = "No ready HTTP worker (`no_workers`)", body = ErrorBody),
        (status = 502, description = "The worker could not be reached (`WORKER_UNREACHABLE`)", body = ErrorBody),
        (status = "default", description = "The worker's answer (status, content type and body), passed through verbatim", content_type = "*/*"),
    ),
)]
pub async fn health_generate(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    proxy_get(&state, "/health_generate", &headers).await
}

/// `GET /get_model_info`: Model info of the first ready HTTP worker, passed through.
#[utoipa::path(
    get,
    path = "/get_model_info",
    tag = "health",
    responses(
        (status = 503, description = "No ready HTTP worker (`no_workers`)", body = ErrorBody),
        (status = 502, description = "The worker could not be reached (`WORKER_UNREACHABLE`)", body = ErrorBody),
        (status = "default", description = "The worker's answer (status, content type and body), passed through verbatim", content_type = "*/*"),
    ),
)]
pub async fn get_model_info(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    proxy_get(&state, "/get_model_info", &headers).await
}

/// `GET /get_server_info`: Server info of the first ready HTTP worker, passed through.
#[utoipa::path(
    get,
    path = "/get_server_info",
    tag = "health",
    responses(
        (status = 503, description = "No ready HTTP worker (`no_workers`)", body = ErrorBody),
        (status = 502, description = "The worker could not be reached (`WORKER_UNREACHABLE`)", body = ErrorBody),
        (status = "default", description = "The worker's answer (status, content type and body), passed through verbatim", content_type = "*/*"),
    ),
)]
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
            error_codes::WORKER_UNREACHABLE,
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
            error_codes::WORKER_UNREACHABLE,
            format!("worker {} broke off its answer to {path}: {e}", spec.url),
        )
    })?;
    if is_error(status) && !is_json(&headers, &body) {
        return Ok(wrapped_worker_error(
            &spec.url,
            status,
            &headers,
            Some(&body),
        ));
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
