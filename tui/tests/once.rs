//! `smg-tui --once`: the real binary prints the Overview and Workers frames of a real gateway
//! as text (every Workers column fits the default 160-column frame), and exits 1 with the
//! frame and its banner when the gateway is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use smg_sdk::WorkerSpec;
use smg_tests::harness::GatewayProcess;
use smg_tests::mock::{MockConfig, MockFleet};

fn once(url: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_smg-tui"))
        .args(["--once", "--url", url])
        .env_remove("SMG_URL")
        .env_remove("SMG_ADMIN_TOKEN")
        .env("XDG_CONFIG_HOME", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn once_prints_the_overview_and_every_workers_column() {
    let gw = GatewayProcess::start(&[]).await;
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let url = fleet.urls()[0].clone();
    gw.client()
        .workers()
        .create_and_wait(&WorkerSpec::new(&url), Duration::from_secs(30))
        .await
        .unwrap();

    let gw_url = gw.url.clone();
    let (code, screen) = tokio::task::spawn_blocking(move || once(&gw_url))
        .await
        .unwrap();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Overview"), "{screen}");
    let header = screen
        .lines()
        .find(|l| l.contains("URL") && l.contains("STATUS"))
        .unwrap_or_else(|| panic!("no Workers header in\n{screen}"));
    for column in [
        "ID",
        "URL",
        "MODEL",
        "TYPE",
        "RUNTIME",
        "STATUS",
        "BREAKER",
        "RUN",
        "WAIT",
        "TOKEN USAGE",
        "HIT%",
        "GEN TOK/S",
        "REQ/S",
        "ERR%",
        "LOAD",
        "PRIO",
    ] {
        assert!(header.contains(column), "{column} missing from {header:?}");
    }
    let row = screen
        .lines()
        .find(|l| l.contains(&format!("{url} ")))
        .unwrap_or_else(|| panic!("{url} not in\n{screen}"));
    assert!(row.contains("ready") && row.contains("sglang"), "{row}");
}

#[test]
fn once_exits_1_with_the_banner_when_unreachable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, screen) = once(&format!("http://127.0.0.1:{port}"));
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("GATEWAY UNREACHABLE"), "{screen}");
}
