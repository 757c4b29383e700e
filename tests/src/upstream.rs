//! The real upstream gateway, SMG 1.13.0, for interop tests: its release wheel (it contains the
//! compiled gateway) is installed once per machine into a virtual environment under the cargo
//! target dir, and [`UpstreamGateway`] runs `smg launch` on 127.0.0.1 until dropped.
//!
//! A machine that cannot install the wheel fails the tests that need it, with the cause and the
//! remedy: these tests exist to run in CI and must never pass by skipping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The upstream release the interop tests run against.
pub const UPSTREAM_VERSION: &str = "1.13.0";

/// Environment variable naming an already installed upstream `smg` executable, which is used
/// instead of installing the wheel (e.g. on a machine without access to the package index).
pub const UPSTREAM_BIN_ENV: &str = "SMG_UPSTREAM_BIN";

/// Longest the first installation may take (venv + download + install); pip's own network
/// timeout is shorter, so an unreachable index fails well before this.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest a test waits for another process's installation (it holds the lock meanwhile).
const LOCK_TIMEOUT: Duration = Duration::from_secs(360);
/// Longest `smg launch` may take to answer `GET /health`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts at starting when the ports picked were taken in between.
const START_ATTEMPTS: usize = 3;

/// What to run and how to fix it, shown whenever the wheel cannot be installed.
fn remedy(venv: &Path) -> String {
    format!(
        "the interop tests need upstream SMG {UPSTREAM_VERSION}: install Python 3 with its venv \
         module (Debian: apt-get install python3-venv) and allow access to the Python package \
         index (pypi.org), or install it yourself with `python3 -m venv {dir} && {dir}/bin/pip \
         install smg=={UPSTREAM_VERSION}`, or point {UPSTREAM_BIN_ENV} at an installed `smg`",
        dir = venv.display()
    )
}

/// `target/` of this build: the test executable is `target/<profile>/deps/<name>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    // `<profile>` → `target`
    dir.parent().map(Path::to_path_buf).unwrap_or(dir)
}

/// The upstream `smg` executable, installing the wheel on first use (once per machine; other
/// test processes wait on a lock file meanwhile). The error says what failed and how to fix it.
pub fn upstream_smg() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os(UPSTREAM_BIN_ENV).filter(|v| !v.is_empty()) {
            let bin = PathBuf::from(bin);
            return if bin.is_file() {
                Ok(bin)
            } else {
                Err(format!(
                    "{UPSTREAM_BIN_ENV}={} is not a file: unset it or point it at an installed \
                     upstream `smg`",
                    bin.display()
                ))
            };
        }
        install(
            &target_dir().join(format!("upstream-smg-{UPSTREAM_VERSION}")),
            "python3",
        )
    })
    .clone()
}

/// Install into `root/venv` with the interpreter `python` under the lock `root/install.lock`;
/// `root/venv/installed` marks a finished installation, so an interrupted one is redone rather
/// than half used.
fn install(root: &Path, python: &str) -> Result<PathBuf, String> {
    let venv = root.join("venv");
    let bin = venv.join("bin").join("smg");
    let marker = venv.join("installed");
    if bin.is_file() && marker.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(root)
        .map_err(|e| format!("cannot create {}: {e}; {}", root.display(), remedy(&venv)))?;
    let lock_path = root.join("install.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock_bounded(&lock, &lock_path)?;
    // Another process may have finished while this one waited.
    if bin.is_file() && marker.is_file() {
        return Ok(bin);
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(|e| {
            format!(
                "cannot remove the unfinished installation {}: {e}",
                venv.display()
            )
        })?;
    }
    let deadline = Instant::now() + INSTALL_TIMEOUT;
    let venv_arg = venv.to_string_lossy().into_owned();
    run_bounded(
        Command::new(python).args(["-m", "venv", &venv_arg]),
        deadline,
        &format!("{python} -m venv"),
    )
    .map_err(|e| {
        format!(
            "cannot create a Python virtual environment: {e}; {}",
            remedy(&venv)
        )
    })?;
    let pip = venv.join("bin").join("pip");
    run_bounded(
        Command::new(&pip)
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--timeout",
                "30",
                "--retries",
                "2",
            ])
            .arg(format!("smg=={UPSTREAM_VERSION}")),
        deadline,
        &format!("pip install smg=={UPSTREAM_VERSION}"),
    )
    .map_err(|e| {
        format!(
            "cannot install the upstream SMG {UPSTREAM_VERSION} wheel (no network to the Python \
             package index?): {e}; {}",
            remedy(&venv)
        )
    })?;
    if !bin.is_file() {
        return Err(format!(
            "pip installed smg=={UPSTREAM_VERSION} but {} is missing; {}",
            bin.display(),
            remedy(&venv)
        ));
    }
    std::fs::write(&marker, format!("smg=={UPSTREAM_VERSION}\n"))
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    // `lock` is released when dropped, after the marker is written.
    Ok(bin)
}

/// Take the install lock, waiting at most [`LOCK_TIMEOUT`].
fn lock_bounded(lock: &File, path: &Path) -> Result<(), String> {
    let deadline = Instant::now() + LOCK_TIMEOUT;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "another process held {} for {LOCK_TIMEOUT:?} (a hung installation?): \
                     stop it, or delete {} and rerun",
                    path.display(),
                    path.parent().unwrap_or(path).display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
    }
}

/// Run `cmd` to completion before `deadline` (killed after it), keeping the end of its output
/// for the error.
fn run_bounded(cmd: &mut Command, deadline: Instant, what: &str) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let readers: Vec<_> = [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ]
    .into_iter()
    .map(|mut stream| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stream.read_to_string(&mut text);
            text
        })
    })
    .collect();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let output: String = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();
    let tail: String = {
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(12)..].join("\n")
    };
    match status {
        Some(s) if s.success() => Ok(()),
        Some(s) => Err(format!("{what} failed ({s}):\n{tail}")),
        None => Err(format!(
            "{what} did not finish within {INSTALL_TIMEOUT:?}:\n{tail}"
        )),
    }
}

/// Two distinct free loopback ports (the gateway refuses port 0, so they are picked here and
/// released just before it binds them; a lost race is retried by [`UpstreamGateway::start`]).
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind");
    (
        a.local_addr().expect("addr").port(),
        b.local_addr().expect("addr").port(),
    )
}

/// Flags every upstream test gateway gets: loopback metrics, fast probes and load polls, and no
/// tokenizer downloads for the workers' models (only local tokenizers in tests).
pub const UPSTREAM_FAST: &[&str] = &[
    "--log-level",
    "warn",
    "--disable-tokenizer-autoload",
    "--health-check-interval-secs",
    "1",
    "--health-check-timeout-secs",
    "2",
    "--load-monitor-interval",
    "1",
    "--worker-startup-timeout-secs",
    "10",
    "--worker-startup-check-interval",
    "1",
];

/// A running upstream `smg launch`, killed on drop.
pub struct UpstreamGateway {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The HTTP port.
    pub port: u16,
    /// `http://127.0.0.1:PORT/metrics` of its Prometheus listener.
    pub metrics_url: String,
    log: Arc<Mutex<String>>,
}

impl UpstreamGateway {
    /// Install if needed, then start `smg launch` with [`UPSTREAM_FAST`] and `args` and wait
    /// until it answers `GET /health`. Panics with the cause and the remedy when the wheel
    /// cannot be installed or the gateway does not start.
    pub async fn start(args: &[&str]) -> Self {
        let bin = tokio::task::spawn_blocking(upstream_smg)
            .await
            .expect("install task");
        let bin = match bin {
            Ok(bin) => bin,
            Err(e) => panic!("upstream SMG {UPSTREAM_VERSION} is not available: {e}"),
        };
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin, args).await {
                Ok(gw) => return gw,
                // Only a port taken between picking and binding is worth another go.
                Err(log) if log.contains("in use") => last_log = log,
                Err(log) => panic!(
                    "upstream SMG {UPSTREAM_VERSION} ({}) did not start:\n{log}",
                    bin.display()
                ),
            }
        }
        panic!("upstream SMG could not bind free ports {START_ATTEMPTS} times:\n{last_log}");
    }

    async fn try_start(bin: &Path, args: &[&str]) -> Result<Self, String> {
        let (port, metrics_port) = free_ports();
        let mut child = Command::new(bin)
            .arg("launch")
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--prometheus-host", "127.0.0.1"])
            .args(["--prometheus-port", &metrics_port.to_string()])
            .args(UPSTREAM_FAST)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let log: Arc<Mutex<String>> = Arc::default();
        for stream in [
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn Read + Send>,
            Box::new(child.stdout.take().expect("stdout")),
        ] {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_str(&format!("{line}\n"));
                }
            });
        }
        let mut gw = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
            log,
        };
        let probe = smg_sdk::Client::builder(&gw.url)
            .request_timeout(Duration::from_secs(2))
            .max_retries(0)
            .build()
            .expect("client");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = gw.child.try_wait() {
                // Give the log readers a moment to collect the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(format!("exited with {status}:\n{}", gw.logs()));
            }
            if probe.health().await.is_ok() {
                return Ok(gw);
            }
            if Instant::now() >= deadline {
                let log = gw.logs();
                gw.kill();
                return Err(format!(
                    "no answer on {}/health within {START_TIMEOUT:?}:\n{log}",
                    gw.url
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An SDK client without credentials (the test gateways run without auth).
    pub fn client(&self) -> smg_sdk::Client {
        smg_sdk::Client::builder(&self.url)
            .poll_interval(Duration::from_millis(100))
            .build()
            .expect("client")
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for UpstreamGateway {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a usable Python the error names the cause and every remedy; nothing is left
    /// marked as installed.
    #[test]
    fn no_python_fails_with_the_remedy() {
        let root = tempfile::tempdir().unwrap();
        let err = install(root.path(), "/nonexistent/python3").unwrap_err();
        assert!(
            err.contains("cannot run /nonexistent/python3 -m venv"),
            "{err}"
        );
        for remedy in [
            "apt-get install python3-venv",
            "pypi.org",
            "pip install smg==1.13.0",
            UPSTREAM_BIN_ENV,
        ] {
            assert!(err.contains(remedy), "{remedy} missing from: {err}");
        }
        assert!(!root.path().join("venv").join("installed").exists());
    }

    /// A failing `python -m venv` (here `false`, which ignores its arguments) is reported with
    /// its exit status.
    #[test]
    fn failing_venv_is_reported() {
        let root = tempfile::tempdir().unwrap();
        let err = install(root.path(), "false").unwrap_err();
        assert!(
            err.starts_with("cannot create a Python virtual environment: false -m venv failed"),
            "{err}"
        );
        assert!(err.contains("apt-get install python3-venv"), "{err}");
    }

    /// A finished installation is reused without running anything.
    #[test]
    fn finished_installation_is_reused() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("venv").join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("smg"), "").unwrap();
        std::fs::write(root.path().join("venv").join("installed"), "").unwrap();
        assert_eq!(
            install(root.path(), "/nonexistent/python3").unwrap(),
            bin.join("smg")
        );
    }
}
