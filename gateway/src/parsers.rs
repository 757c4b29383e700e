//! Parser utilities: replay a model's raw output through the tool-call and reasoning parsers
//! the gateway uses. The gateway owns the name → parser mapping (upstream's parser crates,
//! exact names only); parsing is CPU work, so it runs on the blocking pool.

use smg_sdk::{
    FunctionCallParseResponse, ParsedFunction, ParsedToolCall, ParserList, ReasoningParseResponse,
    Tool,
};

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("Unknown tool parser: {name}. Valid tool parsers: {}", valid.join(", "))]
    UnknownToolParser { name: String, valid: Vec<String> },
    #[error("Unknown reasoning parser: {name}. Valid reasoning parsers: {}", valid.join(", "))]
    UnknownReasoningParser { name: String, valid: Vec<String> },
    #[error("Invalid tools: {0}")]
    InvalidTools(String),
    #[error("Failed to parse function calls: {0}")]
    ToolCalls(String),
    #[error("Failed to separate reasoning: {0}")]
    Reasoning(String),
    #[error("parser task failed: {0}")]
    Internal(String),
}

pub struct Parsers {
    tools: tool_parser::ParserFactory,
    reasoning: reasoning_parser::ParserFactory,
}

impl Default for Parsers {
    fn default() -> Self {
        Self::new()
    }
}

impl Parsers {
    pub fn new() -> Self {
        Self {
            tools: tool_parser::ParserFactory::new(),
            reasoning: reasoning_parser::ParserFactory::new(),
        }
    }

    pub fn list(&self) -> ParserList {
        let mut tool_call_parsers = self.tools.list_parsers();
        let mut reasoning_parsers = self.reasoning.list_parsers();
        tool_call_parsers.sort();
        reasoning_parsers.sort();
        ParserList {
            tool_call_parsers,
            reasoning_parsers,
        }
    }

    pub async fn parse_function_call(
        &self,
        text: String,
        parser: &str,
        tools: Vec<Tool>,
    ) -> Result<FunctionCallParseResponse, ParseError> {
        let Some(instance) = self.tools.registry().create_parser(parser) else {
            return Err(ParseError::UnknownToolParser {
                name: parser.to_string(),
                valid: self.list().tool_call_parsers,
            });
        };
        // Same JSON shape; the parser crates take upstream's protocol type.
        let tools: Vec<openai_protocol::common::Tool> = serde_json::to_value(&tools)
            .and_then(serde_json::from_value)
            .map_err(|e| ParseError::InvalidTools(e.to_string()))?;
        // `tools: []` means "no schema", not "no tool may be called": the schema-aware
        // parsers read an empty list that way already, but `inkling` treats `tools` as an
        // allow-list and would drop every call. Upstream's handler parses without tools.
        let (remaining_text, calls) = tokio::task::spawn_blocking(move || {
            futures::executor::block_on(async {
                if tools.is_empty() {
                    instance.parse_complete(&text).await
                } else {
                    instance.parse_complete_with_tools(&text, &tools).await
                }
            })
        })
        .await
        .map_err(|e| ParseError::Internal(e.to_string()))?
        .map_err(|e| ParseError::ToolCalls(e.to_string()))?;
        Ok(FunctionCallParseResponse {
            remaining_text,
            tool_calls: calls
                .into_iter()
                .map(|c| ParsedToolCall {
                    function: ParsedFunction {
                        name: c.function.name,
                        arguments: c.function.arguments,
                    },
                })
                .collect(),
            success: true,
        })
    }

    pub async fn parse_reasoning(
        &self,
        text: String,
        parser: &str,
    ) -> Result<ReasoningParseResponse, ParseError> {
        let Some(mut instance) = self.reasoning.registry().create_parser(parser) else {
            return Err(ParseError::UnknownReasoningParser {
                name: parser.to_string(),
                valid: self.list().reasoning_parsers,
            });
        };
        let result =
            tokio::task::spawn_blocking(move || instance.detect_and_parse_reasoning(&text))
                .await
                .map_err(|e| ParseError::Internal(e.to_string()))?
                .map_err(|e| ParseError::Reasoning(e.to_string()))?;
        Ok(ReasoningParseResponse {
            normal_text: result.normal_text,
            reasoning_text: result.reasoning_text,
            success: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOOL_NAMES: &[&str] = &[
        "passthrough",
        "json",
        "mistral",
        "qwen",
        "qwen_xml",
        "qwen_coder",
        "pythonic",
        "llama",
        "deepseek",
        "deepseek31",
        "deepseek32",
        "deepseek_v4",
        "glm45_moe",
        "glm47_moe",
        "step3",
        "sarashina",
        "kimik2",
        "kimi_k3",
        "inkling",
        "minimax_m2",
        "cohere",
    ];
    const REASONING_NAMES: &[&str] = &[
        "base",
        "passthrough",
        "deepseek_r1",
        "qwen3",
        "qwen3_thinking",
        "kimi",
        "glm45",
        "step3",
        "minimax",
        "cohere_cmd",
        "nano_v3",
        "deepseek_v31",
        "kimi_k25",
        "kimi_thinking",
        "kimi_k3",
        "inkling",
    ];
    const NOT_TOOL_NAMES: &[&str] = &[
        "llama3",
        "kimi_k2",
        "glm",
        "glm4",
        "step-3",
        "gpt-oss",
        "gpt_oss",
        "harmony",
        "hermes",
        "deepseek_v3",
        "minimax",
    ];
    const NOT_REASONING_NAMES: &[&str] = &[
        "deepseek",
        "deepseek-r1",
        "qwen",
        "glm",
        "glm47",
        "gpt-oss",
        "harmony",
        "mistral",
        "kimi_k2",
        "cohere",
    ];

    #[test]
    fn every_upstream_name_exists_and_no_impostor_does() {
        let list = Parsers::new().list();
        for name in TOOL_NAMES {
            assert!(
                list.tool_call_parsers.iter().any(|n| n == name),
                "missing tool parser {name}"
            );
        }
        for name in REASONING_NAMES {
            assert!(
                list.reasoning_parsers.iter().any(|n| n == name),
                "missing reasoning parser {name}"
            );
        }
        for name in NOT_TOOL_NAMES {
            assert!(
                !list.tool_call_parsers.iter().any(|n| n == name),
                "{name} must not exist"
            );
        }
        for name in NOT_REASONING_NAMES {
            assert!(
                !list.reasoning_parsers.iter().any(|n| n == name),
                "{name} must not exist"
            );
        }
    }

    #[tokio::test]
    async fn seed_examples() {
        let parsers = Parsers::new();
        let out = parsers
            .parse_function_call(
                r#"{"name":"get_weather","arguments":{"city":"SF"}}"#.into(),
                "json",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(out.tool_calls.len(), 1);
        assert_eq!(out.tool_calls[0].function.name, "get_weather");
        let args: serde_json::Value =
            serde_json::from_str(&out.tool_calls[0].function.arguments).unwrap();
        assert_eq!(args, serde_json::json!({"city": "SF"}));
        let out = parsers
            .parse_reasoning("<think>internal</think>answer".into(), "deepseek_r1")
            .await
            .unwrap();
        assert_eq!(
            (out.normal_text.as_str(), out.reasoning_text.as_str()),
            ("answer", "internal")
        );
    }

    #[tokio::test]
    async fn empty_tools_do_not_forbid_every_call() {
        let text = "<|message_model|>get_weather<|content_invoke_tool_json|>\
                    {\"name\":\"get_weather\",\"args\":{\"city\":\"SF\"}}<|end_message|>";
        let parsers = Parsers::new();
        let out = parsers
            .parse_function_call(text.into(), "inkling", vec![])
            .await
            .unwrap();
        assert_eq!(out.tool_calls.len(), 1);
        assert_eq!(out.tool_calls[0].function.name, "get_weather");
        // With tools, inkling only accepts declared ones.
        let other: Tool =
            serde_json::from_str(r#"{"type":"function","function":{"name":"get_time"}}"#).unwrap();
        let out = parsers
            .parse_function_call(text.into(), "inkling", vec![other])
            .await
            .unwrap();
        assert!(out.tool_calls.is_empty());
    }

    #[tokio::test]
    async fn unknown_names_list_the_valid_ones() {
        let err = Parsers::new()
            .parse_function_call("x".into(), "hermes", vec![])
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("Unknown tool parser: hermes"), "{msg}");
        assert!(msg.contains("qwen_xml"), "{msg}");
        let err = Parsers::new()
            .parse_reasoning("x".into(), "qwen")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("deepseek_r1"));
    }
}
