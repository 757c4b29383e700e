//! Black-box tests of WASM middleware modules: a real `smg --enable-wasm` process, real
//! components built from the WAT fixtures in `tests/src/wasm/`, and simulated workers, driven
//! over HTTP (raw, to pin the wire) and through the SDK.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use smg_sdk::{MiddlewareAttachPoint, WasmModuleDescriptor};
use smg_tests::harness::{GatewayProcess, eventually};
use smg_tests::mock::{Fault, MockConfig, MockFleet};
use smg_tests::wasm;

const WAIT: Duration = Duration::from_secs(20);

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn wasm_gateway() -> GatewayProcess {
    GatewayProcess::start(&["--enable-wasm"]).await
}

fn descriptor(name: &str, path: &str, points: &[&str]) -> Value {
    let points: Vec<Value> = points.iter().map(|p| json!({"Middleware": p})).collect();
    json!({"name": name, "file_path": path, "module_type": "Middleware", "attach_points": points})
}

/// POST the JSON form; returns the status and the answer.
async fn post_json(gw: &GatewayProcess, modules: Vec<Value>) -> (StatusCode, Value) {
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .json(&json!({"modules": modules}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Upload bytes through the SDK and return the UUID.
async fn upload(
    gw: &GatewayProcess,
    bytes: Vec<u8>,
    name: &str,
    points: &[MiddlewareAttachPoint],
) -> String {
    let added = gw
        .client()
        .wasm()
        .upload(bytes, name, points)
        .await
        .unwrap();
    assert!(added.all_succeeded(), "{added:?}");
    added.modules[0].uuid().unwrap().to_string()
}

async fn list(gw: &GatewayProcess) -> Value {
    let response = http().get(format!("{}/wasm", gw.url)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn delete(gw: &GatewayProcess, uuid: &str) -> (StatusCode, String, String) {
    let response = http()
        .delete(format!("{}/wasm/{uuid}", gw.url))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// Assert decision D1's error body and header.
async fn assert_d1(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["x-smg-error-code"], code);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["type"].is_string(), "{body}");
    body
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn is_rfc3339_nanos(raw: &Value) -> bool {
    let s = raw.as_str().unwrap_or_default();
    // 2024-01-15T12:00:00.000000000Z
    s.len() == 30 && s.ends_with('Z') && s.as_bytes()[19] == b'.' && chrono_ok(s)
}

fn chrono_ok(s: &str) -> bool {
    s[..4].parse::<u32>().is_ok() && s[20..29].chars().all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn disabled_gateway_answers_503_with_a_hint() {
    let gw = GatewayProcess::start(&[]).await;
    for request in [
        http().get(format!("{}/wasm", gw.url)),
        http()
            .post(format!("{}/wasm", gw.url))
            .json(&json!({"modules": []})),
        http().delete(format!(
            "{}/wasm/01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b",
            gw.url
        )),
    ] {
        let body = assert_d1(
            request.send().await.unwrap(),
            StatusCode::SERVICE_UNAVAILABLE,
            "WASM_DISABLED",
        )
        .await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--enable-wasm"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn lifecycle_over_json_and_multipart_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = wasm_gateway().await;
    let pass = wasm::pass_through();
    let pass_path = wasm::write(dir.path(), "pass.wasm", &pass);

    // JSON form: the descriptor comes back with its UUID.
    let (status, body) = post_json(
        &gw,
        vec![descriptor(
            "audit",
            &pass_path,
            &["OnRequest", "OnResponse"],
        )],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let uuid = body["modules"][0]["add_result"]["Success"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(uuid::Uuid::parse_str(&uuid).unwrap().get_version_num(), 7);
    let mut echoed = body["modules"][0].clone();
    echoed.as_object_mut().unwrap().remove("add_result");
    assert_eq!(
        echoed,
        descriptor("audit", &pass_path, &["OnRequest", "OnResponse"])
    );

    // Multipart form, through the SDK (upload://<name>.wasm)...
    let headers = wasm::add_header();
    let sdk_uuid = upload(
        &gw,
        headers.clone(),
        "headers",
        &[MiddlewareAttachPoint::OnResponse],
    )
    .await;
    // ...and raw, with a comma list of attach points and the name taken from the file name.
    let rewrite = wasm::rewrite_body();
    let form = reqwest::multipart::Form::new()
        .text("attach_points", "on-response")
        .part(
            "file",
            reqwest::multipart::Part::bytes(rewrite.clone()).file_name("rewriter.wasm"),
        );
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["modules"][0]["name"], "rewriter");
    assert_eq!(body["modules"][0]["file_path"], "upload://rewriter.wasm");
    assert_eq!(
        body["modules"][0]["attach_points"],
        json!([{"Middleware": "OnResponse"}])
    );
    let raw_uuid = body["modules"][0]["add_result"]["Success"]
        .as_str()
        .unwrap()
        .to_string();

    // GET: every module with upstream's metadata, oldest first, and zeroed metrics.
    let listed = list(&gw).await;
    let modules = listed["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 3, "{listed}");
    let meta = &modules[0]["module_meta"];
    assert_eq!(modules[0]["module_uuid"], uuid.as_str());
    assert_eq!(meta["name"], "audit");
    assert_eq!(meta["file_path"], pass_path.as_str());
    assert_eq!(meta["sha256_hash"], sha256(&pass));
    assert_eq!(meta["size_bytes"], pass.len());
    assert_eq!(meta["access_count"], 0);
    assert!(is_rfc3339_nanos(&meta["created_at"]), "{meta}");
    assert!(is_rfc3339_nanos(&meta["last_accessed_at"]), "{meta}");
    assert_eq!(
        meta["attach_points"],
        json!([{"Middleware": "OnRequest"}, {"Middleware": "OnResponse"}])
    );
    assert_eq!(modules[1]["module_uuid"], sdk_uuid.as_str());
    assert_eq!(
        modules[1]["module_meta"]["file_path"],
        "upload://headers.wasm"
    );
    assert_eq!(modules[1]["module_meta"]["sha256_hash"], sha256(&headers));
    assert_eq!(modules[2]["module_uuid"], raw_uuid.as_str());
    assert_eq!(
        listed["metrics"],
        json!({"total_executions": 0, "successful_executions": 0, "failed_executions": 0,
               "total_execution_time_ms": 0, "max_execution_time_ms": 0})
    );
    // The SDK reads the same document.
    let typed = gw.client().wasm().list().await.unwrap();
    assert_eq!(typed.modules.len(), 3);

    // Restart: modules (bytes and descriptors) come back from the store, recompiled.
    std::fs::remove_file(&pass_path).unwrap();
    gw.restart().await;
    let after = list(&gw).await;
    let ids: Vec<&str> = after["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module_uuid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [uuid.as_str(), sdk_uuid.as_str(), raw_uuid.as_str()]);
    assert_eq!(
        after["modules"][0]["module_meta"]["sha256_hash"],
        sha256(&pass)
    );

    // DELETE: plain text answers.
    let (status, content_type, text) = delete(&gw, &uuid).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "Module removed successfully")
    );
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let (status, content_type, text) = delete(&gw, &uuid).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert_eq!(text, format!("Module with UUID {uuid} not found"));
    let (status, _, text) = delete(&gw, "not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("Invalid module UUID 'not-a-uuid'"), "{text}");
    // Through the SDK.
    assert_eq!(
        gw.client().wasm().remove(&sdk_uuid).await.unwrap(),
        "Module removed successfully"
    );
    let err = gw.client().wasm().remove(&sdk_uuid).await.unwrap_err();
    assert_eq!(err.status(), Some(400));

    // Removals are durable too.
    gw.restart().await;
    let after = list(&gw).await;
    assert_eq!(after["modules"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["modules"][0]["module_uuid"], raw_uuid.as_str());
}

#[tokio::test]
async fn every_validation_failure_is_reported_per_module() {
    let dir = tempfile::tempdir().unwrap();
    let gw = GatewayProcess::start(&["--enable-wasm", "--max-wasm-upload-bytes", "200000"]).await;
    let good = wasm::write(dir.path(), "good.wasm", &wasm::pass_through());
    let empty = wasm::write(dir.path(), "empty.wasm", b"");
    let core = wasm::write(dir.path(), "core.wasm", &wasm::core_module());
    let garbage = wasm::write(dir.path(), "garbage.wasm", b"definitely not wasm");
    let wrong_ext = wasm::write(dir.path(), "module.bin", &wasm::pass_through());
    let missing = dir.path().join("missing.wasm");
    let dotdot = format!(
        "{}/../{}/good.wasm",
        dir.path().display(),
        dir.path().file_name().unwrap().to_str().unwrap()
    );
    let link = dir.path().join("etc-link.wasm");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let big = wasm::write(dir.path(), "big.wasm", &vec![0u8; 200_001]);

    // One good module in the batch: it is registered, the rest fail, the answer is 400.
    let cases: Vec<(Value, &str)> = vec![
        (descriptor("good", &good, &["OnRequest"]), ""),
        (
            descriptor("", &good, &["OnRequest"]),
            "name must not be empty",
        ),
        (
            descriptor("rel", "relative/module.wasm", &["OnRequest"]),
            "absolute path",
        ),
        (descriptor("dots", &dotdot, &["OnRequest"]), "'..'"),
        (descriptor("ext", &wrong_ext, &["OnRequest"]), ".wasm"),
        (
            descriptor("etc", "/etc/smg/module.wasm", &["OnRequest"]),
            "/etc/",
        ),
        (
            descriptor("link", link.to_str().unwrap(), &["OnRequest"]),
            "after resolving symlinks",
        ),
        (
            descriptor("missing", missing.to_str().unwrap(), &["OnRequest"]),
            "file not found",
        ),
        (descriptor("empty", &empty, &["OnRequest"]), "file is empty"),
        (
            descriptor("core", &core, &["OnRequest"]),
            "wasm-tools component new",
        ),
        (
            descriptor("garbage", &garbage, &["OnRequest"]),
            "not WebAssembly",
        ),
        (
            descriptor("dup", &good, &["OnRequest"]),
            "module with same sha256 already exists",
        ),
        (
            descriptor("no-points", &good, &[]),
            "needs at least one attach point",
        ),
        (
            descriptor("big", &big, &["OnRequest"]),
            "200001 bytes, over the 200000-byte limit (--max-wasm-upload-bytes)",
        ),
    ];
    let (status, body) = post_json(&gw, cases.iter().map(|(d, _)| d.clone()).collect()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let results = body["modules"].as_array().unwrap();
    assert_eq!(results.len(), cases.len());
    assert!(results[0]["add_result"]["Success"].is_string(), "{body}");
    for ((_, needle), result) in cases.iter().zip(results).skip(1) {
        let error = result["add_result"]["Error"]
            .as_str()
            .unwrap_or_else(|| panic!("{result}"));
        assert!(error.contains(needle), "{needle}: {error}");
    }
    assert_eq!(list(&gw).await["modules"].as_array().unwrap().len(), 1);

    // A module lacking the export of an attach point: OnError needs middleware-on-error.
    let salted = wasm::write(
        dir.path(),
        "salted.wasm",
        &wasm::salted(wasm::pass_through(), "1"),
    );
    let (status, body) = post_json(
        &gw,
        vec![descriptor("no-error-export", &salted, &["OnError"])],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error = body["modules"][0]["add_result"]["Error"].as_str().unwrap();
    assert!(error.contains("smg:gateway/middleware-on-error"), "{error}");
    // An OnError-only module cannot be attached OnRequest either.
    let on_error = wasm::write(dir.path(), "on-error.wasm", &wasm::on_error());
    let (status, body) = post_json(&gw, vec![descriptor("e", &on_error, &["OnRequest"])]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["modules"][0]["add_result"]["Error"]
            .as_str()
            .unwrap()
            .contains("middleware-on-request")
    );

    // Uploads: the same checks on the bytes.
    let added = gw
        .client()
        .wasm()
        .upload(
            wasm::core_module(),
            "core",
            &[MiddlewareAttachPoint::OnRequest],
        )
        .await
        .unwrap();
    assert!(
        added.modules[0]
            .error()
            .unwrap()
            .contains("not a component"),
        "{added:?}"
    );
    let added = gw
        .client()
        .wasm()
        .upload(
            wasm::pass_through(),
            "dup",
            &[MiddlewareAttachPoint::OnRequest],
        )
        .await
        .unwrap();
    assert!(
        added.modules[0].error().unwrap().contains("already exists"),
        "{added:?}"
    );

    // An empty list of attach points registers nothing: the module would never run.
    let added = gw
        .client()
        .wasm()
        .upload(wasm::salted(wasm::trap(), "no-points"), "no-points", &[])
        .await
        .unwrap();
    assert!(
        added.modules[0]
            .error()
            .unwrap()
            .contains("needs at least one attach point"),
        "{added:?}"
    );
    let blank_points = reqwest::multipart::Form::new()
        .text("attach_points", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(wasm::trap()).file_name("t.wasm"),
        );
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(blank_points)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["modules"][0]["add_result"]["Error"]
            .as_str()
            .unwrap()
            .contains("needs at least one attach point"),
        "{body}"
    );

    // Form errors are D1 errors.
    let no_file = reqwest::multipart::Form::new().text("attach_points", "on-request");
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(no_file)
        .send()
        .await
        .unwrap();
    assert_d1(response, StatusCode::BAD_REQUEST, "MISSING_FILE").await;
    let no_points = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(wasm::trap()).file_name("t.wasm"),
    );
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(no_points)
        .send()
        .await
        .unwrap();
    assert_d1(response, StatusCode::BAD_REQUEST, "MISSING_ATTACH_POINTS").await;
    let bad_points = reqwest::multipart::Form::new()
        .text("attach_points", "on-request,on-lunch")
        .part(
            "file",
            reqwest::multipart::Part::bytes(wasm::trap()).file_name("t.wasm"),
        );
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(bad_points)
        .send()
        .await
        .unwrap();
    let body = assert_d1(response, StatusCode::BAD_REQUEST, "INVALID_ATTACH_POINTS").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("on-lunch")
    );
    // Over --max-wasm-upload-bytes: 413.
    let big = reqwest::multipart::Form::new()
        .text("attach_points", "on-request")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8; 300_000]).file_name("big.wasm"),
        );
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .multipart(big)
        .send()
        .await
        .unwrap();
    assert_d1(response, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    let err = gw
        .client()
        .wasm()
        .upload(
            vec![0u8; 300_000],
            "big",
            &[MiddlewareAttachPoint::OnRequest],
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(413));

    // JSON errors are D1 errors.
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_d1(response, StatusCode::BAD_REQUEST, "BAD_REQUEST").await;
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .json(&json!({"modules": [{"name": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_d1(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
    )
    .await;
    let response = http()
        .post(format!("{}/wasm", gw.url))
        .json(&json!({"modules": [descriptor("x", &good, &["OnLunch"])]}))
        .send()
        .await
        .unwrap();
    assert_d1(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "UNPROCESSABLE_ENTITY",
    )
    .await;

    // Still exactly one module.
    assert_eq!(list(&gw).await["modules"].as_array().unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Effects on proxied requests

/// A gateway with WASM on and one ready simulated worker.
async fn serving_gateway(extra: &[&str]) -> (GatewayProcess, MockFleet) {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let mut args = vec!["--enable-wasm"];
    args.extend_from_slice(extra);
    let gw = GatewayProcess::start(&args).await;
    let response = http()
        .post(format!("{}/workers", gw.url))
        .json(&json!({"url": fleet.urls()[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let created: Value = response.json().await.unwrap();
    gw.client()
        .workers()
        .wait_for_worker(created["worker_id"].as_str().unwrap(), WAIT)
        .await
        .unwrap();
    (gw, fleet)
}

async fn chat(gw: &GatewayProcess) -> reqwest::Response {
    http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"model": smg_tests::mock::DEFAULT_MODEL,
                      "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_module_changes_proxied_requests() {
    let (gw, fleet) = serving_gateway(&[]).await;
    let client = gw.client();

    // No modules: the worker's answer as is.
    let response = chat(&gw).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-wasm-module").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");

    // Header adder on the response.
    let headers = upload(
        &gw,
        wasm::add_header(),
        "headers",
        &[
            MiddlewareAttachPoint::OnRequest,
            MiddlewareAttachPoint::OnResponse,
        ],
    )
    .await;
    let response = chat(&gw).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-wasm-module"], "add-header");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    client.wasm().remove(&headers).await.unwrap();

    // Body rewriter on the response.
    let rewriter = upload(
        &gw,
        wasm::rewrite_body(),
        "rewriter",
        &[MiddlewareAttachPoint::OnResponse],
    )
    .await;
    let response = chat(&gw).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["content-length"], "18");
    assert_eq!(response.text().await.unwrap(), r#"{"rewritten":true}"#);
    client.wasm().remove(&rewriter).await.unwrap();

    // Rejecter: 403 before routing, the worker never sees the request.
    let before = fleet.workers()[0].stats();
    let rejecter = upload(
        &gw,
        wasm::reject(),
        "rejecter",
        &[MiddlewareAttachPoint::OnRequest],
    )
    .await;
    let body = assert_d1(
        chat(&gw).await,
        StatusCode::FORBIDDEN,
        "WASM_MODULE_REJECTED",
    )
    .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rejecter"),
        "{body}"
    );
    assert_eq!(
        fleet.workers()[0].stats().requests_total,
        before.requests_total
    );
    // Only serving routes run modules: the control plane and public routes are untouched.
    assert_eq!(
        http()
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        http()
            .get(format!("{}/workers", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    client.wasm().remove(&rejecter).await.unwrap();
    assert_eq!(chat(&gw).await.status(), StatusCode::OK);

    // OnError: the worker drops connections; the module replaces the gateway's error.
    let on_error = upload(
        &gw,
        wasm::on_error(),
        "fallback",
        &[MiddlewareAttachPoint::OnError],
    )
    .await;
    assert_eq!(
        chat(&gw).await.status(),
        StatusCode::OK,
        "OnError does not touch successes"
    );
    fleet.workers()[0].set_fault(Fault {
        drop_connections: true,
        ..Fault::default()
    });
    let response = chat(&gw).await;
    assert_eq!(response.headers()["x-wasm-on-error"], "handled");
    let body = assert_d1(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;
    assert_eq!(
        body["error"]["message"],
        "The model is briefly unavailable, please retry"
    );
    fleet.workers()[0].set_fault(Fault::default());

    // Metrics: per module and gateway-wide.
    let listed = list(&gw).await;
    let module = listed["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module_uuid"] == on_error.as_str())
        .unwrap();
    assert_eq!(module["module_meta"]["access_count"], 1, "{module}");
    assert_eq!(module["metrics"]["failed_executions"], 0, "{module}");
    // headers ran on one request and its response, rewriter, rejecter and fallback once each
    // (OnError modules do not run on successes).
    assert_eq!(
        listed["metrics"]["total_executions"],
        2 + 1 + 1 + 1,
        "{listed}"
    );
    assert_eq!(listed["metrics"]["failed_executions"], 0, "{listed}");
}

/// Set the simulated worker's injected inference status (`None` clears it).
async fn worker_status(fleet: &MockFleet, status: Option<u16>) {
    let response = http()
        .post(format!("{}/_mock/fault", fleet.urls()[0]))
        .json(&json!({ "status": status }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
}

#[tokio::test]
async fn on_error_runs_on_failed_proxied_requests_only() {
    // A hub that accepts connections and never answers keeps a tokenizer loading, so
    // /v1/tokenize answers the gateway's own 503.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (gw, fleet) =
        serving_gateway(&["--hf-endpoint", &endpoint, "--hf-hub-timeout-secs", "600"]).await;
    let fallback = upload(
        &gw,
        wasm::on_error(),
        "fallback",
        &[MiddlewareAttachPoint::OnError],
    )
    .await;

    // The worker answers 503: the module replaces the answer.
    worker_status(&fleet, Some(503)).await;
    let response = chat(&gw).await;
    assert_eq!(response.headers()["x-wasm-on-error"], "handled");
    assert_d1(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;
    worker_status(&fleet, None).await;

    // No worker serves the model: a failed proxied request too.
    let response = http()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&json!({"model": "no-such-model",
                      "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-wasm-on-error"], "handled");
    assert_d1(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        "UPSTREAM_UNAVAILABLE",
    )
    .await;

    // The gateway's own errors on serving routes are not proxied failures.
    let added = http()
        .post(format!("{}/v1/tokenizers", gw.url))
        .json(&json!({"name": "loading", "source": "some-org/some-model"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), StatusCode::ACCEPTED);
    for (prompt, status, code) in [
        (
            "loading",
            StatusCode::SERVICE_UNAVAILABLE,
            "TOKENIZER_NOT_READY",
        ),
        ("unknown", StatusCode::BAD_REQUEST, "TOKENIZER_NOT_FOUND"),
    ] {
        let response = http()
            .post(format!("{}/v1/tokenize", gw.url))
            .json(&json!({"model": prompt, "prompt": "hello"}))
            .send()
            .await
            .unwrap();
        assert!(response.headers().get("x-wasm-on-error").is_none());
        assert_d1(response, status, code).await;
    }

    let listed = list(&gw).await;
    let module = &listed["modules"][0];
    assert_eq!(module["module_uuid"], fallback.as_str());
    assert_eq!(module["module_meta"]["access_count"], 2, "{listed}");
    hold.abort();
}

#[tokio::test]
async fn wasi_importing_modules_run_on_proxied_requests() {
    let (gw, _fleet) = serving_gateway(&[]).await;
    upload(
        &gw,
        wasm::wasi_clock_random(),
        "wasi",
        &[MiddlewareAttachPoint::OnResponse],
    )
    .await;
    let mut randoms = Vec::new();
    for _ in 0..2 {
        let response = chat(&gw).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-wasi-clock"], "sane");
        let random = response.headers()["x-wasi-random"].to_str().unwrap();
        assert!(
            random.len() == 16 && random.chars().all(|c| c.is_ascii_hexdigit()),
            "{random}"
        );
        randoms.push(random.to_string());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
    }
    assert_ne!(randoms[0], randoms[1]);
    let listed = list(&gw).await;
    assert_eq!(listed["metrics"]["successful_executions"], 2, "{listed}");
}

#[tokio::test]
async fn metrics_count_executions() {
    let (gw, _fleet) = serving_gateway(&[]).await;
    let uuid = upload(
        &gw,
        wasm::pass_through(),
        "noop",
        &[MiddlewareAttachPoint::OnRequest],
    )
    .await;
    for _ in 0..5 {
        assert_eq!(chat(&gw).await.status(), StatusCode::OK);
    }
    let listed = list(&gw).await;
    let m = &listed["metrics"];
    assert_eq!(m["total_executions"], 5, "{listed}");
    assert_eq!(m["successful_executions"], 5);
    assert_eq!(m["failed_executions"], 0);
    assert!(m["average_execution_time_ms"].as_f64().unwrap() >= 0.0);
    let module = &listed["modules"][0];
    assert_eq!(module["module_uuid"], uuid.as_str());
    assert_eq!(module["module_meta"]["access_count"], 5);
    assert_eq!(module["metrics"]["total_executions"], 5);
    assert_ne!(
        module["module_meta"]["last_accessed_at"],
        module["module_meta"]["created_at"]
    );
}

#[tokio::test]
async fn runaway_modules_are_contained_and_the_gateway_keeps_serving() {
    let (gw, _fleet) = serving_gateway(&[]).await;
    for (bytes, name) in [
        (wasm::infinite_loop(), "loop"),
        (wasm::memory_bomb(), "bomb"),
        (wasm::trap(), "trap"),
    ] {
        upload(&gw, bytes, name, &[MiddlewareAttachPoint::OnRequest]).await;
    }

    // Every request pays the loop's 1 s limit, and still succeeds; concurrent requests run
    // side by side: one after another, eight would take 8 s at least.
    let started = Instant::now();
    let requests: Vec<_> = (0..8).map(|_| chat(&gw)).collect();
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");

    // Other routes answer while a module loops (for 1 s) on another request.
    let slow = tokio::spawn({
        let url = gw.url.clone();
        async move {
            http()
                .post(format!("{url}/v1/chat/completions"))
                .json(&json!({"model": smg_tests::mock::DEFAULT_MODEL,
                              "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        http()
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(
        !slow.is_finished(),
        "/health answered only after the looping request"
    );
    assert_eq!(slow.await.unwrap(), StatusCode::OK);

    let listed = eventually(WAIT, "nine requests counted", || {
        let gw = &gw;
        async move {
            let listed = list(gw).await;
            (listed["metrics"]["total_executions"] == 27).then_some(listed)
        }
    })
    .await;
    let m = &listed["metrics"];
    assert_eq!(m["failed_executions"], 27, "{listed}");
    assert_eq!(m["successful_executions"], 0, "{listed}");
    // The loop is stopped at its 1 s limit (never before), not left to run.
    let max = m["max_execution_time_ms"].as_u64().unwrap();
    assert!((990..5000).contains(&max), "{listed}");
    for module in listed["modules"].as_array().unwrap() {
        assert_eq!(module["metrics"]["failed_executions"], 9, "{module}");
    }
    let logs = gw.logs();
    assert!(logs.contains("timed out after"), "{logs}");
    assert!(logs.contains("memory limit"), "{logs}");
    assert!(logs.contains("unreachable"), "{logs}");
}

#[tokio::test]
async fn modules_keep_working_after_restart() {
    let (mut gw, _fleet) = serving_gateway(&[]).await;
    upload(
        &gw,
        wasm::rewrite_body(),
        "rewriter",
        &[MiddlewareAttachPoint::OnResponse],
    )
    .await;
    assert_eq!(
        chat(&gw).await.text().await.unwrap(),
        r#"{"rewritten":true}"#
    );
    gw.restart().await;
    eventually(WAIT, "the worker is routable again", || {
        let gw = &gw;
        async move {
            let response = chat(gw).await;
            (response.status() == StatusCode::OK).then_some(())
        }
    })
    .await;
    assert_eq!(
        chat(&gw).await.text().await.unwrap(),
        r#"{"rewritten":true}"#
    );
}

#[tokio::test]
async fn sdk_add_by_path_reports_each_result() {
    let dir = tempfile::tempdir().unwrap();
    let gw = wasm_gateway().await;
    let good = wasm::write(dir.path(), "ok.wasm", &wasm::trap());
    let added = gw
        .client()
        .wasm()
        .add(vec![
            WasmModuleDescriptor::new("ok", &good, [MiddlewareAttachPoint::OnRequest]),
            WasmModuleDescriptor::new("bad", "/nope/x.wasm", [MiddlewareAttachPoint::OnRequest]),
        ])
        .await
        .unwrap();
    assert!(!added.all_succeeded());
    assert!(added.modules[0].uuid().is_some());
    assert!(added.modules[1].error().unwrap().contains("not found"));
    assert_eq!(added.failures().count(), 1);
}
