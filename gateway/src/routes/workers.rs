//! `/workers` routes: parse, call [`WorkerService`], map errors.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use smg_sdk::{RetireWorkerRequest, WorkerSpec, WorkerUpdateRequest};

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
            | WorkerError::InvalidTimeout { .. } => ApiError::bad_request("BAD_REQUEST", message),
            WorkerError::AlreadyExists { .. } | WorkerError::RegistrationInFlight { .. } => {
                ApiError::conflict("WORKER_ALREADY_EXISTS", message)
            }
            WorkerError::NotRegisteredYet(_) => {
                ApiError::conflict("WORKER_REGISTRATION_PENDING", message)
            }
            WorkerError::NotFound(_) => ApiError::not_found("WORKER_NOT_FOUND", message),
            WorkerError::BeingRemoved(_) => ApiError::conflict("WORKER_BEING_REMOVED", message),
            WorkerError::QueueFull { .. } => {
                ApiError::unavailable("JOB_QUEUE_FULL", message).with_retry_after(1)
            }
            WorkerError::ShuttingDown => ApiError::unavailable("SHUTTING_DOWN", message),
            WorkerError::Store(_) => ApiError::internal(message),
        }
    }
}

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

#[derive(Deserialize)]
pub struct ListQuery {
    model: Option<String>,
}

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

pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.workers.get(&id)?).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(update): ApiJson<WorkerUpdateRequest>,
) -> Result<Response, ApiError> {
    let accepted = state.workers.update(&id, update).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

pub async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(spec): ApiJson<WorkerSpec>,
) -> Result<Response, ApiError> {
    let accepted = state.workers.replace(&id, spec).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    /// Skip the drain settle period.
    #[serde(default)]
    force: bool,
}

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
pub async fn flush(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(super::admin::flush_response(
        state.workers.flush_one(&id).await?,
    ))
}
