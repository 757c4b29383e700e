//! `/v1/tokenizers*` (control plane) and `/v1/tokenize`, `/v1/detokenize` (serving): parse,
//! call [`TokenizerService`](crate::tokenizers::TokenizerService), map errors to D1 bodies.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use smg_sdk::{
    AddTokenizerRequest, DeleteTokenizerResponse, DetokenizeRequest, DetokenizeResponse,
    TokenizeRequest, TokenizeResponse, TokenizerInfo, TokenizerList, TokenizerStatus,
};

use super::extract::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::error::ApiError;
use crate::tokenizers::TokenizerError;

impl From<TokenizerError> for ApiError {
    fn from(e: TokenizerError) -> Self {
        let message = e.to_string();
        match e {
            TokenizerError::Invalid(_) => ApiError::bad_request("BAD_REQUEST", message),
            TokenizerError::AlreadyExists { .. } => {
                ApiError::conflict("TOKENIZER_ALREADY_EXISTS", message)
            }
            TokenizerError::QueueFull { .. } => {
                ApiError::unavailable("JOB_QUEUE_FULL", message).with_retry_after(1)
            }
            TokenizerError::NotFound(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "tokenizer_not_found",
                "TOKENIZER_NOT_FOUND",
                message,
            ),
            TokenizerError::NoJob(_) => ApiError::not_found("NOT_FOUND", message),
            TokenizerError::ModelNotFound { .. } | TokenizerError::ModelFailed { .. } => {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "tokenizer_not_found",
                    "TOKENIZER_NOT_FOUND",
                    message,
                )
            }
            TokenizerError::NotReady { .. } => {
                ApiError::unavailable("TOKENIZER_NOT_READY", message).with_retry_after(1)
            }
            TokenizerError::Tokenization(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tokenization_error",
                "TOKENIZATION_ERROR",
                message,
            ),
            TokenizerError::Detokenization(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "detokenization_error",
                "DETOKENIZATION_ERROR",
                message,
            ),
            TokenizerError::Store(_) => ApiError::internal(message),
        }
    }
}

/// `POST /v1/tokenizers` → 202.
pub async fn add(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<AddTokenizerRequest>,
) -> Result<Response, ApiError> {
    let added = state.tokenizers.add(request).await?;
    Ok((StatusCode::ACCEPTED, Json(added)).into_response())
}

pub async fn list(State(state): State<AppState>) -> Json<TokenizerList> {
    Json(state.tokenizers.list())
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenizerInfo>, ApiError> {
    Ok(Json(state.tokenizers.get(&id)?))
}

/// A failed load is reported with 200 and `status: failed`, as upstream does.
pub async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TokenizerStatus>, ApiError> {
    Ok(Json(state.tokenizers.status(&id)?))
}

pub async fn delete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeleteTokenizerResponse>, ApiError> {
    Ok(Json(state.tokenizers.delete(&id).await?))
}

pub async fn tokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenizeRequest>,
) -> Result<Json<TokenizeResponse>, ApiError> {
    Ok(Json(state.tokenizers.tokenize(request).await?))
}

pub async fn detokenize(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DetokenizeRequest>,
) -> Result<Json<DetokenizeResponse>, ApiError> {
    Ok(Json(state.tokenizers.detokenize(request).await?))
}
