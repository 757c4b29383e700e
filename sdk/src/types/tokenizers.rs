//! Tokenizers: the registry (`/v1/tokenizers*`, control plane) and tokenization
//! (`/v1/tokenize`, `/v1/detokenize`, serving).
//!
//! Field names are upstream SMG's. Additions beyond upstream are optional on the way in, so
//! these types decode a real SMG's answers too: [`TokenizerInfo::chat_template`],
//! [`TokenizerInfo::status`], [`TokenizerInfo::message`], and the `return_token_strs` /
//! `token_strs` pair of `/v1/tokenize`.

use serde::{Deserialize, Serialize};

use super::workers::JobState;

/// Body of `POST /v1/tokenizers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddTokenizerRequest {
    /// Unique name; `/v1/tokenize` finds the tokenizer by it (or by id).
    pub name: String,
    /// Where to load from: a directory or a `tokenizer.json` on the gateway host, or a Hugging
    /// Face Hub model id.
    pub source: String,
    /// A chat template file on the gateway host (`.jinja`, or a JSON file with a
    /// `chat_template` field); overrides the one found beside the tokenizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_path: Option<String>,
}

impl AddTokenizerRequest {
    /// A request without a chat template override.
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            chat_template_path: None,
        }
    }

    /// Use this chat template file instead of the discovered one.
    pub fn with_chat_template(mut self, path: impl Into<String>) -> Self {
        self.chat_template_path = Some(path.into());
        self
    }
}

/// 202 body of `POST /v1/tokenizers` (upstream also answers 409/503 with this shape and
/// `status: failed`; this gateway answers those with the D1 error body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddTokenizerResponse {
    /// The new tokenizer's id (UUID v7).
    pub id: String,
    /// `pending` on 202.
    pub status: JobState,
    /// What was queued.
    pub message: String,
    /// Never set on 202.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
}

/// One tokenizer (`GET /v1/tokenizers/{id_or_name}`, items of `GET /v1/tokenizers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenizerInfo {
    /// Id (UUID v7).
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Source as registered.
    pub source: String,
    /// Vocabulary size including added tokens; 0 while not loaded.
    pub vocab_size: usize,
    /// Whether a chat template was found or given (an addition to upstream).
    #[serde(default)]
    pub chat_template: bool,
    /// Load status (an addition to upstream, which lists loaded tokenizers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobState>,
    /// Why loading failed, or what loading is doing (an addition to upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl TokenizerInfo {
    /// True once the tokenizer serves `/v1/tokenize`. A tokenizer from a gateway that does
    /// not report `status` (upstream SMG lists loaded tokenizers only) counts as loaded.
    pub fn is_loaded(&self) -> bool {
        matches!(self.status, None | Some(JobState::Completed))
    }

    /// The last 8 characters of the id, for tables.
    pub fn short_id(&self) -> &str {
        let start = self.id.len().saturating_sub(8);
        self.id.get(start..).unwrap_or(&self.id)
    }
}

/// Body of `GET /v1/tokenizers`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenizerList {
    /// The tokenizers, oldest registration first.
    pub tokenizers: Vec<TokenizerInfo>,
}

/// Body of `GET /v1/tokenizers/{id_or_name}/status`. A failed load is reported with HTTP 200
/// and `status: failed`, as upstream does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenizerStatus {
    /// Tokenizer id.
    pub id: String,
    /// `pending`, `processing`, `completed` or `failed`.
    pub status: JobState,
    /// Progress, readiness, or the failure reason.
    pub message: String,
    /// Set once `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
}

/// 200 body of `DELETE /v1/tokenizers/{id_or_name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteTokenizerResponse {
    /// Always `true` on 200.
    pub success: bool,
    /// What was removed.
    pub message: String,
}

/// `prompt` of `POST /v1/tokenize`: one text, or a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Prompt {
    /// One text; the answer has the single shape.
    Single(String),
    /// Several texts; the answer has the batch shape.
    Batch(Vec<String>),
}

impl From<&str> for Prompt {
    fn from(s: &str) -> Self {
        Self::Single(s.to_string())
    }
}

impl From<String> for Prompt {
    fn from(s: String) -> Self {
        Self::Single(s)
    }
}

impl From<Vec<String>> for Prompt {
    fn from(v: Vec<String>) -> Self {
        Self::Batch(v)
    }
}

impl From<&[&str]> for Prompt {
    fn from(v: &[&str]) -> Self {
        Self::Batch(v.iter().map(|s| s.to_string()).collect())
    }
}

/// Body of `POST /v1/tokenize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenizeRequest {
    /// Tokenizer name or id (`""` or `"unknown"`: the first registered tokenizer).
    pub model: String,
    /// Text(s) to tokenize. Special tokens are not added.
    pub prompt: Prompt,
    /// Also return each token's vocabulary string as `token_strs` (an addition to upstream,
    /// named as vLLM names it; upstream SMG ignores it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_token_strs: bool,
}

impl TokenizeRequest {
    /// Tokenize `prompt` with the tokenizer `model`.
    pub fn new(model: impl Into<String>, prompt: impl Into<Prompt>) -> Self {
        Self {
            model: model.into(),
            prompt: prompt.into(),
            return_token_strs: false,
        }
    }

    /// Ask for `token_strs` too.
    pub fn with_token_strs(mut self) -> Self {
        self.return_token_strs = true;
        self
    }
}

/// 200 body of `POST /v1/tokenize`: the batch shape iff `prompt` was an array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum TokenizeResponse {
    /// For a single prompt.
    Single {
        /// Token ids.
        tokens: Vec<u32>,
        /// Number of tokens.
        count: usize,
        /// Number of Unicode scalar values in the prompt.
        char_count: usize,
        /// Vocabulary string of each token, when asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_strs: Option<Vec<String>>,
    },
    /// For a batch: one entry per prompt, in order.
    Batch {
        /// Token ids per prompt.
        tokens: Vec<Vec<u32>>,
        /// Number of tokens per prompt.
        count: Vec<usize>,
        /// Number of Unicode scalar values per prompt.
        char_count: Vec<usize>,
        /// Vocabulary strings per prompt, when asked for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_strs: Option<Vec<Vec<String>>>,
    },
}

impl TokenizeResponse {
    /// Whether this is the batch shape.
    pub fn is_batch(&self) -> bool {
        matches!(self, Self::Batch { .. })
    }

    /// Token ids of every prompt (one entry for a single prompt).
    pub fn token_ids(&self) -> Vec<&[u32]> {
        match self {
            Self::Single { tokens, .. } => vec![tokens.as_slice()],
            Self::Batch { tokens, .. } => tokens.iter().map(Vec::as_slice).collect(),
        }
    }

    /// Token counts of every prompt.
    pub fn counts(&self) -> Vec<usize> {
        match self {
            Self::Single { count, .. } => vec![*count],
            Self::Batch { count, .. } => count.clone(),
        }
    }

    /// Character counts of every prompt.
    pub fn char_counts(&self) -> Vec<usize> {
        match self {
            Self::Single { char_count, .. } => vec![*char_count],
            Self::Batch { char_count, .. } => char_count.clone(),
        }
    }

    /// Token strings of every prompt, when the gateway returned them.
    pub fn token_strs(&self) -> Option<Vec<&[String]>> {
        match self {
            Self::Single { token_strs, .. } => token_strs.as_ref().map(|t| vec![t.as_slice()]),
            Self::Batch { token_strs, .. } => token_strs
                .as_ref()
                .map(|t| t.iter().map(Vec::as_slice).collect()),
        }
    }
}

/// `tokens` of `POST /v1/detokenize`: one sequence, or a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// One sequence; the answer's `text` is a string.
    Single(Vec<u32>),
    /// Several sequences; the answer's `text` is an array.
    Batch(Vec<Vec<u32>>),
}

impl From<Vec<u32>> for TokenIds {
    fn from(v: Vec<u32>) -> Self {
        Self::Single(v)
    }
}

impl From<&[u32]> for TokenIds {
    fn from(v: &[u32]) -> Self {
        Self::Single(v.to_vec())
    }
}

impl From<Vec<Vec<u32>>> for TokenIds {
    fn from(v: Vec<Vec<u32>>) -> Self {
        Self::Batch(v)
    }
}

/// `anyOf`, not the derived `oneOf`: `[]` is both shapes (serde reads it as one empty sequence).
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for TokenIds {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::AnyOf;
        let mut schema = AnyOf::new();
        schema.items = vec![
            <Vec<u32> as utoipa::PartialSchema>::schema(),
            <Vec<Vec<u32>> as utoipa::PartialSchema>::schema(),
        ];
        schema.description = Some("One sequence of token ids, or a batch of sequences".into());
        utoipa::openapi::RefOr::T(schema.into())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for TokenIds {}

fn default_true() -> bool {
    true
}

/// Body of `POST /v1/detokenize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetokenizeRequest {
    /// Tokenizer name or id.
    pub model: String,
    /// Token ids.
    pub tokens: TokenIds,
    /// Drop special tokens from the text (default `true`).
    #[serde(default = "default_true")]
    pub skip_special_tokens: bool,
}

impl DetokenizeRequest {
    /// Decode `tokens` with the tokenizer `model`, skipping special tokens.
    pub fn new(model: impl Into<String>, tokens: impl Into<TokenIds>) -> Self {
        Self {
            model: model.into(),
            tokens: tokens.into(),
            skip_special_tokens: true,
        }
    }

    /// Keep or skip special tokens.
    pub fn skip_special_tokens(mut self, skip: bool) -> Self {
        self.skip_special_tokens = skip;
        self
    }
}

/// `text` of the `POST /v1/detokenize` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum DetokenizedText {
    /// For one sequence.
    Single(String),
    /// For a batch, in order.
    Batch(Vec<String>),
}

/// 200 body of `POST /v1/detokenize`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DetokenizeResponse {
    /// The decoded text(s).
    pub text: DetokenizedText,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(value: Value) -> T {
        let parsed: T = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&parsed).unwrap(), value);
        parsed
    }

    #[test]
    fn upstream_examples_round_trip() {
        let added: AddTokenizerResponse = round_trip(json!({
            "id": "550e8400-e29b-41d4-a716-446655440000", "status": "pending",
            "message": "Tokenizer 'llama3-tokenizer' registration job submitted. Loading from: meta-llama/Meta-Llama-3-8B"
        }));
        assert_eq!(added.status, JobState::Pending);
        let status: TokenizerStatus = round_trip(json!({
            "id": "550e8400-e29b-41d4-a716-446655440000", "status": "completed",
            "message": "Tokenizer 'llama3-tokenizer' is loaded and ready", "vocab_size": 128256
        }));
        assert_eq!(status.vocab_size, Some(128256));
        let _: DeleteTokenizerResponse = round_trip(json!({
            "success": true, "message": "Tokenizer 'llama3-tokenizer' removed successfully"
        }));
        let request: AddTokenizerRequest = round_trip(json!({
            "name": "llama3-tokenizer", "source": "meta-llama/Meta-Llama-3-8B",
            "chat_template_path": "/path/to/template.jinja"
        }));
        assert_eq!(
            request,
            AddTokenizerRequest::new("llama3-tokenizer", "meta-llama/Meta-Llama-3-8B")
                .with_chat_template("/path/to/template.jinja")
        );
    }

    #[test]
    fn upstream_list_decodes_with_defaults() {
        let list: TokenizerList = serde_json::from_value(json!({"tokenizers": [{
            "id": "550e8400-e29b-41d4-a716-446655440000", "name": "llama3-tokenizer",
            "source": "meta-llama/Meta-Llama-3-8B", "vocab_size": 128256
        }]}))
        .unwrap();
        let info = &list.tokenizers[0];
        assert!(!info.chat_template);
        assert!(info.is_loaded());
        assert_eq!(info.short_id(), "55440000");
    }

    #[test]
    fn prompt_and_response_shapes() {
        let single: TokenizeRequest = round_trip(json!({"model": "m", "prompt": "hi"}));
        assert_eq!(single.prompt, Prompt::Single("hi".into()));
        let batch: TokenizeRequest = round_trip(json!({"model": "m", "prompt": ["a", "b"]}));
        assert_eq!(batch.prompt, Prompt::Batch(vec!["a".into(), "b".into()]));

        let one: TokenizeResponse =
            round_trip(json!({"tokens": [1, 2], "count": 2, "char_count": 5}));
        assert!(!one.is_batch());
        assert_eq!(one.token_ids(), vec![&[1, 2][..]]);
        let many: TokenizeResponse = round_trip(json!({
            "tokens": [[1], [2, 3]], "count": [1, 2], "char_count": [1, 4]
        }));
        assert!(many.is_batch());
        assert_eq!(many.counts(), vec![1, 2]);
        let empty: TokenizeResponse =
            round_trip(json!({"tokens": [], "count": [], "char_count": []}));
        assert!(empty.is_batch());
        let with_strs: TokenizeResponse = round_trip(json!({
            "tokens": [1], "count": 1, "char_count": 2, "token_strs": ["hi"]
        }));
        assert_eq!(with_strs.token_strs(), Some(vec![&["hi".to_string()][..]]));
    }

    #[test]
    fn detokenize_shapes_and_default() {
        let req: DetokenizeRequest =
            serde_json::from_value(json!({"model": "m", "tokens": [1, 2]})).unwrap();
        assert!(req.skip_special_tokens);
        assert_eq!(req.tokens, TokenIds::Single(vec![1, 2]));
        let req: DetokenizeRequest = serde_json::from_value(
            json!({"model": "m", "tokens": [[1], [2]], "skip_special_tokens": false}),
        )
        .unwrap();
        assert_eq!(req.tokens, TokenIds::Batch(vec![vec![1], vec![2]]));
        let text: DetokenizeResponse = round_trip(json!({"text": ["a", "b"]}));
        assert_eq!(
            text.text,
            DetokenizedText::Batch(vec!["a".into(), "b".into()])
        );
        let text: DetokenizeResponse = round_trip(json!({"text": "ab"}));
        assert_eq!(text.text, DetokenizedText::Single("ab".into()));
    }
}
