//! Fan-out admin routes: `/get_loads`, `/flush_cache`, `/start_profile`, `/stop_profile`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use smg_sdk::error_codes;
use smg_sdk::{
    ERROR_CODE_HEADER, FlushCacheResponse, ProfileResponse, StartProfileRequest, StopProfileRequest,
};

use smg_sdk::{ErrorBody, GetLoadsResponse};

use super::extract::OptionalJson;
use crate::app::AppState;
use crate::error::ApiError;

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
    flush_response(state.fanout().flush_cache(workers).await)
}

/// 200 when every worker flushed, 206 otherwise.
pub(super) fn flush_response(result: FlushCacheResponse) -> Response {
    let status = if result.is_partial() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}

/// `POST /start_profile`: start the engines' profilers.
#[utoipa::path(
    post,
    path = "/start_profile",
    tag = "profiling",
    request_body(content = Option<StartProfileRequest>, description = "Optional; `url` limits it to one worker"),
    responses(
        (status = 200, description = "Every targeted worker answered", body = ProfileResponse),
        (status = 206, description = "Some workers failed", body = ProfileResponse),
        (status = 400, description = "A malformed body (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No worker matched (`WORKER_NOT_FOUND`, `NO_WORKERS_AVAILABLE`): upstream's body with D1's `error`", body = ProfileResponse),
    ),
)]
pub async fn start_profile(
    State(state): State<AppState>,
    OptionalJson(request): OptionalJson<StartProfileRequest>,
) -> Response {
    let workers = state.workers.registry.all();
    let result = state
        .fanout()
        .profile(workers, request.url.as_deref(), Some(&request.options))
        .await;
    profile_response(result, request.url.is_some())
}

/// `POST /stop_profile`: stop them and write the traces.
#[utoipa::path(
    post,
    path = "/stop_profile",
    tag = "profiling",
    request_body(content = Option<StopProfileRequest>, description = "Optional; `url` limits it to one worker"),
    responses(
        (status = 200, description = "Every targeted worker answered", body = ProfileResponse),
        (status = 206, description = "Some workers failed", body = ProfileResponse),
        (status = 400, description = "A malformed body (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No worker matched (`WORKER_NOT_FOUND`, `NO_WORKERS_AVAILABLE`): upstream's body with D1's `error`", body = ProfileResponse),
    ),
)]
pub async fn stop_profile(
    State(state): State<AppState>,
    OptionalJson(request): OptionalJson<StopProfileRequest>,
) -> Response {
    let workers = state.workers.registry.all();
    let result = state
        .fanout()
        .profile(workers, request.url.as_deref(), None)
        .await;
    profile_response(result, request.url.is_some())
}

/// 200 when every worker answered, 206 otherwise, and 404 when none was targeted. The 404
/// body is upstream's (`status`, `message`, counts) with decision D1's `error` object and
/// header added, so scripts written for either read it.
fn profile_response(result: ProfileResponse, filtered: bool) -> Response {
    if result.total_workers == 0 {
        let code = if filtered {
            error_codes::WORKER_NOT_FOUND
        } else {
            error_codes::NO_WORKERS_AVAILABLE
        };
        let error = ApiError::not_found(code, result.message.clone());
        let mut body = serde_json::to_value(&result).unwrap_or_default();
        if let (Some(obj), Ok(detail)) = (
            body.as_object_mut(),
            serde_json::to_value(error.body().error),
        ) {
            obj.insert("error".into(), detail);
        }
        let mut response = (StatusCode::NOT_FOUND, Json(body)).into_response();
        response
            .headers_mut()
            .insert(ERROR_CODE_HEADER, HeaderValue::from_static(code));
        return response;
    }
    let status = if result.is_partial() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    (status, Json(result)).into_response()
}
