//! The client tells this project's gateway from an upstream SMG, reads loads in both shapes,
//! and turns answers that mean "not offered here" into [`Error::Unsupported`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::{Value, json};
use smg_sdk::{
    Client, Error, GatewayIdentity, GatewayKind, LoadsShape, RouteKind, UnsupportedKind, WorkerType,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> Client {
    Client::builder(server.uri())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .build()
        .unwrap()
}

fn snapshot(version: &str) -> Value {
    json!({"timestamp": "2026-12-04T23:27:09Z", "version": version, "dp_rank_count": 2,
        "loads": [
            {"worker": "http://w1:8000", "worker_type": "regular", "dp_rank": 0, "num_running_reqs": 2,
             "num_waiting_reqs": 1, "num_total_reqs": 3, "num_used_tokens": 100,
             "max_total_num_tokens": 1000, "token_usage": 0.1},
            {"worker": "http://w1:8000", "worker_type": "regular", "dp_rank": 1, "num_running_reqs": 1,
             "num_total_reqs": 1, "num_used_tokens": 50, "max_total_num_tokens": 1000}],
        "aggregate": {"total_running_reqs": 3, "total_waiting_reqs": 1, "total_reqs": 4,
            "avg_token_usage": 0.075, "avg_throughput": 0.0, "avg_utilization": 0.0}})
}

fn unknown_url(route: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"error": {"type": "invalid_request_error",
        "code": "unknown_url", "message": format!("Invalid URL (GET {route})"), "param": null}}))
}

/// Upstream 1.13 as far as these tests need it: `/loads` and `/get_loads` in the snapshot
/// shape, `unknown_url` for routes it lacks, an empty 500 on `/wasm`.
async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    for route in ["/loads", "/get_loads"] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(snapshot("smg-1.13.0")))
            .mount(&server)
            .await;
    }
    for route in ["/admin/api-keys", "/admin/whoami", "/parse/parsers"] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(unknown_url(route))
            .mount(&server)
            .await;
    }
    Mock::given(path("/wasm"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    server
}

async fn count(server: &MockServer, route: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == route)
        .count()
}

#[tokio::test]
async fn upstream_routes_it_lacks_are_reported_as_not_offered() {
    let server = upstream().await;
    let c = client(&server);
    let err = c.keys().list().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "upstream SMG 1.13.0 does not offer `/admin/api-keys`"
    );
    let u = err.unsupported().unwrap();
    assert_eq!(u.kind, UnsupportedKind::Route);
    assert_eq!(u.answer.code.as_deref(), Some("unknown_url"));
    assert_eq!(err.status(), Some(404), "the answer is kept");
    // The identity was probed once and is cached.
    let err = c.whoami().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "upstream SMG 1.13.0 does not offer `/admin/whoami`"
    );
    let err = c.parsers().await.unwrap_err();
    assert!(err.is_unsupported(), "{err:?}");
    assert_eq!(count(&server, "/loads").await, 1);
    assert_eq!(
        c.known_identity(),
        Some(GatewayIdentity {
            kind: GatewayKind::Upstream,
            version: Some("1.13.0".into())
        })
    );
}

#[tokio::test]
async fn wasm_on_upstream_without_enable_wasm() {
    let server = upstream().await;
    let err = client(&server).wasm().list().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "WASM is disabled on this gateway: start it with --enable-wasm"
    );
    assert_eq!(
        err.unsupported().map(|u| u.kind),
        Some(UnsupportedKind::WasmDisabled)
    );
    assert_eq!(err.status(), Some(500));
}

#[tokio::test]
async fn this_project_is_known_by_its_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/wasm"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("x-smg-version", "0.1.0")
                .set_body_json(
                    json!({"error": {"message": "WASM modules are disabled on this gateway",
                    "type": "service_unavailable", "code": "WASM_DISABLED"}}),
                ),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/loads"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-smg-version", "0.1.0")
                .set_body_json(json!({"error": {"message": "No route for /loads",
                    "type": "not_found", "code": "NOT_FOUND"}})),
        )
        .mount(&server)
        .await;
    let c = Client::builder(server.uri())
        .max_retries(0)
        .build()
        .unwrap();
    let err = c.wasm().list().await.unwrap_err();
    assert_eq!(
        err.unsupported().map(|u| u.kind),
        Some(UnsupportedKind::WasmDisabled)
    );
    assert_eq!(
        c.known_identity(),
        Some(GatewayIdentity::this_project("0.1.0"))
    );
    assert_eq!(
        c.identity().await.unwrap().to_string(),
        "smg-gateway 0.1.0 (this project)"
    );
    // A gateway of this project that predates `/loads`.
    let err = c.loads_snapshot(None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "smg-gateway 0.1.0 (this project) does not offer `/loads`"
    );
    // No probe was needed: every answer carried the header.
    assert_eq!(count(&server, "/loads").await, 1);
}

#[tokio::test]
async fn identity_probe_falls_back_and_fails_loudly_when_unreachable() {
    // An upstream older than `/loads` names itself in `/get_loads`.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(200).set_body_json(snapshot("smg-1.12.2")))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(
        c.identity().await.unwrap().to_string(),
        "upstream SMG 1.12.2"
    );
    // An unreachable gateway is an error, and nothing is cached.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder(format!("http://127.0.0.1:{port}"))
        .max_retries(0)
        .build()
        .unwrap();
    assert!(matches!(c.identity().await, Err(Error::Connect { .. })));
    assert_eq!(c.known_identity(), None);
}

#[tokio::test]
async fn missing_resources_are_not_missing_routes() {
    let server = upstream().await;
    Mock::given(method("GET"))
        .and(path("/workers/01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": "Worker 01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b not found", "code": "WORKER_NOT_FOUND"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models/nope"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": {
            "type": "invalid_request_error", "code": "model_not_found",
            "message": "No worker available for model 'nope'", "param": null}})))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .workers()
        .get("01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Api(_)) && err.is_not_found(),
        "{err:?}"
    );
    let err = c.model("nope").await.unwrap_err();
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(err.code(), Some("model_not_found"));
    assert_eq!(count(&server, "/loads").await, 0, "no probe for these");
}

#[tokio::test]
async fn loads_in_both_shapes() {
    let server = upstream().await;
    let c = client(&server);
    let fleet = c.loads().await.unwrap();
    assert_eq!(fleet.shape, LoadsShape::Snapshot);
    assert_eq!(fleet.workers.len(), 1);
    assert_eq!(fleet.workers[0].load, 150);
    assert_eq!(fleet.workers[0].worker_type, Some(WorkerType::Regular));
    assert_eq!(fleet.aggregate.total_reqs, 4);
    // The body named the gateway.
    assert!(c.known_identity().is_some_and(|i| i.is_upstream()));

    let ours = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-smg-version", "0.1.0")
                .set_body_json(json!({"workers": [
                    {"worker": "http://a:1", "load": 10, "details": {"timestamp": "t",
                     "dp_rank_count": 1, "loads": [{"dp_rank": 0, "num_running_reqs": 4,
                     "num_used_tokens": 10, "max_total_num_tokens": 100}]}},
                    {"worker": "http://b:1", "load": -1}]})),
        )
        .mount(&ours)
        .await;
    let c = client(&ours);
    let fleet = c.loads().await.unwrap();
    assert_eq!(fleet.shape, LoadsShape::Workers);
    assert_eq!(fleet.workers.len(), 2);
    assert!(!fleet.workers[1].reported());
    assert_eq!(fleet.aggregate.total_running_reqs, 4);
    assert_eq!(
        c.known_identity().map(|i| i.kind),
        Some(GatewayKind::ThisProject)
    );
}

#[tokio::test]
async fn loads_snapshot_is_public_and_filters_by_model() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/loads"))
        .and(query_param("model", "m/x"))
        .respond_with(ResponseTemplate::new(200).set_body_json(snapshot("smg-1.13.0")))
        .mount(&server)
        .await;
    let c = Client::builder(server.uri())
        .admin_token("admin-tok")
        .build()
        .unwrap();
    let s = c.loads_snapshot(Some("m/x")).await.unwrap();
    assert_eq!(s.loads.len(), 2);
    let reqs = server.received_requests().await.unwrap();
    assert!(
        reqs[0].headers.get("authorization").is_none(),
        "no credential on a public route"
    );
    assert_eq!(RouteKind::for_path("/loads"), RouteKind::Public);
}
