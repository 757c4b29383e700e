//! Parser utilities (`/parse/function_call`, `/parse/reasoning`, `/parse/parsers`).

use serde::{Deserialize, Serialize};

fn empty_schema() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

fn function_type() -> String {
    "function".into()
}

/// A tool the model may call (OpenAI `tools` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tool {
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub tool_type: String,
    /// The function.
    pub function: FunctionDefinition,
}

/// A callable function and its JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionDefinition {
    /// Function name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments; used to coerce argument types by schema-aware parsers.
    #[serde(default = "empty_schema")]
    pub parameters: serde_json::Value,
    /// Strict schema adherence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Body of `POST /parse/function_call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionCallParseRequest {
    /// Raw model output.
    pub text: String,
    /// Parser name (see `GET /parse/parsers`).
    pub tool_call_parser: String,
    /// Tools offered to the model (may be empty).
    pub tools: Vec<Tool>,
}

/// An extracted call's function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParsedFunction {
    /// Function name.
    pub name: String,
    /// Arguments as a JSON-encoded string.
    pub arguments: String,
}

/// An extracted tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParsedToolCall {
    /// The call.
    pub function: ParsedFunction,
}

/// 200 body of `POST /parse/function_call`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionCallParseResponse {
    /// Text outside the calls.
    pub remaining_text: String,
    /// Calls found, in order.
    pub tool_calls: Vec<ParsedToolCall>,
    /// Always `true` on 200.
    pub success: bool,
}

/// Body of `POST /parse/reasoning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasoningParseRequest {
    /// Raw model output.
    pub text: String,
    /// Parser name (see `GET /parse/parsers`).
    pub reasoning_parser: String,
}

/// 200 body of `POST /parse/reasoning`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReasoningParseResponse {
    /// The answer.
    pub normal_text: String,
    /// The reasoning.
    pub reasoning_text: String,
    /// Always `true` on 200.
    pub success: bool,
}

/// Body of `GET /parse/parsers` (additive).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParserList {
    /// Valid `tool_call_parser` names.
    pub tool_call_parsers: Vec<String>,
    /// Valid `reasoning_parser` names.
    pub reasoning_parsers: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_request_and_response_round_trip() {
        let json = r#"{"text":"{\"name\":\"get_weather\",\"arguments\":{\"city\":\"SF\"}}","tool_call_parser":"json","tools":[]}"#;
        let req: FunctionCallParseRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.tool_call_parser, "json");
        let resp = r#"{"remaining_text":"","tool_calls":[{"function":{"name":"get_weather","arguments":"{\"city\":\"SF\"}"}}],"success":true}"#;
        let parsed: FunctionCallParseResponse = serde_json::from_str(resp).unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            serde_json::from_str::<serde_json::Value>(resp).unwrap()
        );
        let tool: Tool =
            serde_json::from_str(r#"{"type":"function","function":{"name":"f"}}"#).unwrap();
        assert_eq!(tool.function.parameters, serde_json::json!({}));
        let r: ReasoningParseResponse = serde_json::from_str(
            r#"{"normal_text":"answer","reasoning_text":"internal","success":true}"#,
        )
        .unwrap();
        assert!(r.success);
    }
}
