//! Data-plane benchmark: non-streaming chat through the gateway versus straight to one
//! simulated worker (0 ms latency), 16 keep-alive connections, alternating runs.
//! Goals: throughput ratio ≥ 0.85 and added p50 latency ≤ 150 µs.
//! Run with `cargo bench -p smg-gateway --bench data_plane`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use smg_gateway::{Gateway, GatewayConfig};
use smg_sdk::WorkerSpec;
use smg_tests::mock::{MockConfig, MockFleet};

const CONNECTIONS: usize = 16;
const RUN: Duration = Duration::from_secs(3);
const ROUNDS: usize = 3;

/// Drive `url` with CONNECTIONS keep-alive clients for RUN; returns (requests/s, latencies).
async fn drive(url: &str, body: &'static str) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let url = url.to_string();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let rps = all.len() as f64 / started.elapsed().as_secs_f64();
    (rps, all)
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // The worker and the gateway each get their own runtime thread, as separate processes
    // would; the load generator runs on the main runtime.
    let worker_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gateway_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();

    let fleet = worker_rt
        .block_on(MockFleet::start(0, 1, MockConfig::default()))
        .unwrap();
    let worker_url = fleet.urls()[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway_rt.block_on(async {
        let gw = Gateway::start(GatewayConfig {
            port: 0,
            prometheus_port: 0,
            store: dir.path().join("bench.db"),
            ..GatewayConfig::default()
        })
        .await
        .unwrap();
        let client = smg_sdk::Client::builder(format!("http://{}", gw.addr))
            .build()
            .unwrap();
        let created = client
            .workers()
            .create(&WorkerSpec::new(worker_url.clone()))
            .await
            .unwrap();
        client
            .workers()
            .wait_for_worker(&created.worker_id, Duration::from_secs(30))
            .await
            .unwrap();
        gw
    });
    let body: &'static str = r#"{"model":"mock-model","messages":[{"role":"user","content":"Say hello to the benchmark"}],"max_tokens":4}"#;
    let direct_url = format!("{worker_url}/v1/chat/completions");
    let gateway_url = format!("http://{}/v1/chat/completions", gateway.addr);

    load_rt.block_on(async {
        // Warm both paths (connections, caches).
        drive(&direct_url, body).await;
        drive(&gateway_url, body).await;
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        let (mut direct_lat, mut via_lat) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (rps, lat) = drive(&direct_url, body).await;
            direct.push(rps);
            direct_lat.extend(lat);
            let (rps, lat) = drive(&gateway_url, body).await;
            via.push(rps);
            via_lat.extend(lat);
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (d, g) = (mean(&direct), mean(&via));
        let (dp, gp) = (p50(direct_lat), p50(via_lat));
        println!(
            "data plane, {CONNECTIONS} connections: direct {d:.0} req/s p50 {} µs; via gateway {g:.0} req/s p50 {} µs",
            dp.as_micros(),
            gp.as_micros()
        );
        println!(
            "throughput ratio {:.3} (goal >= 0.85), added p50 {} µs (goal <= 150 µs)",
            g / d,
            gp.as_micros() as i128 - dp.as_micros() as i128
        );
    });
    gateway_rt.block_on(async move {
        gateway.shutdown().await.unwrap();
    });
    worker_rt.block_on(fleet.shutdown());
}
