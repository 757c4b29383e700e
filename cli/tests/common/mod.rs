//! A wiremock gateway and helpers to run the real `smgctl` binary against it.

// Test helpers panic on purpose; not every test binary uses every helper.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

pub const W1: &str = "01990d3e-5a1c-7b2e-9f00-3c4d5e6f7a8b";
pub const W2: &str = "01990d3f-77aa-7c01-8e3b-5d6e7f8091a2";
pub const W3: &str = "01990d40-1b2c-7d3e-8f40-5a6b7c8d9e0f";

/// A mock gateway plus a private config directory.
pub struct Gateway {
    pub server: MockServer,
    pub home: TempDir,
}

impl Gateway {
    pub async fn start() -> Self {
        Self {
            server: MockServer::start().await,
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config_path(&self) -> std::path::PathBuf {
        self.home.path().join("config.toml")
    }

    /// `smgctl` pointed at the mock through `SMG_URL`, with no colour, no credentials from the
    /// environment, and a config file of its own.
    pub fn cmd(&self) -> Command {
        let mut cmd = base_cmd(&self.config_path());
        cmd.env("SMG_URL", self.server.uri());
        cmd
    }

    /// Run `smgctl args…` with empty stdin.
    pub async fn run(&self, args: &[&str]) -> Output {
        run_cmd(self.cmd(), args, "").await
    }

    /// Run `smgctl args…` with `stdin`.
    pub async fn run_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run_cmd(self.cmd(), args, stdin).await
    }

    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap()
    }

    /// Bodies of the requests received with this method and path, as JSON.
    pub async fn bodies(&self, method: &str, path: &str) -> Vec<Value> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.method.as_str() == method && r.url.path() == path)
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    pub async fn count(&self, method: &str, path: &str) -> usize {
        self.requests()
            .await
            .iter()
            .filter(|r| r.method.as_str() == method && r.url.path() == path)
            .count()
    }
}

/// `smgctl` with a scrubbed environment and the given config file.
pub fn base_cmd(config: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("smgctl").unwrap();
    for var in [
        "SMG_URL",
        "SMG_ADMIN_TOKEN",
        "SMG_API_KEY",
        "SMG_CONTEXT",
        "CLICOLOR_FORCE",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .env("SMGCTL_CONFIG", config)
        .timeout(Duration::from_secs(60));
    cmd
}

/// Run a prepared command off the async runtime (the mock keeps serving meanwhile).
pub async fn run_cmd(mut cmd: Command, args: &[&str], stdin: &str) -> Output {
    cmd.args(args).write_stdin(stdin.to_string());
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Assert the exit code, showing both streams when it is wrong.
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// `std::process::Command` for the binary, for tests that stream its output.
pub fn std_cmd(gw: &Gateway, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_smgctl"));
    for var in [
        "SMG_ADMIN_TOKEN",
        "SMG_API_KEY",
        "SMG_CONTEXT",
        "CLICOLOR_FORCE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1")
        .env("SMGCTL_CONFIG", gw.config_path())
        .env("SMG_URL", gw.server.uri())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Read up to `n` lines of the child's stdout (15 s at most), then kill it.
pub fn read_lines_then_kill(mut child: Child, n: usize) -> Vec<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut lines = Vec::new();
    while lines.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(line)) => lines.push(line),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// Wait for the child to exit by itself (15 s at most, then kill it and fail).
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("smgctl did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Answers with each template in turn, then repeats the last one.
pub struct Sequence {
    templates: Vec<ResponseTemplate>,
    next: Mutex<usize>,
}

impl Sequence {
    pub fn new(templates: Vec<ResponseTemplate>) -> Self {
        assert!(!templates.is_empty());
        Self {
            templates,
            next: Mutex::new(0),
        }
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut next = self.next.lock().unwrap();
        let i = (*next).min(self.templates.len() - 1);
        *next += 1;
        self.templates[i].clone()
    }
}

/// Answers the n-th call with `f(n)`.
pub struct Counter<F>(pub Mutex<usize>, pub F);

impl<F: Fn(usize) -> ResponseTemplate + Send + Sync> Respond for Counter<F> {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut n = self.0.lock().unwrap();
        let out = (self.1)(*n);
        *n += 1;
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies shaped like the real gateway's

/// A registered SGLang worker serving Llama, ready.
pub fn worker_llama() -> Value {
    json!({
        "id": W1,
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "url": "http://10.0.0.5:30000",
        "models": [{"id": "meta-llama/Llama-3.1-8B-Instruct",
                    "model_type": ["chat", "completions", "responses", "tools"],
                    "hf_model_type": "llama", "architectures": ["LlamaForCausalLM"],
                    "context_length": 131072,
                    "tokenizer_path": "meta-llama/Llama-3.1-8B-Instruct"}],
        "worker_type": "regular", "connection_mode": "http", "runtime_type": "sglang",
        "labels": {"dp_size": "1", "served_model_name": "meta-llama/Llama-3.1-8B-Instruct",
                   "tp_size": "1"},
        "priority": 50, "cost": 1.0, "max_connection_attempts": 20, "http2": false,
        "is_healthy": true, "status": "ready", "load": 3, "circuit_breaker": "closed"
    })
}

/// A gRPC vLLM decode worker that is failing its health checks.
pub fn worker_qwen() -> Value {
    json!({
        "id": W2,
        "model_id": "Qwen/Qwen2.5-7B-Instruct",
        "url": "grpc://10.0.0.6:50051",
        "models": [{"id": "Qwen/Qwen2.5-7B-Instruct",
                    "model_type": ["chat", "completions", "responses", "tools"]}],
        "worker_type": "decode", "connection_mode": "grpc", "runtime_type": "vllm",
        "labels": {"zone": "b"},
        "priority": 10, "cost": 0.5, "max_connection_attempts": 20, "http2": false,
        "is_healthy": false, "status": "not_ready", "load": 0, "circuit_breaker": "open"
    })
}

/// The pending form of a worker whose registration job is `job_state`.
pub fn worker_pending(id: &str, job_state: &str, message: Option<&str>) -> Value {
    json!({
        "id": id, "url": "http://10.0.0.9:8000", "worker_type": "regular",
        "connection_mode": "http", "runtime_type": "unspecified", "priority": 50, "cost": 1.0,
        "max_connection_attempts": 20, "http2": false, "is_healthy": false, "status": "pending", "load": 0,
        "job_status": {"job_type": "AddWorker", "worker_url": "http://10.0.0.9:8000",
                       "status": job_state, "message": message, "timestamp": 1_754_600_000u64}
    })
}

/// The same worker once registered and ready.
pub fn worker_ready(id: &str) -> Value {
    json!({
        "id": id, "model_id": "mistralai/Mistral-7B-Instruct-v0.3", "url": "http://10.0.0.9:8000",
        "models": [{"id": "mistralai/Mistral-7B-Instruct-v0.3",
                    "model_type": ["chat", "completions", "responses", "tools"]}],
        "worker_type": "regular", "connection_mode": "http", "runtime_type": "sglang",
        "labels": {"team": "search"},
        "priority": 70, "cost": 2.0, "max_connection_attempts": 20, "http2": false,
        "is_healthy": true, "status": "ready", "load": 0
    })
}

pub fn worker_list(workers: &[Value]) -> Value {
    let count = |t: &str| workers.iter().filter(|w| w["worker_type"] == t).count();
    json!({
        "workers": workers, "total": workers.len(),
        "stats": {"prefill_count": count("prefill"), "decode_count": count("decode"),
                  "regular_count": count("regular")}
    })
}

pub fn created(id: &str, url: &str) -> Value {
    json!({"status": "accepted", "worker_id": id, "url": url,
           "location": format!("/workers/{id}"),
           "message": "Worker addition queued for background processing"})
}

pub fn accepted(id: &str, what: &str) -> Value {
    json!({"status": "accepted", "worker_id": id,
           "message": format!("Worker {what} queued for background processing")})
}

/// The D1 error body.
pub fn error_body(message: &str, kind: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "code": code}})
}

fn rank(rank: i32, running: i32, waiting: i32, used: i32, max: i32, hit: f64, tps: f64) -> Value {
    json!({"dp_rank": rank, "num_running_reqs": running, "num_waiting_reqs": waiting,
           "num_waiting_uncached_tokens": 0, "num_total_reqs": running + waiting,
           "num_used_tokens": used, "max_total_num_tokens": max,
           "token_usage": f64::from(used) / f64::from(max), "gen_throughput": tps,
           "cache_hit_rate": hit, "utilization": 0.5, "max_running_requests": 256})
}

/// `GET /get_loads`: a two-rank worker, a one-rank worker and one that did not answer.
pub fn loads_body() -> Value {
    json!({"workers": [
        {"worker": "http://10.0.0.5:30000", "load": 12000, "details": {
            "timestamp": "2026-01-15T12:00:00Z", "dp_rank_count": 2,
            "loads": [rank(0, 5, 2, 8000, 16384, 0.82, 45.2),
                      rank(1, 3, 0, 4000, 16384, 0.64, 30.1)]}},
        {"worker": "http://10.0.0.7:30000", "load": 1234, "details": {
            "timestamp": "2026-01-15T12:00:00Z", "dp_rank_count": 1,
            "loads": [rank(0, 1, 0, 1234, 32768, 0.5, 12.0)]}},
        {"worker": "http://10.0.0.8:30000", "load": -1}
    ]})
}
