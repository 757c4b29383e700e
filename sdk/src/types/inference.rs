//! Inference request and response bodies (OpenAI-compatible and SGLang `/generate`). Only
//! the common fields are named; everything else travels in `extra`, so any engine option
//! can be sent and any extra response field is kept.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, `tool`.
    pub role: String,
    /// Text, or an array of content parts.
    #[serde(default)]
    pub content: Value,
    /// Other fields (name, tool_calls, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatMessage {
    /// A message with text content.
    pub fn new(role: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Value::String(text.into()),
            extra: Map::new(),
        }
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new("user", text)
    }

    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new("system", text)
    }

    /// The text content (string content, or the concatenated text parts).
    pub fn text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
            _ => String::new(),
        }
    }
}

/// Body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatCompletionRequest {
    /// Model id.
    pub model: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// Token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Stream chunks (set by the streaming methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletionRequest {
    /// A request for `model` with `messages`.
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        Self {
            model: model.into(),
            messages,
            max_tokens: None,
            temperature: None,
            stream: None,
            extra: Map::new(),
        }
    }
}

/// Token accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both.
    #[serde(default)]
    pub total_tokens: u64,
}

/// One choice of a chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatChoice {
    /// Choice index.
    #[serde(default)]
    pub index: u32,
    /// The reply.
    pub message: ChatMessage,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// 200 body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatCompletionResponse {
    /// Completion id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// Model that answered.
    #[serde(default)]
    pub model: String,
    /// Choices.
    pub choices: Vec<ChatChoice>,
    /// Token accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The new part of a streamed chat message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatDelta {
    /// Set on the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// New text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Other fields (tool_calls, reasoning_content, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One choice of a streamed chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatChunkChoice {
    /// Choice index.
    #[serde(default)]
    pub index: u32,
    /// The new part.
    #[serde(default)]
    pub delta: ChatDelta,
    /// Set on the last chunk.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// One SSE event of a streamed chat completion (`chat.completion.chunk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatCompletionChunk {
    /// Completion id.
    #[serde(default)]
    pub id: String,
    /// `chat.completion.chunk`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Choices.
    #[serde(default)]
    pub choices: Vec<ChatChunkChoice>,
    /// Token accounting (some engines send it on the last chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Body of `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletionRequest {
    /// Model id.
    pub model: String,
    /// Prompt text (or array of prompts / token ids).
    pub prompt: Value,
    /// Token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Stream chunks (set by the streaming methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    /// A request for `model` completing `prompt`.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            prompt: Value::String(prompt.into()),
            max_tokens: None,
            temperature: None,
            stream: None,
            extra: Map::new(),
        }
    }
}

/// One choice of a text completion (also the shape of streamed chunks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletionChoice {
    /// Choice index.
    #[serde(default)]
    pub index: u32,
    /// Generated text (or, streamed, the new part).
    #[serde(default)]
    pub text: String,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
}

/// 200 body of `POST /v1/completions`, and each streamed chunk of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletionResponse {
    /// Completion id.
    #[serde(default)]
    pub id: String,
    /// `text_completion`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Choices.
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    /// Token accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Body of SGLang's `POST /generate`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerateRequest {
    /// Prompt text (or a batch of texts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// Model id, for routing (optional on `/generate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Sampling parameters (`max_new_tokens`, `temperature`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling_params: Option<Value>,
    /// Stream chunks (set by the streaming methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Any other field (`input_ids`, `rid`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// 200 body of `POST /generate` (and each streamed chunk: `text` is cumulative).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GenerateResponse {
    /// Generated text.
    #[serde(default)]
    pub text: String,
    /// Engine metadata (`prompt_tokens`, `completion_tokens`, `finish_reason`, …).
    #[serde(default)]
    pub meta_info: Value,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Body of `POST /v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingRequest {
    /// Model id.
    pub model: String,
    /// Text or array of texts.
    pub input: Value,
    /// Any other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    /// A request embedding `input` (a text or an array of texts) with `model`.
    pub fn new(model: impl Into<String>, input: impl Into<Value>) -> Self {
        Self {
            model: model.into(),
            input: input.into(),
            extra: Map::new(),
        }
    }
}

/// One embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Embedding {
    /// Position of the input.
    #[serde(default)]
    pub index: u32,
    /// The vector.
    pub embedding: Vec<f32>,
}

/// 200 body of `POST /v1/embeddings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EmbeddingResponse {
    /// One per input.
    pub data: Vec<Embedding>,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Token accounting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// Body of `POST /v1/rerank` (and `/rerank`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RerankRequest {
    /// Model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The query.
    pub query: String,
    /// Candidates.
    pub documents: Vec<String>,
    /// Any other field (`top_n`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RerankRequest {
    /// A request ranking `documents` by relevance to `query` with `model`.
    pub fn new(
        model: impl Into<String>,
        query: impl Into<String>,
        documents: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            model: Some(model.into()),
            query: query.into(),
            documents: documents.into_iter().map(Into::into).collect(),
            extra: Map::new(),
        }
    }
}

/// One reranked document (SGLang's shape), best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RerankResult {
    /// Relevance.
    pub score: f64,
    /// Position in the request's `documents`.
    pub index: u32,
    /// The document, when returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_round_trip_keeps_unknown_fields() {
        let json = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"top_p":0.9}"#;
        let req: ChatCompletionRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.extra["top_p"], 0.9);
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            serde_json::from_str::<Value>(json).unwrap()
        );
        let chunk: ChatCompletionChunk = serde_json::from_str(
            r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"he"},"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("he"));
        assert_eq!(ChatMessage::user("x").text(), "x");
    }
}
