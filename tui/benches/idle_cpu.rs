//! Idle CPU of the dashboard (issue 4): the real `smg-tui --interval 1s` in tmux against a real
//! gateway with a few simulated workers, left alone on the Overview; the CPU it used is read
//! from `/proc/<pid>/stat` (utime + stime) before and after.
//!
//! `cargo bench -p smg-tui --bench idle_cpu` (goal: ≤ 1 % of one core over 60 s).
//!
//! - `SMG_IDLE_SECS`: measured seconds (default 60), after a 5 s warm-up.
//! - `SMG_BIN`: the `smg` binary to run; otherwise `target/<profile>/smg`, then
//!   `target/debug/smg` (the gateway's own speed does not matter here), else it is built.
//!
//! Linux only (it reads `/proc`); needs tmux.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/tmux.rs"]
mod tmux;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use smg_sdk::WorkerSpec;
use smg_tests::mock::{MockConfig, MockFleet};
use tmux::Tmux;

const WORKERS: usize = 4;

/// A `smg launch` of our own, killed on drop.
struct Gateway {
    child: Child,
    url: String,
    metrics_url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smg_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SMG_BIN") {
        return path.into();
    }
    // target/<profile>/deps/idle_cpu-… → target/<profile>
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let target = profile.parent().unwrap().to_path_buf();
    for candidate in [profile.join("smg"), target.join("debug").join("smg")] {
        if candidate.exists() {
            return candidate;
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "smg-gateway", "--bin", "smg"])
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --bin smg failed");
    target.join("debug").join("smg")
}

fn start_gateway() -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(smg_binary())
        .args(["launch", "--host", "127.0.0.1", "--port", "0"])
        .arg("--store")
        .arg(dir.path().join("smg.db"))
        .args(["--prometheus-port", "0"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stdout.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                for (marker, kind) in [
                    ("smg listening on http://", "url"),
                    ("smg metrics on http://", "metrics"),
                ] {
                    if let Some(rest) = line.split(marker).nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send((kind, format!("http://{addr}")));
                    }
                }
            }
        });
    }
    let (mut url, mut metrics_url) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while url.is_none() || metrics_url.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(("url", u)) => url = Some(u),
            Ok((_, m)) => metrics_url = Some(m),
            Err(_) => panic!("smg did not start"),
        }
    }
    let metrics_url = metrics_url.unwrap();
    Gateway {
        child,
        url: url.unwrap(),
        metrics_url: if metrics_url.ends_with("/metrics") {
            metrics_url
        } else {
            format!("{metrics_url}/metrics")
        },
        _dir: dir,
    }
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the full line are 12 and 13 after "pid (comm)".
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !Path::new("/proc/self/stat").exists() || !Tmux::available() {
        println!("idle_cpu: skipped (needs Linux /proc and tmux)");
        return;
    }
    let secs: u64 = std::env::var("SMG_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let gw = start_gateway();
    let fleet = MockFleet::start(0, WORKERS, MockConfig::default())
        .await
        .unwrap();
    let client = smg_sdk::Client::builder(&gw.url).build().unwrap();
    for url in fleet.urls() {
        client
            .workers()
            .create_and_wait(&WorkerSpec::new(url), Duration::from_secs(60))
            .await
            .unwrap();
    }

    let tui = Tmux::start(
        Path::new(env!("CARGO_BIN_EXE_smg-tui")),
        &[
            "--url",
            gw.url.as_str(),
            "--metrics-url",
            gw.metrics_url.as_str(),
            "--interval",
            "1s",
        ],
        200,
        50,
    )
    .unwrap();
    tui.wait_for("the overview", Duration::from_secs(30), |s| {
        s.contains(&format!("workers {WORKERS} ({WORKERS} ready)"))
    })
    .await;
    let pid = tui.pane_pid().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "smg-tui", "pane pid {pid} is {comm:?}");
    let hz = clock_ticks_per_second();

    // Warm up (connections, first frames), then measure.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (elapsed, c1) = (t0.elapsed(), cpu_ticks(pid));
    let screen = tui.capture();
    assert!(tui.exit_status().is_none(), "smg-tui exited:\n{screen}");
    assert!(!screen.contains("GATEWAY"), "the gateway failed:\n{screen}");

    let cpu = (c1 - c0) as f64 / hz as f64;
    let pct = cpu / elapsed.as_secs_f64() * 100.0;
    println!(
        "smg-tui idle on the Overview, --interval 1s, {WORKERS} workers, 200x50, {:.0} s: \
         {:.2} s CPU ({} ticks at {hz} Hz) = {pct:.2} % of one core (goal <= 1 %){}",
        elapsed.as_secs_f64(),
        cpu,
        c1 - c0,
        if pct <= 1.0 { "" } else { "  ** OVER GOAL **" }
    );
    tui.keys(&["q"]);
    drop(tui);
    fleet.shutdown().await;
}
