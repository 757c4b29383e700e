//! `/parse/*`: replay raw model output through the gateway's parsers.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use smg_sdk::{FunctionCallParseRequest, ReasoningParseRequest};

use super::extract::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::parsers::ParseError;

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        let message = e.to_string();
        match e {
            ParseError::UnknownToolParser { .. } => {
                ApiError::bad_request("UNKNOWN_TOOL_PARSER", message)
            }
            ParseError::UnknownReasoningParser { .. } => {
                ApiError::bad_request("UNKNOWN_REASONING_PARSER", message)
            }
            ParseError::InvalidTools(_) => ApiError::bad_request("INVALID_TOOLS", message),
            ParseError::ToolCalls(_) | ParseError::Reasoning(_) => {
                ApiError::bad_request("PARSE_FAILED", message)
            }
            ParseError::Internal(_) => ApiError::internal(message),
        }
    }
}

pub async fn function_call(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<FunctionCallParseRequest>,
) -> Result<Response, ApiError> {
    let parsed = state
        .parsers
        .parse_function_call(request.text, &request.tool_call_parser, request.tools)
        .await?;
    Ok(Json(parsed).into_response())
}

pub async fn reasoning(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ReasoningParseRequest>,
) -> Result<Response, ApiError> {
    let parsed = state
        .parsers
        .parse_reasoning(request.text, &request.reasoning_parser)
        .await?;
    Ok(Json(parsed).into_response())
}

pub async fn list(State(state): State<AppState>) -> Response {
    Json(state.parsers.list()).into_response()
}
