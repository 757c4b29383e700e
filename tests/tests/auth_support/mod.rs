//! Shared by the auth black-box tests: signing keys generated here (no key material is
//! committed), hand-built tokens, a JWKS/OIDC server on 127.0.0.1, and raw HTTP helpers.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};

pub const AUDIENCE: &str = "smg-control-plane";

/// A signing key and its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub encoding: EncodingKey,
    pub jwk: Value,
    /// The public key in the form an attacker would forge an HS256 token with.
    pub public_material: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(kid: &str) -> SigningKey {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = private.to_public_key();
    SigningKey {
        kid: kid.to_string(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64(&public.n().to_bytes_be()), "e": b64(&public.e().to_bytes_be()),
        }),
        public_material: public
            .to_public_key_pem(LineEnding::LF)
            .unwrap()
            .into_bytes(),
    }
}

/// RSA key A and B (generated once per test binary: 2048-bit generation is slow in debug).
pub fn rsa_a() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| rsa_key("rsa-a"))
}

pub fn rsa_b() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| rsa_key("rsa-b"))
}

/// An ES256 key; the JWK carries no `alg` (the gateway infers it from the curve).
pub fn ec_key(kid: &str) -> SigningKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let point = secret.public_key().to_encoded_point(false);
    SigningKey {
        kid: kid.to_string(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        jwk: json!({
            "kty": "EC", "kid": kid, "crv": "P-256", "use": "sig",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()),
        }),
        public_material: point.as_bytes().to_vec(),
    }
}

/// The same RSA key as `base` under another `kid`, for `alg` (`RS384`, `RS512`); the JWK
/// declares `alg` when `declare_alg`, else the gateway must infer the RSA family.
pub fn rsa_variant(base: &SigningKey, kid: &str, alg: Algorithm, declare_alg: bool) -> SigningKey {
    let mut jwk = base.jwk.clone();
    jwk["kid"] = json!(kid);
    match declare_alg {
        true => jwk["alg"] = json!(format!("{alg:?}")),
        false => {
            jwk.as_object_mut().unwrap().remove("alg");
        }
    }
    SigningKey {
        kid: kid.to_string(),
        alg,
        encoding: base.encoding.clone(),
        jwk,
        public_material: base.public_material.clone(),
    }
}

/// An ES384 (P-384) key, with `alg` declared in its JWK.
pub fn ec384_key(kid: &str) -> SigningKey {
    use ring::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    // Uncompressed point: 0x04 || X (48 bytes) || Y (48 bytes).
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!((point.len(), point[0]), (97, 4));
    SigningKey {
        kid: kid.to_string(),
        alg: Algorithm::ES384,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC", "kid": kid, "crv": "P-384", "use": "sig", "alg": "ES384",
            "x": b64(&point[1..49]), "y": b64(&point[49..]),
        }),
        public_material: point,
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Standard claims: `sub`, `iss`, `aud`, `exp` in an hour, and `roles`.
pub fn claims(issuer: &str, sub: &str, roles: &[&str]) -> Value {
    json!({"sub": sub, "name": format!("{sub} (test)"), "iss": issuer, "aud": AUDIENCE,
           "iat": now(), "exp": now() + 3600, "roles": roles})
}

pub fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Signed properly, but with no `kid` in the header.
pub fn sign_without_kid(key: &SigningKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(key.alg), claims, &key.encoding).unwrap()
}

/// `alg: none`, built by hand: no signature at all.
pub fn alg_none(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// HS256 signed with the RSA public key as the HMAC secret (the classic key-confusion forgery).
pub fn hs256_forged(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(&key.public_material),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// JWKS / OIDC server

#[derive(Clone)]
struct JwksState {
    jwks: Arc<Mutex<Value>>,
    up: Arc<Mutex<bool>>,
    hits: Arc<Mutex<usize>>,
    issuer: Arc<Mutex<String>>,
}

/// A JWKS and OIDC discovery server on 127.0.0.1 whose key set can be changed or taken down.
pub struct JwksServer {
    pub url: String,
    state: JwksState,
    task: tokio::task::JoinHandle<()>,
}

async fn jwks(State(s): State<JwksState>) -> Response {
    *s.hits.lock().unwrap() += 1;
    if !*s.up.lock().unwrap() {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    axum::Json(s.jwks.lock().unwrap().clone()).into_response()
}

async fn discovery(State(s): State<JwksState>) -> Response {
    if !*s.up.lock().unwrap() {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let issuer = s.issuer.lock().unwrap().clone();
    axum::Json(json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")})).into_response()
}

impl JwksServer {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = JwksState {
            jwks: Arc::new(Mutex::new(json!({"keys": []}))),
            up: Arc::new(Mutex::new(true)),
            hits: Arc::new(Mutex::new(0)),
            issuer: Arc::new(Mutex::new(url.clone())),
        };
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let server = Self { url, state, task };
        server.set_keys(keys);
        server
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// The issuer (this server's URL, for discovery).
    pub fn issuer(&self) -> String {
        self.url.clone()
    }

    pub fn set_keys(&self, keys: &[&SigningKey]) {
        let jwks: Vec<Value> = keys.iter().map(|k| k.jwk.clone()).collect();
        *self.state.jwks.lock().unwrap() = json!({ "keys": jwks });
    }

    pub fn set_up(&self, up: bool) {
        *self.state.up.lock().unwrap() = up;
    }

    pub fn hits(&self) -> usize {
        *self.state.hits.lock().unwrap()
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// How a test request authenticates.
#[derive(Debug, Clone)]
pub enum Cred {
    None,
    /// A raw `Authorization` header value.
    Header(String),
    Bearer(String),
}

pub async fn send(
    base: &str,
    method: &Method,
    path: &str,
    cred: &Cred,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut req = http().request(method.clone(), format!("{base}{path}"));
    match cred {
        Cred::None => {}
        Cred::Header(v) => req = req.header("authorization", v),
        Cred::Bearer(t) => req = req.bearer_auth(t),
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

/// The challenge of a control-plane 401.
pub const CONTROL_PLANE_CHALLENGE: &str = "Bearer realm=\"control-plane\"";
/// The challenge of a serving-route 401.
pub const SERVING_CHALLENGE: &str = "Bearer realm=\"serving\"";

/// Assert decision D1's body, status and code on a control-plane route (a 401 must carry
/// exactly the control-plane challenge); returns the body.
pub async fn assert_d1(resp: reqwest::Response, status: u16, code: &str, what: &str) -> Value {
    assert_d1_challenge(resp, status, code, what, CONTROL_PLANE_CHALLENGE).await
}

/// [`assert_d1`] on a serving route.
pub async fn assert_d1_serving(
    resp: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> Value {
    assert_d1_challenge(resp, status, code, what, SERVING_CHALLENGE).await
}

async fn assert_d1_challenge(
    resp: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
    expected_challenge: &str,
) -> Value {
    let got = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert_eq!(headers["x-smg-error-code"], code, "{what}");
    assert!(
        body["error"]["type"].is_string() && body["error"]["message"].is_string(),
        "{what}: {body}"
    );
    if status == 401 {
        let challenge = headers
            .get("www-authenticate")
            .unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
        assert_eq!(challenge.to_str().unwrap(), expected_challenge, "{what}");
        assert_eq!(body["error"]["type"], "unauthorized", "{what}");
    }
    if status == 403 {
        assert_eq!(body["error"]["type"], "forbidden", "{what}");
    }
    body
}
