//! The real `smgctl` binary against a real gateway and simulated workers: golden tables and
//! JSON, exit codes, `--wait`, and specs from stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use smg_tests::harness::{GatewayProcess, bin_path, eventually};
use smg_tests::mock::{Fault, FlushFault, HealthFault, MockConfig, MockFleet};
use tokio::io::AsyncWriteExt;

const WAIT: Duration = Duration::from_secs(20);

async fn smgctl(gw_url: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(bin_path("smgctl"));
    cmd.arg("--url")
        .arg(gw_url)
        .args(args)
        .env("NO_COLOR", "1")
        .env("SMGCTL_CONFIG", "/nonexistent/smgctl.toml")
        .env_remove("SMG_ADMIN_TOKEN")
        .env_remove("SMG_CONTEXT")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("smgctl hung")
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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

    let bad_id = smgctl(&gw.url, &["workers", "get", "not-a-uuid"], None).await;
    assert_eq!(bad_id.status.code(), Some(1));

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

    // A registration still retrying when the wait runs out: exit 6.
    let patient = GatewayProcess::start(&["--worker-startup-timeout-secs", "120"]).await;
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
