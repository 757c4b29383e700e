//! JWT bearer tokens on the control plane: RS256/384/512 and ES256/384 only, `kid` required,
//! the token's `alg` must be one its JWK allows, `iss`, `aud`, `exp` and `nbf` checked with
//! leeway. Roles come from a configurable claim, optionally mapped.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;
use smg_sdk::{Principal, Role};

use super::jwks::{Jwks, JwksSource, KeyLookup};

const ALLOWED: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
];
/// Claims tried, in order, when the configured role claim is absent (upstream's list).
const FALLBACK_ROLE_CLAIMS: [&str; 4] = ["role", "roles", "groups", "group"];

#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted (RS256, RS384, RS512, ES256, ES384 only)")]
    UnsupportedAlgorithm(String),
    #[error("the token header has no `kid`")]
    MissingKid,
    #[error("no key '{0}' in the JWKS")]
    UnknownKid(String),
    #[error("algorithm {alg} does not match key '{kid}'")]
    AlgorithmMismatch { alg: String, kid: String },
    #[error("token expired")]
    Expired,
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    #[error("wrong audience")]
    InvalidAudience,
    #[error("wrong issuer")]
    InvalidIssuer,
    #[error("invalid signature")]
    InvalidSignature,
    #[error("{0}")]
    Invalid(String),
    #[error("JWT validation is unavailable: {0}")]
    JwksUnavailable(String),
}

/// Settings, from the `--jwt-*` flags.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub issuer: String,
    pub audience: String,
    pub source: JwksSource,
    pub role_claim: String,
    pub role_mapping: HashMap<String, Role>,
    pub leeway_secs: u64,
    pub cache_ttl: Duration,
    pub refresh_min_interval: Duration,
}

pub struct JwtValidator {
    settings: JwtSettings,
    pub jwks: Jwks,
}

/// Three dot-separated parts: treated as a JWT (and never as an API key) when JWT is on.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

impl JwtValidator {
    pub fn new(settings: JwtSettings) -> Result<Self, reqwest::Error> {
        let jwks = Jwks::new(
            settings.source.clone(),
            settings.cache_ttl,
            settings.refresh_min_interval,
        )?;
        Ok(Self { settings, jwks })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub async fn validate(&self, token: &str) -> Result<Principal, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(JwtError::UnsupportedAlgorithm(format!("{:?}", header.alg)));
        }
        let kid = header
            .kid
            .filter(|k| !k.is_empty())
            .ok_or(JwtError::MissingKid)?;
        let key = match self.jwks.key(&kid).await {
            KeyLookup::Found(key) => key,
            KeyLookup::UnknownKid => return Err(JwtError::UnknownKid(kid)),
            KeyLookup::Unavailable(why) => return Err(JwtError::JwksUnavailable(why)),
        };
        if !key.algorithms.contains(&header.alg) {
            return Err(JwtError::AlgorithmMismatch {
                alg: format!("{:?}", header.alg),
                kid,
            });
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&[&self.settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Value>(token, &key.key, &validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => JwtError::Expired,
                    ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                    ErrorKind::InvalidAudience => JwtError::InvalidAudience,
                    ErrorKind::InvalidIssuer => JwtError::InvalidIssuer,
                    ErrorKind::InvalidSignature => JwtError::InvalidSignature,
                    ErrorKind::MissingRequiredClaim(c) => {
                        JwtError::Invalid(format!("missing required claim `{c}`"))
                    }
                    _ => JwtError::Invalid(e.to_string()),
                }
            })?;
        Ok(self.principal(&data.claims))
    }

    fn principal(&self, claims: &Value) -> Principal {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let id = text("sub")
            .or_else(|| text("email"))
            .or_else(|| text("preferred_username"))
            .unwrap_or("unknown")
            .to_string();
        let name = text("name")
            .or_else(|| text("preferred_username"))
            .or_else(|| text("email"))
            .map(str::to_string);
        Principal {
            id,
            name,
            role: self.role(claims),
            auth_method: format!("jwt:{}", self.settings.issuer),
        }
    }

    /// `admin` if any role value maps (or, without a mapping, parses) to admin; else `user`.
    fn role(&self, claims: &Value) -> Role {
        let values = role_values(claims, &self.settings.role_claim);
        let to_role = |v: &str| {
            if self.settings.role_mapping.is_empty() {
                Role::parse(v)
            } else {
                self.settings.role_mapping.get(v).copied()
            }
        };
        if values.iter().any(|v| to_role(v) == Some(Role::Admin)) {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// The string values of `claim` (a dotted path walks objects), falling back to upstream's
/// `role`/`roles`/`groups`/`group` when it is absent.
fn role_values(claims: &Value, claim: &str) -> Vec<String> {
    let lookup = |path: &str| {
        let mut cur = claims;
        for part in path.split('.') {
            cur = cur.get(part)?;
        }
        Some(cur)
    };
    let found = lookup(claim).or_else(|| FALLBACK_ROLE_CLAIMS.iter().find_map(|c| lookup(c)));
    match found {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(mapping: &[(&str, Role)]) -> JwtValidator {
        JwtValidator::new(JwtSettings {
            issuer: "https://idp".into(),
            audience: "smg".into(),
            source: JwksSource::Discovery {
                issuer: "https://idp".into(),
            },
            role_claim: "realm_access.roles".into(),
            role_mapping: mapping.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            leeway_secs: 0,
            cache_ttl: Duration::from_secs(60),
            refresh_min_interval: Duration::from_secs(60),
        })
        .unwrap()
    }

    #[test]
    fn roles_from_claims() {
        let v = validator(&[]);
        let claims = serde_json::json!({"sub":"alice","realm_access":{"roles":["x","admin"]}});
        assert_eq!(v.role(&claims), Role::Admin);
        assert_eq!(v.role(&serde_json::json!({"roles":"user"})), Role::User);
        assert_eq!(
            v.role(&serde_json::json!({"groups":["admin"]})),
            Role::Admin
        );
        assert_eq!(v.role(&serde_json::json!({})), Role::User);
        let mapped = validator(&[("platform-admins", Role::Admin)]);
        assert_eq!(
            mapped.role(&serde_json::json!({"roles":["admin"]})),
            Role::User
        );
        assert_eq!(
            mapped.role(&serde_json::json!({"roles":["a","platform-admins"]})),
            Role::Admin
        );
        let p = v.principal(&serde_json::json!({"email":"a@x","roles":["admin"]}));
        assert_eq!(p.id, "a@x");
        assert_eq!(p.auth_method, "jwt:https://idp");
    }

    #[tokio::test]
    async fn alg_none_and_hmac_are_refused_before_any_key_lookup() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let v = validator(&[]);
        let payload = b64(r#"{"sub":"x","iss":"https://idp","aud":"smg","exp":9999999999}"#);
        let none = format!("{}.{payload}.", b64(r#"{"alg":"none","kid":"k"}"#));
        assert!(matches!(
            v.validate(&none).await,
            Err(JwtError::Malformed(_))
        ));
        let hs = format!("{}.{payload}.c2ln", b64(r#"{"alg":"HS256","kid":"k"}"#));
        assert!(matches!(
            v.validate(&hs).await,
            Err(JwtError::UnsupportedAlgorithm(_))
        ));
        let no_kid = format!("{}.{payload}.c2ln", b64(r#"{"alg":"RS256"}"#));
        assert!(matches!(
            v.validate(&no_kid).await,
            Err(JwtError::MissingKid)
        ));
    }
}
