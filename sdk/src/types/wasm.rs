//! WASM middleware modules (`/wasm`): descriptors, registered modules and execution metrics.
//!
//! Enums are serde's default externally tagged form, as upstream SMG writes them:
//! `{"Middleware":"OnRequest"}`, `{"Success":"<uuid>"}`, `{"Error":"<message>"}`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kind of a module. Only middleware exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WasmModuleType {
    /// Runs on the serving routes at its attach points.
    #[default]
    Middleware,
}

/// Where a middleware module runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum MiddlewareAttachPoint {
    /// Before routing: may reject the request or rewrite its headers and body.
    OnRequest,
    /// On a non-streaming response: may change its status, headers and body.
    OnResponse,
    /// When a proxied request failed (worker unreachable, timed out or 5xx): may replace the
    /// error response.
    OnError,
}

impl MiddlewareAttachPoint {
    /// Every attach point, in pipeline order.
    pub const ALL: [Self; 3] = [Self::OnRequest, Self::OnResponse, Self::OnError];

    /// Upstream's spelling (`OnRequest`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnRequest => "OnRequest",
            Self::OnResponse => "OnResponse",
            Self::OnError => "OnError",
        }
    }

    /// The CLI's spelling (`on-request`, …).
    pub fn kebab(self) -> &'static str {
        match self {
            Self::OnRequest => "on-request",
            Self::OnResponse => "on-response",
            Self::OnError => "on-error",
        }
    }
}

impl fmt::Display for MiddlewareAttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MiddlewareAttachPoint {
    type Err = String;

    /// Accepts `OnRequest`, `on-request`, `on_request` and `onrequest`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect();
        match norm.as_str() {
            "onrequest" => Ok(Self::OnRequest),
            "onresponse" => Ok(Self::OnResponse),
            "onerror" => Ok(Self::OnError),
            _ => Err(format!(
                "unknown attach point '{}' (expected on-request, on-response or on-error)",
                s.trim()
            )),
        }
    }
}

/// An attach point, tagged by module type: `{"Middleware":"OnRequest"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WasmModuleAttachPoint {
    /// A middleware attach point.
    Middleware(MiddlewareAttachPoint),
}

impl WasmModuleAttachPoint {
    /// The middleware attach point.
    pub fn middleware(self) -> MiddlewareAttachPoint {
        match self {
            Self::Middleware(point) => point,
        }
    }
}

impl From<MiddlewareAttachPoint> for WasmModuleAttachPoint {
    fn from(point: MiddlewareAttachPoint) -> Self {
        Self::Middleware(point)
    }
}

impl fmt::Display for WasmModuleAttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.middleware(), f)
    }
}

/// The outcome of registering one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WasmModuleAddResult {
    /// Registered under this UUID.
    Success(String),
    /// Not registered, and why.
    Error(String),
}

/// One module to register (`POST /wasm`), echoed back with its [`add_result`](Self::add_result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModuleDescriptor {
    /// A label; names need not be unique.
    pub name: String,
    /// Absolute path of the `.wasm` component on the gateway host. For uploaded modules the
    /// gateway sets `upload://<file name>`.
    pub file_path: String,
    /// Always `Middleware`.
    #[serde(default)]
    pub module_type: WasmModuleType,
    /// Where the module runs.
    #[serde(default)]
    pub attach_points: Vec<WasmModuleAttachPoint>,
    /// Set in the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_result: Option<WasmModuleAddResult>,
}

impl WasmModuleDescriptor {
    /// A middleware descriptor for the file at `file_path` on the gateway host.
    pub fn new(
        name: impl Into<String>,
        file_path: impl Into<String>,
        attach_points: impl IntoIterator<Item = MiddlewareAttachPoint>,
    ) -> Self {
        Self {
            name: name.into(),
            file_path: file_path.into(),
            module_type: WasmModuleType::Middleware,
            attach_points: attach_points.into_iter().map(Into::into).collect(),
            add_result: None,
        }
    }

    /// The UUID, if the module was registered.
    pub fn uuid(&self) -> Option<&str> {
        match &self.add_result {
            Some(WasmModuleAddResult::Success(uuid)) => Some(uuid),
            _ => None,
        }
    }

    /// The error, if registration failed.
    pub fn error(&self) -> Option<&str> {
        match &self.add_result {
            Some(WasmModuleAddResult::Error(message)) => Some(message),
            _ => None,
        }
    }
}

/// `POST /wasm` body (JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModuleAddRequest {
    /// Modules to register, in order.
    pub modules: Vec<WasmModuleDescriptor>,
}

/// `POST /wasm` answer: every descriptor with its `add_result`; HTTP 200 when all were
/// registered, 400 when any failed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModuleAddResponse {
    /// The descriptors, in request order.
    pub modules: Vec<WasmModuleDescriptor>,
}

impl WasmModuleAddResponse {
    /// True when every module was registered.
    pub fn all_succeeded(&self) -> bool {
        self.modules.iter().all(|m| m.uuid().is_some())
    }

    /// The descriptors that failed.
    pub fn failures(&self) -> impl Iterator<Item = &WasmModuleDescriptor> {
        self.modules.iter().filter(|m| m.uuid().is_none())
    }
}

/// What the gateway knows about a registered module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModuleMeta {
    /// The descriptor's name.
    pub name: String,
    /// The descriptor's path (`upload://<file name>` for uploads).
    pub file_path: String,
    /// SHA-256 of the module bytes, 64 lowercase hex digits.
    pub sha256_hash: String,
    /// Size of the module in bytes.
    pub size_bytes: u64,
    /// When it was registered (RFC 3339, nanoseconds, UTC).
    #[serde(with = "rfc3339_nanos")]
    pub created_at: DateTime<Utc>,
    /// When it last ran (its registration time until then).
    #[serde(with = "rfc3339_nanos")]
    pub last_accessed_at: DateTime<Utc>,
    /// How many times it ran.
    pub access_count: u64,
    /// Where it runs.
    pub attach_points: Vec<WasmModuleAttachPoint>,
}

/// A registered module (`GET /wasm` item).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModule {
    /// Its id (UUID v7).
    pub module_uuid: String,
    /// Its metadata.
    pub module_meta: WasmModuleMeta,
    /// This module's own execution counts (an addition to upstream's API; absent from a real
    /// SMG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<WasmMetrics>,
}

/// Execution counters: gateway-wide in [`WasmModuleList::metrics`], per module in
/// [`WasmModule::metrics`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmMetrics {
    /// Calls into modules.
    pub total_executions: u64,
    /// Calls that returned an action.
    pub successful_executions: u64,
    /// Calls that trapped, timed out, ran out of memory or could not start (each was treated
    /// as `continue`).
    pub failed_executions: u64,
    /// Wall time of all calls, in whole milliseconds.
    pub total_execution_time_ms: u64,
    /// Longest call, in whole milliseconds.
    pub max_execution_time_ms: u64,
    /// Mean call time in milliseconds; absent before the first call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_execution_time_ms: Option<f64>,
}

/// `GET /wasm` answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WasmModuleList {
    /// Registered modules, oldest first.
    pub modules: Vec<WasmModule>,
    /// Gateway-wide execution counters.
    pub metrics: WasmMetrics,
}

/// RFC 3339 with nine fractional digits and `Z` on output (upstream's form); any RFC 3339 on
/// input.
pub mod rfc3339_nanos {
    use super::*;

    /// Serialise as `2024-01-15T12:00:00.000000000Z`.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    /// Parse any RFC 3339 timestamp.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptor_wire_shape() {
        let d = WasmModuleDescriptor::new(
            "audit",
            "/opt/wasm/audit.wasm",
            [
                MiddlewareAttachPoint::OnRequest,
                MiddlewareAttachPoint::OnError,
            ],
        );
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"name": "audit", "file_path": "/opt/wasm/audit.wasm", "module_type": "Middleware",
                   "attach_points": [{"Middleware": "OnRequest"}, {"Middleware": "OnError"}]})
        );
        let echoed: WasmModuleDescriptor = serde_json::from_value(json!({
            "name": "a", "file_path": "/x.wasm", "module_type": "Middleware",
            "attach_points": [{"Middleware": "OnResponse"}], "add_result": {"Success": "u-1"}
        }))
        .unwrap();
        assert_eq!(echoed.uuid(), Some("u-1"));
        let failed: WasmModuleDescriptor = serde_json::from_value(json!({
            "name": "a", "file_path": "/x.wasm", "module_type": "Middleware",
            "attach_points": [], "add_result": {"Error": "nope"}, "extra": 1
        }))
        .unwrap();
        assert_eq!(failed.error(), Some("nope"));
    }

    #[test]
    fn list_wire_shape_round_trips() {
        let body = json!({
            "modules": [{"module_uuid": "550e8400-e29b-41d4-a716-446655440000", "module_meta": {
                "name": "custom-middleware", "file_path": "/etc/smg/wasm/custom-middleware.wasm",
                "sha256_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "size_bytes": 65536, "created_at": "2024-01-15T12:00:00.000000000Z",
                "last_accessed_at": "2024-01-15T12:05:00.000000000Z", "access_count": 42,
                "attach_points": [{"Middleware": "OnRequest"}]}}],
            "metrics": {"total_executions": 42, "successful_executions": 42, "failed_executions": 0,
                        "total_execution_time_ms": 125, "max_execution_time_ms": 8,
                        "average_execution_time_ms": 2.97}
        });
        let list: WasmModuleList = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(list.modules[0].module_meta.access_count, 42);
        assert_eq!(serde_json::to_value(&list).unwrap(), body);
        let empty: WasmMetrics = serde_json::from_value(json!({"total_executions": 0,
            "successful_executions": 0, "failed_executions": 0, "total_execution_time_ms": 0,
            "max_execution_time_ms": 0}))
        .unwrap();
        assert_eq!(empty.average_execution_time_ms, None);
    }

    #[test]
    fn attach_point_spellings() {
        for (raw, want) in [
            ("OnRequest", MiddlewareAttachPoint::OnRequest),
            ("on-response", MiddlewareAttachPoint::OnResponse),
            ("ON_ERROR", MiddlewareAttachPoint::OnError),
        ] {
            assert_eq!(raw.parse::<MiddlewareAttachPoint>().unwrap(), want);
        }
        assert!("on-nothing".parse::<MiddlewareAttachPoint>().is_err());
    }
}
