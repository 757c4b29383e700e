//! Control-plane identities and runtime API keys (`/admin/api-keys`, `/admin/whoami`).
//!
//! The key routes are an addition to upstream SMG (decision D7), shaped like seed 004's API Key
//! Management APIs: the secret is returned once, by create and rotate, and masked (`sk-***abcd`)
//! everywhere else.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::secret::SecretString;

/// What a principal may do. `admin` is required on every control-plane route; `user` is a
/// serving credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Full control-plane access.
    Admin,
    /// Serving routes only; `403` on the control plane.
    #[default]
    User,
}

impl Role {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    /// Parse `admin` or `user`, case-insensitively.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "user" => Some(Self::User),
            _ => None,
        }
    }

    /// True for [`Role::Admin`].
    pub fn is_admin(self) -> bool {
        self == Self::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a request was authenticated as (`GET /admin/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Principal {
    /// Stable identifier: the key id, or the token subject for a JWT.
    pub id: String,
    /// Human-readable name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role granted.
    pub role: Role,
    /// How it authenticated: `api_key:<id>`, `jwt:<issuer>`, or `none` when the control plane
    /// has no credentials configured (loopback only).
    pub auth_method: String,
}

impl Principal {
    /// True when this principal may use the control plane.
    pub fn is_admin(&self) -> bool {
        self.role.is_admin()
    }
}

/// Body of `POST /admin/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyCreateRequest {
    /// Unique identifier, 1–128 characters of `A–Z a–z 0–9 . _ -`.
    pub id: String,
    /// Label (at most 256 characters); defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Notes (at most 1024 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Role; defaults to `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Expiry instant (must be in the future); none means the key does not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the key is active; defaults to `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A custom secret (16–256 printable ASCII characters, no spaces); generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<SecretString>,
}

impl ApiKeyCreateRequest {
    /// A request for a key with this id and every default.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Set the role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// Set the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Answer of `POST /admin/api-keys` (201): the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyCreated {
    /// The full secret. Store it now; it is never shown again.
    pub key: SecretString,
    /// The masked form shown everywhere else (`sk-***abcd`).
    pub masked_key: String,
    /// Key id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether the key is active.
    pub enabled: bool,
    /// Creation instant.
    pub created_at: DateTime<Utc>,
    /// Expiry instant, if any.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// A reminder that the secret is shown once.
    #[serde(default)]
    pub warning: String,
}

/// A key as listed (`GET /admin/api-keys[/{id}]`): never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    /// Key id.
    pub id: String,
    /// Masked secret (`sk-***abcd`).
    pub masked_key: String,
    /// Label.
    pub name: String,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether the key is enabled.
    pub enabled: bool,
    /// Same as `enabled` (seed 004's spelling).
    pub is_active: bool,
    /// Whether `expires_at` has passed.
    pub is_expired: bool,
    /// Enabled and not expired: the key authenticates.
    pub is_valid: bool,
    /// Creation instant.
    pub created_at: DateTime<Utc>,
    /// Last change (update, rotation, enable, disable).
    pub updated_at: DateTime<Utc>,
    /// Expiry instant, if any.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Principal that created the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// Counts over every key: `active` (valid), `expired` (enabled but past expiry), `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeySummary {
    /// All keys.
    pub total: usize,
    /// Enabled and not expired.
    pub active: usize,
    /// Enabled but past `expires_at`.
    pub expired: usize,
    /// Disabled (whether or not expired).
    pub disabled: usize,
}

/// Answer of `GET /admin/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    /// Keys, oldest first.
    pub keys: Vec<ApiKeyInfo>,
    /// Counts.
    pub summary: ApiKeySummary,
}

/// Body of `PUT /admin/api-keys/{id}`: only the fields present change. The secret is changed by
/// rotation only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyUpdateRequest {
    /// New label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Enable or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Absent: unchanged; `null`: never expires; a timestamp: the new expiry.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option"
    )]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

impl ApiKeyUpdateRequest {
    /// True when the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// `Some(None)` for an explicit `null`, `Some(Some(v))` for a value (absent stays `None` via
/// `#[serde(default)]`).
fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Answer of update, enable, disable and delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyActionResponse {
    /// Always `true` (failures are error statuses).
    pub success: bool,
    /// `update`, `enable`, `disable` or `delete`.
    pub action: String,
    /// Key id.
    pub id: String,
    /// The key after the change (absent for `delete`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<ApiKeyInfo>,
}

/// Answer of `POST /admin/api-keys/{id}/rotate`: the new secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyRotated {
    /// Always `true`.
    pub success: bool,
    /// Always `rotate`.
    pub action: String,
    /// Key id.
    pub id: String,
    /// The new secret. The previous one stopped working when this answer was sent.
    pub new_key: SecretString,
    /// Masked form of the new secret.
    pub masked_key: String,
    /// A reminder that the secret is shown once.
    #[serde(default)]
    pub warning: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_distinguishes_absent_null_and_value() {
        let absent: ApiKeyUpdateRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.expires_at, None);
        assert!(absent.is_empty());
        let null: ApiKeyUpdateRequest = serde_json::from_str(r#"{"expires_at":null}"#).unwrap();
        assert_eq!(null.expires_at, Some(None));
        let set: ApiKeyUpdateRequest =
            serde_json::from_str(r#"{"expires_at":"2030-01-01T00:00:00Z"}"#).unwrap();
        assert!(matches!(set.expires_at, Some(Some(_))));
        assert_eq!(
            serde_json::to_value(&null).unwrap(),
            serde_json::json!({"expires_at": null})
        );
    }

    #[test]
    fn roles_parse_and_print() {
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("user"), Some(Role::User));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(serde_json::to_string(&Role::Admin).unwrap(), "\"admin\"");
    }

    #[test]
    fn created_debug_hides_the_secret() {
        let created = ApiKeyCreated {
            key: SecretString::new("sk-SECRETSECRET"),
            masked_key: "sk-***CRET".into(),
            id: "k".into(),
            name: "k".into(),
            description: None,
            role: Role::User,
            enabled: true,
            created_at: Utc::now(),
            expires_at: None,
            warning: String::new(),
        };
        assert!(!format!("{created:?}").contains("SECRETSECRET"));
        assert!(
            serde_json::to_string(&created)
                .unwrap()
                .contains("sk-SECRETSECRET")
        );
    }
}
