//! The router and `/openapi.json` agree: every route the gateway's router answers (path and
//! method) is documented, every documented operation is routed, and each operation's security
//! is the credential the route really asks for.
//!
//! axum cannot list a router's routes, so the paths are read from the router's `Debug` output
//! (its path table), and the methods of each path are found by asking the router itself: a
//! method it does not route answers the gateway's 405 fallback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request};
use clap::Parser;
use serde_json::Value;
use smg_gateway::{Gateway, GatewayConfig};
use tower::ServiceExt;

const ADMIN_KEY: &str = "admin-key-for-the-openapi-test";
const SERVING_KEY: &str = "serving-key-for-the-openapi-test";
/// Methods an OpenAPI path item can hold. HEAD is left out of the comparison: axum answers
/// it on every GET route, and the document lists it only where a route was made for it.
const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "patch", "trace"];

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    config: GatewayConfig,
}

async fn start(dir: &tempfile::TempDir) -> Gateway {
    let admin = format!("--control-plane-api-keys=ops:ops:admin:{ADMIN_KEY}");
    let serving = format!("--api-key={SERVING_KEY}");
    let flags = ["smg", "--port=0", "--prometheus-port=0", "--enable-wasm"];
    let mut config = Flags::try_parse_from(flags.iter().copied().chain([&*admin, &*serving]))
        .unwrap()
        .config;
    config.store = dir.path().join("openapi.db");
    Gateway::start(config).await.unwrap()
}

/// The route paths in the router's path table (not its fallbacks), with `{*rest}` written as
/// OpenAPI writes a parameter.
fn router_paths(router: &Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let table = debug
        .split_once("path_router:")
        .and_then(|(_, rest)| rest.split_once("fallback_router:"))
        .map(|(table, _)| table)
        .expect("axum's Router Debug output has a path_router and a fallback_router");
    let paths = table
        .split_once("paths: {")
        .map(|(_, rest)| rest)
        .expect("the path table lists its paths");
    let paths: BTreeSet<String> = paths
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|p| p.replace("{*", "{"))
        .collect();
    assert!(
        paths.len() > 30 && paths.iter().all(|p| p.starts_with('/')),
        "could not read the router's paths from its Debug output: {paths:?}"
    );
    paths
}

/// A concrete path for a templated one.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "probe" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(router: &Router, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = Request::builder()
        .method(Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap())
        .uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let code = response
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), code)
}

/// The credential a documented operation declares: `admin_bearer`, `serving_api_key`, or none.
fn security(op: &Value) -> Option<String> {
    let requirements = op.get("security")?.as_array()?;
    assert_eq!(requirements.len(), 1, "one credential per operation: {op}");
    requirements[0].as_object()?.keys().next().cloned()
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&dir).await;
    let (router, document) = smg_gateway::routes::router_and_document(gw.state.clone());
    let document = serde_json::to_value(&document).unwrap();
    let documented: BTreeMap<String, Value> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, item)| (p.clone(), item.clone()))
        .collect();

    let routed_paths = router_paths(&router);
    let documented_paths: BTreeSet<String> = documented.keys().cloned().collect();
    let undocumented: Vec<_> = routed_paths.difference(&documented_paths).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json (register them with `routes!(handler)` and a \
         #[utoipa::path]): {undocumented:?}"
    );
    let unrouted: Vec<_> = documented_paths.difference(&routed_paths).collect();
    assert!(
        unrouted.is_empty(),
        "documented paths the router lacks: {unrouted:?}"
    );

    let mut problems = Vec::new();
    for (path, item) in &documented {
        let uri = concrete(path);
        for method in METHODS {
            let (status, code) = call(&router, method, &uri, Some(ADMIN_KEY)).await;
            let routed = !(status == 405 && code == "METHOD_NOT_ALLOWED");
            match (routed, item.get(method)) {
                (true, None) => problems.push(format!(
                    "{} {path} is routed (answered {status}) but not documented",
                    method.to_uppercase()
                )),
                (false, Some(_)) => problems.push(format!(
                    "{} {path} is documented but not routed",
                    method.to_uppercase()
                )),
                _ => {}
            }
        }
        if item.get("head").is_some() {
            let (status, code) = call(&router, "head", &uri, Some(ADMIN_KEY)).await;
            if status == 405 && code == "METHOD_NOT_ALLOWED" {
                problems.push(format!("HEAD {path} is documented but not routed"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn each_operation_declares_the_credential_its_route_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&dir).await;
    let (router, document) = smg_gateway::routes::router_and_document(gw.state.clone());
    let document = serde_json::to_value(&document).unwrap();
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    assert!(schemes.contains_key("admin_bearer") && schemes.contains_key("serving_api_key"));

    let mut problems = Vec::new();
    let mut ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            if id.is_empty() || !ids.insert(id.clone()) {
                problems.push(format!(
                    "{method} {path}: operationId '{id}' is missing or repeated"
                ));
            }
            let answers = op["responses"].as_object().unwrap();
            // `/ha/*` is reserved (decision D4) and answers 501 until it is built.
            let reserved = op["tags"][0] == "ha";
            if !reserved && !answers.keys().any(|s| s.starts_with('2') || s == "default") {
                problems.push(format!("{method} {path} documents no success answer"));
            }
            let uri = concrete(path);
            let (anonymous, _) = call(&router, method, &uri, None).await;
            let declared = security(op);
            // The SDK picks the credential to send by path; it must pick the one declared. It
            // may send the serving key to a public route (upstream SMG asks for it on
            // `/v1/models`), never less than a route needs.
            let sdk_kind = smg_sdk::RouteKind::for_path(&uri);
            let wanted = match declared.as_deref() {
                None => smg_sdk::RouteKind::Public,
                Some("admin_bearer") => smg_sdk::RouteKind::Admin,
                _ => smg_sdk::RouteKind::Serving,
            };
            let extra_serving_key =
                wanted == smg_sdk::RouteKind::Public && sdk_kind == smg_sdk::RouteKind::Serving;
            if sdk_kind != wanted && !extra_serving_key {
                problems.push(format!(
                    "{method} {path}: the SDK's RouteKind::for_path says {sdk_kind:?}, the route asks for {wanted:?}"
                ));
            }
            let (token, expected) = match declared.as_deref() {
                None => (None, "no credential"),
                Some("admin_bearer") => (Some(ADMIN_KEY), "the admin token"),
                Some("serving_api_key") => (Some(SERVING_KEY), "the serving key"),
                Some(other) => panic!("unknown security scheme {other}"),
            };
            match (declared.is_some(), anonymous) {
                (true, 401) => {
                    let (with, _) = call(&router, method, &uri, token).await;
                    if with == 401 || with == 403 {
                        problems.push(format!(
                            "{method} {path} refuses {expected} ({with}), which it declares"
                        ));
                    }
                }
                (true, status) => problems.push(format!(
                    "{method} {path} declares a credential but answered {status} without one"
                )),
                (false, 401 | 403) => problems.push(format!(
                    "{method} {path} declares no credential but refused a request without one"
                )),
                (false, _) => {}
            }
            if anonymous == 401 && !answers.contains_key("401") {
                problems.push(format!(
                    "{method} {path} answers 401 but does not document it"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn the_gateway_serves_the_document_publicly() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(&dir).await;
    let (_, document) = smg_gateway::routes::router_and_document(gw.state.clone());
    let response = reqwest::get(format!("http://{}/openapi.json", gw.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, serde_json::to_value(&document).unwrap());
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
}
