//! Read the engine load of every worker: what an autoscaler or a capacity report consumes.
//!
//! ```text
//! SMG_URL=http://gateway:30000 SMG_ADMIN_TOKEN=… \
//!     cargo run -p smg-sdk --example loads -- [--snapshot [model-id]]
//! ```
//!
//! By default the gateway asks every worker now (`GET /get_loads`, admin token); a worker
//! that did not answer shows load `-1`. With `--snapshot` it reads the load monitor's last
//! round instead (`GET /loads`, public, served from memory: cheap enough to poll), optionally
//! only the workers serving one model. Both shapes arrive as one [`smg_sdk::FleetLoads`]:
//! per worker, per data-parallel rank, and the fleet totals.

use std::process::ExitCode;

use color_eyre::eyre::{Result, WrapErr, bail};
use smg_sdk::{Client, FleetLoads};

const DEFAULT_URL: &str = "http://127.0.0.1:30000";
const USAGE: &str = "usage: loads [--snapshot [model-id]]";

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
    let client = client_from_env()?;
    let loads: FleetLoads = match args.as_slice() {
        [] => client
            .loads()
            .await
            .wrap_err("cannot read the engine loads (GET /get_loads)")?,
        [flag, rest @ ..] if flag == "--snapshot" && rest.len() <= 1 => {
            let model = rest.first().map(String::as_str);
            client
                .loads_snapshot(model)
                .await
                .wrap_err("cannot read the load monitor's snapshot (GET /loads)")?
                .into()
        }
        _ => bail!("{USAGE}"),
    };

    if let Some(version) = &loads.version {
        println!("gateway {version}");
    }
    for worker in &loads.workers {
        let kind = worker
            .worker_type
            .as_ref()
            .map_or_else(|| "-".to_string(), ToString::to_string);
        if !worker.reported() {
            println!("{}  {kind}  no report", worker.worker);
            continue;
        }
        println!(
            "{}  {kind}  {} KV tokens in use",
            worker.worker, worker.load
        );
        for rank in &worker.ranks {
            println!(
                "  rank {}: {} running, {} waiting, KV cache {:.0}% used, {:.1} tok/s",
                rank.dp_rank,
                rank.num_running_reqs,
                rank.num_waiting_reqs,
                rank.token_usage * 100.0,
                rank.gen_throughput
            );
        }
    }
    let total = &loads.aggregate;
    println!(
        "fleet: {} workers, {} running, {} waiting, KV cache {:.0}% used on average, {:.1} tok/s \
         per rank on average",
        loads.workers.len(),
        total.total_running_reqs,
        total.total_waiting_reqs,
        total.avg_token_usage * 100.0,
        total.avg_throughput
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
