//! `/workers` routes: parse, call [`WorkerService`], map errors.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use smg_sdk::error_codes;
use smg_sdk::{
    ErrorBody, FlushCacheResponse, RetireWorkerRequest, WorkerAccepted, WorkerCreated, WorkerInfo,
    WorkerListResponse, WorkerSpec, WorkerUpdateRequest,
};

use super::extract::{ApiJson, ApiPath, ApiQuery, OptionalJson};
use crate::app::AppState;
use crate::error::ApiError;
use crate::workers::{CreateWorkerRequest, WorkerError};

impl From<WorkerError> for ApiError {
    fn from(e: WorkerError) -> Self {
        let message = e.to_string();
        match e {
            WorkerError::InvalidUrl(_)
            | WorkerError::InvalidId { .. }
            | WorkerError::UrlMismatch { .. }
            | WorkerError::InvalidTimeout { .. } => {
                ApiError::bad_request(error_codes::BAD_REQUEST, message)
            }
            WorkerError::AlreadyExists { .. } | WorkerError::RegistrationInFlight { .. } => {
                ApiError::conflict(error_codes::WORKER_ALREADY_EXISTS, message)
            }
            WorkerError::NotRegisteredYet(_) => {
                ApiError::conflict(error_codes::WORKER_REGISTRATION_PENDING, message)
            }
            WorkerError::NotFound(_) => ApiError::not_found(error_codes::WORKER_NOT_FOUND, message),
            WorkerError::BeingRemoved(_) => {
                ApiError::conflict(error_codes::WORKER_BEING_REMOVED, message)
            }
            WorkerError::QueueFull { .. } => {
                ApiError::unavailable(error_codes::JOB_QUEUE_FULL, message).with_retry_after(1)
            }
            WorkerError::ShuttingDown => ApiError::unavailable(error_codes::SHUTTING_DOWN, message),
            WorkerError::Store(_) => ApiError::internal(message),
        }
    }
}

/// `POST /workers`: register a worker; the registration job runs in the background.
#[utoipa::path(
    post,
    path = "/workers",
    tag = "workers",
    request_body = CreateWorkerRequest,
    responses(
        (status = 202, description = "Queued; `GET /workers/{id}` shows the job (`job_status`) until the worker is registered", body = WorkerCreated,
            headers(("Location" = String, description = "`/workers/{worker_id}`"))),
        (status = 400, description = "Invalid URL or worker id (`BAD_REQUEST`)", body = ErrorBody),
        (status = 409, description = "A worker with this URL exists or is being registered (`WORKER_ALREADY_EXISTS`)", body = ErrorBody),
        (status = 503, description = "The job queue is full (`JOB_QUEUE_FULL`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateWorkerRequest>,
) -> Result<Response, ApiError> {
    let created = state.workers.create(request).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, created.location.clone())],
        Json(created),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only workers serving this model (id or alias; wildcard workers serve every model).
    model: Option<String>,
}

/// `GET /workers`: every worker, registered or pending.
#[utoipa::path(
    get,
    path = "/workers",
    tag = "workers",
    params(ListQuery),
    responses(
        (status = 200, description = "The workers, with counts by type", body = WorkerListResponse),
        (status = 400, description = "Invalid query string", body = ErrorBody),
    ),
)]
pub async fn list(State(state): State<AppState>, ApiQuery(query): ApiQuery<ListQuery>) -> Response {
    let mut pieces = state.workers.list_pieces(query.model.as_deref());
    let body = futures::stream::iter(std::iter::from_fn(move || pieces.next_piece()))
        .map(Ok::<_, std::convert::Infallible>);
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

/// `GET /workers/{worker_id}`.
#[utoipa::path(
    get,
    path = "/workers/{worker_id}",
    tag = "workers",
    params(("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)")),
    responses(
        (status = 200, description = "The worker; a pending one shows its job in `job_status`", body = WorkerInfo),
        (status = 400, description = "Not a worker id (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.workers.get(&id)?).into_response())
}

/// `PATCH /workers/{worker_id}`: change some fields; `labels` and `health` are merged.
#[utoipa::path(
    patch,
    path = "/workers/{worker_id}",
    tag = "workers",
    params(("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)")),
    request_body = WorkerUpdateRequest,
    responses(
        (status = 202, description = "Applied", body = WorkerAccepted),
        (status = 400, description = "Not a worker id (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The worker's registration has not finished (`WORKER_REGISTRATION_PENDING`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<WorkerUpdateRequest>,
) -> Result<Response, ApiError> {
    let accepted = state.workers.update(&id, update).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// `PUT /workers/{worker_id}`: replace the whole spec (same URL); re-registered in the background.
#[utoipa::path(
    put,
    path = "/workers/{worker_id}",
    tag = "workers",
    params(("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)")),
    request_body = WorkerSpec,
    responses(
        (status = 202, description = "Queued", body = WorkerAccepted),
        (status = 400, description = "Not a worker id, an invalid URL, or a different URL (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "The worker's registration has not finished (`WORKER_REGISTRATION_PENDING`)", body = ErrorBody),
        (status = 503, description = "The job queue is full (`JOB_QUEUE_FULL`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<WorkerSpec>,
) -> Result<Response, ApiError> {
    let accepted = state.workers.replace(&id, spec).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Skip the drain settle period: no new requests, in-flight ones finish on their own.
    #[serde(default)]
    force: bool,
}

/// `DELETE /workers/{worker_id}[?force=true]`: drain, then remove.
#[utoipa::path(
    delete,
    path = "/workers/{worker_id}",
    tag = "workers",
    params(("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)"), DeleteQuery),
    responses(
        (status = 202, description = "Draining; removed after `drain_settle_secs` (at once with `force=true`)", body = WorkerAccepted),
        (status = 400, description = "Not a worker id, or a malformed query (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
        (status = 503, description = "The job queue is full (`JOB_QUEUE_FULL`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let accepted = state.workers.delete(&id, query.force).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// `POST /workers/{id}/retire[?timeout_secs=N]`, optionally with `{"timeout_secs": N}` (the
/// body wins).
#[utoipa::path(
    post,
    path = "/workers/{worker_id}/retire",
    tag = "workers",
    params(
        ("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)"),
        ("timeout_secs" = Option<u64>, Query, description = "Longest drain wait; the body's value wins"),
    ),
    request_body(content = Option<RetireWorkerRequest>, description = "Optional; `{}` or no body takes the gateway's default"),
    responses(
        (status = 202, description = "Cordoned; the retire job (drain, flush, remove) shows in `job_status`", body = WorkerAccepted),
        (status = 400, description = "Not a worker id, malformed body, or a timeout over a week (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
        (status = 409, description = "Being removed already (`WORKER_BEING_REMOVED`) or not registered yet (`WORKER_REGISTRATION_PENDING`)", body = ErrorBody),
        (status = 503, description = "The job queue is full (`JOB_QUEUE_FULL`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn retire(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<RetireWorkerRequest>,
    OptionalJson(body): OptionalJson<RetireWorkerRequest>,
) -> Result<Response, ApiError> {
    let timeout = body.timeout_secs.or(query.timeout_secs);
    let accepted = state.workers.retire(&id, timeout).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// `POST /workers/{id}/flush_cache`: 200, or 206 when the worker failed to flush.
#[utoipa::path(
    post,
    path = "/workers/{worker_id}/flush_cache",
    tag = "loads",
    params(("worker_id" = String, Path, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", description = "Worker id (UUID)")),
    responses(
        (status = 200, description = "Flushed", body = FlushCacheResponse),
        (status = 206, description = "The worker failed to flush (`partial_success`, with `failed`)", body = FlushCacheResponse),
        (status = 400, description = "Not a worker id (`BAD_REQUEST`)", body = ErrorBody),
        (status = 404, description = "No such worker (`WORKER_NOT_FOUND`)", body = ErrorBody),
    ),
)]
pub async fn flush(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(super::admin::flush_response(
        state.workers.flush_one(&id).await?,
    ))
}
