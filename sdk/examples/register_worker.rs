//! Register a worker with a gateway, wait until it is ready, and print its status.
//!
//! ```text
//! SMG_ADMIN_TOKEN=… cargo run -p smg-sdk --example register_worker -- \
//!     http://gateway:30000 http://worker:8000 [timeout-secs]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use smg_sdk::{Client, Error, WorkerSpec};

const USAGE: &str = "usage: register_worker <gateway-url> <worker-url> [timeout-secs]\n\
                     The admin token is read from SMG_ADMIN_TOKEN.";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (gateway, worker_url) = match args.as_slice() {
        [g, w] | [g, w, _] => (g.clone(), w.clone()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let timeout = match args.get(2).map(|s| s.parse::<u64>()) {
        None => Duration::from_secs(300),
        Some(Ok(secs)) => Duration::from_secs(secs),
        Some(Err(_)) => {
            eprintln!("timeout must be a whole number of seconds\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&gateway, &worker_url, timeout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(gateway: &str, worker_url: &str, timeout: Duration) -> Result<(), Error> {
    // An unset or empty token means no credential (an open gateway).
    let client = Client::builder(gateway)
        .admin_token(std::env::var("SMG_ADMIN_TOKEN").unwrap_or_default())
        .build()?;
    let workers = client.workers();

    let created = workers.create(&WorkerSpec::new(worker_url)).await?;
    println!(
        "registration accepted: worker {} ({})",
        created.worker_id, created.location
    );

    let info = workers.wait_for_worker(&created.worker_id, timeout).await?;
    println!(
        "worker {} at {} is {} (model: {}, runtime: {}, type: {})",
        info.id,
        info.spec.url,
        info.status.map_or("unknown", |s| s.as_str()),
        info.model_id.as_deref().unwrap_or("*"),
        info.spec.runtime_type,
        info.spec.worker_type,
    );
    Ok(())
}
