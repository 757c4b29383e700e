//! The `smg` binary's start-up contract: bad input is a clear error and a non-zero exit,
//! never a silently empty registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn smg() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smg"))
}

#[test]
fn corrupt_store_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("smg.db");
    std::fs::write(&store, vec![0x5a; 16384]).unwrap();
    let output = smg()
        .args(["launch", "--port", "0", "--prometheus-port", "0", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("smg.db"), "{stderr}");
    assert!(stderr.contains("not a readable smg store"), "{stderr}");
}

#[test]
fn store_in_a_missing_directory_is_an_error() {
    let output = smg()
        .args([
            "launch",
            "--port",
            "0",
            "--prometheus-port",
            "0",
            "--store",
            "/no/such/dir/smg.db",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));
}

#[test]
fn invalid_startup_worker_url_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = smg()
        .args([
            "launch",
            "--port",
            "0",
            "--prometheus-port",
            "0",
            "--worker-urls",
            "localhost:8000",
            "--store",
        ])
        .arg(dir.path().join("s.db"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("worker_url"));
}

#[test]
fn help_lists_the_launch_flags() {
    let output = smg().args(["launch", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--host",
        "--port",
        "--worker-urls",
        "--health-check-interval-secs",
        "--health-check-timeout-secs",
        "--health-check-endpoint",
        "--store",
        "--max-payload-size",
        "--log-level",
        "--log-json",
    ] {
        assert!(help.contains(flag), "missing {flag}");
    }
}
