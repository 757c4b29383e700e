//! `smgctl workers list -o json` against `curl -s` of the same URL (issue 3's benchmark):
//! a real gateway with 100 simulated workers registered (health checks disabled, so nothing
//! else runs meanwhile), both commands run alternately, and the ratio of their median wall
//! times printed (goal ≤ 1.5).
//!
//! `cargo bench -p smg-tests --bench smgctl_vs_curl` (release binaries; built here if
//! missing). `SMG_BENCH_RUNS` sets the runs per command (default and minimum 21).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use smg_sdk::WorkerSpec;
use smg_tests::harness::GatewayProcess;
use smg_tests::mock::{MockConfig, MockFleet};

const WORKERS: usize = 100;

/// The directory of this profile's binaries (`target/<profile>`), next to this bench.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    let dir = if deps.ends_with("deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// `smg` and `smgctl` of this bench's profile. The harness builds missing binaries in the
/// dev profile only, so build them here in the right one.
fn ensure_binaries(dir: &Path) {
    let missing = ["smg", "smgctl"].iter().any(|b| {
        !dir.join(format!("{b}{}", std::env::consts::EXE_SUFFIX))
            .exists()
    });
    if !missing {
        return;
    }
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => "release",
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            profile,
            "--bin",
            "smg",
            "--bin",
            "smgctl",
        ])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build of smg and smgctl failed");
}

fn curl_path() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("curl"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/curl"))
}

fn smgctl_cmd(smgctl: &Path, url: &str) -> Command {
    let mut cmd = Command::new(smgctl);
    cmd.args(["--url", url, "workers", "list", "-o", "json"])
        .env("NO_COLOR", "1")
        .env("SMGCTL_CONFIG", "/nonexistent/smgctl.toml");
    for var in ["SMG_URL", "SMG_ADMIN_TOKEN", "SMG_API_KEY", "SMG_CONTEXT"] {
        cmd.env_remove(var);
    }
    cmd
}

fn curl_cmd(curl: &Path, url: &str) -> Command {
    let mut cmd = Command::new(curl);
    cmd.args(["-s", &format!("{url}/workers")]);
    cmd
}

/// Wall time of one run, stdout discarded (the same for both commands).
fn time_run(mut cmd: Command) -> Duration {
    let started = Instant::now();
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    let elapsed = started.elapsed();
    assert!(status.success(), "{cmd:?} failed: {status}");
    elapsed
}

/// Both commands print the same workers.
fn check_outputs(smgctl: &Path, curl: &Path, url: &str) {
    let parse = |mut cmd: Command| -> smg_sdk::WorkerListResponse {
        let out = cmd.output().expect("spawn");
        assert!(out.status.success(), "{cmd:?}: {out:?}");
        serde_json::from_slice(&out.stdout).expect("a worker list")
    };
    let ours = parse(smgctl_cmd(smgctl, url));
    let theirs = parse(curl_cmd(curl, url));
    assert_eq!(ours.total, WORKERS);
    assert_eq!(ours, theirs);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` lists benches; only measure when benchmarking.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = std::env::var("SMG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21)
        .max(21);
    let dir = profile_dir();
    ensure_binaries(&dir);
    let smgctl = dir.join(format!("smgctl{}", std::env::consts::EXE_SUFFIX));
    let curl = curl_path();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The simulated workers live on this runtime: keep it running while measuring.
    let (fleet, gw) = rt.block_on(async {
        let fleet = MockFleet::start(0, WORKERS, MockConfig::default())
            .await
            .unwrap();
        let gw = GatewayProcess::start(&[]).await;
        let client = gw.client();
        let mut ids = Vec::new();
        for url in fleet.urls() {
            let mut spec = WorkerSpec::new(url);
            spec.health.disable_health_check = Some(true);
            ids.push(client.workers().create(&spec).await.unwrap().worker_id);
        }
        for id in &ids {
            client
                .workers()
                .wait_for_worker(id, Duration::from_secs(60))
                .await
                .unwrap();
        }
        (fleet, gw)
    });

    check_outputs(&smgctl, &curl, &gw.url);
    // Warm the page cache and the gateway.
    time_run(smgctl_cmd(&smgctl, &gw.url));
    time_run(curl_cmd(&curl, &gw.url));
    let (mut ours, mut theirs) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for i in 0..runs {
        // Alternate which goes first, so neither always follows the other.
        if i % 2 == 0 {
            ours.push(time_run(smgctl_cmd(&smgctl, &gw.url)));
            theirs.push(time_run(curl_cmd(&curl, &gw.url)));
        } else {
            theirs.push(time_run(curl_cmd(&curl, &gw.url)));
            ours.push(time_run(smgctl_cmd(&smgctl, &gw.url)));
        }
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "smgctl workers list -o json vs curl -s, {WORKERS} workers, {runs} alternating runs each: \
         smgctl p50 {:.2} ms, curl p50 {:.2} ms, ratio {:.2} (goal <= 1.5)",
        ours.as_secs_f64() * 1e3,
        theirs.as_secs_f64() * 1e3,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    drop(gw);
    rt.block_on(fleet.shutdown());
}
