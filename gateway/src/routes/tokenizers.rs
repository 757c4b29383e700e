//! `/v1/tokenizers*` (control plane) and `/v1/tokenize`, `/v1/detokenize` (serving): parse,
//! call [`TokenizerService`](crate::tokenizers::TokenizerService), map errors to D1 bodies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use smg_sdk::error_codes;
use smg_sdk::{
    AddTokenizerRequest, AddTokenizerResponse, DeleteTokenizerResponse, DetokenizeRequest,
    DetokenizeResponse, ErrorBody, TokenizeRequest, TokenizeResponse, TokenizerInfo, TokenizerList,
    TokenizerStatus,
};

use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::error::ApiError;
use crate::tokenizers::TokenizerError;

impl From<TokenizerError> for ApiError {
    fn from(e: TokenizerError) -> Self {
        let message = e.to_string();
        match e {
            TokenizerError::Invalid(_) => ApiError::bad_request(error_codes::BAD_REQUEST, message),
            TokenizerError::AlreadyExists { .. } => {
                ApiError::conflict(error_codes::TOKENIZER_ALREADY_EXISTS, message)
            }
            TokenizerError::QueueFull { .. } => {
                ApiError::unavailable(error_codes::JOB_QUEUE_FULL, message).with_retry_after(1)
            }
            TokenizerError::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "tokenizer_not_found",
                error_codes::TOKENIZER_NOT_FOUND,
                message,
            ),
            TokenizerError::NoJob(_) => ApiError::not_found(error_codes::NOT_FOUND, message),
            TokenizerError::ModelNotFound { .. } | TokenizerError::ModelFailed { .. } => {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "tokenizer_not_found",
                    error_codes::TOKENIZER_NOT_FOUND,
                    message,
                )
            }
            TokenizerError::NotReady { .. } => {
                ApiError::unavailable(error_codes::TOKENIZER_NOT_READY, message).with_retry_after(1)
            }
            TokenizerError::Tokenization(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tokenization_error",
                error_codes::TOKENIZATION_ERROR,
                message,
            ),
            TokenizerError::Detokenization(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "detokenization_error",
                error_codes::DETOKENIZATION_ERROR,
                message,
            ),
            TokenizerError::Store(_) => ApiError::internal(message),
        }
    }
}

/// `POST /v1/tokenizers` → 202: the tokenizer loads in the background.
#[utoipa::path(
    post,
    path = "/v1/tokenizers",
    tag = "tokenizers",
    request_body = AddTokenizerRequest,
    responses(
        (status = 202, description = "Queued; `GET /v1/tokenizers/{id}/status` follows the load", body = AddTokenizerResponse),
        (status = 400, description = "Invalid name, source or chat template path (`BAD_REQUEST`)", body = ErrorBody),
        (status = 409, description = "The name is taken (`TOKENIZER_ALREADY_EXISTS`)", body = ErrorBody),
        (status = 503, description = "The job queue is full (`JOB_QUEUE_FULL`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn add(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AddTokenizerRequest>,
) -> Result<Response, ApiError> {
    let added = state.tokenizers.add(request).await?;
    Ok((StatusCode::ACCEPTED, Json(added)).into_response())
}

/// `GET /v1/tokenizers`.
#[utoipa::path(
    get,
    path = "/v1/tokenizers",
    tag = "tokenizers",
    responses((status = 200, description = "Every tokenizer, loaded or not", body = TokenizerList)),
)]
pub async fn list(State(state): State<AppState>) -> Json<TokenizerList> {
    Json(state.tokenizers.list())
}

/// `GET /v1/tokenizers/{tokenizer_id}`.
#[utoipa::path(
    get,
    path = "/v1/tokenizers/{tokenizer_id}",
    tag = "tokenizers",
    params(("tokenizer_id" = String, Path, description = "Tokenizer id or name")),
    responses(
        (status = 200, description = "The tokenizer", body = TokenizerInfo),
        (status = 404, description = "No such tokenizer (`TOKENIZER_NOT_FOUND`)", body = ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenizerInfo>, ApiError> {
    Ok(Json(state.tokenizers.get(&id)?))
}

/// `GET /v1/tokenizers/{tokenizer_id}/status`. A failed load is reported with 200 and
/// `status: failed`, as upstream does.
#[utoipa::path(
    get,
    path = "/v1/tokenizers/{tokenizer_id}/status",
    tag = "tokenizers",
    params(("tokenizer_id" = String, Path, description = "Tokenizer id or name")),
    responses(
        (status = 200, description = "The load's state (`failed` included)", body = TokenizerStatus),
        (status = 404, description = "No such tokenizer, or no load job (`TOKENIZER_NOT_FOUND`, `NOT_FOUND`)", body = ErrorBody),
    ),
)]
pub async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenizerStatus>, ApiError> {
    Ok(Json(state.tokenizers.status(&id)?))
}

/// `DELETE /v1/tokenizers/{tokenizer_id}`.
#[utoipa::path(
    delete,
    path = "/v1/tokenizers/{tokenizer_id}",
    tag = "tokenizers",
    params(("tokenizer_id" = String, Path, description = "Tokenizer id or name")),
    responses(
        (status = 200, description = "Removed", body = DeleteTokenizerResponse),
        (status = 404, description = "No such tokenizer (`TOKENIZER_NOT_FOUND`)", body = ErrorBody),
        (status = 500, description = "The store could not be written", body = ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeleteTokenizerResponse>, ApiError> {
    Ok(Json(state.tokenizers.delete(&id).await?))
}

/// `POST /v1/tokenize` (serving).
#[utoipa::path(
    post,
    path = "/v1/tokenize",
    tag = "tokenizers",
    request_body = TokenizeRequest,
    responses(
        (status = 200, description = "Token ids: the batch shape iff `prompt` was an array", body = TokenizeResponse),
        (status = 400, description = "No such tokenizer, or its load failed (`TOKENIZER_NOT_FOUND`)", body = ErrorBody),
        (status = 503, description = "The tokenizer is still loading (`TOKENIZER_NOT_READY`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The tokenizer failed (`TOKENIZATION_ERROR`)", body = ErrorBody),
    ),
)]
pub async fn tokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenizeRequest>,
) -> Result<Json<TokenizeResponse>, ApiError> {
    Ok(Json(state.tokenizers.tokenize(request).await?))
}

/// `POST /v1/detokenize` (serving).
#[utoipa::path(
    post,
    path = "/v1/detokenize",
    tag = "tokenizers",
    request_body = DetokenizeRequest,
    responses(
        (status = 200, description = "The text: a string for one sequence, an array for a batch", body = DetokenizeResponse),
        (status = 400, description = "No such tokenizer, or its load failed (`TOKENIZER_NOT_FOUND`)", body = ErrorBody),
        (status = 503, description = "The tokenizer is still loading (`TOKENIZER_NOT_READY`); retry after `Retry-After`", body = ErrorBody),
        (status = 500, description = "The tokenizer failed (`DETOKENIZATION_ERROR`)", body = ErrorBody),
    ),
)]
pub async fn detokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DetokenizeRequest>,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    Ok(Json(state.tokenizers.detokenize(request).await?))
}
