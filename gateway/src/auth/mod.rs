//! Authentication and audit, free of HTTP.
//!
//! - Control plane (every admin and worker route): static `--control-plane-api-keys`, JWTs
//!   (`--jwt-*`), and runtime keys created through `/admin/api-keys`; the admin role is
//!   required. With none of these, `--api-key` is accepted as an admin credential (upstream's
//!   fallback); with nothing at all the control plane is open, which is refused at start-up on
//!   a non-loopback `--host` unless `--allow-unauthenticated-admin` is given.
//! - Serving routes: `--api-key` and runtime keys (either role). Open while neither `--api-key`
//!   nor any `user` runtime key exists.
//! - Fail closed: a JWT is never accepted without a loaded JWKS, and a key change that would
//!   leave no way to act as admin is refused.

pub mod audit;
pub mod config;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod secret;

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use smg_sdk::{Principal, Role};

pub use config::AuthConfig;

use self::audit::AuditLog;
use self::config::{StaticKey, StaticKeyArg};
use self::jwks::{JwksSource, parse_url};
use self::jwt::{JwtError, JwtSettings, JwtValidator, looks_like_jwt};
use self::keys::{KeyMatch, KeyStore, OtherCredentials};
use self::secret::{Digest, digest, digest_eq, find_digest};
use crate::store::{SharedStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("invalid --control-plane-api-keys entry ({position}): {reason}")]
    StaticKey { position: String, reason: String },
    #[error("--control-plane-api-keys: the id '{0}' is given twice")]
    DuplicateStaticId(String),
    #[error("{0}")]
    StaticKeysEnv(String),
    #[error(
        "--control-plane-api-keys: the key of id '{0}' looks like a JWT (three dot-separated parts); with --jwt-issuer set such a token is only ever validated as a JWT, so this key could never authenticate. Choose a key without two dots"
    )]
    JwtShapedStaticKey(String),
    #[error(
        "--jwt-issuer and --jwt-audience must be given together (JWT auth would otherwise be silently off)"
    )]
    JwtIncomplete,
    #[error("{0}")]
    JwtUrl(String),
    #[error(
        "refusing to start: the control plane has no credentials and --host {host} is not a loopback address, so anyone who can reach it would be an admin. Configure --control-plane-api-keys, --jwt-issuer with --jwt-audience, or --api-key, or pass --allow-unauthenticated-admin to accept this"
    )]
    Unauthenticated { host: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the JWKS HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// How the control plane authenticates right now (runtime keys can change it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPlaneMode {
    /// No credential of any kind: everyone is an anonymous admin (loopback, or explicitly
    /// allowed).
    Open,
    /// Only `--api-key`: it is accepted as an admin credential.
    SharedKey,
    /// Control-plane credentials exist; only they are accepted.
    Closed,
}

/// Why a request was not authenticated.
#[derive(Debug)]
pub enum AuthFailure {
    /// No `Authorization: Bearer <token>` header.
    Missing,
    /// A token that matched nothing usable. `reason` is for the audit log only (the client sees
    /// a generic message); `principal_hint` is the id of a disabled or expired key.
    InvalidToken {
        reason: String,
        principal_hint: Option<String>,
    },
    Jwt(JwtError),
    /// Authenticated, but not an admin.
    Forbidden(Principal),
}

impl AuthFailure {
    /// What the audit log records about the refusal (never the token).
    pub fn audit_reason(&self) -> String {
        match self {
            Self::Missing => "missing or malformed Authorization header".into(),
            Self::InvalidToken { reason, .. } => reason.clone(),
            Self::Jwt(e) => format!("invalid JWT: {e}"),
            Self::Forbidden(p) => format!("{} has role {}; admin required", p.id, p.role),
        }
    }

    pub fn principal_hint(&self) -> Option<String> {
        match self {
            Self::InvalidToken { principal_hint, .. } => principal_hint.clone(),
            _ => None,
        }
    }
}

pub struct AuthService {
    static_keys: Vec<StaticKey>,
    shared_key: Option<Digest>,
    pub jwt: Option<JwtValidator>,
    pub keys: KeyStore,
    pub audit: Arc<AuditLog>,
    open_allowed: bool,
}

/// `localhost`, or an IP address in the loopback range.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The principal of an open control plane.
pub fn anonymous() -> Principal {
    Principal {
        id: "anonymous".into(),
        name: None,
        role: Role::Admin,
        auth_method: "none".into(),
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive), if well-formed.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

impl AuthService {
    /// Check the flags, load the runtime keys, start the JWKS load and the audit pruner, and
    /// refuse an unauthenticated control plane on a non-loopback host.
    pub async fn start(
        config: &AuthConfig,
        host: &str,
        store: SharedStore,
    ) -> Result<Arc<Self>, AuthSetupError> {
        let mut static_keys = Vec::new();
        let mut ids = HashSet::new();
        let entries = config
            .static_key_entries()
            .map_err(AuthSetupError::StaticKeysEnv)?;
        for entry in &entries {
            match entry {
                StaticKeyArg::Valid(k) => {
                    if !ids.insert(k.id.clone()) {
                        return Err(AuthSetupError::DuplicateStaticId(k.id.clone()));
                    }
                    static_keys.push(k.clone());
                }
                StaticKeyArg::Invalid {
                    position_hint,
                    reason,
                } => {
                    return Err(AuthSetupError::StaticKey {
                        position: position_hint.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
        let jwt = match (&config.jwt_issuer, &config.jwt_audience) {
            (None, None) => None,
            (Some(issuer), Some(audience)) if !issuer.is_empty() && !audience.is_empty() => {
                let source = match &config.jwt_jwks_uri {
                    Some(uri) => JwksSource::Uri(
                        parse_url(uri, "--jwt-jwks-uri").map_err(AuthSetupError::JwtUrl)?,
                    ),
                    None => {
                        parse_url(
                            &format!(
                                "{}/.well-known/openid-configuration",
                                issuer.trim_end_matches('/')
                            ),
                            "OIDC discovery from --jwt-issuer",
                        )
                        .map_err(AuthSetupError::JwtUrl)?;
                        JwksSource::Discovery {
                            issuer: issuer.clone(),
                        }
                    }
                };
                Some(JwtValidator::new(JwtSettings {
                    issuer: issuer.clone(),
                    audience: audience.clone(),
                    source,
                    role_claim: config.jwt_role_claim.clone(),
                    role_mapping: config.jwt_role_mapping.iter().cloned().collect(),
                    leeway_secs: config.jwt_leeway_secs,
                    cache_ttl: Duration::from_secs(config.jwt_jwks_cache_ttl_secs),
                    refresh_min_interval: Duration::from_secs(
                        config.jwt_jwks_refresh_min_interval_secs,
                    ),
                })?)
            }
            _ => return Err(AuthSetupError::JwtIncomplete),
        };
        if jwt.is_some()
            && let Some(k) = static_keys.iter().find(|k| k.jwt_shaped)
        {
            return Err(AuthSetupError::JwtShapedStaticKey(k.id.clone()));
        }
        let keys = KeyStore::load(store.clone(), config.max_api_keys).await?;
        let audit = Arc::new(AuditLog::new(
            store,
            !config.disable_audit_log,
            config.audit_retention,
            config.audit_max_events,
        ));
        let loopback = is_loopback(host);
        let service = Arc::new(Self {
            static_keys,
            shared_key: config.api_key.as_ref().map(|k| k.digest),
            jwt,
            keys,
            audit,
            open_allowed: loopback || config.allow_unauthenticated_admin,
        });
        match service.control_plane_mode() {
            ControlPlaneMode::Open if !service.open_allowed => {
                return Err(AuthSetupError::Unauthenticated {
                    host: host.to_string(),
                });
            }
            ControlPlaneMode::Open => tracing::warn!(
                "CONTROL PLANE IS OPEN: no control-plane credentials are configured \
                 (--control-plane-api-keys, --jwt-issuer/--jwt-audience, --api-key, or runtime \
                 admin keys), so anyone who can reach {host} has admin access. Create an admin \
                 key (POST /admin/api-keys with \"role\":\"admin\") or restart with credentials."
            ),
            ControlPlaneMode::SharedKey => tracing::info!(
                "no control-plane credentials configured: the control plane accepts the --api-key"
            ),
            ControlPlaneMode::Closed => tracing::info!(
                static_keys = service.static_keys.len(),
                runtime_keys = service.keys.count(),
                jwt = service.jwt.is_some(),
                "control-plane auth enabled"
            ),
        }
        if !service.static_keys.is_empty()
            && !service.static_keys.iter().any(|k| k.role.is_admin())
            && service.jwt.is_none()
            && !service.keys.any_with_role(Role::Admin)
        {
            tracing::warn!(
                "NO ADMIN CREDENTIAL: every --control-plane-api-keys entry has the user role and \
                 there is no JWT issuer or runtime admin key, so every control-plane request \
                 (except GET /admin/whoami) will be refused with 403. Give one static key the \
                 admin role, or configure --jwt-issuer/--jwt-audience."
            );
        }
        if let Some(jwt) = &service.jwt {
            tracing::info!(
                issuer = jwt.issuer(),
                "JWT bearer tokens enabled on the control plane"
            );
            let weak = Arc::downgrade(&service);
            tokio::spawn(async move {
                if let Some(s) = weak.upgrade()
                    && let Some(jwt) = &s.jwt
                {
                    jwt.jwks.refresh().await;
                }
            });
        }
        service.audit.spawn_pruner();
        Ok(service)
    }

    pub fn control_plane_mode(&self) -> ControlPlaneMode {
        if !self.static_keys.is_empty()
            || self.jwt.is_some()
            || self.keys.any_with_role(Role::Admin)
        {
            ControlPlaneMode::Closed
        } else if self.shared_key.is_some() {
            ControlPlaneMode::SharedKey
        } else {
            ControlPlaneMode::Open
        }
    }

    /// Whether serving routes need a credential.
    pub fn serving_auth_required(&self) -> bool {
        self.shared_key.is_some() || self.keys.any_with_role(Role::User)
    }

    /// The credentials besides the runtime keys, for the lockout rule of key changes.
    pub fn other_credentials(&self) -> OtherCredentials {
        OtherCredentials {
            static_admin: self.static_keys.iter().any(|k| k.role.is_admin()),
            any_static: !self.static_keys.is_empty(),
            jwt: self.jwt.is_some(),
            shared_key: self.shared_key.is_some(),
            open_allowed: self.open_allowed,
        }
    }

    /// Whether a digest belongs to a static key or `--api-key` (a runtime key may not reuse it).
    pub fn digest_taken(&self, d: &Digest) -> bool {
        let shared = self.shared_key.as_ref().is_some_and(|s| digest_eq(s, d));
        let stat = find_digest(self.static_keys.iter(), d, |k| &k.digest).is_some();
        shared | stat
    }

    /// Authenticate a control-plane request (any role; the caller checks the role).
    pub async fn authenticate_control_plane(
        &self,
        headers: &HeaderMap,
    ) -> Result<Principal, AuthFailure> {
        let mode = self.control_plane_mode();
        if mode == ControlPlaneMode::Open {
            return Ok(anonymous());
        }
        let token = bearer(headers).ok_or(AuthFailure::Missing)?;
        if let Some(jwt) = &self.jwt
            && looks_like_jwt(token)
        {
            // A JWT-shaped token is never tried as an API key.
            return jwt.validate(token).await.map_err(AuthFailure::Jwt);
        }
        let presented = digest(token);
        if let Some(k) = find_digest(self.static_keys.iter(), &presented, |k| &k.digest) {
            return Ok(Principal {
                id: k.id.clone(),
                name: Some(k.name.clone()),
                role: k.role,
                auth_method: format!("api_key:{}", k.id),
            });
        }
        match self.keys.lookup(&presented) {
            Some(KeyMatch::Valid(k)) => return Ok(key_principal(&k)),
            Some(KeyMatch::Disabled(k)) => {
                return Err(AuthFailure::InvalidToken {
                    reason: format!("API key '{}' is disabled", k.id),
                    principal_hint: Some(k.id),
                });
            }
            Some(KeyMatch::Expired(k)) => {
                return Err(AuthFailure::InvalidToken {
                    reason: format!("API key '{}' has expired", k.id),
                    principal_hint: Some(k.id),
                });
            }
            None => {}
        }
        if let Some(shared) = &self.shared_key
            && digest_eq(shared, &presented)
        {
            if mode == ControlPlaneMode::SharedKey {
                return Ok(shared_principal(Role::Admin));
            }
            return Err(AuthFailure::InvalidToken {
                reason:
                    "the serving --api-key is not accepted once control-plane credentials exist"
                        .into(),
                principal_hint: Some("api-key".into()),
            });
        }
        Err(AuthFailure::InvalidToken {
            reason: "unknown credential".into(),
            principal_hint: None,
        })
    }

    /// Authenticate a serving request: `Ok(None)` when serving routes are open.
    pub fn authenticate_serving(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, AuthFailure> {
        if !self.serving_auth_required() {
            return Ok(None);
        }
        let token = bearer(headers).ok_or(AuthFailure::Missing)?;
        let presented = digest(token);
        let shared = self
            .shared_key
            .as_ref()
            .is_some_and(|s| digest_eq(s, &presented));
        // Always look at the runtime keys too, so timing does not tell which matched.
        let runtime = self.keys.lookup(&presented);
        if shared {
            return Ok(Some(shared_principal(Role::User)));
        }
        match runtime {
            Some(KeyMatch::Valid(k)) => Ok(Some(key_principal(&k))),
            Some(KeyMatch::Disabled(k) | KeyMatch::Expired(k)) => Err(AuthFailure::InvalidToken {
                reason: format!("API key '{}' is disabled or expired", k.id),
                principal_hint: Some(k.id),
            }),
            None => Err(AuthFailure::InvalidToken {
                reason: "unknown credential".into(),
                principal_hint: None,
            }),
        }
    }
}

fn key_principal(k: &keys::StoredKey) -> Principal {
    Principal {
        id: k.id.clone(),
        name: Some(k.name.clone()),
        role: k.role,
        auth_method: format!("api_key:{}", k.id),
    }
}

fn shared_principal(role: Role) -> Principal {
    Principal {
        id: "api-key".into(),
        name: Some("shared --api-key".into()),
        role,
        auth_method: "api_key:shared".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "::", "10.0.0.1", "gw.example.com"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (value, expect) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("Basic abc", None),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearer a b", None),
        ] {
            h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&h), expect, "{value}");
        }
    }
}
