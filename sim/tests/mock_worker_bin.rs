//! The `smg-mock-worker` binary: flags, stdout contract and signal handling.

// A test crate: helpers outside `#[test]` functions may panic too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::prelude::*;

/// Kills the child if the test fails before it is stopped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    Command::cargo_bin("smg-mock-worker").unwrap()
}

#[test]
fn help_and_bad_flags() {
    bin().arg("--help").assert().success();
    bin().args(["--count", "0"]).assert().failure();
    bin().args(["--runtime", "tgi"]).assert().failure();
}

#[tokio::test]
async fn prints_urls_serves_and_stops_on_sigterm() {
    let child = bin()
        .args([
            "--base-port",
            "0",
            "--count",
            "2",
            "--runtime",
            "vllm",
            "--model",
            "m1",
            "--api-key",
            "k",
            "--health",
            "fail",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut urls = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        urls.push(line.trim_end().to_string());
    }
    assert!(
        urls.iter().all(|u| u.starts_with("http://127.0.0.1:")),
        "{urls:?}"
    );
    assert_ne!(urls[0], urls[1]);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let version = client
        .get(format!("{}/version", urls[1]))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 200);
    assert_eq!(version.headers()["x-mock-worker"], "1");
    let health = client
        .get(format!("{}/health", urls[0]))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503, "--health fail sets the initial fault");
    let unauthorized = client
        .get(format!("{}/v1/models", urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);

    // The fault control surface: older bodies still work, `status` is a new field.
    let fault: serde_json::Value = client
        .post(format!("{}/_mock/fault", urls[1]))
        .json(&serde_json::json!({"status": 429}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fault["status"], 429);
    assert_eq!(fault["health"], "fail");
    let limited = client
        .post(format!("{}/v1/completions", urls[1]))
        .bearer_auth("k")
        .json(&serde_json::json!({"prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let fault: serde_json::Value = client
        .post(format!("{}/_mock/fault", urls[1]))
        .json(&serde_json::json!({"health": "ok", "status": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fault["status"], serde_json::Value::Null);
    assert_eq!(fault["health"], "ok");

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.is_empty(), "nothing but URLs on stdout: {rest:?}");
    assert!(child.0.wait().unwrap().success());
}
