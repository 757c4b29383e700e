//! `smgctl loads|cache|health|ready|models|server-info|model-info|version|completions` against a
//! mock gateway, plus the unreachable-gateway error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_table_wide_and_json() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(ResponseTemplate::new(200).set_body_json(loads_body()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["loads"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("loads_table", stdout(&out));
    let out = gw.run(&["loads", "-o", "wide"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("loads_wide", stdout(&out));
    let out = gw.run(&["loads", "-o", "json"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, fleet(loads_body()));
    assert_eq!(printed["shape"], "workers");
    let out = gw.run(&["loads", "-o", "name"]).await;
    assert_eq!(
        stdout(&out),
        "http://10.0.0.5:30000\nhttp://10.0.0.7:30000\nhttp://10.0.0.8:30000\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loads_watch_prints_json_lines() {
    let gw = Gateway::start().await;
    let mut second = loads_body();
    second["workers"][2] = json!({"worker": "http://10.0.0.8:30000", "load": 0,
        "details": {"timestamp": "t", "dp_rank_count": 1, "loads": []}});
    Mock::given(method("GET"))
        .and(path("/get_loads"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(loads_body()),
            ResponseTemplate::new(200).set_body_json(loads_body()),
            ResponseTemplate::new(200).set_body_json(second.clone()),
        ]))
        .mount(&gw.server)
        .await;
    let child = std_cmd(
        &gw,
        &["loads", "--watch", "--interval", "30ms", "-o", "json"],
    )
    .spawn()
    .unwrap();
    let lines = tokio::task::spawn_blocking(move || read_lines_then_kill(child, 2))
        .await
        .unwrap();
    let docs: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The unchanged second poll prints nothing.
    assert_eq!(docs, [fleet(loads_body()), fleet(second)]);
}

/// What `-o json` prints for a `/get_loads` body: the SDK's one model of both wire shapes.
fn fleet(body: Value) -> Value {
    let body: smg_sdk::LoadsBody = serde_json::from_value(body).unwrap();
    serde_json::to_value(smg_sdk::FleetLoads::from(body)).unwrap()
}

fn flush_ok() -> Value {
    json!({"status": "success", "message": "Successfully flushed cache on all 3 workers",
           "workers_flushed": 3, "total_http_workers": 2, "total_grpc_workers": 1,
           "total_zmq_workers_skipped": 0, "total_workers": 3})
}

fn flush_partial() -> Value {
    json!({"status": "partial_success", "message": "Cache flush: 1 succeeded, 2 failed",
           "workers_flushed": 1, "total_http_workers": 3, "total_grpc_workers": 0,
           "total_zmq_workers_skipped": 0, "total_workers": 3,
           "successful": ["http://10.0.0.5:30000"],
           "failed": [
             {"worker": "http://10.0.0.7:30000",
              "error": "flush_cache failed for worker http://10.0.0.7:30000: HTTP 500 Internal Server Error"},
             {"worker": "http://10.0.0.8:30000",
              "error": "flush_cache failed for worker http://10.0.0.8:30000: connection refused"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_flush_success() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(ResponseTemplate::new(200).set_body_json(flush_ok()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["cache", "flush"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("cache_flush_200", stdout(&out));
    assert_eq!(stderr(&out), "");
    let out = gw.run(&["cache", "flush", "-o", "json"]).await;
    assert_code(&out, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        flush_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_flush_partial_exits_5() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/flush_cache"))
        .respond_with(ResponseTemplate::new(206).set_body_json(flush_partial()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["cache", "flush"]).await;
    assert_code(&out, 5);
    insta::assert_snapshot!("cache_flush_206", stdout(&out));
    assert_eq!(
        stderr(&out),
        "error: cache flush failed on 2 of 3 workers\n"
    );
    let out = gw.run(&["cache", "flush", "-o", "json"]).await;
    assert_code(&out, 5);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        flush_partial()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_gateway_exits_1_with_hint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = base_cmd(&dir.path().join("config.toml"));
    cmd.env("SMG_URL", "http://127.0.0.1:1");
    let out = run_cmd(cmd, &["workers", "list"], "").await;
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.starts_with("error: could not connect to the gateway at http://127.0.0.1:1/workers"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: could not reach the gateway at http://127.0.0.1:1 — set --url, SMG_URL, or a \
             context (smgctl context set"
        ),
        "{err}"
    );

    // `version` still prints the client version, and says why the server is unknown.
    let mut cmd = base_cmd(&dir.path().join("config.toml"));
    cmd.env("SMG_URL", "http://127.0.0.1:1");
    let out = run_cmd(cmd, &["version"], "").await;
    assert_code(&out, 1);
    assert_eq!(
        stdout(&out),
        format!("client: smgctl {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        stderr(&out).starts_with("gateway: unreachable ("),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_reads_the_server_info() {
    let gw = Gateway::start().await;
    let ours = env!("CARGO_PKG_VERSION");
    Mock::given(method("GET"))
        .and(path("/get_server_info"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"version": "0.4.10", "tp_size": 1, "model_path": "m"})),
        )
        .mount(&gw.server)
        .await;
    // An upstream SMG: live, but no version header. The worker's version still shows.
    let liveness = Mock::given(method("GET"))
        .and(path("/liveness"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .mount_as_scoped(&gw.server)
        .await;
    let out = gw.run(&["version"]).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!(
            "client: smgctl {ours}\ngateway: upstream SMG (version not reported)\nworker: 0.4.10\n"
        )
    );
    assert_eq!(stderr(&out), "");
    drop(liveness);

    // This project's gateway names itself in a header on every answer (the probe reads
    // `/loads`).
    Mock::given(method("GET"))
        .and(path("/loads"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-smg-version", "9.8.7")
                .set_body_json(json!({})),
        )
        .mount(&gw.server)
        .await;
    let out = gw.run(&["version"]).await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!(
            "client: smgctl {ours}\ngateway: smg-gateway 9.8.7 (this project)\nworker: 0.4.10\n"
        )
    );
    assert_eq!(stderr(&out), "");
    let out = gw.run(&["version", "-o", "json"]).await;
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"client": ours, "gateway": "9.8.7", "gateway_kind": "this_project",
               "worker": "0.4.10"})
    );
    // server-info is free-form: pretty JSON even in the default format.
    let out = gw.run(&["server-info"]).await;
    assert_code(&out, 0);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"version": "0.4.10", "tp_size": 1, "model_path": "m"})
    );
    assert!(stdout(&out).starts_with("{\n  \""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_ready() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/liveness"))
        .respond_with(ResponseTemplate::new(200).set_body_string("OK"))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/readiness"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(
                json!({"status": "ready", "healthy_workers": 2, "total_workers": 3}),
            ),
            ResponseTemplate::new(200).set_body_json(
                json!({"status": "ready", "healthy_workers": 2, "total_workers": 3}),
            ),
            ResponseTemplate::new(503).set_body_json(
                json!({"status": "not ready", "reason": "insufficient healthy workers"}),
            ),
        ]))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["health"]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("Liveness:   OK\n"), "{text}");
    assert!(
        text.contains("Readiness:  ready (2/3 workers healthy)\n"),
        "{text}"
    );
    let out = gw.run(&["ready"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "ready (2/3 workers healthy)\n");
    let out = gw.run(&["ready"]).await;
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "not ready: insufficient healthy workers\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_use_the_api_key() {
    let gw = Gateway::start().await;
    let body = json!({"object": "list", "data": [
        {"id": "meta-llama/Llama-3.1-8B-Instruct", "object": "model", "created": 0, "owned_by": "self_hosted"},
        {"id": "gpt-4o", "object": "model", "created": 1_715_367_049, "owned_by": "openai"}]});
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", "Bearer serving-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body.clone()))
        .mount(&gw.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(error_body(
            "Invalid API key",
            "unauthorized",
            "UNAUTHORIZED",
        )))
        .mount(&gw.server)
        .await;
    let mut cmd = gw.cmd();
    cmd.env("SMG_API_KEY", "serving-key");
    let out = run_cmd(cmd, &["models"], "").await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "ID                                 OWNED BY      CREATED\n\
         meta-llama/Llama-3.1-8B-Instruct   self_hosted   -\n\
         gpt-4o                             openai        2024-05-10T18:50:49Z\n"
    );
    let out = gw.run(&["models"]).await;
    assert_code(&out, 4);
    assert!(stderr(&out).contains("--api-key"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_bash() {
    let gw = Gateway::start().await;
    let out = gw.run(&["completions", "bash"]).await;
    assert_code(&out, 0);
    let script = stdout(&out);
    assert!(script.contains("_smgctl()"), "{script}");
    assert!(script.contains("workers"));
    assert!(gw.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2() {
    let gw = Gateway::start().await;
    let out = gw.run(&["workers", "frobnicate"]).await;
    assert_code(&out, 2);
    let out = gw.run(&["loads", "-o", "xml"]).await;
    assert_code(&out, 2);
    let out = gw.run(&["--help"]).await;
    assert_code(&out, 0);
    assert!(stdout(&out).contains("Exit codes:"));
    assert!(stdout(&out).contains("6  timed out while waiting"));
}
