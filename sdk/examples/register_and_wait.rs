//! Register a worker and wait until the gateway routes to it: the "add capacity" step of a
//! deploy pipeline.
//!
//! ```text
//! SMG_URL=http://gateway:30000 SMG_ADMIN_TOKEN=… \
//!     cargo run -p smg-sdk --example register_and_wait -- http://worker:8000 [timeout-secs]
//! ```
//!
//! `POST /workers` answers 202 at once; registration (discovery, health checks) runs in the
//! background, so the example then polls `GET /workers/{id}` until the worker is `ready`. A
//! failed registration job, a worker that fails its health checks, or the timeout is an error
//! (decision D3: a 202 never hides a failure), and the exit status is non-zero.

use std::process::ExitCode;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, bail};
use smg_sdk::{Client, WorkerSpec};

const DEFAULT_URL: &str = "http://127.0.0.1:30000";
const USAGE: &str = "usage: register_and_wait <worker-url> [timeout-secs]";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, outermost context first: what a CI log should show.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (worker_url, timeout) = match args.as_slice() {
        [url] => (url.as_str(), Duration::from_secs(300)),
        [url, secs] => {
            let secs: u64 = secs
                .parse()
                .wrap_err_with(|| format!("timeout `{secs}` is not whole seconds\n{USAGE}"))?;
            (url.as_str(), Duration::from_secs(secs))
        }
        _ => bail!("{USAGE}"),
    };
    let client = client_from_env()?;
    let workers = client.workers();

    let created = workers
        .create(&WorkerSpec::new(worker_url))
        .await
        .wrap_err_with(|| format!("cannot register {worker_url} with {}", client.base_url()))?;
    // Printed before waiting, so an operator can inspect the worker while this runs.
    println!(
        "registration accepted: worker {} ({})",
        created.worker_id, created.location
    );

    let info = workers
        .wait_for_worker(&created.worker_id, timeout)
        .await
        .wrap_err_with(|| {
            format!(
                "worker {} ({worker_url}) did not become ready",
                created.worker_id
            )
        })?;
    println!(
        "worker {} at {} is {} (model: {}, type: {}, runtime: {})",
        info.id,
        info.spec.url,
        info.display_status(),
        info.model_id.as_deref().unwrap_or("any"),
        info.spec.worker_type,
        info.spec.runtime_type,
    );
    Ok(())
}

/// The gateway from `SMG_URL`, the admin token from `SMG_ADMIN_TOKEN` (unset or empty: no
/// credential, which only an open gateway on loopback accepts).
fn client_from_env() -> Result<Client> {
    let url = std::env::var("SMG_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string());
    Client::builder(url.as_str())
        .admin_token(std::env::var("SMG_ADMIN_TOKEN").unwrap_or_default())
        .build()
        .wrap_err_with(|| format!("SMG_URL `{url}` is not a gateway URL"))
}
