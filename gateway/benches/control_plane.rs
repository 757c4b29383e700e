//! Control-plane benchmarks (issue: foundation). Prints numbers measured side by side in one
//! run; run with `cargo bench -p smg-gateway --bench control_plane`.
//!
//! 1. `/get_loads` over 1000 simulated workers that answer after 20 ms, divided by the same
//!    call over 1 such worker (goal ≤ 2.0): the fan-out must be concurrent and bounded. The
//!    same calls made by a bare reqwest client, without the gateway, are measured alongside:
//!    the simulated workers share the machine's cores, so that is the floor here.
//! 2. `GET /workers` with 10,000 registered workers (health checks disabled): p50 (goal ≤ 10 ms).
//!
//! The first needs about 3 open files per simulated worker; the bench raises its soft
//! `RLIMIT_NOFILE` when it can, else run `ulimit -n 8192` first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use smg_gateway::workers::Worker;
use smg_gateway::{Gateway, GatewayConfig};
use smg_sdk::{ModelCard, RuntimeType, WorkerSpec, WorkerStatus};
use smg_tests::mock::{Fault, MockConfig, MockFleet};

fn config(dir: &tempfile::TempDir, name: &str) -> GatewayConfig {
    GatewayConfig {
        port: 0,
        // Two gateways run at once: neither may take the fixed default metrics port.
        prometheus_port: 0,
        store: dir.path().join(name),
        log_level: "warn".into(),
        ..GatewayConfig::default()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn gateway_with_fleet(dir: &tempfile::TempDir, name: &str, fleet: &MockFleet) -> Gateway {
    let gw = Gateway::start(config(dir, name)).await.unwrap();
    let client = smg_sdk::Client::builder(format!("http://{}", gw.addr))
        .build()
        .unwrap();
    for url in fleet.urls() {
        client
            .workers()
            .create(&WorkerSpec::new(url))
            .await
            .unwrap();
    }
    let want = fleet.urls().len();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = client.workers().list().await.unwrap();
        if list.workers.iter().filter(|w| w.is_healthy).count() == want {
            break;
        }
        assert!(Instant::now() < deadline, "workers did not register");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw
}

async fn time_get(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
    let elapsed = started.elapsed();
    assert!(!body.is_empty());
    elapsed
}

/// The floor of any fan-out on this machine: the same 1000 `/v1/loads` calls made straight
/// from a bare reqwest client with the same concurrency, each body parsed as JSON, no gateway.
async fn bare_fan_out(http: &reqwest::Client, fleet: &MockFleet) -> Duration {
    use futures::StreamExt;
    let started = Instant::now();
    let answered = futures::stream::iter(fleet.urls().iter().map(|url| async move {
        http.get(format!("{url}/v1/loads?include=core,disagg,queues,memory"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    }))
    .buffered(GatewayConfig::default().fanout_concurrency)
    .count()
    .await;
    assert_eq!(answered, fleet.urls().len());
    started.elapsed()
}

async fn bench_get_loads() {
    let slow = MockConfig {
        fault: Fault {
            latency_ms: 20,
            ..Fault::default()
        },
        ..MockConfig::default()
    };
    let many = MockFleet::start(0, 1000, slow.clone()).await.unwrap();
    let one = MockFleet::start(0, 1, slow).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gw_many = gateway_with_fleet(&dir, "many.db", &many).await;
    let gw_one = gateway_with_fleet(&dir, "one.db", &one).await;
    let http = reqwest::Client::new();
    let (url_many, url_one) = (
        format!("http://{}/get_loads", gw_many.addr),
        format!("http://{}/get_loads", gw_one.addr),
    );
    // Warm the connection pools.
    time_get(&http, &url_many).await;
    time_get(&http, &url_one).await;
    bare_fan_out(&http, &many).await;
    bare_fan_out(&http, &one).await;
    let (mut t_many, mut t_one) = (Vec::new(), Vec::new());
    let (mut bare_many, mut bare_one) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        t_many.push(time_get(&http, &url_many).await);
        t_one.push(time_get(&http, &url_one).await);
        bare_many.push(bare_fan_out(&http, &many).await);
        bare_one.push(bare_fan_out(&http, &one).await);
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (m, o) = (median(t_many), median(t_one));
    let (bm, bo) = (median(bare_many), median(bare_one));
    println!(
        "get_loads: 1000 workers p50 {:.1} ms, 1 worker p50 {:.1} ms, ratio {:.2} (goal <= 2.0); \
         bare fan-out without the gateway (the floor here): {:.1} ms / {:.1} ms, ratio {:.2}",
        ms(m),
        ms(o),
        ms(m) / ms(o),
        ms(bm),
        ms(bo),
        ms(bm) / ms(bo)
    );
    gw_many.shutdown().await.unwrap();
    gw_one.shutdown().await.unwrap();
    many.shutdown().await;
    one.shutdown().await;
}

/// A spec shaped like a discovered SGLang worker's.
fn realistic_spec(i: usize) -> WorkerSpec {
    let mut spec = WorkerSpec::new(format!(
        "http://10.{}.{}.{}:30000",
        i / 65536,
        (i / 256) % 256,
        i % 256
    ));
    spec.runtime_type = RuntimeType::Sglang;
    let mut card = ModelCard::new("meta-llama/Llama-3.1-8B-Instruct");
    card.hf_model_type = Some("llama".into());
    card.architectures = vec!["LlamaForCausalLM".into()];
    card.context_length = Some(131072);
    card.tokenizer_path = Some("meta-llama/Llama-3.1-8B-Instruct".into());
    spec.models.push(card);
    for (k, v) in [
        ("served_model_name", "meta-llama/Llama-3.1-8B-Instruct"),
        ("model_path", "/models/meta-llama/Llama-3.1-8B-Instruct"),
        ("tokenizer_path", "meta-llama/Llama-3.1-8B-Instruct"),
        ("tp_size", "1"),
        ("dp_size", "1"),
        ("version", "0.4.9"),
        ("max_running_requests", "256"),
        ("context_length", "131072"),
        ("is_generation", "true"),
        ("model_type", "llama"),
        ("zone", "us-east-1a"),
    ] {
        spec.labels.insert(k.into(), v.into());
    }
    spec.health.disable_health_check = Some(true);
    spec
}

async fn bench_list_workers() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(config(&dir, "list.db")).await.unwrap();
    let registry = &gw.state.workers.registry;
    for i in 0..10_000 {
        let spec = realistic_spec(i);
        let id = registry.reserve_id_for_url(&spec.url);
        registry.insert(Arc::new(Worker::new(id, spec, WorkerStatus::Ready)));
    }
    let http = reqwest::Client::new();
    let url = format!("http://{}/workers", gw.addr);
    let mut bytes = 0;
    for _ in 0..3 {
        bytes = http
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len();
    }
    let mut times = Vec::new();
    for _ in 0..50 {
        times.push(time_get(&http, &url).await);
    }
    times.sort();
    // The same document rendered in-process, without HTTP: what the gateway itself spends.
    let mut render = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        let body = gw.state.workers.list_json(None);
        render.push(started.elapsed());
        assert_eq!(body.len(), bytes);
    }
    println!(
        "GET /workers with 10000 workers ({:.1} MB): p50 {:.2} ms, p90 {:.2} ms (goal p50 <= 10 ms); \
         rendering alone p50 {:.2} ms",
        bytes as f64 / 1e6,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 9 / 10].as_secs_f64() * 1e3,
        median(render).as_secs_f64() * 1e3,
    );
    gw.shutdown().await.unwrap();
}

/// The soft and hard open-files limits, from `/proc/self/limits` (`None` = unlimited).
fn open_files_limits() -> Option<(Option<u64>, Option<u64>)> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut values = line.split_whitespace().skip(3).map(|v| v.parse().ok());
    Some((values.next()?, values.next()?))
}

/// Raise the soft open-files limit to `needed` if the hard limit allows. std has no
/// `setrlimit`, so this asks util-linux's `prlimit` to do it for this process.
fn ensure_open_files(needed: u64) {
    let Some((soft, hard)) = open_files_limits() else {
        return;
    };
    if soft.is_none_or(|s| s >= needed) {
        return;
    }
    let target = hard.map_or(needed, |h| h.min(needed));
    let _ = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={target}:"))
        .status();
    let now = open_files_limits().and_then(|(soft, _)| soft);
    if now.is_some_and(|s| s < needed) {
        eprintln!(
            "warning: open-files limit is {} (need about {needed}); run `ulimit -n {needed}` first",
            now.unwrap_or_default()
        );
    }
}

fn main() {
    // `cargo test --benches` passes `--bench`-less args; only run when benchmarking.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    ensure_open_files(8192);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        bench_list_workers().await;
        bench_get_loads().await;
    });
}
