//! The JWKS: fetched from `--jwt-jwks-uri` or discovered from the issuer, cached with a TTL,
//! refetched (rate-limited) on an unknown `kid`. Fetches are HTTPS only (HTTP for localhost),
//! never follow redirects, time out, and read at most [`MAX_DOCUMENT_BYTES`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A verification key and the algorithms it may verify.
pub struct JwksKey {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum JwksSource {
    Uri(Url),
    /// `<issuer>/.well-known/openid-configuration`'s `jwks_uri`.
    Discovery {
        issuer: String,
    },
}

pub enum KeyLookup {
    Found(Arc<JwksKey>),
    UnknownKid,
    /// No usable key set (never loaded, or too stale); the message says why.
    Unavailable(String),
}

#[derive(Default)]
struct Cached {
    keys: Arc<HashMap<String, Arc<JwksKey>>>,
    loaded_at: Option<Instant>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    resolved_uri: Option<Url>,
}

pub struct Jwks {
    http: reqwest::Client,
    source: JwksSource,
    ttl: Duration,
    min_interval: Duration,
    state: RwLock<Cached>,
    refresh: tokio::sync::Mutex<()>,
}

/// HTTPS, or HTTP to localhost; no credentials in the URL.
pub fn check_url(url: &Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{url}: credentials in the URL are not allowed"));
    }
    let local = matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    );
    match url.scheme() {
        "https" => Ok(()),
        "http" if local => Ok(()),
        _ => Err(format!(
            "{url}: JWKS and OIDC discovery URLs must use https (http is allowed only for localhost and 127.0.0.1)"
        )),
    }
}

/// Parse and check a configured URL.
pub fn parse_url(raw: &str, what: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("{what} '{raw}' is not a URL: {e}"))?;
    check_url(&url).map_err(|e| format!("{what}: {e}"))?;
    Ok(url)
}

impl Jwks {
    pub fn new(
        source: JwksSource,
        ttl: Duration,
        min_interval: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            source,
            ttl: ttl.max(Duration::from_secs(1)),
            min_interval,
            state: RwLock::new(Cached::default()),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key for `kid`, refreshing the set when it is stale or does not know `kid`.
    pub async fn key(&self, kid: &str) -> KeyLookup {
        {
            let c = self.read();
            if let (Some(key), Some(at)) = (c.keys.get(kid), c.loaded_at)
                && at.elapsed() < self.ttl
            {
                return KeyLookup::Found(key.clone());
            }
        }
        self.refresh().await;
        let c = self.read();
        let Some(loaded_at) = c.loaded_at else {
            return KeyLookup::Unavailable(format!(
                "the JWKS has not been loaded yet: {}",
                c.last_error.as_deref().unwrap_or("no fetch has completed")
            ));
        };
        // Stale keys are used while refreshes fail, but not beyond twice the TTL.
        if loaded_at.elapsed() >= self.ttl.saturating_mul(2) {
            return KeyLookup::Unavailable(format!(
                "the JWKS is stale and cannot be refreshed: {}",
                c.last_error.as_deref().unwrap_or("unknown error")
            ));
        }
        match c.keys.get(kid) {
            Some(key) => KeyLookup::Found(key.clone()),
            None => KeyLookup::UnknownKid,
        }
    }

    /// Fetch the key set unless a fetch was attempted less than the minimum interval ago.
    /// Concurrent callers wait for one fetch.
    pub async fn refresh(&self) {
        let _one = self.refresh.lock().await;
        if self
            .read()
            .last_attempt
            .is_some_and(|t| t.elapsed() < self.min_interval)
        {
            return;
        }
        self.write().last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "loaded the JWKS");
                let mut c = self.write();
                c.keys = Arc::new(keys);
                c.loaded_at = Some(Instant::now());
                c.last_error = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot load the JWKS; JWT bearer tokens are refused until it loads");
                self.write().last_error = Some(e);
            }
        }
    }

    async fn jwks_uri(&self) -> Result<Url, String> {
        match &self.source {
            JwksSource::Uri(url) => Ok(url.clone()),
            JwksSource::Discovery { issuer } => {
                if let Some(url) = self.read().resolved_uri.clone() {
                    return Ok(url);
                }
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let url = parse_url(&discovery, "OIDC discovery URL")?;
                let doc = self.get_json(&url).await?;
                if let Some(found) = doc.get("issuer").and_then(Value::as_str)
                    && found.trim_end_matches('/') != issuer.trim_end_matches('/')
                {
                    return Err(format!(
                        "OIDC discovery at {url} names issuer '{found}', not '{issuer}'"
                    ));
                }
                let raw = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("OIDC discovery at {url} has no jwks_uri"))?;
                let jwks = parse_url(raw, "jwks_uri from OIDC discovery")?;
                self.write().resolved_uri = Some(jwks.clone());
                Ok(jwks)
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<JwksKey>>, String> {
        let url = self.jwks_uri().await?;
        let doc = self.get_json(&url).await?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("{url}: not a JWK set (no `keys` array)"))?;
        let mut out = HashMap::new();
        for jwk in keys {
            match parse_jwk(jwk) {
                Ok(Some((kid, key))) => {
                    out.insert(kid, Arc::new(key));
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping a JWK"),
            }
        }
        Ok(out)
    }

    async fn get_json(&self, url: &Url) -> Result<Value, String> {
        let mut resp = self
            .http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", root_cause(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!(
                "GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes"
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {}", root_cause(&e)))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "GET {url}: document larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {url}: invalid JSON: {e}"))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    if std::ptr::eq(cur, e) {
        e.to_string()
    } else {
        format!("{e}: {cur}")
    }
}

/// A signing key of the set, or `None` for keys that are not for signatures or not supported
/// (HMAC, EdDSA, P-521, encryption keys).
fn parse_jwk(jwk: &Value) -> Result<Option<(String, JwksKey)>, String> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let Some(kid) = field("kid") else {
        return Err("a JWK without `kid` cannot be selected and is ignored".into());
    };
    let declared = match field("alg") {
        None => None,
        Some("RS256") => Some(Algorithm::RS256),
        Some("RS384") => Some(Algorithm::RS384),
        Some("RS512") => Some(Algorithm::RS512),
        Some("ES256") => Some(Algorithm::ES256),
        Some("ES384") => Some(Algorithm::ES384),
        Some(_) => return Ok(None),
    };
    let (key, family) = match field("kty") {
        Some("RSA") => {
            let (Some(n), Some(e)) = (field("n"), field("e")) else {
                return Err(format!("RSA JWK '{kid}' lacks n or e"));
            };
            let key = DecodingKey::from_rsa_components(n, e)
                .map_err(|e| format!("RSA JWK '{kid}': {e}"))?;
            (
                key,
                vec![Algorithm::RS256, Algorithm::RS384, Algorithm::RS512],
            )
        }
        Some("EC") => {
            let family = match field("crv") {
                Some("P-256") => vec![Algorithm::ES256],
                Some("P-384") => vec![Algorithm::ES384],
                _ => return Ok(None),
            };
            let (Some(x), Some(y)) = (field("x"), field("y")) else {
                return Err(format!("EC JWK '{kid}' lacks x or y"));
            };
            let key = DecodingKey::from_ec_components(x, y)
                .map_err(|e| format!("EC JWK '{kid}': {e}"))?;
            (key, family)
        }
        _ => return Ok(None),
    };
    let algorithms = match declared {
        Some(alg) if family.contains(&alg) => vec![alg],
        Some(_) => return Err(format!("JWK '{kid}': `alg` does not match its key type")),
        None => family,
    };
    Ok(Some((kid.to_string(), JwksKey { key, algorithms })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_guard() {
        for ok in [
            "https://idp.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://localhost/jwks",
        ] {
            assert!(parse_url(ok, "x").is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com/jwks",
            "http://10.0.0.1/jwks",
            "ftp://localhost/x",
            "https://u:p@idp.example.com/",
            "not a url",
        ] {
            assert!(parse_url(bad, "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn unsupported_and_encryption_keys_are_skipped() {
        let hmac = serde_json::json!({"kty":"oct","kid":"h","k":"c2VjcmV0","alg":"HS256"});
        assert!(parse_jwk(&hmac).unwrap().is_none());
        let enc = serde_json::json!({"kty":"RSA","kid":"e","use":"enc","n":"AQAB","e":"AQAB"});
        assert!(parse_jwk(&enc).unwrap().is_none());
        let no_kid = serde_json::json!({"kty":"RSA","n":"AQAB","e":"AQAB"});
        assert!(parse_jwk(&no_kid).is_err());
    }
}
