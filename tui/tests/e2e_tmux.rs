//! End to end: the real `smg-tui` binary inside tmux, against a real gateway (`smg launch`)
//! with simulated workers. Keys go in with `tmux send-keys`, the screen comes back with
//! `tmux capture-pane`; every wait is bounded.
//!
//! Needs tmux; skipped (with a message) when it is not installed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::time::Duration;

use smg_sdk::{HealthCheckUpdate, WorkerSpec};
use smg_tests::harness::GatewayProcess;
use smg_tests::mock::{Fault, HealthFault, MockConfig, MockFleet};
use tmux::{Tmux, line_with};

const WAIT: Duration = Duration::from_secs(40);

/// Register `url` and wait until the gateway routes to it.
async fn register(client: &smg_sdk::Client, url: &str, health: HealthCheckUpdate) -> String {
    let mut spec = WorkerSpec::new(url);
    spec.health = health;
    client
        .workers()
        .create_and_wait(&spec, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("registering {url}: {e}"))
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dashboard_follows_a_real_gateway() {
    if !Tmux::available() {
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let gw = GatewayProcess::start(&[]).await;
    let fleet = MockFleet::start(0, 3, MockConfig::default()).await.unwrap();
    let urls = fleet.urls();
    let client = gw.client();
    // Two workers registered through the SDK; the second one checks its health every second
    // and turns not_ready after two failures.
    register(&client, &urls[0], HealthCheckUpdate::default()).await;
    register(
        &client,
        &urls[1],
        HealthCheckUpdate {
            check_interval_secs: Some(1),
            failure_threshold: Some(2),
            ..HealthCheckUpdate::default()
        },
    )
    .await;

    let tui = Tmux::start(
        Path::new(env!("CARGO_BIN_EXE_smg-tui")),
        &[
            "--url",
            gw.url.as_str(),
            "--metrics-url",
            gw.metrics_url.as_str(),
            "--interval",
            "500ms",
        ],
        200,
        50,
    )
    .unwrap();

    // The Overview comes up with both workers, then the table lists them.
    tui.wait_for("the overview", WAIT, |s| {
        s.contains("1 Overview") && s.contains("workers 2 (2 ready)")
    })
    .await;
    tui.keys(&["2"]);
    let screen = tui
        .wait_for("both workers in the table", WAIT, |s| {
            urls[..2]
                .iter()
                .all(|u| line_with(s, &format!("{u} ")).is_some_and(|l| l.contains("● ready")))
        })
        .await;
    assert!(screen.contains("┌ Workers (2)"), "{screen}");
    assert!(!screen.contains("GATEWAY"), "{screen}");
    assert!(line_with(&screen, &urls[2]).is_none(), "{screen}");

    // A sick worker turns not_ready on screen.
    fleet.workers()[1].set_fault(Fault {
        health: HealthFault::Fail,
        ..Fault::default()
    });
    tui.wait_for("the sick worker to turn not_ready", WAIT, |s| {
        line_with(s, &format!("{} ", urls[1])).is_some_and(|l| l.contains("not_ready"))
    })
    .await;

    // Add the third worker through the form: a, URL, Enter (submit), y (confirm).
    tui.keys(&["a"]);
    tui.wait_for("the add-worker form", WAIT, |s| s.contains("Add worker"))
        .await;
    tui.type_text(&urls[2]);
    tui.keys(&["Enter"]);
    tui.wait_for("the confirmation", WAIT, |s| {
        s.contains(&format!("$ smgctl workers add {}", urls[2]))
    })
    .await;
    tui.keys(&["y"]);
    let screen = tui
        .wait_for("the new worker to be listed and ready", WAIT, |s| {
            line_with(s, &format!("{} ", urls[2])).is_some_and(|l| l.contains("● ready"))
        })
        .await;
    assert!(screen.contains("┌ Workers (3)"), "{screen}");
    // And the gateway agrees.
    let listed = client.workers().list().await.unwrap();
    assert!(listed.workers.iter().any(|w| w.spec.url == urls[2]));

    // Keys view: create a key through the form; its secret shows once, the table lists it.
    tui.keys(&["6"]);
    tui.wait_for("the keys view", WAIT, |s| s.contains("┌ API keys ("))
        .await;
    tui.keys(&["a"]);
    tui.wait_for("the create-key form", WAIT, |s| {
        s.contains("Create API key")
    })
    .await;
    tui.type_text("e2e-key");
    tui.keys(&["Enter"]);
    tui.wait_for("the key confirmation", WAIT, |s| {
        s.contains("$ smgctl keys create --id e2e-key --role user")
    })
    .await;
    tui.keys(&["y"]);
    let screen = tui
        .wait_for("the new key and its secret", WAIT, |s| {
            s.contains("Copy it now")
                && s.lines()
                    .any(|l| l.starts_with("│▶ e2e-key ") && l.contains("● active"))
        })
        .await;
    let keys = client.keys().list().await.unwrap();
    let created = keys.keys.iter().find(|k| k.id == "e2e-key").unwrap();
    assert!(screen.contains(&created.masked_key), "{screen}");
    // Audit view: the creation is in the tail, newest first.
    tui.keys(&["7"]);
    tui.wait_for("the creation in the audit tail", WAIT, |s| {
        s.contains("┌ Audit log") && s.contains("POST /admin/api-keys")
    })
    .await;

    // q quits cleanly.
    tui.keys(&["q"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tui.exit_status().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(tui.exit_status(), Some(0), "{}", tui.capture());

    drop(tui);
    fleet.shutdown().await;
}
