//! `smg demo`: a gateway plus a small simulated fleet on the embedded store, with light
//! synthetic traffic so loads, cache hit rates and the dashboard move.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use smg_sdk::WorkerSpec;
use smg_sim::{MockConfig, MockFleet, MockRuntime};

use crate::config::GatewayConfig;
use crate::workers::CreateWorkerRequest;
use crate::{Gateway, StartError};

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Gateway port.
    #[arg(long, default_value_t = 30000)]
    pub port: u16,
    /// Simulated workers to start.
    #[arg(long, default_value_t = 3)]
    pub workers: usize,
    /// First port of the simulated workers (fixed, so a restarted demo finds its workers).
    #[arg(long, default_value_t = 31000)]
    pub worker_base_port: u16,
    /// Store file.
    #[arg(long, default_value = "smg-demo.db")]
    pub store: PathBuf,
    /// Requests per second of synthetic traffic (0 disables it).
    #[arg(long, default_value_t = 4.0)]
    pub rps: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot start the simulated workers on ports {port}..: {source}")]
    Fleet { port: u16, source: std::io::Error },
    #[error(transparent)]
    Gateway(#[from] StartError),
}

pub struct Demo {
    pub gateway: Gateway,
    /// One single-worker fleet per simulated worker, each with its own model and runtime.
    pub fleets: Vec<MockFleet>,
    pub worker_urls: Vec<String>,
}

pub async fn start(args: &DemoArgs) -> Result<Demo, DemoError> {
    let models = ["mock-llama-8b", "mock-llama-8b", "mock-qwen-7b"];
    let mut worker_urls = Vec::new();
    let mut fleets = Vec::new();
    for i in 0..args.workers {
        let port = args.worker_base_port.saturating_add(i as u16);
        let config = MockConfig {
            model: models[i % models.len()].to_string(),
            runtime: if i % 3 == 2 {
                MockRuntime::Vllm
            } else {
                MockRuntime::Sglang
            },
            latency_ms: 40,
            itl_ms: 8,
            ..MockConfig::default()
        };
        let fleet = MockFleet::start(port, 1, config)
            .await
            .map_err(|source| DemoError::Fleet { port, source })?;
        worker_urls.extend(fleet.urls());
        fleets.push(fleet);
    }
    let config = GatewayConfig {
        port: args.port,
        store: args.store.clone(),
        health_check_interval_secs: 5,
        worker_startup_check_interval_secs: 2,
        ..GatewayConfig::default()
    };
    let gateway = Gateway::start(config).await?;
    for url in &worker_urls {
        let request = CreateWorkerRequest {
            spec: WorkerSpec::new(url),
            model_id: None,
        };
        // Already registered from a previous run: fine.
        let _ = gateway.state.workers.create(request).await;
    }
    if args.rps > 0.0 {
        let models = models
            .iter()
            .take(args.workers)
            .map(|m| m.to_string())
            .collect();
        tokio::spawn(traffic(
            format!("http://{}", gateway.addr),
            models,
            args.rps,
        ));
    }
    Ok(Demo {
        gateway,
        fleets,
        worker_urls,
    })
}

/// Chat requests through the gateway with a few shared prompt prefixes, so routing, prefix
/// caches, loads and the gateway's own metrics all move.
async fn traffic(gateway: String, models: Vec<String>, rps: f64) {
    if models.is_empty() {
        return;
    }
    let client = reqwest::Client::new();
    let prompts = [
        "You are a helpful assistant. Summarise the quarterly report for the board in three bullet points",
        "You are a helpful assistant. Translate the following paragraph into French and keep the tone",
        "Explain how a KV cache speeds up autoregressive decoding in transformer language models",
    ];
    let period = Duration::from_secs_f64(1.0 / rps.max(0.01));
    let mut tick = tokio::time::interval(period);
    for n in 0u64.. {
        tick.tick().await;
        let model = &models[(n as usize) % models.len()];
        let prompt = format!(
            "{} (request {})",
            prompts[(n as usize) % prompts.len()],
            n % 7
        );
        let body = serde_json::json!({
            "model": model,
            "stream": n % 4 == 0,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 24 + (n % 40),
        });
        let client = client.clone();
        let url = format!("{gateway}/v1/chat/completions");
        tokio::spawn(async move {
            if let Ok(response) = client
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(30))
                .send()
                .await
            {
                let _ = response.bytes().await;
            }
        });
    }
}

pub fn print_next_steps(demo: &Demo) {
    let url = format!("http://{}", demo.gateway.addr);
    println!(
        "\nsmg demo is running: gateway {url}, {} simulated workers, store {}\n\n\
         Try next (in another terminal):\n  \
         curl -s {url}/workers | jq\n  \
         curl -s {url}/get_loads | jq\n  \
         curl -s -X POST {url}/flush_cache | jq\n  \
         curl -s {url}/readiness\n  \
         cargo run --release --bin smgctl -- --url {url} workers list\n  \
         cargo run --release --bin smg-tui -- --url {url}\n  \
         cargo run --release --bin smgctl -- --url {url} chat --model mock-llama-8b \"Hello there\"\n  \
         curl -s http://{metrics}/metrics | grep smg_requests_total\n\n\
         Make a worker sick and watch it turn not_ready:\n  \
         curl -s -X POST {}/_mock/fault -H 'content-type: application/json' -d '{{\"health\":\"fail\"}}'\n\n\
         Ctrl-C stops the demo.\n",
        demo.worker_urls.len(),
        demo.gateway.state.config.store.display(),
        demo.worker_urls.first().cloned().unwrap_or_default(),
        metrics = demo.gateway.metrics_addr,
    );
}
