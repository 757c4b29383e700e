//! The real `smgctl` binary against a real gateway and simulated workers: golden tables and
//! JSON, exit codes, `--wait`, and specs from stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use smg_tests::harness::{self, GatewayProcess, eventually, stderr, stdout};
use smg_tests::mock::{Fault, FlushFault, HealthFault, MockConfig, MockFleet};

const WAIT: Duration = Duration::from_secs(20);

async fn smgctl(gw_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    harness::smgctl(gw_url, None, args, stdin).await
}

/// Redact what changes between runs: ports and worker ids.
macro_rules! golden {
    ($name:expr, $value:expr) => {
        insta::with_settings!({filters => vec![
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[port]"),
            (r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
            (r"(?m)^[0-9a-f]{8}( +)", "[id]    $1"),
            (r"\d{10}", "[time]"),
        ]}, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

#[tokio::test(flavor = "multi_thread")]
async fn list_and_get_golden_outputs() {
    let a = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "llama-8b".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let b = MockFleet::start(
        0,
        1,
        MockConfig {
            model: "qwen-7b".into(),
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    let gw = GatewayProcess::start(&[]).await;
    let add_a = smgctl(
        &gw.url,
        &[
            "workers",
            "add",
            &a.urls()[0],
            "--priority",
            "70",
            "--label",
            "team=search",
            "--wait",
            "--wait-timeout",
            "20s",
        ],
        None,
    )
    .await;
    assert!(add_a.status.success(), "{}", stderr(&add_a));
    let add_b = smgctl(
        &gw.url,
        &[
            "workers",
            "add",
            &b.urls()[0],
            "--wait",
            "--wait-timeout",
            "20s",
            "-o",
            "json",
        ],
        None,
    )
    .await;
    assert!(add_b.status.success(), "{}", stderr(&add_b));
    let info: Value = serde_json::from_str(&stdout(&add_b)).unwrap();
    assert_eq!(info["status"], "ready");
    assert_eq!(info["model_id"], "qwen-7b");

    let list = smgctl(&gw.url, &["workers", "list"], None).await;
    assert!(list.status.success());
    golden!("workers_list_table", stdout(&list));

    let json_list = smgctl(&gw.url, &["workers", "list", "-o", "json"], None).await;
    let parsed: smg_sdk::WorkerListResponse = serde_json::from_str(&stdout(&json_list)).unwrap();
    assert_eq!(parsed.total, 2);
    assert_eq!(parsed.workers[0].spec.labels["team"], "search");
    let mut value: Value = serde_json::from_str(&stdout(&json_list)).unwrap();
    // Timestamps in discovered labels are not stable; keep the shape.
    for w in value["workers"].as_array_mut().unwrap() {
        w["labels"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| k == "team" || k == "served_model_name");
    }
    golden!(
        "workers_list_json",
        serde_json::to_string_pretty(&value).unwrap()
    );

    let names = smgctl(&gw.url, &["workers", "list", "-o", "name"], None).await;
    assert_eq!(stdout(&names).lines().count(), 2);
    assert_eq!(stdout(&names).lines().next().unwrap(), parsed.workers[0].id);

    let get = smgctl(
        &gw.url,
        &["workers", "get", &parsed.workers[1].id, "-o", "yaml"],
        None,
    )
    .await;
    assert!(get.status.success());
    assert!(
        stdout(&get).contains("model_id: qwen-7b"),
        "{}",
        stdout(&get)
    );

    let models = smgctl(&gw.url, &["models", "-o", "json"], None).await;
    let models: smg_sdk::ModelList = serde_json::from_str(&stdout(&models)).unwrap();
    assert_eq!(models.data.len(), 2);

    let loads = smgctl(&gw.url, &["loads", "-o", "json"], None).await;
    let loads: smg_sdk::GetLoadsResponse = serde_json::from_str(&stdout(&loads)).unwrap();
    assert!(loads.workers.iter().all(|w| w.load >= 0));

    let chat = smgctl(
        &gw.url,
        &["chat", "--model", "llama-8b", "--max-tokens", "5", "say hi"],
        None,
    )
    .await;
    assert!(chat.status.success(), "{}", stderr(&chat));
    assert!(!stdout(&chat).trim().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_codes() {
    let fleet = MockFleet::start(0, 2, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&["--flush-timeout-secs", "2"]).await;
    for url in fleet.urls() {
        let o = smgctl(
            &gw.url,
            &["workers", "add", &url, "--wait", "--wait-timeout", "20s"],
            None,
        )
        .await;
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let missing = smgctl(
        &gw.url,
        &["workers", "get", "0199aaaa-0000-7000-8000-000000000000"],
        None,
    )
    .await;
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        stderr(&missing).contains("WORKER_NOT_FOUND"),
        "{}",
        stderr(&missing)
    );

    // A full-length id that is no UUID is the gateway's to judge: 400, exit 1.
    let bad_id = smgctl(
        &gw.url,
        &["workers", "get", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"],
        None,
    )
    .await;
    assert_eq!(bad_id.status.code(), Some(1), "{}", stderr(&bad_id));

    // Shorter ids are resolved against the list: the 8-character id of the tables (the end
    // of the id) and a unique start work; no match exits 3, several exit 2.
    let list = gw.client().workers().list().await.unwrap();
    let full = list.workers[1].id.clone();
    let short = list.workers[1].short_id().to_string();
    let by_short = smgctl(&gw.url, &["workers", "get", &short, "-o", "name"], None).await;
    assert_eq!(by_short.status.code(), Some(0), "{}", stderr(&by_short));
    assert_eq!(stdout(&by_short), format!("{full}\n"));
    let unknown = smgctl(&gw.url, &["workers", "get", "zz"], None).await;
    assert_eq!(unknown.status.code(), Some(3), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("no worker id starts or ends with 'zz'"),
        "{}",
        stderr(&unknown)
    );
    // Both ids start with the same millisecond timestamp digits.
    let shared = &full[..4];
    assert!(list.workers[0].id.starts_with(shared));
    let ambiguous = smgctl(
        &gw.url,
        &["workers", "update", shared, "--priority", "1"],
        None,
    )
    .await;
    assert_eq!(ambiguous.status.code(), Some(2), "{}", stderr(&ambiguous));
    assert!(
        stderr(&ambiguous).contains("matches 2 workers"),
        "{}",
        stderr(&ambiguous)
    );
    let updated = smgctl(
        &gw.url,
        &["workers", "update", &short, "--priority", "42"],
        None,
    )
    .await;
    assert_eq!(updated.status.code(), Some(0), "{}", stderr(&updated));
    assert_eq!(
        gw.client()
            .workers()
            .get(&full)
            .await
            .unwrap()
            .spec
            .priority,
        42
    );

    fleet.workers()[1].set_fault(Fault {
        flush: FlushFault::Fail,
        ..Fault::default()
    });
    let flush = smgctl(&gw.url, &["cache", "flush"], None).await;
    assert_eq!(
        flush.status.code(),
        Some(5),
        "{}{}",
        stdout(&flush),
        stderr(&flush)
    );
    assert!(stdout(&flush).contains(&fleet.urls()[1]));
    fleet.workers()[1].set_fault(Fault::default());
    let flush = smgctl(&gw.url, &["cache", "flush"], None).await;
    assert_eq!(flush.status.code(), Some(0));

    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let down = smgctl(&unreachable, &["workers", "list"], None).await;
    assert_eq!(down.status.code(), Some(1));
    assert!(stderr(&down).contains(&unreachable), "{}", stderr(&down));
    assert!(stderr(&down).contains("SMG_URL"), "{}", stderr(&down));

    let usage = smgctl(&gw.url, &["workers", "frobnicate"], None).await;
    assert_eq!(usage.status.code(), Some(2));

    let ready = smgctl(&gw.url, &["ready"], None).await;
    assert_eq!(ready.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_on_a_worker_that_never_becomes_healthy() {
    let sick = MockFleet::start(
        0,
        1,
        MockConfig {
            fault: Fault {
                health: HealthFault::Fail,
                ..Fault::default()
            },
            ..MockConfig::default()
        },
    )
    .await
    .unwrap();
    // The registration job gives up after 3 s (FAST): --wait reports the job's failure.
    let gw = GatewayProcess::start(&[]).await;
    let failed = smgctl(
        &gw.url,
        &[
            "workers",
            "add",
            &sick.urls()[0],
            "--wait",
            "--wait-timeout",
            "30s",
        ],
        None,
    )
    .await;
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    assert!(
        stderr(&failed).contains("did not answer GET /health"),
        "{}",
        stderr(&failed)
    );

    // A registration still retrying when the wait runs out: exit 6, with the wait bounded
    // by --timeout (or its older spelling --wait-timeout).
    let patient = GatewayProcess::start(&["--worker-startup-timeout-secs", "120"]).await;
    let started = std::time::Instant::now();
    let timed_out = smgctl(
        &patient.url,
        &[
            "workers",
            "add",
            &sick.urls()[0],
            "--wait",
            "--timeout",
            "2s",
        ],
        None,
    )
    .await;
    assert_eq!(timed_out.status.code(), Some(6), "{}", stderr(&timed_out));
    // Containment only: far below the default 5-minute wait.
    assert!(started.elapsed() < Duration::from_secs(60));
    let id = stdout(&timed_out)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    patient.client().workers().delete(&id).await.unwrap();
    let timed_out = smgctl(
        &patient.url,
        &[
            "workers",
            "add",
            &sick.urls()[0],
            "--wait",
            "--wait-timeout",
            "2s",
        ],
        None,
    )
    .await;
    assert_eq!(timed_out.status.code(), Some(6), "{}", stderr(&timed_out));

    // `workers delete --wait --timeout`: a worker that drains for a minute outlasts it.
    let healthy = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let added = smgctl(
        &patient.url,
        &["workers", "add", &healthy.urls()[0], "--wait", "-o", "name"],
        None,
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let id = stdout(&added).trim().to_string();
    let slow_drain = smgctl(
        &patient.url,
        &["workers", "update", &id, "--drain-settle-secs", "60"],
        None,
    )
    .await;
    assert!(slow_drain.status.success(), "{}", stderr(&slow_drain));
    let started = std::time::Instant::now();
    let deleting = smgctl(
        &patient.url,
        &[
            "workers",
            "delete",
            &id,
            "--yes",
            "--wait",
            "--timeout",
            "2s",
        ],
        None,
    )
    .await;
    assert_eq!(deleting.status.code(), Some(6), "{}", stderr(&deleting));
    assert!(started.elapsed() < Duration::from_secs(45));
}

#[tokio::test(flavor = "multi_thread")]
async fn version_names_client_gateway_and_worker() {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    let out = smgctl(&gw.url, &["version", "-o", "json"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let ours = env!("CARGO_PKG_VERSION");
    // No worker yet: the worker's version is simply unknown.
    assert_eq!(
        v,
        json!({"client": ours, "gateway": ours, "gateway_kind": "this_project", "worker": null})
    );

    gw.client()
        .workers()
        .create_and_wait(&smg_sdk::WorkerSpec::new(&fleet.urls()[0]), WAIT)
        .await
        .unwrap();
    let out = smgctl(&gw.url, &["version"], None).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!(
            "client: smgctl {ours}\ngateway: smg-gateway {ours} (this project)\nworker: "
        )),
        "{text}"
    );
    assert_eq!(
        text.lines().nth(2),
        Some(format!("worker: {}", smg_tests::mock::SGLANG_VERSION).as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_from_stdin_and_delete() {
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let gw = GatewayProcess::start(&[]).await;
    let spec =
        json!({"url": fleet.urls()[0], "labels": {"from": "stdin"}, "priority": 60}).to_string();
    let added = smgctl(
        &gw.url,
        &[
            "workers",
            "add",
            "-f",
            "-",
            "--wait",
            "--wait-timeout",
            "20s",
            "-o",
            "json",
        ],
        Some(&spec),
    )
    .await;
    assert!(added.status.success(), "{}", stderr(&added));
    let info: Value = serde_json::from_str(&stdout(&added)).unwrap();
    assert_eq!(info["labels"]["from"], "stdin");
    assert_eq!(info["priority"], 60);
    let id = info["id"].as_str().unwrap().to_string();

    let yaml = format!("url: {}\npriority: 61\n", fleet.urls()[0]);
    let replaced = smgctl(
        &gw.url,
        &["workers", "replace", &id, "-f", "-"],
        Some(&yaml),
    )
    .await;
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    eventually(WAIT, "replace applied", || async {
        (gw.client().workers().get(&id).await.ok()?.spec.priority == 61).then_some(())
    })
    .await;

    let refused = smgctl(&gw.url, &["workers", "delete", &id], None).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "deleting without --yes off a terminal is refused"
    );
    let deleted = smgctl(
        &gw.url,
        &[
            "workers",
            "delete",
            &id,
            "--yes",
            "--wait",
            "--wait-timeout",
            "20s",
        ],
        None,
    )
    .await;
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert_eq!(gw.client().workers().list().await.unwrap().total, 0);
}
