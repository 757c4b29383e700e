//! Parser utilities: replay raw model output through the gateway's parsers.

use reqwest::Method;

use super::{ApiRequest, Client, RouteKind};
use crate::error::Result;
use crate::types::{
    FunctionCallParseRequest, FunctionCallParseResponse, ParserList, ReasoningParseRequest,
    ReasoningParseResponse, Tool,
};

impl Client {
    /// Extract tool calls from `text` with the parser `parser` (`POST /parse/function_call`).
    /// `tools` lets schema-aware parsers coerce argument types.
    pub async fn parse_function_call(
        &self,
        text: &str,
        parser: &str,
        tools: &[Tool],
    ) -> Result<FunctionCallParseResponse> {
        let body = FunctionCallParseRequest {
            text: text.to_string(),
            tool_call_parser: parser.to_string(),
            tools: tools.to_vec(),
        };
        let req =
            ApiRequest::new(Method::POST, "/parse/function_call", RouteKind::Admin).json(&body)?;
        self.send_json(req).await
    }

    /// Split `text` into reasoning and answer with the parser `parser` (`POST /parse/reasoning`).
    pub async fn parse_reasoning(
        &self,
        text: &str,
        parser: &str,
    ) -> Result<ReasoningParseResponse> {
        let body = ReasoningParseRequest {
            text: text.to_string(),
            reasoning_parser: parser.to_string(),
        };
        let req =
            ApiRequest::new(Method::POST, "/parse/reasoning", RouteKind::Admin).json(&body)?;
        self.send_json(req).await
    }

    /// The parser names the gateway knows (`GET /parse/parsers`; an addition to upstream's API).
    pub async fn parsers(&self) -> Result<ParserList> {
        let req = ApiRequest::new(Method::GET, "/parse/parsers", RouteKind::Admin);
        self.send_json(req).await
    }
}
