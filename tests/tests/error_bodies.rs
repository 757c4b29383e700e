//! Decision D1 from every layer: body limits (global, `/parse/*`, WASM upload), timeouts,
//! unknown routes, methods not allowed, malformed JSON, wrong content types and shapes, bad
//! paths and queries, auth refusals, and a worker's own errors (JSON passed through, anything
//! else wrapped with its status kept) all answer `{"error":{"message","type","code"}}` with
//! `X-SMG-Error-Code`; only the text bodies D1 lists are text. A real `smg` process and a
//! simulated worker, over raw HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{Fault, MockConfig, MockFleet};
use smg_tests::wasm;

const ADMIN: &str = "errors-admin-secret-0001";
const USER: &str = "errors-user-secret-0001";
const SERVING: &str = "errors-serving-secret-0001";
/// `--max-payload-size`: above the simulated worker's own 2 MiB limit, so a body between the
/// two reaches the worker and meets its plain-text 413.
const MAX_PAYLOAD: usize = 3 * 1024 * 1024;
const MAX_PARSE: usize = 1024;
/// `--max-wasm-upload-bytes`: room for the fixtures, small enough to exceed cheaply.
const MAX_WASM: usize = 256 * 1024;
const WORKER_LIMIT: usize = 2 * 1024 * 1024;
const NO_WORKER: &str = "0198c1f2-0000-7000-8000-000000000000";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Assert decision D1's body, header and status; returns the message.
async fn assert_d1(
    what: &str,
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> String {
    let got = response.status();
    let header = response
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string());
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?}, body {text:?}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text:?}"));
    let error = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no `error` object: {text}"));
    assert_eq!(
        error.len(),
        3,
        "{what}: exactly message, type, code: {text}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: empty message: {text}");
    assert!(
        error["type"].as_str().is_some_and(|t| !t.is_empty()),
        "{what}: {text}"
    );
    assert_eq!(error["code"], code, "{what}: {text}");
    assert_eq!(header.as_deref(), Some(code), "{what}: X-SMG-Error-Code");
    message.to_string()
}

struct Setup {
    gw: GatewayProcess,
    fleet: MockFleet,
}

async fn setup() -> Setup {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let worker = fleet.urls()[0].clone();
    let max_payload = MAX_PAYLOAD.to_string();
    let max_parse = MAX_PARSE.to_string();
    let max_wasm = MAX_WASM.to_string();
    let admin = format!("admin:ops:admin:{ADMIN}");
    let user = format!("viewer:viewer:user:{USER}");
    let gw = GatewayProcess::start(&[
        "--enable-wasm",
        "--worker-urls",
        &worker,
        "--max-payload-size",
        &max_payload,
        "--max-parse-body-bytes",
        &max_parse,
        "--max-wasm-upload-bytes",
        &max_wasm,
        "--request-timeout-secs",
        "1",
        "--disable-retries",
        "--disable-circuit-breaker",
        "--api-key",
        SERVING,
        "--control-plane-api-keys",
        &admin,
        "--control-plane-api-keys",
        &user,
    ])
    .await;
    let client = gw.admin_client(ADMIN);
    eventually(
        Duration::from_secs(20),
        "the worker to be ready",
        || async {
            let list = client.workers().list().await.ok()?;
            list.workers.iter().any(|w| w.is_healthy).then_some(())
        },
    )
    .await;
    Setup { gw, fleet }
}

fn admin(method: Method, url: String) -> reqwest::RequestBuilder {
    http().request(method, url).bearer_auth(ADMIN)
}

fn serving(method: Method, url: String) -> reqwest::RequestBuilder {
    http().request(method, url).bearer_auth(SERVING)
}

fn chat_body(size: usize) -> Vec<u8> {
    let filler = "x".repeat(size);
    serde_json::to_vec(&json!({
        "model": "mock-model",
        "messages": [{"role": "user", "content": filler}],
    }))
    .unwrap()
}

/// A body without `Content-Length` (chunked), so a limit must catch it while reading.
fn chunked(bytes: Vec<u8>) -> reqwest::Body {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn every_layer_answers_d1() {
    let Setup { gw, fleet } = setup().await;
    let u = |path: &str| format!("{}{path}", gw.url);

    // Routing: unknown routes (public, under a control-plane prefix), methods not allowed.
    let r = http().get(u("/no/such/route")).send().await.unwrap();
    assert_d1("unknown route", r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = admin(Method::GET, u(&format!("/workers/{NO_WORKER}/nope")))
        .send()
        .await
        .unwrap();
    assert_d1("unknown sub-route", r, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let r = http().delete(u("/health")).send().await.unwrap();
    assert_d1(
        "DELETE /health",
        r,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let r = admin(Method::PATCH, u("/workers")).send().await.unwrap();
    assert_d1(
        "PATCH /workers",
        r,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    let r = serving(Method::GET, u("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_d1(
        "GET chat",
        r,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // Auth refusals.
    let r = http().get(u("/workers")).send().await.unwrap();
    let challenge = r.headers().get("www-authenticate").cloned();
    assert_d1("no credential", r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(challenge.is_some(), "401 without WWW-Authenticate");
    let r = http()
        .post(u("/workers"))
        .bearer_auth(USER)
        .json(&json!({"url": "http://127.0.0.1:9"}))
        .send()
        .await
        .unwrap();
    let code = r
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_d1(
        "user role on an admin route",
        r,
        StatusCode::FORBIDDEN,
        &code,
    )
    .await;
    let r = http()
        .post(u("/v1/chat/completions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let code = r
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_d1("serving without a key", r, StatusCode::UNAUTHORIZED, &code).await;

    // Body extractors.
    let workers = u("/workers");
    let r = admin(Method::POST, workers.clone())
        .header("content-type", "application/json")
        .body("{\"url\":")
        .send()
        .await
        .unwrap();
    assert_d1("malformed JSON", r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = admin(Method::POST, workers.clone())
        .header("content-type", "text/plain")
        .body("{\"url\":\"http://127.0.0.1:9\"}")
        .send()
        .await
        .unwrap();
    assert_d1(
        "text/plain body",
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let r = admin(Method::POST, workers.clone())
        .body("{\"url\":\"http://127.0.0.1:9\"}")
        .send()
        .await
        .unwrap();
    assert_d1(
        "no content type",
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let r = admin(Method::POST, workers.clone())
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap();
    assert_d1(
        "wrong shape",
        r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
    )
    .await;
    let r = admin(Method::POST, u("/admin/api-keys"))
        .header("content-type", "application/json")
        .body("{\"id\": \"k\",")
        .send()
        .await
        .unwrap();
    assert_d1(
        "malformed key request",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    let r = admin(Method::POST, u("/parse/reasoning"))
        .header("content-type", "application/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_d1(
        "parse with XML",
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let r = serving(Method::POST, u("/v1/tokenize"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_d1(
        "malformed tokenize",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;

    // Paths and queries.
    let r = admin(Method::GET, u("/workers/%FF")).send().await.unwrap();
    assert_d1(
        "undecodable path",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    let r = admin(Method::GET, u("/workers/not-a-uuid"))
        .send()
        .await
        .unwrap();
    let code = r
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_d1("malformed worker id", r, StatusCode::BAD_REQUEST, &code).await;
    let r = admin(Method::GET, u("/admin/audit?limit=many"))
        .send()
        .await
        .unwrap();
    assert_d1("bad audit limit", r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = admin(Method::GET, u("/admin/audit?since=yesterday"))
        .send()
        .await
        .unwrap();
    assert_d1(
        "bad audit instant",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    let r = admin(
        Method::DELETE,
        u(&format!("/workers/{NO_WORKER}?force=maybe")),
    )
    .send()
    .await
    .unwrap();
    assert_d1("bad force flag", r, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let r = admin(
        Method::POST,
        u(&format!("/workers/{NO_WORKER}/retire?timeout_secs=-1")),
    )
    .send()
    .await
    .unwrap();
    assert_d1(
        "bad retire timeout",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;
    let r = admin(Method::GET, u("/v1/tokenizers/%FF%FE"))
        .send()
        .await
        .unwrap();
    assert_d1(
        "undecodable tokenizer id",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;

    // Body limits: global (declared and chunked), on a control-plane and a serving route.
    let too_big = chat_body(MAX_PAYLOAD + 1024);
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(too_big.clone())
        .send()
        .await
        .unwrap();
    assert_d1(
        "chat over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chunked(too_big.clone()))
        .send()
        .await
        .unwrap();
    assert_d1(
        "chunked chat over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = admin(Method::POST, u("/workers"))
        .header("content-type", "application/json")
        .body(too_big.clone())
        .send()
        .await
        .unwrap();
    assert_d1(
        "worker add over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = admin(Method::POST, u("/admin/api-keys"))
        .header("content-type", "application/json")
        .body(chunked(too_big.clone()))
        .send()
        .await
        .unwrap();
    assert_d1(
        "chunked key request over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = serving(Method::POST, u("/v1/tokenize"))
        .header("content-type", "application/json")
        .body(too_big.clone())
        .send()
        .await
        .unwrap();
    assert_d1(
        "tokenize over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    // A change without a body of its own is still read (bounded) for the audit log.
    let r = admin(Method::POST, u("/flush_cache"))
        .header("content-type", "application/json")
        .body(chunked(too_big.clone()))
        .send()
        .await
        .unwrap();
    assert_d1(
        "flush_cache with a body over the limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = http()
        .request(Method::OPTIONS, u("/workers"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_d1(
        "OPTIONS /workers",
        r,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // `/parse/*`'s own limit.
    let parse = json!({"text": "x".repeat(MAX_PARSE * 2), "reasoning_parser": "deepseek_r1"});
    let r = admin(Method::POST, u("/parse/reasoning"))
        .json(&parse)
        .send()
        .await
        .unwrap();
    assert_d1(
        "parse over its limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = admin(Method::POST, u("/parse/reasoning"))
        .header("content-type", "application/json")
        .body(chunked(serde_json::to_vec(&parse).unwrap()))
        .send()
        .await
        .unwrap();
    assert_d1(
        "chunked parse over its limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;

    // The WASM upload limit (multipart, declared and chunked) and malformed uploads.
    let boundary = "smg-errors-boundary";
    let mut form = Vec::new();
    form.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"attach_points\"\r\n\r\n[{{\"Middleware\":\"OnRequest\"}}]\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
        )
        .as_bytes(),
    );
    form.extend(std::iter::repeat_n(0u8, MAX_WASM * 2));
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let multipart = format!("multipart/form-data; boundary={boundary}");
    let r = admin(Method::POST, u("/wasm"))
        .header("content-type", &multipart)
        .body(form.clone())
        .send()
        .await
        .unwrap();
    assert_d1(
        "WASM upload over its limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = admin(Method::POST, u("/wasm"))
        .header("content-type", &multipart)
        .body(chunked(form))
        .send()
        .await
        .unwrap();
    assert_d1(
        "chunked WASM upload over its limit",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let r = admin(Method::POST, u("/wasm"))
        .header("content-type", "multipart/form-data")
        .body("no boundary")
        .send()
        .await
        .unwrap();
    let code = r
        .headers()
        .get("x-smg-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert_d1(
        "multipart without a boundary",
        r,
        StatusCode::BAD_REQUEST,
        &code,
    )
    .await;
    let r = admin(Method::POST, u("/wasm"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_d1(
        "malformed WASM JSON form",
        r,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    )
    .await;

    // A body under the gateway's limit goes to the worker; the worker's plain-text 413 comes
    // back as D1 with its status.
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body(WORKER_LIMIT + 64 * 1024))
        .send()
        .await
        .unwrap();
    let message = assert_d1(
        "the worker's plain 413",
        r,
        StatusCode::PAYLOAD_TOO_LARGE,
        "WORKER_ERROR",
    )
    .await;
    assert!(
        message.contains("length limit exceeded"),
        "the worker's text is quoted: {message}"
    );
    // A worker's JSON error passes through unchanged.
    let worker = &fleet.workers()[0];
    worker.set_fault(Fault {
        status: Some(400),
        ..Fault::default()
    });
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .json(&json!({"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 400, "the worker's own body: {body}");

    // The worker answering after `--request-timeout-secs`: 504.
    worker.set_fault(Fault {
        latency_ms: 2500,
        ..Fault::default()
    });
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .json(&json!({"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_d1(
        "a worker too slow",
        r,
        StatusCode::GATEWAY_TIMEOUT,
        "WORKER_TIMEOUT",
    )
    .await;
    worker.set_fault(Fault::default());

    // Reserved routes.
    let r = admin(Method::GET, u("/ha/status")).send().await.unwrap();
    assert_d1("/ha", r, StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED").await;

    // The text bodies D1 lists stay text.
    let r = admin(Method::DELETE, u(&format!("/wasm/{NO_WORKER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "DELETE /wasm/{{uuid}} answers text"
    );
    let r = http().get(u("/health")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "OK");

    // The WASM middleware (outermost on the serving routes, once a module is attached): its
    // own body limit (10 MiB, above --max-payload-size here) and a module's rejection.
    let files = tempfile::tempdir().unwrap();
    for (name, bytes) in [("pass", wasm::pass_through()), ("reject", wasm::reject())] {
        let path = files.path().join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        let r = admin(Method::POST, u("/wasm"))
            .json(&json!({"modules": [{
                "name": name,
                "file_path": path.display().to_string(),
                "module_type": "Middleware",
                "attach_points": [{"Middleware": "OnRequest"}],
            }]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
        if name == "pass" {
            let r = serving(Method::POST, u("/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(chunked(chat_body(11 * 1024 * 1024)))
                .send()
                .await
                .unwrap();
            assert_d1(
                "a body over the WASM middleware's limit",
                r,
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
            )
            .await;
        }
    }
    let r = serving(Method::POST, u("/v1/chat/completions"))
        .json(&json!({"model": "mock-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let status = r.status();
    assert_d1("a module's rejection", r, status, "WASM_MODULE_REJECTED").await;
}
