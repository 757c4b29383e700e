//! In-process tests of the runtime, the service and the middleware, with the real fixture
//! components from `smg_tests::wasm` and a small router standing in for the serving routes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request as HttpRequest, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use smg_sdk::{MiddlewareAttachPoint, WasmModuleDescriptor};
use smg_tests::wasm as fixtures;
use tower::ServiceExt;

use super::abi;
use super::runtime::{ExecError, Limits, WasmRuntime};
use super::service::{WasmService, upload_path};
use crate::proxy::UpstreamFailure;

use MiddlewareAttachPoint::{OnError, OnRequest, OnResponse};

fn request() -> abi::Request {
    abi::Request {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        query: "a=1".into(),
        headers: vec![abi::Header {
            name: "content-type".into(),
            value: "application/json".into(),
        }],
        body: b"{}".to_vec(),
        request_id: "chatcmpl-1".into(),
        now_epoch_ms: 1,
    }
}

async fn runtime_module(
    limits: Limits,
    bytes: &[u8],
    points: &[MiddlewareAttachPoint],
) -> (WasmRuntime, super::runtime::CompiledModule) {
    let runtime = WasmRuntime::new(limits).unwrap();
    let module = runtime.compile(bytes, points).unwrap();
    runtime.check(&module, points).await.unwrap();
    (runtime, module)
}

#[tokio::test]
async fn upstream_world_modules_run_and_answer() {
    let (runtime, module) = runtime_module(
        Limits::default(),
        &fixtures::pass_through(),
        &[OnRequest, OnResponse],
    )
    .await;
    assert_eq!(
        runtime.on_request(&module, &request()).await.unwrap(),
        abi::Action::Continue
    );
    let response = abi::Response {
        status: 200,
        headers: vec![],
        body: b"ok".to_vec(),
    };
    assert_eq!(
        runtime.on_response(&module, &response).await.unwrap(),
        abi::Action::Continue
    );
    // A module without the OnError export cannot run there.
    assert!(matches!(
        runtime
            .on_error(
                &module,
                &abi::ErrorInfo {
                    method: "GET".into(),
                    path: "/".into(),
                    query: String::new(),
                    request_id: String::new(),
                    now_epoch_ms: 0,
                    worker: String::new(),
                    message: String::new(),
                    status: 502,
                    headers: vec![],
                    body: vec![],
                }
            )
            .await,
        Err(ExecError::NoExport)
    ));

    let (runtime, module) =
        runtime_module(Limits::default(), &fixtures::add_header(), &[OnRequest]).await;
    let abi::Action::Modify(modify) = runtime.on_request(&module, &request()).await.unwrap() else {
        panic!("expected modify");
    };
    assert_eq!(
        modify.headers_add,
        [abi::Header {
            name: "x-wasm-audit".into(),
            value: "seen".into()
        }]
    );
    assert_eq!(modify.headers_remove, ["x-remove-me"]);
    assert_eq!(modify.status, None);
    assert_eq!(modify.body_replace, None);

    let (runtime, module) =
        runtime_module(Limits::default(), &fixtures::reject(), &[OnRequest]).await;
    assert_eq!(
        runtime.on_request(&module, &request()).await.unwrap(),
        abi::Action::Reject(403)
    );
}

/// A component importing WASI (as one built for wasm32-wasip2 does) links against the WASI
/// preview 2 host under the pooling limits, and the imports answer.
#[tokio::test]
async fn wasi_importing_modules_link_and_call_the_host() {
    let (runtime, module) = runtime_module(
        Limits::default(),
        &fixtures::wasi_clock_random(),
        &[OnRequest, OnResponse],
    )
    .await;
    let response = abi::Response {
        status: 200,
        headers: vec![],
        body: vec![],
    };
    let mut randoms = Vec::new();
    for _ in 0..2 {
        let abi::Action::Modify(modify) = runtime.on_response(&module, &response).await.unwrap()
        else {
            panic!("expected modify");
        };
        let [random, clock] = &modify.headers_set[..] else {
            panic!("{modify:?}");
        };
        assert_eq!(random.name, "x-wasi-random");
        assert_eq!(random.value.len(), 16, "{random:?}");
        assert!(random.value.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            (clock.name.as_str(), clock.value.as_str()),
            ("x-wasi-clock", "sane")
        );
        randoms.push(random.value.clone());
    }
    assert_ne!(randoms[0], randoms[1], "wasi:random answers fresh values");
    assert_eq!(
        runtime.on_request(&module, &request()).await.unwrap(),
        abi::Action::Continue
    );
}

#[tokio::test]
async fn loads_check_exports_and_kinds() {
    let runtime = WasmRuntime::new(Limits::default()).unwrap();
    let err = runtime
        .compile(&fixtures::core_module(), &[OnRequest])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("wasm-tools component new"),
        "{err}"
    );
    let err = runtime.compile(b"hello", &[OnRequest]).err().unwrap();
    assert!(err.to_string().contains("not WebAssembly"), "{err}");
    let err = runtime
        .compile(&fixtures::pass_through(), &[OnError])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("smg:gateway/middleware-on-error"),
        "{err}"
    );
    let err = runtime
        .compile(&fixtures::on_error(), &[OnResponse])
        .err()
        .unwrap();
    assert!(err.to_string().contains("middleware-on-response"), "{err}");
    assert!(runtime.compile(&fixtures::on_error(), &[OnError]).is_ok());
    // A salted copy is the same component.
    assert!(
        runtime
            .compile(
                &fixtures::salted(fixtures::pass_through(), "x"),
                &[OnRequest]
            )
            .is_ok()
    );
}

#[tokio::test]
async fn runaway_calls_fail_within_limits() {
    let limits = Limits {
        time: Duration::from_millis(200),
        ..Limits::default()
    };
    let (runtime, module) = runtime_module(limits, &fixtures::infinite_loop(), &[OnRequest]).await;
    let started = Instant::now();
    let result = runtime.on_request(&module, &request()).await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(ExecError::Timeout(_))), "{result:?}");
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    // Contained: stopped near its limit, not left to run (a loaded CI machine adds latency).
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    let (runtime, module) =
        runtime_module(Limits::default(), &fixtures::memory_bomb(), &[OnRequest]).await;
    let result = runtime.on_request(&module, &request()).await;
    assert!(
        matches!(result, Err(ExecError::OutOfMemory(64))),
        "{result:?}"
    );

    let (runtime, module) =
        runtime_module(Limits::default(), &fixtures::trap(), &[OnRequest]).await;
    match runtime.on_request(&module, &request()).await {
        Err(ExecError::Trap(message)) => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    // The runtime is still fine afterwards.
    let (runtime, module) =
        runtime_module(Limits::default(), &fixtures::pass_through(), &[OnRequest]).await;
    assert!(runtime.on_request(&module, &request()).await.is_ok());
}

#[tokio::test]
async fn a_looping_module_does_not_block_other_tasks() {
    let limits = Limits {
        time: Duration::from_millis(1000),
        ..Limits::default()
    };
    let (runtime, module) = runtime_module(limits, &fixtures::infinite_loop(), &[OnRequest]).await;
    let runtime = Arc::new(runtime);
    let module = Arc::new(module);
    let looping = tokio::spawn({
        let (runtime, module) = (runtime.clone(), module.clone());
        async move { runtime.on_request(&module, &request()).await }
    });
    // On this current-thread runtime the timer can only fire while the loop is still running
    // if the loop yields; without yielding, it would fire after the call timed out.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        !looping.is_finished(),
        "the timer fired only after the looping call ended"
    );
    assert!(matches!(looping.await.unwrap(), Err(ExecError::Timeout(_))));
}

// ---------------------------------------------------------------------------------------------
// The service and the middleware

struct Setup {
    wasm: Arc<WasmService>,
    _dir: tempfile::TempDir,
}

async fn service(
    limits: Limits,
    modules: Vec<(Vec<u8>, &str, Vec<MiddlewareAttachPoint>)>,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::open(&dir.path().join("smg.db"))
        .await
        .unwrap();
    let wasm = WasmService::start(store, limits).await.unwrap();
    for (bytes, name, points) in modules {
        let descriptor =
            WasmModuleDescriptor::new(name, upload_path(&format!("{name}.wasm")), points);
        let added = wasm.add_bytes(descriptor, bytes).await;
        assert!(added.uuid().is_some(), "{added:?}");
    }
    Setup { wasm, _dir: dir }
}

/// Echoes what reached the "serving route": headers and body.
async fn echo(headers: HeaderMap, body: Bytes) -> Response {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
        .collect();
    axum::Json(json!({"headers": headers, "body": String::from_utf8_lossy(&body)})).into_response()
}

async fn upstream_failed() -> Response {
    let mut response = crate::error::ApiError::new(
        StatusCode::BAD_GATEWAY,
        "bad_gateway",
        "WORKER_UNREACHABLE",
        "worker http://w failed: connection refused",
    )
    .into_response();
    response.extensions_mut().insert(UpstreamFailure {
        worker: Some("http://w".into()),
        message: "connection refused".into(),
    });
    response
}

fn app(wasm: &Arc<WasmService>) -> Router {
    let routes = Router::new()
        .route("/echo", post(echo))
        .route("/fail", post(upstream_failed))
        .route(
            "/boom",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response() }),
        )
        .route(
            "/sse",
            post(|| async {
                ([("content-type", "text/event-stream")], "data: x\n\n").into_response()
            }),
        );
    super::layer(routes, Some(wasm.clone()))
}

async fn send(
    app: &Router,
    path: &str,
    headers: &[(&str, &str)],
    body: &'static str,
) -> (StatusCode, HeaderMap, Bytes) {
    let mut request = HttpRequest::post(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body)
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn on_request_modify_rewrites_headers_and_body_in_order() {
    let setup = service(
        Limits::default(),
        vec![
            (
                fixtures::add_header(),
                "headers",
                vec![OnRequest, OnResponse],
            ),
            (fixtures::rewrite_request(), "rewrite", vec![OnRequest]),
        ],
    )
    .await;
    let app = app(&setup.wasm);
    let (status, headers, body) = send(
        &app,
        "/echo",
        &[("x-remove-me", "1"), ("content-length", "8")],
        "original",
    )
    .await;
    // The request's status cannot change (the module's 299 is ignored).
    assert_eq!(status, StatusCode::OK);
    let seen = json_of(&body);
    assert_eq!(seen["body"], r#"{"rewritten":"request"}"#);
    assert_eq!(seen["headers"]["x-wasm-audit"], "seen");
    assert_eq!(seen["headers"]["x-rewritten"], "yes");
    assert_eq!(seen["headers"]["content-length"], "23");
    assert!(seen["headers"].get("x-remove-me").is_none(), "{seen}");
    assert_eq!(headers["x-wasm-module"], "add-header");

    let metrics = setup.wasm.list().metrics;
    assert_eq!(metrics.total_executions, 3);
    assert_eq!(metrics.successful_executions, 3);
}

#[tokio::test]
async fn reject_short_circuits_with_a_d1_body() {
    let setup = service(
        Limits::default(),
        vec![
            (fixtures::reject(), "guard", vec![OnRequest]),
            (fixtures::add_header(), "headers", vec![OnRequest]),
        ],
    )
    .await;
    let (status, headers, body) = send(&app(&setup.wasm), "/echo", &[], "x").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-smg-error-code"], "WASM_MODULE_REJECTED");
    assert_eq!(json_of(&body)["error"]["type"], "forbidden");
    // The module after the rejecting one never ran.
    assert_eq!(setup.wasm.list().metrics.total_executions, 1);
}

#[tokio::test]
async fn on_response_skips_streams_and_rewrites_the_rest() {
    let setup = service(
        Limits::default(),
        vec![(fixtures::rewrite_body(), "rewriter", vec![OnResponse])],
    )
    .await;
    let app = app(&setup.wasm);
    let (status, headers, body) = send(&app, "/echo", &[], "x").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], br#"{"rewritten":true}"#);
    assert_eq!(headers["content-length"], "18");
    let (_, _, body) = send(&app, "/sse", &[], "x").await;
    assert_eq!(&body[..], b"data: x\n\n");
    // Error responses are responses too.
    let (status, _, body) = send(&app, "/boom", &[], "x").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(&body[..], br#"{"rewritten":true}"#);
    assert_eq!(setup.wasm.list().metrics.total_executions, 2);
}

#[tokio::test]
async fn on_error_replaces_failed_upstream_responses_only() {
    let setup = service(
        Limits::default(),
        vec![(fixtures::on_error(), "fallback", vec![OnError])],
    )
    .await;
    let app = app(&setup.wasm);
    let (status, _, body) = send(&app, "/echo", &[], "fine").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["body"], "fine");
    assert_eq!(setup.wasm.list().metrics.total_executions, 0);

    let (status, headers, body) = send(&app, "/fail", &[], "x").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["x-wasm-on-error"], "handled");
    assert_eq!(headers["x-smg-error-code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(json_of(&body)["error"]["code"], "UPSTREAM_UNAVAILABLE");
    assert_eq!(setup.wasm.list().metrics.successful_executions, 1);

    // The gateway's own 5xx (no UpstreamFailure marker) is not a failed proxied request.
    let (status, headers, body) = send(&app, "/boom", &[], "x").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(headers.get("x-wasm-on-error").is_none(), "{headers:?}");
    assert_eq!(&body[..], b"boom");
    assert_eq!(setup.wasm.list().metrics.total_executions, 1);
}

#[tokio::test]
async fn failing_modules_count_and_continue() {
    let limits = Limits {
        time: Duration::from_millis(150),
        ..Limits::default()
    };
    let setup = service(
        limits,
        vec![
            (fixtures::trap(), "trap", vec![OnRequest]),
            (fixtures::infinite_loop(), "loop", vec![OnRequest]),
            (fixtures::memory_bomb(), "bomb", vec![OnRequest]),
            (fixtures::add_header(), "headers", vec![OnRequest]),
        ],
    )
    .await;
    let (status, _, body) = send(&app(&setup.wasm), "/echo", &[], "payload").await;
    assert_eq!(status, StatusCode::OK);
    let seen = json_of(&body);
    assert_eq!(seen["body"], "payload");
    assert_eq!(
        seen["headers"]["x-wasm-audit"], "seen",
        "later modules still ran"
    );
    let list = setup.wasm.list();
    assert_eq!(list.metrics.total_executions, 4);
    assert_eq!(list.metrics.failed_executions, 3);
    assert_eq!(list.metrics.successful_executions, 1);
    assert!(
        list.metrics.max_execution_time_ms >= 140,
        "{:?}",
        list.metrics
    );
    let failed: Vec<u64> = list
        .modules
        .iter()
        .map(|m| m.metrics.as_ref().unwrap().failed_executions)
        .collect();
    assert_eq!(failed, [1, 1, 1, 0]);
}

#[tokio::test]
async fn request_bodies_over_the_limit_are_refused_only_when_a_module_needs_them() {
    let limits = Limits {
        body_bytes: 16,
        ..Limits::default()
    };
    let setup = service(
        limits.clone(),
        vec![(fixtures::pass_through(), "noop", vec![OnRequest])],
    )
    .await;
    let (status, headers, _) = send(&app(&setup.wasm), "/echo", &[], "0123456789abcdefXYZ").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(headers["x-smg-error-code"], "PAYLOAD_TOO_LARGE");

    // A response module only: large requests pass, large responses pass untouched.
    let setup = service(
        limits,
        vec![(fixtures::rewrite_body(), "rewriter", vec![OnResponse])],
    )
    .await;
    let (status, _, body) = send(&app(&setup.wasm), "/echo", &[], "0123456789abcdefXYZ").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["body"], "0123456789abcdefXYZ");
    assert_eq!(setup.wasm.list().metrics.total_executions, 0);
}

#[tokio::test]
async fn modules_survive_a_restart_and_bad_records_stop_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smg.db");
    let store = crate::store::open(&path).await.unwrap();
    let wasm = WasmService::start(store.clone(), Limits::default())
        .await
        .unwrap();
    let added = wasm
        .add_bytes(
            WasmModuleDescriptor::new("noop", upload_path("noop.wasm"), [OnRequest]),
            fixtures::pass_through(),
        )
        .await;
    let uuid = added.uuid().unwrap().to_string();
    drop(wasm);

    let again = WasmService::start(store.clone(), Limits::default())
        .await
        .unwrap();
    let list = again.list();
    assert_eq!(list.modules.len(), 1);
    assert_eq!(list.modules[0].module_uuid, uuid);
    assert_eq!(list.modules[0].module_meta.file_path, "upload://noop.wasm");
    // The restored module runs.
    let (status, _, _) = send(&app(&again), "/echo", &[], "x").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again.list().metrics.total_executions, 1);

    // Bytes that no longer match their hash: start-up fails loudly.
    store
        .put("wasm_module_bytes", &uuid, b"tampered".to_vec())
        .await
        .unwrap();
    let err = WasmService::start(store, Limits::default())
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains(&uuid), "{err}");
}

#[tokio::test]
async fn duplicates_and_removal() {
    let setup = service(Limits::default(), vec![]).await;
    let first = setup
        .wasm
        .add_bytes(
            WasmModuleDescriptor::new("a", upload_path("a.wasm"), [OnRequest]),
            fixtures::pass_through(),
        )
        .await;
    let uuid = first.uuid().unwrap().to_string();
    let second = setup
        .wasm
        .add_bytes(
            WasmModuleDescriptor::new("b", upload_path("b.wasm"), [OnRequest]),
            fixtures::pass_through(),
        )
        .await;
    assert!(second.error().unwrap().contains(&uuid), "{second:?}");
    let parsed = uuid::Uuid::parse_str(&uuid).unwrap();
    setup.wasm.remove(&parsed).await.unwrap();
    assert!(setup.wasm.list().modules.is_empty());
    let err = setup.wasm.remove(&parsed).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Module with UUID {uuid} not found")
    );
    // Once removed, the same bytes may be registered again.
    let third = setup
        .wasm
        .add_bytes(
            WasmModuleDescriptor::new("c", upload_path("c.wasm"), [OnRequest]),
            fixtures::pass_through(),
        )
        .await;
    assert!(third.uuid().is_some());
}
