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

/// Drive `url` with `connections` keep-alive clients for RUN; returns (requests/s, latencies).
async fn drive(url: &str, body: &'static str, connections: usize) -> (f64, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
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

/// The floor any proxy on this stack pays: an axum route that forwards the body with
/// reqwest and streams the answer back, with no auth, policy, metrics or middleware.
async fn bare_proxy(worker_url: String) -> std::net::SocketAddr {
    use axum::body::{Body, Bytes};
    use axum::response::Response;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let target = format!("{worker_url}/v1/chat/completions");
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: Bytes| {
            let (client, target) = (client.clone(), target.clone());
            async move {
                let upstream = client
                    .post(target)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = upstream.status();
                let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
                *response.status_mut() = status;
                response
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A runtime on one thread, named so that a profile tells the sides apart.
fn one_thread_runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // The worker, the gateway and the load generator each get their own runtime thread, as
    // separate processes would.
    let worker_rt = one_thread_runtime("bench-worker");
    let gateway_rt = one_thread_runtime("bench-gateway");
    let load_rt = one_thread_runtime("bench-load");

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
    let bare_addr = gateway_rt.block_on(bare_proxy(worker_url.clone()));
    let paths = [
        ("direct", format!("{worker_url}/v1/chat/completions")),
        (
            "bare proxy",
            format!("http://{bare_addr}/v1/chat/completions"),
        ),
        (
            "gateway",
            format!("http://{}/v1/chat/completions", gateway.addr),
        ),
    ];

    load_rt.block_on(async {
        for connections in [CONNECTIONS, 1] {
            // Warm every path (connections, caches).
            for (_, url) in &paths {
                drive(url, body, connections).await;
            }
            let mut rps = vec![Vec::new(); paths.len()];
            let mut latencies = vec![Vec::new(); paths.len()];
            for _ in 0..ROUNDS {
                for (i, (_, url)) in paths.iter().enumerate() {
                    let (r, lat) = drive(url, body, connections).await;
                    rps[i].push(r);
                    latencies[i].extend(lat);
                }
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let results: Vec<(f64, i128)> = rps
                .iter()
                .zip(latencies)
                .map(|(r, l)| (mean(r), p50(l).as_micros() as i128))
                .collect();
            let (direct_rps, direct_p50) = results[0];
            println!("non-streaming chat, {connections} keep-alive connection(s):");
            for ((name, _), (r, p)) in paths.iter().zip(&results) {
                println!(
                    "  {name:<11} {r:>7.0} req/s  p50 {p:>4} µs  throughput ratio {:.3}  added p50 {:>4} µs",
                    r / direct_rps,
                    p - direct_p50
                );
            }
        }
        println!(
            "goals for the gateway at {CONNECTIONS} connections: throughput ratio >= 0.85, added p50 <= 150 µs. \
             The bare proxy (the same axum + reqwest stack forwarding bytes, no gateway logic) is the \
             floor any proxy on this stack pays here; at 1 connection the added p50 is the per-request \
             cost without queueing."
        );
    });
    gateway_rt.block_on(async move {
        gateway.shutdown().await.unwrap();
    });
    worker_rt.block_on(fleet.shutdown());
}
