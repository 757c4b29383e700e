//! `/parse/*`: replay raw model output through the gateway's parsers.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use smg_sdk::error_codes;
use smg_sdk::{
    ErrorBody, FunctionCallParseRequest, FunctionCallParseResponse, ParserList,
    ReasoningParseRequest, ReasoningParseResponse,
};

use super::extract::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::parsers::ParseError;

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        let message = e.to_string();
        match e {
            ParseError::UnknownToolParser { .. } => {
                ApiError::bad_request(error_codes::UNKNOWN_TOOL_PARSER, message)
            }
            ParseError::UnknownReasoningParser { .. } => {
                ApiError::bad_request(error_codes::UNKNOWN_REASONING_PARSER, message)
            }
            ParseError::InvalidTools(_) => {
                ApiError::bad_request(error_codes::INVALID_TOOLS, message)
            }
            ParseError::ToolCalls(_) | ParseError::Reasoning(_) => {
                ApiError::bad_request(error_codes::PARSE_FAILED, message)
            }
            ParseError::Internal(_) => ApiError::internal(message),
        }
    }
}

/// `POST /parse/function_call`: extract tool calls from raw model output.
#[utoipa::path(
    post,
    path = "/parse/function_call",
    tag = "parse",
    request_body = FunctionCallParseRequest,
    responses(
        (status = 200, description = "The calls found and the remaining text", body = FunctionCallParseResponse),
        (status = 400, description = "Unknown parser, invalid tools, or unparseable output (`UNKNOWN_TOOL_PARSER`, `INVALID_TOOLS`, `PARSE_FAILED`)", body = ErrorBody),
        (status = 500, description = "The parser failed", body = ErrorBody),
    ),
)]
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

/// `POST /parse/reasoning`: split raw model output into reasoning and answer.
#[utoipa::path(
    post,
    path = "/parse/reasoning",
    tag = "parse",
    request_body = ReasoningParseRequest,
    responses(
        (status = 200, description = "The reasoning and the answer", body = ReasoningParseResponse),
        (status = 400, description = "Unknown parser or unparseable output (`UNKNOWN_REASONING_PARSER`, `PARSE_FAILED`)", body = ErrorBody),
        (status = 500, description = "The parser failed", body = ErrorBody),
    ),
)]
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

/// `GET /parse/parsers`: the parser names the two routes above accept.
#[utoipa::path(
    get,
    path = "/parse/parsers",
    tag = "parse",
    responses((status = 200, description = "Tool-call and reasoning parser names", body = ParserList)),
)]
pub async fn list(State(state): State<AppState>) -> Response {
    Json(state.parsers.list()).into_response()
}
