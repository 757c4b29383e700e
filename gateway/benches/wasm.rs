//! WASM middleware benchmark: the latency one trivial `OnRequest` module (the pass-through
//! fixture, upstream's world) adds to a proxied request. Run with
//! `cargo bench -p smg-gateway --bench wasm`; prints the numbers.
//!
//! An in-process gateway (`--enable-wasm`) with one simulated worker answering at once;
//! sequential `POST /v1/chat/completions` over loopback HTTP/1.1 keep-alive. Rounds alternate
//! between no module and the module (registered by upload, removed after the round) so drift
//! affects both equally; p50 of every request of each kind, and the difference (goal ≤ 50 µs).
//! Also the cost of the module call alone, straight on the service (instantiate from the pool,
//! copy the request in, run, read the action back).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use smg_gateway::wasm::abi;
use smg_gateway::{Gateway, GatewayConfig};
use smg_sdk::{MiddlewareAttachPoint, WorkerSpec};
use smg_tests::mock::{DEFAULT_MODEL, MockConfig, MockFleet};

const ROUNDS: usize = 16;
const PER_ROUND: usize = 250;
const WARMUP: usize = 200;
const DIRECT_CALLS: usize = 5000;
const GOAL_US: f64 = 50.0;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    percentile(&sorted, 0.5)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn round(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    n: usize,
) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = http.post(url).json(body).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let bytes = response.bytes().await.unwrap();
        out.push(started.elapsed());
        assert!(!bytes.is_empty());
    }
    out
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "  {name:<22} n={:<5} p50 {:>8.1} µs   p90 {:>8.1} µs   p99 {:>8.1} µs",
        samples.len(),
        us(p50),
        us(percentile(&samples, 0.9)),
        us(percentile(&samples, 0.99))
    );
    p50
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = MockFleet::start(0, 1, MockConfig::default()).await.unwrap();
    let config = GatewayConfig {
        port: 0,
        prometheus_port: 0,
        store: dir.path().join("bench.db"),
        log_level: "warn".into(),
        enable_wasm: true,
        ..GatewayConfig::default()
    };
    let gw = Gateway::start(config).await.unwrap();
    let base = format!("http://{}", gw.addr);
    let client = smg_sdk::Client::new(&base).unwrap();
    client
        .workers()
        .create_and_wait(
            &WorkerSpec::new(fleet.urls()[0].clone()),
            Duration::from_secs(60),
        )
        .await
        .unwrap();

    let http = reqwest::Client::new();
    let url = format!("{base}/v1/chat/completions");
    let body = serde_json::json!({
        "model": DEFAULT_MODEL,
        "messages": [{"role": "user", "content": "Say hello to the benchmark."}],
        "max_tokens": 1
    });
    let module = smg_tests::wasm::pass_through();
    let points = [MiddlewareAttachPoint::OnRequest];

    // Warm up both paths (connections, the pooling allocator's slots, caches).
    round(&http, &url, &body, WARMUP).await;
    let added = client
        .wasm()
        .upload(module.clone(), "noop", &points)
        .await
        .unwrap();
    round(&http, &url, &body, WARMUP).await;
    client
        .wasm()
        .remove(added.modules[0].uuid().unwrap())
        .await
        .unwrap();

    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut paired = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let plain = round(&http, &url, &body, PER_ROUND).await;
        let added = client
            .wasm()
            .upload(module.clone(), "noop", &points)
            .await
            .unwrap();
        let wrapped = round(&http, &url, &body, PER_ROUND).await;
        paired.push(us(median(&wrapped)) - us(median(&plain)));
        without.extend(plain);
        with.extend(wrapped);
        client
            .wasm()
            .remove(added.modules[0].uuid().unwrap())
            .await
            .unwrap();
    }

    println!("WASM middleware: POST /v1/chat/completions through the gateway to a mock worker");
    summary("no module", without);
    summary("one OnRequest module", with);
    // Each round pair ran back to back, so its difference is free of the drift between
    // rounds that this 2-core machine shows; the median pair is the headline.
    paired.sort_by(f64::total_cmp);
    let added_us = paired[paired.len() / 2];
    println!(
        "  added latency p50 (median of {ROUNDS} paired rounds, range {:.1}..{:.1}): {added_us:.1} µs \
         (goal <= {GOAL_US:.0} µs): {}",
        paired[0],
        paired[paired.len() - 1],
        if added_us <= GOAL_US {
            "met"
        } else {
            "NOT met"
        }
    );

    // The module call alone.
    let added = client.wasm().upload(module, "noop", &points).await.unwrap();
    let wasm = gw.state.wasm.clone().unwrap();
    let loaded = wasm.snapshot()[0].clone();
    let request = abi::Request {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        query: String::new(),
        headers: vec![
            abi::Header {
                name: "content-type".into(),
                value: "application/json".into(),
            },
            abi::Header {
                name: "x-request-id".into(),
                value: "chatcmpl-0123456789abcdef01234567".into(),
            },
        ],
        body: serde_json::to_vec(&body).unwrap(),
        request_id: "chatcmpl-0123456789abcdef01234567".into(),
        now_epoch_ms: 0,
    };
    let mut direct = Vec::with_capacity(DIRECT_CALLS);
    for _ in 0..DIRECT_CALLS {
        let started = Instant::now();
        let action = wasm.on_request(&loaded, &request).await;
        direct.push(started.elapsed());
        assert_eq!(action, Some(abi::Action::Continue));
    }
    println!("The OnRequest call alone (instantiate, copy in, run, read back):");
    summary("module call", direct);
    client
        .wasm()
        .remove(added.modules[0].uuid().unwrap())
        .await
        .unwrap();

    gw.shutdown().await.unwrap();
    fleet.shutdown().await;
}
