//! `smgctl workers …` against a mock gateway: golden tables, wire JSON, request bodies, waits,
//! confirmations, exit codes and the watch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::sync::Mutex;

use common::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

async fn mount_list(gw: &Gateway, body: Value) {
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&gw.server)
        .await;
}

/// The value of `Key:` in a describe-style view.
fn kv<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(str::trim)
}

fn three_workers() -> Value {
    worker_list(&[
        worker_llama(),
        worker_qwen(),
        worker_pending(W3, "processing", None),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_table_and_wide() {
    let gw = Gateway::start().await;
    mount_list(&gw, three_workers()).await;
    let out = gw.run(&["workers", "list"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("workers_list_table", stdout(&out));
    let out = gw.run(&["workers", "list", "-o", "wide"]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("workers_list_wide", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_json_is_the_wire_body() {
    let gw = Gateway::start().await;
    let body = three_workers();
    mount_list(&gw, body.clone()).await;
    let out = gw.run(&["workers", "list", "-o", "json"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, body);
    insta::assert_snapshot!("workers_list_json", stdout(&out));

    let out = gw.run(&["workers", "list", "-o", "yaml"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, body);

    let out = gw.run(&["workers", "list", "-o", "name"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("{W1}\n{W2}\n{W3}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_filters_by_model_and_says_when_empty() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(query_param("model", "nope/model"))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[])))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "list", "--model", "nope/model"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).contains("No workers found."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_table_and_json() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_llama()))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "get", W1]).await;
    assert_code(&out, 0);
    insta::assert_snapshot!("workers_get_table", stdout(&out));
    let out = gw.run(&["workers", "get", W1, "-o", "json"]).await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, worker_llama());
    insta::assert_snapshot!("workers_get_json", stdout(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_pending_worker_shows_its_job() {
    let gw = Gateway::start().await;
    let message = "Workflow failed at step detect_connection_mode: no answer";
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_pending(
            W3,
            "failed",
            Some(message),
        )))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "get", W3]).await;
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("Status:"), "{text}");
    assert!(
        text.contains(&format!("AddWorker failed: {message}")),
        "{text}"
    );
    assert_eq!(kv(&text, "Model"), Some("*"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_exits_3_with_hint() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W2}")))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-request-id", "req-404")
                .insert_header("x-smg-error-code", "WORKER_NOT_FOUND")
                .set_body_json(error_body(
                    &format!("Worker {W2} not found"),
                    "not_found",
                    "WORKER_NOT_FOUND",
                )),
        )
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "get", W2]).await;
    assert_code(&out, 3);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "error: Worker {W2} not found [WORKER_NOT_FOUND] (request id req-404)\n\
             hint: try: smgctl workers list\n"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_ids_resolve_against_the_list() {
    let gw = Gateway::start().await;
    mount_list(&gw, three_workers()).await;
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_llama()))
        .mount(&gw.server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{W2}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted(W2, "removal")))
        .mount(&gw.server)
        .await;
    // The table's 8-character id is the end of the id; a unique start works too.
    let tail = &W1[W1.len() - 8..];
    for fragment in [tail, &W1[..8], &W1[..8].to_uppercase()] {
        let out = gw.run(&["workers", "get", fragment, "-o", "name"]).await;
        assert_code(&out, 0);
        assert_eq!(stdout(&out), format!("{W1}\n"), "{fragment}");
    }
    let out = gw
        .run(&["workers", "delete", &W2[W2.len() - 8..], "--yes"])
        .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("worker {W2} removal accepted\n"));

    let out = gw.run(&["workers", "get", "abcdef"]).await;
    assert_code(&out, 3);
    assert_eq!(
        stderr(&out),
        "error: no worker id starts or ends with 'abcdef' (a worker still being registered is \
         only found by its full id)\nhint: try: smgctl workers list\n"
    );
    let out = gw.run(&["workers", "get", "01990d"]).await;
    assert_code(&out, 2);
    assert_eq!(
        stderr(&out),
        format!("error: '01990d' matches 3 workers ({W1}, {W2}, {W3}); give more of the id\n")
    );
    // A typo among several ids deletes none of them.
    let out = gw
        .run(&["workers", "delete", &W2[W2.len() - 8..], "abcdef", "--yes"])
        .await;
    assert_code(&out, 3);
    assert_eq!(gw.count("DELETE", &format!("/workers/{W2}")).await, 1);
    // A full id is sent as given, without listing.
    let lists = gw.count("GET", "/workers").await;
    let out = gw.run(&["workers", "get", W1]).await;
    assert_code(&out, 0);
    assert_eq!(gw.count("GET", "/workers").await, lists);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_exits_4_with_hint() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Bearer realm=\"control-plane\"")
                .set_body_json(error_body(
                    "Missing or invalid admin token",
                    "unauthorized",
                    "UNAUTHORIZED",
                )),
        )
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "list"]).await;
    assert_code(&out, 4);
    let err = stderr(&out);
    assert!(
        err.starts_with("error: Missing or invalid admin token [UNAUTHORIZED]"),
        "{err}"
    );
    assert!(
        err.contains("--token") && err.contains("SMG_ADMIN_TOKEN"),
        "{err}"
    );

    // 403 is an auth failure too.
    let gw = Gateway::start().await;
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(ResponseTemplate::new(403).set_body_json(error_body(
            "Role 'viewer' may not do this",
            "forbidden",
            "FORBIDDEN",
        )))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "delete", W1, "--yes"]).await;
    assert_code(&out, 4);
    assert!(stderr(&out).contains("Role 'viewer' may not do this [FORBIDDEN]"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_sent_as_bearer() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .and(header("authorization", "Bearer flag-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_list(&[])))
        .mount(&gw.server)
        .await;
    let mut cmd = gw.cmd();
    cmd.env("SMG_ADMIN_TOKEN", "env-token");
    let out = run_cmd(cmd, &["workers", "list", "--token", "flag-token", "-v"], "").await;
    assert_code(&out, 0);
    let err = stderr(&out);
    assert!(err.contains("admin token set (from --token)"), "{err}");
    assert!(
        !err.contains("flag-token") && !err.contains("env-token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_from_json_on_stdin() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("location", format!("/workers/{W3}"))
                .set_body_json(created(W3, "http://10.0.0.9:8000")),
        )
        .mount(&gw.server)
        .await;
    let spec = r#"{"url": "http://10.0.0.9:8000", "models": [{"id": "mistralai/Mistral-7B-Instruct-v0.3"}],
                   "runtime": "sglang", "priority": 70, "labels": {"team": "search"},
                   "api_key": "worker-secret"}"#;
    let out = gw
        .run_stdin(&["workers", "add", "-f", "-", "--label", "zone=a"], spec)
        .await;
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        format!("worker {W3} accepted (http://10.0.0.9:8000)\n")
    );
    let bodies = gw.bodies("POST", "/workers").await;
    assert_eq!(bodies.len(), 1);
    let body = &bodies[0];
    assert_eq!(body["url"], "http://10.0.0.9:8000");
    assert_eq!(
        body["models"][0]["id"],
        "mistralai/Mistral-7B-Instruct-v0.3"
    );
    assert_eq!(body["runtime_type"], "sglang");
    assert_eq!(body["priority"], 70);
    assert_eq!(body["cost"], 1.0);
    assert_eq!(body["labels"], json!({"team": "search", "zone": "a"}));
    assert_eq!(body["api_key"], "worker-secret");
    assert!(!stdout(&out).contains("worker-secret") && !stderr(&out).contains("worker-secret"));

    // -o json prints the 202 body as is.
    let out = gw
        .run_stdin(&["workers", "add", "-f", "-", "-o", "json"], spec)
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, created(W3, "http://10.0.0.9:8000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_from_yaml_file_and_from_flags() {
    let gw = Gateway::start().await;
    Mock::given(method("POST"))
        .and(path("/workers"))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(created(W3, "grpc://10.0.0.9:50051")),
        )
        .mount(&gw.server)
        .await;
    let file = gw.home.path().join("worker.yaml");
    std::fs::write(
        &file,
        "# a decode worker\nurl: grpc://10.0.0.9:50051\nworker_type: decode\nruntime_type: vllm\n\
         models:\n  - id: Qwen/Qwen2.5-7B-Instruct\n    context_length: 32768\ncost: 0.5\n\
         health:\n  check_interval_secs: 10\n",
    )
    .unwrap();
    let out = gw
        .run(&[
            "workers",
            "add",
            "-f",
            file.to_str().unwrap(),
            "--priority",
            "90",
        ])
        .await;
    assert_code(&out, 0);

    let key_file = gw.home.path().join("key");
    std::fs::write(&key_file, "sk-worker\n").unwrap();
    let out = gw
        .run(&[
            "workers",
            "add",
            "http://10.0.0.10:8000",
            "--model",
            "a/b",
            "--model",
            "c/d",
            "--type",
            "prefill",
            "--runtime",
            "sglang",
            "--cost",
            "2.5",
            "--label",
            "k=v=w",
            "--api-key-file",
            key_file.to_str().unwrap(),
        ])
        .await;
    assert_code(&out, 0);

    let bodies = gw.bodies("POST", "/workers").await;
    assert_eq!(bodies.len(), 2);
    let yaml = &bodies[0];
    assert_eq!(yaml["url"], "grpc://10.0.0.9:50051");
    assert_eq!(yaml["worker_type"], "decode");
    assert_eq!(yaml["runtime_type"], "vllm");
    assert_eq!(yaml["models"][0]["id"], "Qwen/Qwen2.5-7B-Instruct");
    assert_eq!(yaml["models"][0]["context_length"], 32768);
    assert_eq!(yaml["cost"], 0.5);
    assert_eq!(yaml["priority"], 90, "flags override the file");
    assert_eq!(yaml["health"], json!({"check_interval_secs": 10}));
    assert!(yaml.get("api_key").is_none());

    let flags = &bodies[1];
    assert_eq!(flags["url"], "http://10.0.0.10:8000");
    let ids: Vec<&str> = flags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a/b", "c/d"]);
    assert_eq!(flags["worker_type"], "prefill");
    assert_eq!(flags["runtime_type"], "sglang");
    assert_eq!(flags["cost"], 2.5);
    assert_eq!(flags["priority"], 50);
    assert_eq!(flags["labels"], json!({"k": "v=w"}));
    assert_eq!(flags["api_key"], "sk-worker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_rejects_a_bad_spec() {
    let gw = Gateway::start().await;
    let out = gw
        .run_stdin(&["workers", "add", "-f", "-"], "{\"models\": 3}")
        .await;
    assert_code(&out, 1);
    assert!(stderr(&out).contains("stdin is not a valid JSON worker spec"));
    let out = gw
        .run(&["workers", "add", "--label", "novalue", "http://a:1"])
        .await;
    assert_code(&out, 2);
    assert_eq!(gw.count("POST", "/workers").await, 0);
}

async fn mount_created(gw: &Gateway) {
    Mock::given(method("POST"))
        .and(path("/workers"))
        .respond_with(ResponseTemplate::new(202).set_body_json(created(W3, "http://10.0.0.9:8000")))
        .mount(&gw.server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_wait_until_ready() {
    let gw = Gateway::start().await;
    mount_created(&gw).await;
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(404).set_body_json(error_body(
                "not yet",
                "not_found",
                "WORKER_NOT_FOUND",
            )),
            ResponseTemplate::new(200).set_body_json(worker_pending(W3, "processing", None)),
            ResponseTemplate::new(200).set_body_json(worker_ready(W3)),
        ]))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "workers",
            "add",
            "http://10.0.0.9:8000",
            "--wait",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, worker_ready(W3));
    assert_eq!(gw.count("GET", &format!("/workers/{W3}")).await, 3);

    let out = gw
        .run(&["workers", "add", "http://10.0.0.9:8000", "--wait"])
        .await;
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("worker {W3} accepted (http://10.0.0.9:8000)\nID:")),
        "{text}"
    );
    assert_eq!(kv(&text, "Status"), Some("ready"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_wait_reports_a_failed_job() {
    let gw = Gateway::start().await;
    mount_created(&gw).await;
    let message = "Workflow failed at step detect_connection_mode: worker http://10.0.0.9:8000 \
                   did not answer GET /health within 5s: connection refused";
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(worker_pending(W3, "processing", None)),
            ResponseTemplate::new(200).set_body_json(worker_pending(W3, "failed", Some(message))),
        ]))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "workers",
            "add",
            "http://10.0.0.9:8000",
            "--wait",
            "-o",
            "json",
        ])
        .await;
    assert_code(&out, 1);
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!("error: job for worker {W3} failed: {message}\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_wait_times_out_with_exit_6() {
    let gw = Gateway::start().await;
    mount_created(&gw).await;
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(worker_pending(
            W3,
            "processing",
            None,
        )))
        .mount(&gw.server)
        .await;
    let started = std::time::Instant::now();
    let out = gw
        .run(&[
            "workers",
            "add",
            "http://10.0.0.9:8000",
            "--wait",
            "--wait-timeout",
            "600ms",
        ])
        .await;
    assert_code(&out, 6);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("waiting for worker {W3} (last status: pending)")),
        "{err}"
    );

    // An explicit --timeout bounds the whole wait too (not only each request).
    let started = std::time::Instant::now();
    let out = gw
        .run(&[
            "workers",
            "add",
            "http://10.0.0.9:8000",
            "--wait",
            "--timeout",
            "700ms",
        ])
        .await;
    assert_code(&out, 6);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_sends_a_patch() {
    let gw = Gateway::start().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted(W1, "update")))
        .mount(&gw.server)
        .await;
    let out = gw
        .run(&[
            "workers",
            "update",
            W1,
            "--priority",
            "80",
            "--label",
            "tier=gold",
            "--health-interval-secs",
            "15",
            "--disable-health-check",
            "false",
            "--drain-settle-secs",
            "30",
        ])
        .await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("worker {W1} update accepted\n"));
    let bodies = gw.bodies("PATCH", &format!("/workers/{W1}")).await;
    assert_eq!(
        bodies,
        [json!({
            "priority": 80,
            "labels": {"tier": "gold"},
            "health": {"check_interval_secs": 15, "disable_health_check": false,
                       "drain_settle_secs": 30}
        })]
    );
    // Nothing to update is a usage error, and nothing is sent.
    let out = gw.run(&["workers", "update", W1]).await;
    assert_code(&out, 2);
    assert_eq!(gw.count("PATCH", &format!("/workers/{W1}")).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_sends_a_put() {
    let gw = Gateway::start().await;
    Mock::given(method("PUT"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted(W1, "update")))
        .mount(&gw.server)
        .await;
    let out = gw
        .run_stdin(
            &["workers", "replace", W1, "-f", "-", "-o", "yaml"],
            "url: http://10.0.0.5:30000\npriority: 60\n",
        )
        .await;
    assert_code(&out, 0);
    let printed: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, accepted(W1, "update"));
    let bodies = gw.bodies("PUT", &format!("/workers/{W1}")).await;
    assert_eq!(bodies[0]["url"], "http://10.0.0.5:30000");
    assert_eq!(bodies[0]["priority"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_without_yes_is_refused_off_a_terminal() {
    let gw = Gateway::start().await;
    let out = gw.run(&["workers", "delete", W1, W2]).await;
    assert_code(&out, 2);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("refusing to delete 2 workers without --yes"),
        "{err}"
    );
    assert!(gw.requests().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_yes_and_wait() {
    let gw = Gateway::start().await;
    for id in [W1, W2] {
        Mock::given(method("DELETE"))
            .and(path(format!("/workers/{id}")))
            .respond_with(ResponseTemplate::new(202).set_body_json(accepted(id, "removal")))
            .mount(&gw.server)
            .await;
    }
    let mut draining = worker_llama();
    draining["status"] = json!("draining");
    draining["is_healthy"] = json!(false);
    Mock::given(method("GET"))
        .and(path(format!("/workers/{W1}")))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(draining),
            ResponseTemplate::new(404).set_body_json(error_body(
                "gone",
                "not_found",
                "WORKER_NOT_FOUND",
            )),
        ]))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "delete", W1, "--yes", "--wait"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("worker {W1} deleted\n"));

    let out = gw.run(&["workers", "rm", W1, W2, "-y", "-o", "name"]).await;
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("{W1}\n{W2}\n"));

    // One of several failing: the others still go, and the exit code is the failure's.
    Mock::given(method("DELETE"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body(
            "Worker not found",
            "not_found",
            "WORKER_NOT_FOUND",
        )))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "delete", W3, W2, "-y"]).await;
    assert_code(&out, 3);
    assert_eq!(stdout(&out), format!("worker {W2} removal accepted\n"));
    assert!(stderr(&out).starts_with(&format!("error: worker {W3}: ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_one_json_event_per_line() {
    let gw = Gateway::start().await;
    let mut busy = worker_llama();
    busy["load"] = json!(42);
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(worker_list(&[worker_llama(), worker_qwen()])),
            ResponseTemplate::new(200).set_body_json(worker_list(&[busy.clone()])),
        ]))
        .mount(&gw.server)
        .await;
    let child = std_cmd(
        &gw,
        &[
            "workers",
            "list",
            "--watch",
            "--interval",
            "50ms",
            "-o",
            "json",
        ],
    )
    .spawn()
    .unwrap();
    let lines = tokio::task::spawn_blocking(move || read_lines_then_kill(child, 4))
        .await
        .unwrap();
    let events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        events,
        [
            json!({"type": "ADDED", "object": worker_llama()}),
            json!({"type": "ADDED", "object": worker_qwen()}),
            json!({"type": "MODIFIED", "object": busy}),
            json!({"type": "DELETED", "object": worker_qwen()}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_table_prints_a_block_per_change() {
    let gw = Gateway::start().await;
    let mut busy = worker_llama();
    busy["load"] = json!(42);
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(Sequence::new(vec![
            ResponseTemplate::new(200).set_body_json(worker_list(&[worker_llama()])),
            ResponseTemplate::new(200).set_body_json(worker_list(&[busy])),
        ]))
        .mount(&gw.server)
        .await;
    let child = std_cmd(&gw, &["workers", "list", "-w", "--interval", "50ms"])
        .spawn()
        .unwrap();
    let lines = tokio::task::spawn_blocking(move || read_lines_then_kill(child, 5))
        .await
        .unwrap();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert!(lines[0].starts_with("ID "), "{lines:?}");
    assert!(lines[1].contains(" 3 "), "{lines:?}");
    assert_eq!(lines[2], "");
    assert!(lines[3].starts_with("ID "), "{lines:?}");
    assert!(lines[4].contains(" 42 "), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_quietly_when_stdout_closes() {
    let gw = Gateway::start().await;
    Mock::given(method("GET"))
        .and(path("/workers"))
        .respond_with(Counter(Mutex::new(0), |n: usize| {
            let mut w = worker_llama();
            w["load"] = json!(n);
            ResponseTemplate::new(200).set_body_json(worker_list(&[w]))
        }))
        .mount(&gw.server)
        .await;
    let mut child = std_cmd(
        &gw,
        &[
            "workers",
            "list",
            "--watch",
            "--interval",
            "20ms",
            "-o",
            "json",
        ],
    )
    .spawn()
    .unwrap();
    let (status, err) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        assert!(first.contains("\"ADDED\""), "{first}");
        drop(reader); // like `| head -1`
        let status = wait_exit(&mut child);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_stdout_does_not_panic() {
    let gw = Gateway::start().await;
    let many: Vec<Value> = (0..400)
        .map(|i| {
            let mut w = worker_llama();
            w["id"] = json!(format!("01990d3e-5a1c-7b2e-9f00-{i:012}"));
            w
        })
        .collect();
    mount_list(&gw, worker_list(&many)).await;
    for format in ["json", "table"] {
        let mut child = std_cmd(&gw, &["workers", "list", "-o", format])
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader is gone before anything is written
        let (status, err) = tokio::task::spawn_blocking(move || {
            let status = wait_exit(&mut child);
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            (status, err)
        })
        .await
        .unwrap();
        assert_eq!(status.code(), Some(0), "{format}: {err}");
        assert_eq!(err, "", "{format}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_of_several_follows_the_shared_rule() {
    let gw = Gateway::start().await;
    // Cordoning needs this project's gateway, which names itself in a header.
    Mock::given(method("GET"))
        .and(path("/loads"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-smg-version", "9.8.7")
                .set_body_json(json!({})),
        )
        .mount(&gw.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workers/{W3}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(error_body(
            "Worker not found",
            "not_found",
            "WORKER_NOT_FOUND",
        )))
        .mount(&gw.server)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("/workers/{W2}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(accepted(W2, "update")))
        .mount(&gw.server)
        .await;
    let out = gw.run(&["workers", "cordon", W3, W2]).await;
    assert_code(&out, 3);
    assert_eq!(stdout(&out), format!("worker {W2} cordoned\n"));
    assert_eq!(
        stderr(&out),
        format!(
            "error: worker {W3}: Worker not found [WORKER_NOT_FOUND]\n\
             hint: try: smgctl workers list\n"
        )
    );
    // Each command that takes several ids states the rule in its help.
    for noun in ["delete", "cordon", "uncordon"] {
        let out = gw.run(&["workers", noun, "--help"]).await;
        assert_code(&out, 0);
        assert!(
            stdout(&out).contains("Several ids: they are acted on one after another."),
            "{noun}: {}",
            stdout(&out)
        );
    }
}
