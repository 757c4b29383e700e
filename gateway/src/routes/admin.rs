//! Fan-out admin routes: `/get_loads`, `/flush_cache`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use smg_sdk::{FlushCacheResponse, GetLoadsResponse};

use crate::app::AppState;

/// `GET /get_loads`: every worker's engine load, asked now.
#[utoipa::path(
    get,
    path = "/get_loads",
    tag = "loads",
    responses((status = 200, description = "One entry per worker; `load: -1` for a worker that did not answer in time", body = GetLoadsResponse)),
)]
pub async fn get_loads(State(state): State<AppState>) -> Response {
    let workers = state.workers.registry.all();
    Json(state.fanout().get_loads(workers).await).into_response()
}

/// `POST /flush_cache`: flush every HTTP worker's KV cache.
#[utoipa::path(
    post,
    path = "/flush_cache",
    tag = "loads",
    responses(
        (status = 200, description = "Every worker flushed", body = FlushCacheResponse),
        (status = 206, description = "Some workers failed (`partial_success`, with `failed`)", body = FlushCacheResponse),
    ),
)]
pub async fn flush_cache(State(state): State<AppState>) -> Response {
    let workers = state.workers.registry.all();
    let result = state.fanout().flush_cache(workers).await;
    let status = if result.is_partial() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}
