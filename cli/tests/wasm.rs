//! `smgctl wasm add|list|remove` against a mock gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const U1: &str = "01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b";
const U2: &str = "01990d3f-77aa-7c01-8e3b-5d6e7f8091a2";

fn descriptor(name: &str, file_path: &str, points: &[&str], result: Value) -> Value {
    let points: Vec<Value> = points.iter().map(|p| json!({"Middleware": p})).collect();
    json!({"name": name, "file_path": file_path, "module_type": "Middleware",
           "attach_points": points, "add_result": result})
}

fn list_body() -> Value {
    json!({
        "modules": [
            {"module_uuid": U1, "module_meta": {
                "name": "audit", "file_path": "upload://audit.wasm",
                "sha256_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "size_bytes": 2048, "created_at": "2024-01-15T12:00:00.000000000Z",
                "last_accessed_at": "2024-01-15T12:05:00.000000000Z", "access_count": 42,
                "attach_points": [{"Middleware": "OnRequest"}, {"Middleware": "OnResponse"}]},
             "metrics": {"total_executions": 42, "successful_executions": 40,
                         "failed_executions": 2, "total_execution_time_ms": 125,
                         "max_execution_time_ms": 8, "average_execution_time_ms": 2.976}},
            {"module_uuid": U2, "module_meta": {
                "name": "fallback", "file_path": "/opt/wasm/fallback.wasm",
                "sha256_hash": "aa", "size_bytes": 300,
                "created_at": "2024-01-15T12:00:00.000000000Z",
                "last_accessed_at": "2024-01-15T12:00:00.000000000Z", "access_count": 0,
                "attach_points": [{"Middleware": "OnError"}]}}
        ],
        "metrics": {"total_executions": 42, "successful_executions": 40, "failed_executions": 2,
                    "total_execution_time_ms": 125, "max_execution_time_ms": 8,
                    "average_execution_time_ms": 2.976}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_uploads_the_file_by_default() {
    let gw = Gateway::start().await;
    let response = json!({"modules": [descriptor("audit", "upload://audit.wasm",
        &["OnRequest", "OnResponse"], json!({"Success": U1}))]});
    Mock::given(method("POST"))
        .and(path("/wasm"))
        .respond_with(ResponseTemplate::new(200).set_body_json(response.clone()))
        .mount(&gw.server)
        .await;
    let file = gw.home.path().join("audit.wasm");
    std::fs::write(&file, b"\0asm\x0d\0\x01\0component bytes").unwrap();

    let out = gw
        .run(&[
            "wasm",
            "add",
            file.to_str().unwrap(),
            "--attach",
            "on-request,on-response",
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("registered module 'audit' ({U1}) at on-request,on-response\n")
    );

    let requests = gw.requests().await;
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let content_type = post.headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    let body = String::from_utf8_lossy(&post.body);
    assert!(body.contains("name=\"name\"\r\n\r\naudit\r\n"), "{body}");
    assert!(
        body.contains(r#"[{"Middleware":"OnRequest"},{"Middleware":"OnResponse"}]"#),
        "{body}"
    );
    assert!(body.contains("filename=\"audit.wasm\""), "{body}");
    assert!(body.contains("component bytes"), "{body}");

    // -o json prints the gateway's answer; -o name the UUID.
    let out = gw
        .run(&[
            "wasm",
            "add",
            file.to_str().unwrap(),
            "--attach",
            "on-request",
            "--name",
            "x",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        response
    );
    let out = gw
        .run(&[
            "wasm",
            "add",
            file.to_str().unwrap(),
            "--attach",
            "OnRequest",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(stdout(&out), format!("{U1}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remote_path_sends_the_json_descriptor_and_reports_failures() {
    let gw = Gateway::start().await;
    let error = "module with same sha256 already exists";
    Mock::given(method("POST"))
        .and(path("/wasm"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"modules": [
            descriptor("guard", "/opt/wasm/guard.wasm", &["OnError"], json!({"Error": error}))
        ]})))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "wasm",
            "add",
            "/opt/wasm/guard.wasm",
            "--remote-path",
            "--name",
            "guard",
            "--attach",
            "on-error",
        ])
        .await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains(&format!("module 'guard' was not registered: {error}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        gw.bodies("POST", "/wasm").await,
        [
            json!({"modules": [{"name": "guard", "file_path": "/opt/wasm/guard.wasm",
                             "module_type": "Middleware",
                             "attach_points": [{"Middleware": "OnError"}]}]})
        ]
    );

    // A relative remote path, a missing --attach, an unknown attach point: usage errors.
    let out = gw
        .run(&[
            "wasm",
            "add",
            "guard.wasm",
            "--remote-path",
            "--attach",
            "on-error",
        ])
        .await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("absolute path"), "{}", stderr(&out));
    assert_code(&gw.run(&["wasm", "add", "/opt/a.wasm"]).await, 2);
    let out = gw
        .run(&["wasm", "add", "/opt/a.wasm", "--attach", "on-nothing"])
        .await;
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("unknown attach point"),
        "{}",
        stderr(&out)
    );
    assert_eq!(gw.count("POST", "/wasm").await, 1);

    // Repeated attach points are sent once each, in the order first given.
    let out = gw
        .run(&[
            "wasm",
            "add",
            "/opt/wasm/guard.wasm",
            "--remote-path",
            "--attach",
            "on-error,on-request,on-error",
            "--attach",
            "on-request",
        ])
        .await;
    assert_code(&out, 1);
    assert_eq!(
        gw.bodies("POST", "/wasm").await[1]["modules"][0]["attach_points"],
        json!([{"Middleware": "OnError"}, {"Middleware": "OnRequest"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_of_a_missing_local_file_fails_before_sending() {
    let gw = Gateway::start().await;
    let missing = gw.home.path().join("nope.wasm");
    let out = gw
        .run(&[
            "wasm",
            "add",
            missing.to_str().unwrap(),
            "--attach",
            "on-request",
        ])
        .await;
    assert_code(&out, 1);
    assert!(stderr(&out).contains("cannot read"), "{}", stderr(&out));
    assert_eq!(gw.requests().await.len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_table_json_and_names() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/wasm"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list_body()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["wasm", "list"]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("UUID"), "{text}");
    for column in [
        "NAME",
        "ATTACH",
        "EXECUTIONS",
        "FAILED",
        "AVG MS",
        "MAX MS",
        "SIZE",
        "AGE",
    ] {
        assert!(lines[0].contains(column), "{column}: {text}");
    }
    assert!(lines[1].starts_with(U1), "{text}");
    for cell in [
        "audit",
        "on-request,on-response",
        "42",
        "2.976",
        "8",
        "2.0 KiB",
    ] {
        assert!(lines[1].contains(cell), "{cell}: {text}");
    }
    assert!(
        lines[2].contains("fallback") && lines[2].contains("on-error"),
        "{text}"
    );
    assert!(
        text.contains("All modules: 42 executions, 40 succeeded, 2 failed, avg 2.976 ms, max 8 ms, total 125 ms"),
        "{text}"
    );

    let out = gw.run(&["wasm", "list", "-o", "wide"]).await;
    assert!(stdout(&out).contains("upload://audit.wasm"));
    assert!(stdout(&out).contains("SHA256"));

    let out = gw.run(&["wasm", "ls", "-o", "json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        list_body()
    );
    let out = gw.run(&["wasm", "list", "-o", "name"]).await;
    assert_eq!(stdout(&out), format!("{U1}\n{U2}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_when_wasm_is_disabled() {
    let gw = Gateway::start().await;
    let message = "WASM modules are disabled on this gateway: start it with `smg launch --enable-wasm` to register and run modules";
    Mock::given(method("GET"))
        .and(path("/wasm"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("x-smg-error-code", "WASM_DISABLED")
                .set_body_json(error_body(message, "service_unavailable", "WASM_DISABLED")),
        )
        .mount(&gw.server)
        .await;
    // Not offered (exit 7), with what to do about it.
    let out = gw.run(&["wasm", "list"]).await;
    assert_code(&out, 7);
    assert!(
        stderr(&out).contains("WASM is disabled on this gateway")
            && stderr(&out).contains("--enable-wasm"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_confirms_and_reports_text_answers() {
    let gw = Gateway::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/wasm/{U1}")))
        .respond_with(ResponseTemplate::new(200).set_body_string("Module removed successfully"))
        .mount(&gw.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/wasm/{U2}")))
        .respond_with(
            ResponseTemplate::new(400).set_body_string(format!("Module with UUID {U2} not found")),
        )
        .mount(&gw.server)
        .await;

    // Without a terminal, --yes is required.
    let out = gw.run(&["wasm", "remove", U1]).await;
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(gw.count("DELETE", &format!("/wasm/{U1}")).await, 0);

    let out = gw.run(&["wasm", "remove", U1, "--yes"]).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("Module removed successfully ({U1})\n")
    );

    let out = gw.run(&["wasm", "rm", "-y", U1, "-o", "json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"module_uuid": U1, "message": "Module removed successfully"})
    );

    let out = gw.run(&["wasm", "remove", U2, "--yes"]).await;
    assert_code(&out, 1);
    assert!(
        stderr(&out).contains(&format!("Module with UUID {U2} not found")),
        "{}",
        stderr(&out)
    );
}
