//! Black-box test support: run the real `smg` (and `smgctl`, `smg-tui`) binaries on
//! 127.0.0.1 with ephemeral ports and a private store, and wait for things with bounded
//! polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Path of a workspace binary, building it once per test process if it is missing.
pub fn bin_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(|p| {
            if p.ends_with("deps") {
                p.parent()
            } else {
                Some(p)
            }
        })
        .expect("target dir")
        .to_path_buf();
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if !path.exists() && !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--bin", name])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --bin {name} failed");
        built.push(name.to_string());
    }
    assert!(path.exists(), "{} not found", path.display());
    path
}

/// Poll `check` until it returns `Some`, at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running `smg launch` process.
pub struct GatewayProcess {
    child: Child,
    pub url: String,
    pub port: u16,
    /// `http://…/metrics` of the Prometheus listener.
    pub metrics_url: String,
    args: Vec<String>,
    store: PathBuf,
    _dir: Option<tempfile::TempDir>,
    log: Arc<Mutex<String>>,
}

/// Flags every test gateway gets unless it overrides them: fast probes, short timeouts.
pub const FAST: &[&str] = &[
    "--prometheus-port",
    "0",
    "--health-check-interval-secs",
    "1",
    "--worker-startup-check-interval-secs",
    "1",
    "--worker-startup-timeout-secs",
    "3",
    "--drain-settle-secs",
    "1",
    "--load-timeout-secs",
    "2",
    "--flush-timeout-secs",
    "2",
    "--discovery-timeout-secs",
    "2",
];

impl GatewayProcess {
    /// Start a gateway with a fresh store and `args` (after [`FAST`]).
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("smg.db");
        let mut gw = Self::spawn(
            store,
            args.iter().map(|s| s.to_string()).collect(),
            None,
            None,
        )
        .await;
        gw._dir = Some(dir);
        gw
    }

    /// Start a gateway on an existing store path.
    pub async fn start_with_store(store: &Path, args: &[&str]) -> Self {
        Self::spawn(
            store.to_path_buf(),
            args.iter().map(|s| s.to_string()).collect(),
            None,
            None,
        )
        .await
    }

    async fn spawn(
        store: PathBuf,
        args: Vec<String>,
        port: Option<u16>,
        log: Option<Arc<Mutex<String>>>,
    ) -> Self {
        let port_arg = port.unwrap_or(0).to_string();
        let mut cmd = Command::new(bin_path("smg"));
        cmd.arg("launch")
            .args(["--host", "127.0.0.1", "--port", &port_arg])
            .arg("--store")
            .arg(&store)
            .args(FAST)
            .args(&args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn smg");
        let log = log.unwrap_or_default();
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stderr.take().expect("stderr")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().expect("stdout")),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("smg metrics on http://").nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send(Ok(format!("metrics:{addr}")));
                    }
                    if let Some(rest) = line.split("smg listening on http://").nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send(Ok(addr));
                    }
                    log.lock().unwrap().push_str(&format!("{line}\n"));
                }
                let _ = tx.send(Err(()));
            });
        }
        drop(tx);
        let found = tokio::task::spawn_blocking(move || {
            let mut metrics = String::new();
            loop {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(Ok(addr)) => match addr.strip_prefix("metrics:") {
                        Some(m) => metrics = format!("http://{m}"),
                        None => return Some((addr, metrics)),
                    },
                    Ok(Err(())) => continue,
                    Err(_) => return None,
                }
            }
        })
        .await
        .unwrap();
        let Some((addr, metrics_url)) = found else {
            let _ = child.kill();
            panic!("smg did not start:\n{}", log.lock().unwrap());
        };
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            child,
            url: format!("http://{addr}"),
            port,
            metrics_url,
            args,
            store,
            _dir: None,
            log,
        }
    }

    /// An SDK client without credentials.
    pub fn client(&self) -> smg_sdk::Client {
        smg_sdk::Client::builder(&self.url)
            .poll_interval(Duration::from_millis(100))
            .build()
            .expect("client")
    }

    /// An SDK client with an admin token.
    pub fn admin_client(&self, token: &str) -> smg_sdk::Client {
        smg_sdk::Client::builder(&self.url)
            .admin_token(token)
            .poll_interval(Duration::from_millis(100))
            .build()
            .expect("client")
    }

    pub fn store_path(&self) -> &Path {
        &self.store
    }

    /// Everything the process logged so far.
    pub fn logs(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Stop with SIGTERM (graceful), falling back to kill.
    pub fn stop(&mut self) {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `kill -9`: the process gets no chance to flush or clean up (a crash, an OOM kill).
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for the exit (at most 20 s, then `kill -9`); the exit status, `None`
    /// when it had to be killed.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        #[cfg(unix)]
        {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Some(status);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill_hard();
        None
    }

    /// Start again on the same store and flags after the process ended ([`kill_hard`],
    /// [`terminate`]), once: panics with the log when that start fails. A fresh ephemeral
    /// port, so nothing else can have taken it meanwhile; `url` and `port` follow.
    ///
    /// [`kill_hard`]: Self::kill_hard
    /// [`terminate`]: Self::terminate
    pub async fn start_again(&mut self) {
        let dir = self._dir.take();
        let mut next = Self::spawn(
            self.store.clone(),
            self.args.clone(),
            None,
            Some(self.log.clone()),
        )
        .await;
        next._dir = dir;
        drop(std::mem::replace(self, next));
    }

    /// Stop and start again on the same store, port and flags.
    pub async fn restart(&mut self) {
        self.stop();
        let dir = self._dir.take();
        let mut next = Self::spawn(
            self.store.clone(),
            self.args.clone(),
            Some(self.port),
            Some(self.log.clone()),
        )
        .await;
        next._dir = dir;
        drop(std::mem::replace(self, next));
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the real `smgctl --url URL ARGS` as a script would: no context file, no connection
/// variables except `SMG_ADMIN_TOKEN` = `token`, `stdin` piped in when given; at most 60 s.
pub async fn smgctl(
    url: &str,
    token: Option<&str>,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(bin_path("smgctl"));
    cmd.arg("--url")
        .arg(url)
        .args(args)
        .env("NO_COLOR", "1")
        .env("SMGCTL_CONFIG", "/nonexistent/smgctl.toml")
        .env_remove("SMG_ADMIN_TOKEN")
        .env_remove("SMG_API_KEY")
        .env_remove("SMG_CONTEXT")
        .env_remove("SMG_URL")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        cmd.env("SMG_ADMIN_TOKEN", token);
    }
    let mut child = cmd.spawn().expect("spawn smgctl");
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("smgctl hung")
        .expect("smgctl output")
}

/// A command's stdout as text.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert a command's exit code, showing both streams when it differs.
#[track_caller]
pub fn assert_exit(o: &std::process::Output, code: i32, what: &str) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{what}\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}
