//! Drain and retire a worker: the "remove capacity" step of a deploy pipeline, or taking a
//! host out for maintenance without failing a request.
//!
//! ```text
//! SMG_URL=http://gateway:30000 SMG_ADMIN_TOKEN=… \
//!     cargo run -p smg-sdk --example retire -- <worker-id-or-url> [drain-timeout-secs]
//! ```
//!
//! `POST /workers/{id}/retire` answers 202 and starts one background job: cordon the worker
//! (no new requests), wait until nothing is in flight to it, flush its KV cache, remove it.
//! The example prints each step as the worker's `job_status` changes and returns once the
//! worker is gone. If the drain runs out of time the worker stays registered and cordoned,
//! and the error says how to put it back into rotation.

use std::process::ExitCode;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, bail};
use smg_sdk::{Client, Error, RETIRE_DRAIN_TIMED_OUT, RetireWorkerRequest, WorkerInfo, Workers};

const DEFAULT_URL: &str = "http://127.0.0.1:30000";
const USAGE: &str = "usage: retire <worker-id-or-url> [drain-timeout-secs]";
/// How long in-flight requests may take to finish unless the command line says otherwise.
const DEFAULT_DRAIN_SECS: u64 = 300;
/// Beyond the drain: the cache flush and the removal, which take seconds.
const AFTER_DRAIN: Duration = Duration::from_secs(60);

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
    let (target, drain_secs) = match args.as_slice() {
        [target] => (target.as_str(), DEFAULT_DRAIN_SECS),
        [target, secs] => {
            let secs: u64 = secs.parse().wrap_err_with(|| {
                format!("drain timeout `{secs}` is not whole seconds\n{USAGE}")
            })?;
            (target.as_str(), secs)
        }
        _ => bail!("{USAGE}"),
    };
    let client = client_from_env()?;
    let workers = client.workers();

    let worker = find_worker(&workers, target).await?;
    println!(
        "retiring worker {} at {}: status {}, {} request(s) in flight",
        worker.id,
        worker.spec.url,
        worker.display_status(),
        worker.load
    );

    // The drain timeout is sent explicitly so the wait below knows how long the job may take
    // (the gateway's own default is its --retire-timeout-secs).
    let request = RetireWorkerRequest {
        timeout_secs: Some(drain_secs),
    };
    let wait = Duration::from_secs(drain_secs) + AFTER_DRAIN;
    let outcome = workers
        .retire_and_wait(&worker.id, &request, wait, |job| {
            println!(
                "  {}: {}",
                job.status,
                job.message.as_deref().unwrap_or("started")
            );
        })
        .await;
    match outcome {
        Ok(()) => {
            println!("worker {} ({}) is retired", worker.id, worker.spec.url);
            Ok(())
        }
        Err(Error::JobFailed { message, .. }) if message.starts_with(RETIRE_DRAIN_TIMED_OUT) => {
            // The gateway's message says what state the worker was left in; add the ways out.
            bail!(
                "worker {} was not retired: {message}. Retry with a longer drain timeout, or put \
                 it back into rotation with `smgctl workers uncordon {}`",
                worker.id,
                worker.id
            )
        }
        Err(e) => Err(e).wrap_err_with(|| format!("retiring worker {} failed", worker.id)),
    }
}

/// The worker with this id, or the one registered at this URL.
async fn find_worker(workers: &Workers<'_>, target: &str) -> Result<WorkerInfo> {
    if !target.contains("://") {
        return workers
            .get(target)
            .await
            .wrap_err_with(|| format!("cannot read worker {target}"));
    }
    let wanted = target.trim_end_matches('/');
    let list = workers.list().await.wrap_err("cannot list the workers")?;
    match list
        .workers
        .into_iter()
        .find(|w| w.spec.url.trim_end_matches('/') == wanted)
    {
        Some(worker) => Ok(worker),
        None => bail!("no worker is registered at {target}"),
    }
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
