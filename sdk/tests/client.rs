//! The client against a wiremock gateway: credentials, retries, timeouts, error mapping,
//! wait helpers and the worker watch.

// Helpers outside `#[test]` functions panic on purpose, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use smg_sdk::{
    Client, Error, JobState, Method, RouteKind, WorkerEvent, WorkerSpec, WorkerStatus,
    WorkerUpdateRequest,
};
use tokio::sync::Notify;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const WID: &str = "01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b";

/// A client with fast retries and polls.
fn client(server: &MockServer) -> Client {
    builder(server).build().unwrap()
}

fn builder(server: &MockServer) -> smg_sdk::ClientBuilder {
    Client::builder(server.uri())
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
        .poll_interval(Duration::from_millis(10))
        .request_timeout(Duration::from_secs(5))
}

fn worker(id: &str, status: &str) -> Value {
    json!({
        "id": id, "url": format!("http://{id}:8000"), "worker_type": "regular",
        "connection_mode": "http", "runtime_type": "sglang", "priority": 50, "cost": 1.0,
        "max_connection_attempts": 20, "is_healthy": status == "ready", "status": status, "load": 0
    })
}

fn pending_with_job(id: &str, job_status: &str, message: Option<&str>) -> Value {
    let mut w = worker(id, "pending");
    w["job_status"] = json!({
        "job_type": "AddWorker", "worker_url": format!("http://{id}:8000"),
        "status": job_status, "message": message, "timestamp": 1_754_600_000u64
    });
    w
}

fn list(workers: &[Value]) -> Value {
    json!({"workers": workers, "total": workers.len(),
           "stats": {"prefill_count": 0, "decode_count": 0, "regular_count": workers.len()}})
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

async fn count(server: &MockServer) -> usize {
    requests(server).await.len()
}

fn auth_of(req: &Request) -> Option<String> {
    req.headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn every_error_shape_over_http() {
    let server = MockServer::start().await;
    // (status, body, kind, code, message)
    type Case = (
        u16,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            404,
            r#"{"error":{"message":"Worker x not found","type":"not_found","code":"WORKER_NOT_FOUND"}}"#,
            Some("not_found"),
            Some("WORKER_NOT_FOUND"),
            "Worker x not found",
        ),
        (
            503,
            r#"{"error":{"type":"Service Unavailable","code":"no_workers","message":"No workers are available","param":null}}"#,
            Some("Service Unavailable"),
            Some("no_workers"),
            "No workers are available",
        ),
        (
            409,
            r#"{"error":"Worker already exists","code":"WORKER_ALREADY_EXISTS"}"#,
            None,
            Some("WORKER_ALREADY_EXISTS"),
            "Worker already exists",
        ),
        (
            404,
            r#"{"error":{"message":"Tokenizer not found","type":"not_found"}}"#,
            Some("not_found"),
            None,
            "Tokenizer not found",
        ),
        (
            409,
            r#"{"id":"","status":"failed","message":"already registered"}"#,
            None,
            None,
            "already registered",
        ),
        (
            404,
            r#"{"success":false,"message":"no such tokenizer"}"#,
            None,
            None,
            "no such tokenizer",
        ),
        (
            400,
            r#"{"error":"Unknown parser","success":false}"#,
            None,
            None,
            "Unknown parser",
        ),
        (
            400,
            r#"{"error":"Failed to read request body: x"}"#,
            None,
            None,
            "Failed to read request body: x",
        ),
        (
            415,
            "Expected request with `Content-Type: application/json`",
            None,
            None,
            "Expected request with `Content-Type: application/json`",
        ),
        (401, "", None, None, "Unauthorized"),
    ];
    let c = builder(&server).max_retries(0).build().unwrap();
    for (i, (status, body, kind, code, message)) in cases.iter().enumerate() {
        let p = format!("/case/{i}");
        Mock::given(method("GET"))
            .and(path(p.clone()))
            .respond_with(ResponseTemplate::new(*status).set_body_string(*body))
            .mount(&server)
            .await;
        let err = c
            .request_json::<Value>(Method::GET, &p, None, RouteKind::Admin)
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("case {i}: {err:?}"));
        assert_eq!(api.status, *status, "case {i}");
        assert_eq!(api.kind.as_deref(), *kind, "case {i}");
        assert_eq!(api.code.as_deref(), *code, "case {i}");
        assert_eq!(api.message, *message, "case {i}");
        assert_eq!(api.body, *body, "case {i}");
    }
}

#[tokio::test]
async fn header_code_request_id_and_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-smg-error-code", "RATE_LIMITED")
                .insert_header("x-request-id", "req-42")
                .insert_header("retry-after", "3")
                .set_body_json(json!({"error": {"message": "slow down", "type": "rate_limited"}})),
        )
        .mount(&server)
        .await;
    let err = client(&server).flush_cache().await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!(api.code.as_deref(), Some("RATE_LIMITED"));
    assert_eq!(api.request_id.as_deref(), Some("req-42"));
    assert_eq!(api.retry_after, Some(Duration::from_secs(3)));
    assert!(api.is_retryable() && err.is_retryable());
    let shown = err.to_string();
    for part in ["429", "RATE_LIMITED", "slow down", "req-42"] {
        assert!(shown.contains(part), "{part} missing from {shown}");
    }
}

#[tokio::test]
async fn decode_error_quotes_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy page</html>"))
        .mount(&server)
        .await;
    match client(&server).loads().await {
        Err(Error::Decode {
            url, body_snippet, ..
        }) => {
            assert!(url.ends_with("/get_loads"));
            assert!(body_snippet.contains("proxy page"));
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn per_request_timeout_is_timeout_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(&[]))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let c = builder(&server)
        .request_timeout(Duration::from_millis(100))
        .max_retries(0)
        .build()
        .unwrap();
    let err = c.workers().list().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn unreachable_gateway_is_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = Client::builder(format!("http://127.0.0.1:{port}"))
        .retry_backoff(Duration::from_millis(1), Duration::from_millis(2))
        .build()
        .unwrap();
    let err = c.health().await.unwrap_err();
    match &err {
        Error::Connect { url, .. } => assert!(url.contains(&port.to_string())),
        other => panic!("expected Connect, got {other:?}"),
    }
    assert!(err.to_string().contains("could not connect"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn get_retried_on_503_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[worker(WID, "ready")])))
        .mount(&server)
        .await;
    let workers = client(&server).workers().list().await.unwrap();
    assert_eq!(workers.total, 1);
    assert_eq!(count(&server).await, 3);
}

#[tokio::test]
async fn get_gives_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let err = builder(&server)
        .max_retries(3)
        .build()
        .unwrap()
        .loads()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(count(&server).await, 4);
}

#[tokio::test]
async fn non_retryable_status_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    assert!(client(&server).loads().await.is_err());
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn post_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let err = client(&server)
        .workers()
        .create(&WorkerSpec::new("http://w:8000"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn post_retried_when_opted_in() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "success", "message": "ok", "workers_flushed": 0, "total_http_workers": 0,
            "total_grpc_workers": 0, "total_zmq_workers_skipped": 0, "total_workers": 0})))
        .mount(&server)
        .await;
    let c = builder(&server).retry_post(true).build().unwrap();
    assert!(!c.flush_cache().await.unwrap().is_partial());
    assert_eq!(count(&server).await, 2);
}

#[tokio::test]
async fn patch_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let c = builder(&server).retry_post(true).build().unwrap();
    let err = c
        .workers()
        .update(WID, &WorkerUpdateRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "accepted", "worker_id": WID, "message": "Worker removal queued"})))
        .mount(&server)
        .await;
    // The computed backoff is at most 5 ms: a retry a second later can only come from
    // Retry-After.
    let c = builder(&server).build().unwrap();
    let started = std::time::Instant::now();
    let accepted = c.workers().delete(WID).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(accepted.worker_id, WID);
    assert_eq!(count(&server).await, 2);
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}, before the 1 s Retry-After"
    );
}

#[tokio::test]
async fn retry_after_replaces_a_long_backoff() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[])))
        .mount(&server)
        .await;
    // Full jitter on a one-hour backoff would almost never finish within the deadline below
    // (and is never zero-length by design of this test: the deadline is generous).
    let c = builder(&server)
        .retry_backoff(Duration::from_secs(3600), Duration::from_secs(3600))
        .build()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), c.workers().list())
        .await
        .expect("Retry-After: 0 should replace the hour-long backoff")
        .unwrap();
    assert_eq!(count(&server).await, 2);
}

/// The connect timeout only bounds connecting: an answer slower than it but within the
/// request timeout still arrives.
#[tokio::test]
async fn connect_timeout_does_not_cut_a_slow_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(&[]))
                .set_delay(Duration::from_millis(800)),
        )
        .mount(&server)
        .await;
    let c = builder(&server)
        .connect_timeout(Duration::from_millis(100))
        .request_timeout(Duration::from_secs(20))
        .max_retries(0)
        .build()
        .unwrap();
    assert_eq!(c.workers().list().await.unwrap().total, 0);
}

/// A loopback listener whose accept queue is full drops new connection attempts (SYNs), so
/// connecting hangs: the connect timeout ends it long before the request timeout would.
#[tokio::test]
async fn connect_timeout_ends_a_hanging_connect() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue (never accepted); each connects or times out quickly.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(stream);
        }
    }
    let c = Client::builder(format!("http://{addr}"))
        .connect_timeout(Duration::from_millis(300))
        .request_timeout(Duration::from_secs(60))
        .max_retries(0)
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = c.health().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, Error::Connect { .. } | Error::Timeout { .. }),
        "{err:?}"
    );
    // It hung until the connect timeout (0.3 s) ended it, not the 60 s request timeout.
    assert!(
        took >= Duration::from_millis(250),
        "not a hanging connect: {err:?}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    drop(fillers);
    drop(listener);
}

// ---------------------------------------------------------------------------------------------
// Credentials and routes

#[tokio::test]
async fn credentials_follow_route_kind() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/health"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "self_hosted"}]})))
        .mount(&server)
        .await;
    let c = builder(&server)
        .admin_token("admin-tok")
        .api_key("serve-key")
        .build()
        .unwrap();
    c.workers().list().await.unwrap();
    assert_eq!(c.health().await.unwrap(), "OK");
    assert_eq!(c.models().await.unwrap().data[0].id, "m");

    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 3);
    assert_eq!(auth_of(&reqs[0]).as_deref(), Some("Bearer admin-tok"));
    assert_eq!(auth_of(&reqs[1]), None, "no credential on /health");
    assert_eq!(auth_of(&reqs[2]).as_deref(), Some("Bearer serve-key"));
    for r in &reqs {
        let ua = r.headers.get("user-agent").unwrap().to_str().unwrap();
        assert!(ua.starts_with("smg-sdk/"), "{ua}");
    }
}

#[tokio::test]
async fn api_key_never_sent_on_admin_routes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"workers": []})))
        .mount(&server)
        .await;
    let c = builder(&server).api_key("serve-key").build().unwrap();
    assert!(c.loads().await.unwrap().workers.is_empty());
    assert_eq!(auth_of(&requests(&server).await[0]), None);
}

#[tokio::test]
async fn worker_routes_methods_and_bodies() {
    let server = MockServer::start().await;
    let accepted = json!({"status": "accepted", "worker_id": WID, "message": "queued"});
    Mock::given(method("POST"))
        .and(path("/workers"))
        .and(body_partial_json(
            json!({"url": "http://w:8000", "api_key": "wk"}),
        ))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "accepted", "worker_id": WID, "url": "http://w:8000",
            "location": format!("/workers/{WID}"), "message": "queued"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workers/{WID}")))
        .and(body_partial_json(json!({"priority": 7})))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/workers/{WID}")))
        .and(body_partial_json(json!({"url": "http://w:8000"})))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(query_param("model", "org/m x&y"))
        .and(header("authorization", "Bearer t"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[])))
        .expect(1)
        .mount(&server)
        .await;
    let c = builder(&server).admin_token("t").build().unwrap();
    let mut spec = WorkerSpec::new("http://w:8000");
    spec.api_key = Some("wk".into());
    let created = c.workers().create(&spec).await.unwrap();
    assert_eq!(created.location, format!("/workers/{WID}"));
    let update = WorkerUpdateRequest {
        priority: Some(7),
        ..Default::default()
    };
    c.workers().update(WID, &update).await.unwrap();
    c.workers().replace(WID, &spec).await.unwrap();
    c.workers().list_for_model("org/m x&y").await.unwrap();
    assert!(matches!(
        c.workers().get("").await,
        Err(Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn flush_206_is_partial_success() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(ResponseTemplate::new(206).set_body_json(json!({
            "status": "partial_success", "message": "Cache flush: 1 succeeded, 1 failed",
            "workers_flushed": 1, "total_http_workers": 2, "total_grpc_workers": 0,
            "total_zmq_workers_skipped": 0, "total_workers": 2, "successful": ["http://a:1"],
            "failed": [{"worker": "http://b:1", "error": "HTTP 500"}]})))
        .mount(&server)
        .await;
    let flushed = client(&server).flush_cache().await.unwrap();
    assert!(flushed.is_partial());
    assert_eq!(flushed.failures()[0].worker, "http://b:1");
}

#[tokio::test]
async fn readiness_503_is_not_ready_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/readiness"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "status": "not ready", "reason": "insufficient healthy workers"})))
        .mount(&server)
        .await;
    let r = client(&server).readiness().await.unwrap();
    assert!(!r.is_ready());
    assert_eq!(r.reason.as_deref(), Some("insufficient healthy workers"));
    assert_eq!(count(&server).await, 1);
}

#[tokio::test]
async fn readiness_ready_and_other_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/readiness"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "ready", "healthy_workers": 2, "total_workers": 2})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/readiness"))
        .respond_with(ResponseTemplate::new(503).set_body_string("No routers available"))
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(c.readiness().await.unwrap().is_ready());
    let err = c.readiness().await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.api().unwrap().message, "No routers available");
}

#[tokio::test]
async fn text_and_info_routes() {
    let server = MockServer::start().await;
    for (p, body) in [
        ("/liveness", "OK"),
        ("/health_generate", "generated"),
        (
            "/engine_metrics",
            "# TYPE x gauge\nx{worker_addr=\"a\"} 1\n",
        ),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&server)
            .await;
    }
    for p in ["/get_model_info", "/get_server_info"] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"path": p})))
            .mount(&server)
            .await;
    }
    let c = builder(&server)
        .admin_token("t")
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(c.liveness().await.unwrap(), "OK");
    assert_eq!(c.health_generate().await.unwrap(), "generated");
    assert!(c.engine_metrics().await.unwrap().contains("worker_addr"));
    assert_eq!(c.model_info().await.unwrap()["path"], "/get_model_info");
    assert_eq!(c.server_info().await.unwrap()["path"], "/get_server_info");
    assert!(requests(&server).await.iter().all(|r| auth_of(r).is_none()));
    assert_eq!(c.base_url().as_str(), format!("{}/", server.uri()));
}

// ---------------------------------------------------------------------------------------------
// Wait helpers

async fn mount_get_sequence(server: &MockServer, bodies: &[(u16, Value)], then: (u16, Value)) {
    for (status, body) in bodies {
        Mock::given(method("GET"))
            .and(path(format!("/workers/{WID}")))
            .respond_with(ResponseTemplate::new(*status).set_body_json(body.clone()))
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(then.0).set_body_json(then.1))
        .mount(server)
        .await;
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"error": format!("Worker {WID} not found"), "code": "WORKER_NOT_FOUND"}),
    )
}

#[tokio::test]
async fn wait_for_worker_ready_after_a_few_polls() {
    let server = MockServer::start().await;
    mount_get_sequence(
        &server,
        &[
            not_found(),
            (200, pending_with_job(WID, "pending", None)),
            (200, pending_with_job(WID, "processing", None)),
        ],
        (200, worker(WID, "ready")),
    )
    .await;
    let info = client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(info.status, Some(WorkerStatus::Ready));
    assert_eq!(count(&server).await, 4);
}

#[tokio::test]
async fn wait_for_worker_reports_job_failure() {
    let server = MockServer::start().await;
    let msg = "Workflow failed at step detect_connection_mode: unreachable";
    mount_get_sequence(
        &server,
        &[(200, pending_with_job(WID, "processing", None))],
        (200, pending_with_job(WID, "failed", Some(msg))),
    )
    .await;
    match client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_secs(5))
        .await
    {
        Err(Error::JobFailed { id, message }) => {
            assert_eq!(id, WID);
            assert_eq!(message, msg);
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_for_worker_status_failed_and_removed() {
    let server = MockServer::start().await;
    mount_get_sequence(&server, &[], (200, worker(WID, "failed"))).await;
    let err = client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::JobFailed { .. }), "{err:?}");

    let server = MockServer::start().await;
    mount_get_sequence(&server, &[(200, worker(WID, "pending"))], not_found()).await;
    match client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_secs(5))
        .await
    {
        Err(Error::JobFailed { message, .. }) => assert!(message.contains("removed"), "{message}"),
        other => panic!("expected JobFailed, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_for_worker_times_out_with_last_status() {
    let server = MockServer::start().await;
    mount_get_sequence(
        &server,
        &[],
        (200, pending_with_job(WID, "processing", None)),
    )
    .await;
    match client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_millis(150))
        .await
    {
        Err(Error::WaitTimeout {
            id,
            last_status,
            waited,
        }) => {
            assert_eq!(id, WID);
            assert_eq!(last_status, Some(WorkerStatus::Pending));
            assert!(waited >= Duration::from_millis(150), "{waited:?}");
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }

    // Never seen at all: keeps polling through 404s, then times out with no status.
    let server = MockServer::start().await;
    mount_get_sequence(&server, &[], not_found()).await;
    match client(&server)
        .workers()
        .wait_for_worker(WID, Duration::from_millis(100))
        .await
    {
        Err(Error::WaitTimeout { last_status, .. }) => assert_eq!(last_status, None),
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
    assert!(count(&server).await >= 2);
}

#[tokio::test]
async fn create_and_wait_then_delete_and_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "accepted", "worker_id": WID, "url": "http://w:8000",
            "location": format!("/workers/{WID}"), "message": "queued"})))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "accepted", "worker_id": WID, "message": "queued"})))
        .mount(&server)
        .await;
    mount_get_sequence(
        &server,
        &[
            (200, pending_with_job(WID, "processing", None)),
            (200, worker(WID, "ready")),
            (200, worker(WID, "draining")),
        ],
        not_found(),
    )
    .await;
    let c = client(&server);
    let workers = c.workers();
    let info = workers
        .create_and_wait(&WorkerSpec::new("http://w:8000"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(info.id, WID);
    let accepted = workers
        .delete_and_wait(WID, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(accepted.worker_id, WID);
    assert_eq!(accepted.message, "queued");
}

#[tokio::test]
async fn delete_and_wait_times_out_while_draining() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{WID}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "accepted", "worker_id": WID, "message": "queued"})))
        .mount(&server)
        .await;
    mount_get_sequence(&server, &[], (200, worker(WID, "draining"))).await;
    match client(&server)
        .workers()
        .delete_and_wait(WID, Duration::from_millis(100))
        .await
    {
        Err(Error::WaitTimeout { last_status, .. }) => {
            assert_eq!(last_status, Some(WorkerStatus::Draining));
        }
        other => panic!("expected WaitTimeout, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Watch

async fn mount_list_once(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .up_to_n_times(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn watch_yields_added_changed_removed() {
    let server = MockServer::start().await;
    let a = "a0000000-0000-7000-8000-000000000000";
    let b = "b0000000-0000-7000-8000-000000000000";
    let c_id = "c0000000-0000-7000-8000-000000000000";
    mount_list_once(
        &server,
        200,
        list(&[worker(a, "pending"), worker(b, "ready")]),
    )
    .await;
    // Unchanged poll: only the end-of-poll marker.
    mount_list_once(
        &server,
        200,
        list(&[worker(a, "pending"), worker(b, "ready")]),
    )
    .await;
    // A failed poll: one error (and no marker), then the watch goes on.
    mount_list_once(
        &server,
        500,
        json!({"error": "boom", "code": "INTERNAL_SERVER_ERROR"}),
    )
    .await;
    mount_list_once(
        &server,
        200,
        list(&[worker(a, "ready"), worker(c_id, "pending")]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(&[worker(a, "ready"), worker(c_id, "pending")])),
        )
        .mount(&server)
        .await;

    let c = client(&server);
    let events: Vec<_> = tokio::time::timeout(
        Duration::from_secs(10),
        c.watch_workers(Duration::from_millis(10))
            .take(9)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("watch should produce nine items quickly");

    let mut it = events.into_iter();
    assert!(matches!(it.next(), Some(Ok(WorkerEvent::Added(w))) if w.id == a));
    assert!(matches!(it.next(), Some(Ok(WorkerEvent::Added(w))) if w.id == b));
    assert!(matches!(
        it.next(),
        Some(Ok(WorkerEvent::Synced { total: 2 }))
    ));
    assert!(matches!(
        it.next(),
        Some(Ok(WorkerEvent::Synced { total: 2 }))
    ));
    match it.next() {
        Some(Err(e)) => assert_eq!(e.status(), Some(500)),
        other => panic!("expected an error item, got {other:?}"),
    }
    match it.next() {
        Some(Ok(WorkerEvent::Changed { old, new })) => {
            assert_eq!(old.id, a);
            assert_eq!(old.status, Some(WorkerStatus::Pending));
            assert_eq!(new.status, Some(WorkerStatus::Ready));
        }
        other => panic!("expected Changed, got {other:?}"),
    }
    assert!(matches!(it.next(), Some(Ok(WorkerEvent::Added(w))) if w.id == c_id));
    match it.next() {
        Some(Ok(ev @ WorkerEvent::Removed(_))) => assert_eq!(ev.id(), Some(b)),
        other => panic!("expected Removed, got {other:?}"),
    }
    match it.next() {
        Some(Ok(ev @ WorkerEvent::Synced { total: 2 })) => {
            assert!(ev.is_synced());
            assert_eq!(ev.id(), None);
            assert!(ev.worker().is_none());
        }
        other => panic!("expected Synced, got {other:?}"),
    }
    // Single-flight and no pile-up: only the polls needed for nine items were made.
    assert_eq!(count(&server).await, 4);
}

#[tokio::test]
async fn watch_syncs_an_empty_fleet() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[])))
        .mount(&server)
        .await;
    let c = client(&server);
    let mut stream = Box::pin(c.workers().watch(Duration::from_millis(10)));
    for _ in 0..2 {
        let item = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a marker per poll");
        assert!(
            matches!(item, Some(Ok(WorkerEvent::Synced { total: 0 }))),
            "{item:?}"
        );
    }
}

/// Next item within `secs`, or a panic naming `what`.
async fn next_within<S>(stream: &mut S, secs: u64, what: &str) -> smg_sdk::Result<WorkerEvent>
where
    S: futures::Stream<Item = smg_sdk::Result<WorkerEvent>> + Unpin,
{
    tokio::time::timeout(Duration::from_secs(secs), stream.next())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("the watch never ends")
}

#[tokio::test]
async fn watch_with_refresh_polls_on_demand() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(list(&[worker(WID, "ready")]))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let refresh = Arc::new(Notify::new());
    // An hour between polls: anything after the first one comes from the refresh handle.
    let mut stream = Box::pin(
        c.workers()
            .watch_with_refresh(Duration::from_secs(3600), refresh.clone()),
    );
    assert!(matches!(
        next_within(&mut stream, 5, "the first poll").await,
        Ok(WorkerEvent::Added(_))
    ));
    assert!(matches!(
        next_within(&mut stream, 5, "the first marker").await,
        Ok(WorkerEvent::Synced { total: 1 })
    ));
    assert_eq!(count(&server).await, 1);

    // Woken while waiting: polls now.
    refresh.notify_one();
    assert!(matches!(
        next_within(&mut stream, 5, "the refreshed poll").await,
        Ok(WorkerEvent::Synced { total: 1 })
    ));
    assert_eq!(count(&server).await, 2);

    // Woken while a poll is in flight: that poll is followed by another one at once.
    let next = tokio::spawn(async move {
        let first = next_within(&mut stream, 5, "the in-flight poll").await;
        let second = next_within(&mut stream, 5, "the kept refresh").await;
        (first, second)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    refresh.notify_one(); // starts the third poll (200 ms in flight)
    tokio::time::sleep(Duration::from_millis(100)).await;
    refresh.notify_one(); // kept until the third poll is done
    let (first, second) = next.await.unwrap();
    assert!(matches!(first, Ok(WorkerEvent::Synced { total: 1 })));
    assert!(matches!(second, Ok(WorkerEvent::Synced { total: 1 })));
    assert_eq!(count(&server).await, 4);
}

#[tokio::test]
async fn watch_refresh_cuts_a_failure_backoff_short() {
    let server = MockServer::start().await;
    mount_list_once(
        &server,
        500,
        json!({"error": "boom", "code": "INTERNAL_SERVER_ERROR"}),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(&[])))
        .mount(&server)
        .await;
    let c = client(&server);
    let refresh = Arc::new(Notify::new());
    let mut stream = Box::pin(
        c.workers()
            .watch_with_refresh(Duration::from_secs(3600), refresh.clone()),
    );
    assert!(
        next_within(&mut stream, 5, "the failed poll")
            .await
            .is_err()
    );
    refresh.notify_one();
    assert!(matches!(
        next_within(&mut stream, 5, "the poll after the refresh").await,
        Ok(WorkerEvent::Synced { total: 0 })
    ));
}

#[tokio::test]
async fn watch_reports_job_status_changes() {
    let server = MockServer::start().await;
    mount_list_once(
        &server,
        200,
        list(&[pending_with_job(WID, "processing", None)]),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(list(&[pending_with_job(
                WID,
                "failed",
                Some("x"),
            )])),
        )
        .mount(&server)
        .await;
    let c = client(&server);
    let mut stream = Box::pin(c.workers().watch(Duration::from_millis(10)));
    assert!(matches!(
        stream.next().await,
        Some(Ok(WorkerEvent::Added(_)))
    ));
    assert!(matches!(
        stream.next().await,
        Some(Ok(WorkerEvent::Synced { total: 1 }))
    ));
    match tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
    {
        Some(Ok(WorkerEvent::Changed { new, .. })) => {
            assert_eq!(new.job_status.unwrap().status, JobState::Failed);
        }
        other => panic!("expected Changed, got {other:?}"),
    }
}
