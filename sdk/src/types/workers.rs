//! Workers: the registry of inference backends (`/workers`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::secret::SecretString;

/// Role of a worker in (dis)aggregated serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WorkerType {
    /// Serves whole requests.
    #[default]
    Regular,
    /// Prefill half of a prefill/decode pair.
    Prefill,
    /// Decode half of a prefill/decode pair.
    Decode,
    /// Multimodal encoder.
    Encode,
}

/// How the gateway talks to a worker; derived from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ConnectionMode {
    /// `http://` or `https://`.
    #[default]
    Http,
    /// `grpc://` or `grpcs://`.
    Grpc,
    /// `ipc://`.
    Zmq,
}

/// Inference engine behind a worker (`runtime_type`, input alias `runtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuntimeType {
    /// Detected at registration.
    #[default]
    Unspecified,
    /// SGLang.
    Sglang,
    /// vLLM.
    Vllm,
    /// TensorRT-LLM.
    Trtllm,
    /// MLX.
    Mlx,
    /// TokenSpeed.
    Tokenspeed,
    /// Any OpenAI-compatible engine, without engine-specific calls (upstream 1.13).
    Generic,
    /// An external provider API (OpenAI, Anthropic, …).
    External,
}

/// Health of a worker as tracked by the gateway. Only `ready` is routable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Registered, not yet proven healthy.
    #[default]
    Pending,
    /// Passing health checks; receives traffic.
    Ready,
    /// Was ready, now failing health checks.
    NotReady,
    /// Failed for long enough to be given up on.
    Failed,
    /// Being removed; finishing in-flight requests.
    Draining,
}

impl WorkerStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::NotReady => "not_ready",
            Self::Failed => "failed",
            Self::Draining => "draining",
        }
    }
}

impl fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for WorkerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Regular => "regular",
            Self::Prefill => "prefill",
            Self::Decode => "decode",
            Self::Encode => "encode",
        })
    }
}

impl fmt::Display for ConnectionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::Grpc => "grpc",
            Self::Zmq => "zmq",
        })
    }
}

impl fmt::Display for RuntimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified",
            Self::Sglang => "sglang",
            Self::Vllm => "vllm",
            Self::Trtllm => "trtllm",
            Self::Mlx => "mlx",
            Self::Tokenspeed => "tokenspeed",
            Self::Generic => "generic",
            Self::External => "external",
        })
    }
}

/// Multimodal tensor transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TransportMode {
    /// Tensors inline in the request.
    Inline,
    /// Shared memory.
    Shm,
    /// Chosen per request.
    Auto,
    /// RDMA.
    Rdma,
}

/// External API provider. Unknown names are kept as [`ProviderType::Custom`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProviderType {
    /// `openai`
    OpenAI,
    /// `xai` (input alias `grok`)
    XAI,
    /// `anthropic` (input alias `claude`)
    Anthropic,
    /// `gemini` (input alias `google`)
    Gemini,
    /// Any other provider name.
    Custom(String),
}

impl ProviderType {
    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            Self::OpenAI => "openai",
            Self::XAI => "xai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Custom(name) => name,
        }
    }
}

impl From<&str> for ProviderType {
    fn from(name: &str) -> Self {
        match name {
            "openai" => Self::OpenAI,
            "xai" | "grok" => Self::XAI,
            "anthropic" | "claude" => Self::Anthropic,
            "gemini" | "google" => Self::Gemini,
            other => Self::Custom(other.to_string()),
        }
    }
}

impl Serialize for ProviderType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self::from(name.as_str()))
    }
}

/// Capabilities of a model: which endpoints it serves. On the wire a JSON array of names
/// (`["chat","completions"]`); input also accepts upstream's `u16` bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelType(u16);

const CAPABILITY_NAMES: [&str; 12] = [
    "chat",
    "completions",
    "responses",
    "embeddings",
    "rerank",
    "generate",
    "vision",
    "tools",
    "reasoning",
    "image_gen",
    "audio",
    "moderation",
];

impl ModelType {
    /// `/v1/chat/completions`
    pub const CHAT: Self = Self(1 << 0);
    /// `/v1/completions`
    pub const COMPLETIONS: Self = Self(1 << 1);
    /// `/v1/responses`
    pub const RESPONSES: Self = Self(1 << 2);
    /// `/v1/embeddings`
    pub const EMBEDDINGS: Self = Self(1 << 3);
    /// `/v1/rerank`
    pub const RERANK: Self = Self(1 << 4);
    /// `/generate`
    pub const GENERATE: Self = Self(1 << 5);
    /// Image input.
    pub const VISION: Self = Self(1 << 6);
    /// Tool calling.
    pub const TOOLS: Self = Self(1 << 7);
    /// Reasoning output.
    pub const REASONING: Self = Self(1 << 8);
    /// Image generation.
    pub const IMAGE_GEN: Self = Self(1 << 9);
    /// Audio.
    pub const AUDIO: Self = Self(1 << 10);
    /// Moderation.
    pub const MODERATION: Self = Self(1 << 11);
    /// The default for a language model: chat, completions, responses and tools.
    pub const LLM: Self = Self(1 | 1 << 1 | 1 << 2 | 1 << 7);

    /// The raw bit field.
    pub fn bits(self) -> u16 {
        self.0
    }

    /// Whether every capability of `other` is present.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The capability names, in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        CAPABILITY_NAMES
            .iter()
            .enumerate()
            .filter(move |(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| *name)
    }

    /// Parse one capability name.
    pub fn from_name(name: &str) -> Option<Self> {
        CAPABILITY_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|bit| Self(1 << bit))
    }
}

impl Default for ModelType {
    fn default() -> Self {
        Self::LLM
    }
}

impl std::ops::BitOr for ModelType {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl Serialize for ModelType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        for name in self.names() {
            seq.serialize_element(name)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ModelType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ModelTypeVisitor;
        impl<'de> Visitor<'de> for ModelTypeVisitor {
            type Value = ModelType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of capability names or a u16 bit field")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ModelType, E> {
                u16::try_from(v)
                    .map(ModelType)
                    .map_err(|_| E::custom(format!("model_type bit field {v} exceeds u16")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ModelType, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("model_type bit field must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ModelType, A::Error> {
                let mut bits = 0u16;
                while let Some(name) = seq.next_element::<String>()? {
                    let cap = ModelType::from_name(&name).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown model capability '{name}', expected one of {}",
                            CAPABILITY_NAMES.join(", ")
                        ))
                    })?;
                    bits |= cap.0;
                }
                Ok(ModelType(bits))
            }
        }
        deserializer.deserialize_any(ModelTypeVisitor)
    }
}

/// On the wire an array of capability names; input also accepts upstream's bit field.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ModelType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOf, ArrayBuilder, ObjectBuilder, Type};
        let names = ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(CAPABILITY_NAMES)),
            )
            .description(Some("Capability names (the form the gateway writes)"));
        let bits = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u16::MAX))
            .description(Some("Upstream's bit field (accepted on input)"));
        let mut schema = AnyOf::new();
        schema.items = vec![names.into(), bits.into()];
        schema.description = Some("Endpoints the model serves".into());
        utoipa::openapi::RefOr::T(schema.into())
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ModelType {}

/// Any provider name; the known ones (and their input aliases) are listed.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ProviderType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "External API provider: openai, xai (alias grok), anthropic (alias claude), \
                 gemini (alias google), or any other name",
            ))
            .examples(["openai", "anthropic"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ProviderType {}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A model served by a worker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelCard {
    /// Model id requests are routed by.
    pub id: String,
    /// Human-readable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Other ids that route to this model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Endpoints the model serves.
    #[serde(default)]
    pub model_type: ModelType,
    /// Hugging Face `model_type` (e.g. `llama`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hf_model_type: Option<String>,
    /// Model architectures (e.g. `LlamaForCausalLM`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// Provider for external models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderType>,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u32>,
    /// Tokenizer location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer_path: Option<String>,
    /// Chat template override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
    /// Reasoning parser name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_parser: Option<String>,
    /// Tool-call parser name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_parser: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Classification labels by index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id2label: BTreeMap<u32, String>,
    /// Number of classification labels.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub num_labels: u32,
}

impl ModelCard {
    /// A card for `id` with default capabilities.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Whether `model` names this card (id or alias).
    pub fn matches(&self, model: &str) -> bool {
        self.id == model || self.aliases.iter().any(|a| a == model)
    }
}

/// Partial health-check overrides for one worker. Unset fields use the gateway's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheckUpdate {
    /// Probe timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Seconds between probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_interval_secs: Option<u64>,
    /// Consecutive successes to become ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u32>,
    /// Consecutive failures to become not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// Skip probing; the worker is always considered healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_health_check: Option<bool>,
    /// Seconds a deleted worker stays `draining` before removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_settle_secs: Option<u64>,
}

impl HealthCheckUpdate {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `other`'s set fields win over `self`'s.
    pub fn merged_with(&self, other: &Self) -> Self {
        Self {
            timeout_secs: other.timeout_secs.or(self.timeout_secs),
            check_interval_secs: other.check_interval_secs.or(self.check_interval_secs),
            success_threshold: other.success_threshold.or(self.success_threshold),
            failure_threshold: other.failure_threshold.or(self.failure_threshold),
            disable_health_check: other.disable_health_check.or(self.disable_health_check),
            drain_settle_secs: other.drain_settle_secs.or(self.drain_settle_secs),
        }
    }
}

/// HTTP connection-pool settings for one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HttpPoolConfig {
    /// Idle connections kept per host (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max_idle_per_host: Option<usize>,
    /// Idle connection lifetime (default 50 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_idle_timeout_secs: Option<u64>,
    /// Request timeout (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Connect timeout (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_secs: Option<u64>,
}

impl HttpPoolConfig {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Retry and circuit-breaker overrides for one worker.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResilienceUpdate {
    /// Retries to another worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// First backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff_ms: Option<u64>,
    /// Backoff cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_ms: Option<u64>,
    /// Backoff growth factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_multiplier: Option<f32>,
    /// Random spread of each backoff, 0..1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_factor: Option<f32>,
    /// Never retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_retry: Option<bool>,
    /// Failures within the window that open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb_failure_threshold: Option<u32>,
    /// Successes in half-open state that close it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb_success_threshold: Option<u32>,
    /// Seconds an open breaker waits before trying again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb_timeout_secs: Option<u64>,
    /// Failure-counting window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cb_window_secs: Option<u64>,
    /// Never open the breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_circuit_breaker: Option<bool>,
    /// Statuses that are retried (default 408, 429, 500, 502, 503, 504).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable_status_codes: Option<Vec<u16>>,
}

impl ResilienceUpdate {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn default_priority() -> u32 {
    50
}

fn default_cost() -> f32 {
    1.0
}

fn default_max_connection_attempts() -> u32 {
    20
}

/// What a worker is: the body of `POST /workers` and `PUT /workers/{id}`, and the spec part
/// of [`WorkerInfo`]. `api_key` is accepted on input and never serialised; send it with
/// [`WorkerSpec::to_request_json`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerSpec {
    /// Base URL: `http(s)://`, `grpc(s)://` or `ipc://`.
    pub url: String,
    /// Models served; empty means any model (wildcard).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelCard>,
    /// Role in disaggregated serving.
    #[serde(default)]
    pub worker_type: WorkerType,
    /// Protocol, from the URL scheme.
    #[serde(default)]
    pub connection_mode: ConnectionMode,
    /// Engine; `unspecified` is detected at registration.
    #[serde(default, alias = "runtime")]
    pub runtime_type: RuntimeType,
    /// External provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderType>,
    /// Free-form labels; discovered metadata is merged under these.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Routing priority, higher preferred.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Relative cost, lower preferred.
    #[serde(default = "default_cost")]
    pub cost: f32,
    /// Bearer token the gateway sends to the worker. Accepted on input, never serialised.
    // `skip_serializing_if` rather than `skip_serializing`, which would drop the field from
    // the OpenAPI schema as well; it is documented there as write-only.
    #[serde(default, skip_serializing_if = "always")]
    #[cfg_attr(feature = "openapi", schema(write_only))]
    pub api_key: Option<SecretString>,
    /// Bootstrap port for prefill workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_port: Option<u16>,
    /// Base URL of a data-parallel group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp_base_url: Option<String>,
    /// Rank within the data-parallel group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp_rank: Option<usize>,
    /// Size of the data-parallel group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp_size: Option<usize>,
    /// KV connector name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_connector: Option<String>,
    /// KV role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_role: Option<String>,
    /// KV engine id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_engine_id: Option<String>,
    /// KV block size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_block_size: Option<usize>,
    /// Health-check overrides.
    #[serde(default, skip_serializing_if = "HealthCheckUpdate::is_empty")]
    pub health: HealthCheckUpdate,
    /// Connection-pool overrides.
    #[serde(default, skip_serializing_if = "HttpPoolConfig::is_empty")]
    pub http_pool: HttpPoolConfig,
    /// Retry and circuit-breaker overrides.
    #[serde(default, skip_serializing_if = "ResilienceUpdate::is_empty")]
    pub resilience: ResilienceUpdate,
    /// Connection attempts before giving up.
    #[serde(default = "default_max_connection_attempts")]
    pub max_connection_attempts: u32,
    /// Load-monitor interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_monitor_interval_secs: Option<u64>,
    /// Multimodal tensor transport.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multimodal_tensor_transport: Option<TransportMode>,
    /// Minimum tensor size for shared memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multimodal_shm_min_bytes: Option<usize>,
    /// Handshake address of a ZMQ worker (`tcp://…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zmq_handshake_address: Option<String>,
    /// Talk HTTP/2 to the worker (upstream 1.13).
    #[serde(default)]
    pub http2: bool,
    /// Cordoned: registered, health-checked and listed, but given no new traffic (seed 004's
    /// `enabled: false`). Set with `PATCH {"disabled": true}`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
}

fn always<T>(_: &T) -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl WorkerSpec {
    /// A spec for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            models: Vec::new(),
            worker_type: WorkerType::default(),
            connection_mode: ConnectionMode::default(),
            runtime_type: RuntimeType::default(),
            provider: None,
            labels: BTreeMap::new(),
            priority: default_priority(),
            cost: default_cost(),
            api_key: None,
            bootstrap_port: None,
            dp_base_url: None,
            dp_rank: None,
            dp_size: None,
            kv_connector: None,
            kv_role: None,
            kv_engine_id: None,
            kv_block_size: None,
            health: HealthCheckUpdate::default(),
            http_pool: HttpPoolConfig::default(),
            resilience: ResilienceUpdate::default(),
            max_connection_attempts: default_max_connection_attempts(),
            load_monitor_interval_secs: None,
            multimodal_tensor_transport: None,
            multimodal_shm_min_bytes: None,
            zmq_handshake_address: None,
            http2: false,
            disabled: false,
        }
    }

    /// The primary model id, if the worker is not a wildcard.
    pub fn primary_model(&self) -> Option<&str> {
        self.models.first().map(|m| m.id.as_str())
    }

    /// Whether this worker serves `model` (wildcards serve every model).
    pub fn serves(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m.matches(model))
    }

    /// The JSON to send as a request body: the spec *with* its `api_key`.
    pub fn to_request_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(key), Some(obj)) = (&self.api_key, value.as_object_mut()) {
            obj.insert(
                "api_key".into(),
                serde_json::Value::String(key.expose().to_string()),
            );
        }
        value
    }
}

/// Body of `PATCH /workers/{id}`: every field optional; `labels` are merged.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerUpdateRequest {
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// New cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f32>,
    /// Labels merged into the existing ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// New worker API key (rotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretString>,
    /// Health-check overrides merged into the existing ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheckUpdate>,
    /// Cordon (`true`) or uncordon (`false`) the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

impl WorkerUpdateRequest {
    /// The JSON to send as a request body, including `api_key` when set.
    pub fn to_request_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(key), Some(obj)) = (&self.api_key, value.as_object_mut()) {
            obj.insert(
                "api_key".into(),
                serde_json::Value::String(key.expose().to_string()),
            );
        }
        value
    }
}

/// Body of `POST /workers/{id}/retire` (this gateway's addition): every field optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetireWorkerRequest {
    /// Longest wait for the worker's in-flight requests to finish before the retirement fails
    /// (the worker then stays registered and cordoned); default: the gateway's
    /// `--retire-timeout-secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// Kind of the background job behind a worker 202 (`job_status.job_type`), spelled as on the
/// wire. [`JobStatus::job_type`] stays a string so a newer gateway's kinds still parse; read it
/// through [`JobStatus::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum JobKind {
    /// `POST /workers`: connect, discover models, register.
    AddWorker,
    /// `PUT /workers/{id}`.
    UpdateWorker,
    /// `DELETE /workers/{id}`.
    RemoveWorker,
    /// `POST /workers/{id}/retire`: cordon, drain, flush the KV cache, remove.
    RetireWorker,
}

impl JobKind {
    /// Every kind, in declaration order.
    pub const ALL: [Self; 4] = [
        Self::AddWorker,
        Self::UpdateWorker,
        Self::RemoveWorker,
        Self::RetireWorker,
    ];

    /// The wire spelling (`AddWorker`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AddWorker => "AddWorker",
            Self::UpdateWorker => "UpdateWorker",
            Self::RemoveWorker => "RemoveWorker",
            Self::RetireWorker => "RetireWorker",
        }
    }

    /// The kind spelled `s` on the wire; `None` for a kind this SDK does not know.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Start of a failed retirement's `job_status.message` when in-flight requests did not finish
/// within its timeout (the worker stays registered and cordoned).
pub const RETIRE_DRAIN_TIMED_OUT: &str = "drain timed out";

/// State of a queued job (`job_status.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Queued.
    Pending,
    /// Running.
    Processing,
    /// Finished successfully (tokenizers report this; worker jobs vanish instead).
    Completed,
    /// Failed; `message` says why.
    Failed,
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
        })
    }
}

/// Progress of the background job behind a 202.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStatus {
    /// `AddWorker`, `UpdateWorker`, `RemoveWorker`, …
    pub job_type: String,
    /// The worker URL the job is about.
    pub worker_url: String,
    /// Where the job is.
    pub status: JobState,
    /// Failure reason, if any.
    pub message: Option<String>,
    /// Unix seconds of the last change.
    pub timestamp: u64,
}

/// A worker as the gateway reports it (`GET /workers/{id}` and items of `GET /workers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerInfo {
    /// Worker UUID.
    pub id: String,
    /// Primary model id; absent for wildcard workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The spec, flattened into this object.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = WorkerSpec))]
    pub spec: Arc<WorkerSpec>,
    /// `status == ready`.
    pub is_healthy: bool,
    /// Health status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkerStatus>,
    /// Requests in flight through this gateway.
    #[serde(default)]
    pub load: usize,
    /// Circuit-breaker state (`closed`, `open`, `half_open`); additive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<String>,
    /// Job in progress or recently failed for this worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
    /// The load monitor's last engine report for this worker (upstream 1.13). Boxed: most
    /// workers in a watch diff carry one, and it would double the size of every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_load: Option<Box<super::loads::WorkerLoadResponse>>,
}

impl WorkerInfo {
    /// Cordoned: registered and health-checked, but given no new traffic.
    pub fn is_disabled(&self) -> bool {
        self.spec.disabled
    }

    /// The status to show people: `disabled` for a cordoned worker, else the health status
    /// (`-` when unknown). The wire `status` keeps the health value either way.
    pub fn display_status(&self) -> &'static str {
        if self.spec.disabled {
            "disabled"
        } else {
            self.status.map_or("-", WorkerStatus::as_str)
        }
    }

    /// A short id for tables: the last 8 characters. (UUIDv7 ids start with a timestamp, so
    /// their prefixes collide for workers registered around the same time; the tail is random.)
    pub fn short_id(&self) -> &str {
        let start = self
            .id
            .char_indices()
            .rev()
            .nth(7)
            .map(|(i, _)| i)
            .unwrap_or(0);
        &self.id[start..]
    }
}

impl JobStatus {
    /// The job's kind; `None` for a kind this SDK does not know (a newer gateway's).
    pub fn kind(&self) -> Option<JobKind> {
        JobKind::from_wire(&self.job_type)
    }

    /// True when this is a `kind` job that has not failed (still queued or running).
    pub fn is_running(&self, kind: JobKind) -> bool {
        self.kind() == Some(kind) && self.status != JobState::Failed
    }

    /// True for a failed retirement whose drain ran out of time (see [`RETIRE_DRAIN_TIMED_OUT`]).
    pub fn is_drain_timeout(&self) -> bool {
        self.kind() == Some(JobKind::RetireWorker)
            && self.status == JobState::Failed
            && self
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with(RETIRE_DRAIN_TIMED_OUT))
    }
}

/// Counts by worker type in a worker list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerListStats {
    /// Prefill workers.
    pub prefill_count: usize,
    /// Decode workers.
    pub decode_count: usize,
    /// Regular workers.
    pub regular_count: usize,
}

/// Body of `GET /workers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerListResponse {
    /// Registered workers.
    pub workers: Vec<WorkerInfo>,
    /// Number of workers listed.
    pub total: usize,
    /// Counts by type.
    pub stats: WorkerListStats,
}

/// 202 body of `POST /workers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerCreated {
    /// Always `accepted`.
    pub status: String,
    /// Reserved worker id.
    pub worker_id: String,
    /// URL as posted.
    pub url: String,
    /// `/workers/{id}`.
    pub location: String,
    /// Human-readable summary.
    pub message: String,
}

/// 202 body of `PATCH`, `PUT` and `DELETE /workers/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerAccepted {
    /// Always `accepted`.
    pub status: String,
    /// Worker id.
    pub worker_id: String,
    /// Human-readable summary.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_kinds_serialize_as_their_wire_names_and_unknown_kinds_still_parse() {
        for kind in JobKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<JobKind>(&json).unwrap(), kind);
            assert_eq!(JobKind::from_wire(kind.as_str()), Some(kind));
        }
        let job: JobStatus = serde_json::from_str(
            r#"{"job_type":"MigrateWorker","worker_url":"http://a","status":"pending","message":null,"timestamp":1}"#,
        )
        .unwrap();
        assert_eq!(job.kind(), None);
        assert_eq!(job.job_type, "MigrateWorker");
    }

    #[test]
    fn worker_info_example_round_trips() {
        let json = r#"{
          "id": "01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b",
          "model_id": "meta-llama/Llama-3.1-8B-Instruct",
          "url": "http://10.0.0.5:30000",
          "models": [{"id": "meta-llama/Llama-3.1-8B-Instruct",
                      "model_type": ["chat","completions","responses","tools"],
                      "hf_model_type": "llama", "architectures": ["LlamaForCausalLM"],
                      "context_length": 131072, "tokenizer_path": "meta-llama/Llama-3.1-8B-Instruct"}],
          "worker_type": "regular", "connection_mode": "http", "runtime_type": "sglang",
          "labels": {"served_model_name": "meta-llama/Llama-3.1-8B-Instruct", "tp_size": "1", "dp_size": "1"},
          "priority": 50, "cost": 1.0, "max_connection_attempts": 20,
          "is_healthy": true, "status": "ready", "load": 0, "http2": false
        }"#;
        let info: WorkerInfo = serde_json::from_str(json).unwrap();
        assert_eq!(info.spec.runtime_type, RuntimeType::Sglang);
        assert_eq!(info.status, Some(WorkerStatus::Ready));
        assert_eq!(info.spec.models[0].model_type, ModelType::LLM);
        let back = serde_json::to_value(&info).unwrap();
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, original);
    }

    #[test]
    fn short_id_is_the_random_tail() {
        let info: WorkerInfo = serde_json::from_str(
            r#"{"id":"01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b","url":"http://a:1","is_healthy":false}"#,
        )
        .unwrap();
        assert_eq!(info.short_id(), "5e6f7a8b");
    }

    #[test]
    fn pending_form_round_trips() {
        let json = r#"{"id":"u","url":"http://10.0.0.9:8000","worker_type":"regular","connection_mode":"http",
         "runtime_type":"unspecified","priority":50,"cost":1.0,"max_connection_attempts":20,
         "is_healthy":false,"status":"pending","load":0,"http2":false,
         "job_status":{"job_type":"AddWorker","worker_url":"http://10.0.0.9:8000","status":"processing","message":null,"timestamp":1754600000}}"#;
        let info: WorkerInfo = serde_json::from_str(json).unwrap();
        let job = info.job_status.as_ref().unwrap();
        assert_eq!(job.status, JobState::Processing);
        let original: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&info).unwrap(), original);
    }

    #[test]
    fn spec_defaults_and_runtime_alias() {
        let spec: WorkerSpec = serde_json::from_str(
            r#"{"url":"grpc://localhost:50051","runtime":"sglang","api_key":"s3cret","unknown":1}"#,
        )
        .unwrap();
        assert_eq!(spec.runtime_type, RuntimeType::Sglang);
        assert_eq!(spec.priority, 50);
        assert_eq!(spec.cost, 1.0);
        assert_eq!(spec.max_connection_attempts, 20);
        assert_eq!(spec.api_key.as_ref().unwrap().expose(), "s3cret");
        let out = serde_json::to_string(&spec).unwrap();
        assert!(
            !out.contains("s3cret"),
            "api_key must never be serialised: {out}"
        );
        assert!(!format!("{spec:?}").contains("s3cret"));
        assert_eq!(spec.to_request_json()["api_key"], "s3cret");
    }

    #[test]
    fn model_type_accepts_bitfield_and_rejects_unknown() {
        let card: ModelCard = serde_json::from_str(r#"{"id":"m","model_type":8}"#).unwrap();
        assert_eq!(card.model_type, ModelType::EMBEDDINGS);
        assert_eq!(
            serde_json::to_value(card.model_type).unwrap(),
            serde_json::json!(["embeddings"])
        );
        assert!(
            serde_json::from_str::<ModelCard>(r#"{"id":"m","model_type":["chatty"]}"#).is_err()
        );
        let card: ModelCard = serde_json::from_str(r#"{"id":"m"}"#).unwrap();
        assert_eq!(card.model_type, ModelType::LLM);
    }

    #[test]
    fn provider_aliases() {
        let p: ProviderType = serde_json::from_str(r#""claude""#).unwrap();
        assert_eq!(p, ProviderType::Anthropic);
        let p: ProviderType = serde_json::from_str(r#""acme""#).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), r#""acme""#);
    }

    #[test]
    fn accepted_bodies_round_trip() {
        let json = r#"{"status":"accepted","worker_id":"u","url":"http://a:1","location":"/workers/u",
          "message":"Worker addition queued for background processing"}"#;
        let created: WorkerCreated = serde_json::from_str(json).unwrap();
        assert_eq!(created.location, "/workers/u");
        let json = r#"{"status":"accepted","worker_id":"u","message":"Worker removal queued for background processing"}"#;
        let accepted: WorkerAccepted = serde_json::from_str(json).unwrap();
        assert_eq!(accepted.worker_id, "u");
    }

    #[test]
    fn list_body_round_trips() {
        let json = r#"{"workers":[],"total":0,"stats":{"prefill_count":0,"decode_count":0,"regular_count":0}}"#;
        let list: WorkerListResponse = serde_json::from_str(json).unwrap();
        assert_eq!(list.total, 0);
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }
}
