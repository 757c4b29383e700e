//! The stored audit log of control-plane changes and refused control-plane requests
//! (`GET /admin/audit`; an addition to upstream SMG, decision D7).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::Role;

/// How a recorded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// Authenticated, and the route answered 2xx.
    Success,
    /// Authenticated, and the route answered an error status.
    Failure,
    /// Refused by control-plane auth (401, 403, or 503 while the JWKS is unavailable).
    Denied,
}

impl AuditOutcome {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }
}

/// One audit record. Never holds a secret: request bodies are summarised with every field named
/// like a key, secret, token or password replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Unique event id (time-ordered UUID).
    pub id: String,
    /// When the request was answered.
    pub timestamp: DateTime<Utc>,
    /// Principal id (key id or token subject); absent when authentication failed before one
    /// was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Principal name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<String>,
    /// `api_key:<id>`, `jwt:<issuer>`, or `none` (open control plane).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    /// Role of the principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// HTTP method.
    pub method: String,
    /// Request path (without the query).
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// The request's `x-request-id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Redacted summary: the method, path and (truncated) JSON body of a change, or why a
    /// request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Filters of `GET /admin/audit`. All optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditQuery {
    /// Only events at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Only events of this principal (matches the principal id or the auth method).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Only events whose path starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Most events returned (gateway default 100, at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl AuditQuery {
    /// The query-string pairs of this filter.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let ts = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut pairs = Vec::new();
        if let Some(t) = &self.since {
            pairs.push(("since", ts(t)));
        }
        if let Some(t) = &self.until {
            pairs.push(("until", ts(t)));
        }
        if let Some(p) = &self.principal {
            pairs.push(("principal", p.clone()));
        }
        if let Some(p) = &self.path {
            pairs.push(("path", p.clone()));
        }
        if let Some(l) = self.limit {
            pairs.push(("limit", l.to_string()));
        }
        pairs
    }
}

/// Answer of `GET /admin/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditLogResponse {
    /// Matching events, newest first.
    pub events: Vec<AuditEvent>,
    /// Number of events returned.
    pub count: usize,
    /// False when the gateway runs with `--disable-audit-log` (nothing is recorded).
    pub enabled: bool,
}
