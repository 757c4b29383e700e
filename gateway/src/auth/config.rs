//! Auth and audit flags of `smg launch`. Secrets given on the command line are reduced to their
//! SHA-256 digest while the flags are parsed, so no raw secret lives in [`GatewayConfig`]
//! (which is `Debug`), and a malformed entry is reported without echoing it.
//!
//! [`GatewayConfig`]: crate::config::GatewayConfig

use std::fmt;
use std::time::Duration;

use clap::Args;
use smg_sdk::Role;

use super::secret::{Digest, digest};

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Authentication and audit")]
pub struct AuthConfig {
    /// Serving API key: guards the serving routes (`/v1/tokenize`, inference, …) with
    /// `Authorization: Bearer`. Also accepted on the control plane while no control-plane
    /// credential exists at all (upstream's fallback).
    #[arg(long, value_name = "KEY", value_parser = parse_secret)]
    pub api_key: Option<SecretArg>,

    /// Control-plane service-account key `id:name:role:key`, role `admin` or `user`. Repeat the
    /// flag for several keys; each value is taken whole, so a key may contain `,` or `:`.
    /// Without the flag, the environment variable CONTROL_PLANE_API_KEYS is read as a
    /// comma-separated list of entries (there a key cannot contain `,`). Held only as a SHA-256
    /// digest. With JWT enabled a key must not look like a JWT (two dots).
    #[arg(
        long = "control-plane-api-keys",
        value_name = "ID:NAME:ROLE:KEY",
        value_parser = parse_static_key
    )]
    pub control_plane_api_keys: Vec<StaticKeyArg>,

    /// OIDC/JWT issuer (`iss`); with --jwt-audience enables JWT bearer tokens on the control
    /// plane.
    #[arg(long, env = "JWT_ISSUER", value_name = "URL")]
    pub jwt_issuer: Option<String>,
    /// Expected JWT audience (`aud`).
    #[arg(long, env = "JWT_AUDIENCE", value_name = "AUD")]
    pub jwt_audience: Option<String>,
    /// JWKS URL; without it the JWKS is discovered from
    /// `<issuer>/.well-known/openid-configuration`. HTTPS only (HTTP for localhost).
    #[arg(long, env = "JWT_JWKS_URI", value_name = "URL")]
    pub jwt_jwks_uri: Option<String>,
    /// Claim holding the role(s); a dotted path such as `realm_access.roles` walks objects.
    #[arg(long, default_value = "roles", value_name = "CLAIM")]
    pub jwt_role_claim: String,
    /// Map an identity-provider role to `admin` or `user` (`idp_role=admin`; repeatable).
    #[arg(long, value_name = "IDP_ROLE=ROLE", value_parser = parse_role_mapping)]
    pub jwt_role_mapping: Vec<(String, Role)>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub jwt_leeway_secs: u64,
    /// How long a fetched JWKS is trusted before it is fetched again.
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub jwt_jwks_cache_ttl_secs: u64,
    /// Least time between two JWKS fetches (unknown `kid`, failed fetches).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub jwt_jwks_refresh_min_interval_secs: u64,

    /// Start even when the control plane has no credentials and --host is not a loopback
    /// address (anyone who can reach the gateway is then an admin).
    #[arg(long)]
    pub allow_unauthenticated_admin: bool,

    /// Most runtime API keys (`POST /admin/api-keys` answers 507 beyond it).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_api_keys: usize,

    /// Do not store audit events (`GET /admin/audit` then answers an empty, disabled log).
    #[arg(long, visible_alias = "disable-audit-logging")]
    pub disable_audit_log: bool,
    /// Audit events older than this are deleted: a number of days, or an age with a unit
    /// (`90s`, `15m`, `12h`, `30d`).
    #[arg(
        long = "audit-retention",
        visible_alias = "audit-retention-days",
        default_value = "30d",
        value_name = "AGE",
        value_parser = parse_retention
    )]
    pub audit_retention: Duration,
    /// Most audit events kept; the oldest go first.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub audit_max_events: usize,
}

/// The environment variable read when no `--control-plane-api-keys` flag is given.
pub const STATIC_KEYS_ENV: &str = "CONTROL_PLANE_API_KEYS";

impl AuthConfig {
    /// The static keys: the flags if any were given, else the comma-separated entries of
    /// [`STATIC_KEYS_ENV`]. (Not clap's `env` + `value_delimiter`: that would also split
    /// command-line values, so a key containing `,` could never be given.)
    pub fn static_key_entries(&self) -> Result<Vec<StaticKeyArg>, String> {
        if !self.control_plane_api_keys.is_empty() {
            return Ok(self.control_plane_api_keys.clone());
        }
        match std::env::var(STATIC_KEYS_ENV) {
            Ok(raw) => Ok(split_env_entries(&raw)),
            Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("{STATIC_KEYS_ENV} is not valid UTF-8"))
            }
        }
    }
}

fn split_env_entries(raw: &str) -> Vec<StaticKeyArg> {
    raw.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(static_key)
        .collect()
}

/// A number of days, or a number with a unit `s`, `m`, `h` or `d`; at least one second.
fn parse_retention(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().map_err(|_| {
        format!("expected a number of days or an age like 90s, 12h, 30d, got '{raw}'")
    })?;
    let unit_secs = match unit {
        "" | "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("unknown unit in '{raw}' (use s, m, h or d)")),
    };
    match n.checked_mul(unit_secs) {
        Some(0) => Err("the retention must be at least one second".into()),
        Some(secs) => Ok(Duration::from_secs(secs)),
        None => Err(format!("'{raw}' is too long")),
    }
}

/// A secret flag, kept only as its digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretArg {
    pub digest: Digest,
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(***)")
    }
}

fn parse_secret(raw: &str) -> Result<SecretArg, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretArg {
        digest: digest(raw.trim()),
    })
}

/// One `--control-plane-api-keys` entry. A malformed entry is kept as [`StaticKeyArg::Invalid`]
/// and refused at start-up with a message that never contains the secret (clap's own error
/// would quote the whole value).
#[derive(Clone)]
pub enum StaticKeyArg {
    Valid(StaticKey),
    Invalid {
        position_hint: String,
        reason: String,
    },
}

impl fmt::Debug for StaticKeyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid(k) => k.fmt(f),
            Self::Invalid { reason, .. } => write!(f, "Invalid({reason})"),
        }
    }
}

/// A static control-plane key.
#[derive(Clone)]
pub struct StaticKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub digest: Digest,
    /// Three dot-separated parts: such a key is never tried as a key once JWT is on.
    pub jwt_shaped: bool,
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("key", &"***")
            .finish()
    }
}

fn parse_static_key(raw: &str) -> Result<StaticKeyArg, String> {
    Ok(static_key(raw))
}

fn static_key(raw: &str) -> StaticKeyArg {
    let raw = raw.trim();
    let parts: Vec<&str> = raw.splitn(4, ':').collect();
    let id_hint = parts
        .first()
        .filter(|id| parts.len() > 1 && !id.is_empty() && id.len() <= 128)
        .map(|id| format!("id '{id}'"))
        .unwrap_or_else(|| "an entry".into());
    let invalid = |reason: &str| StaticKeyArg::Invalid {
        position_hint: id_hint.clone(),
        reason: reason.to_string(),
    };
    let [id, name, role, key] = parts.as_slice() else {
        return invalid("expected id:name:role:key");
    };
    if id.is_empty() || id.len() > 128 {
        return invalid("the id must be 1-128 characters");
    }
    if name.len() > 256 {
        return invalid("the name must be at most 256 characters");
    }
    let Some(role) = Role::parse(role) else {
        return invalid("the role must be admin or user");
    };
    if key.trim().is_empty() {
        return invalid("the key must not be empty");
    }
    StaticKeyArg::Valid(StaticKey {
        id: id.to_string(),
        name: if name.is_empty() { id } else { name }.to_string(),
        role,
        digest: digest(key.trim()),
        jwt_shaped: super::jwt::looks_like_jwt(key.trim()),
    })
}

fn parse_role_mapping(raw: &str) -> Result<(String, Role), String> {
    let (idp, role) = raw
        .rsplit_once('=')
        .ok_or_else(|| format!("expected idp_role=admin|user, got '{raw}'"))?;
    let role = Role::parse(role).ok_or_else(|| format!("role must be admin or user in '{raw}'"))?;
    if idp.is_empty() {
        return Err(format!("empty identity-provider role in '{raw}'"));
    }
    Ok((idp.to_string(), role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_keys_parse_and_never_echo_the_secret() {
        let StaticKeyArg::Valid(k) = parse_static_key("ops:Ops team:ADMIN:s3cr:et").unwrap() else {
            panic!("valid");
        };
        assert_eq!(
            (k.id.as_str(), k.name.as_str(), k.role),
            ("ops", "Ops team", Role::Admin)
        );
        assert_eq!(k.digest, digest("s3cr:et"));
        assert!(!format!("{k:?}").contains("s3cr"));

        for bad in [
            "ops:x:root:SECRETVALUE",
            "nocolons-SECRETVALUE",
            ":x:admin:SECRETVALUE",
        ] {
            let parsed = parse_static_key(bad).unwrap();
            let StaticKeyArg::Invalid {
                reason,
                position_hint,
            } = &parsed
            else {
                panic!("{bad} should be invalid");
            };
            assert!(!reason.contains("SECRET") && !position_hint.contains("SECRET"));
            assert!(!format!("{parsed:?}").contains("SECRET"));
        }
    }

    #[test]
    fn env_entries_split_on_commas_but_flags_do_not() {
        let entries = split_env_entries("a:A:admin:key-one, b:B:user:key-two,");
        let ids: Vec<_> = entries
            .iter()
            .map(|e| match e {
                StaticKeyArg::Valid(k) => k.id.clone(),
                StaticKeyArg::Invalid { reason, .. } => panic!("{reason}"),
            })
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let StaticKeyArg::Valid(k) = parse_static_key("c:C:admin:with,comma").unwrap() else {
            panic!("valid");
        };
        assert_eq!(k.digest, digest("with,comma"));
        assert!(!k.jwt_shaped);
        let StaticKeyArg::Valid(k) = parse_static_key("j:J:admin:aaa.bbb.ccc").unwrap() else {
            panic!("valid");
        };
        assert!(k.jwt_shaped);
    }

    #[test]
    fn retention_ages_parse() {
        assert_eq!(parse_retention("30"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_retention("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_retention("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_retention("2h"), Ok(Duration::from_secs(7_200)));
        for bad in ["", "0", "0s", "1w", "d", "-1", "99999999999999999999d"] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_mappings_parse() {
        assert_eq!(
            parse_role_mapping("platform-admins=admin").unwrap(),
            ("platform-admins".into(), Role::Admin)
        );
        assert!(parse_role_mapping("x=root").is_err());
        assert!(parse_role_mapping("x").is_err());
    }
}
