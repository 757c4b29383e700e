//! `smgctl dash`: the live dashboard (`smg-tui`) on the connection smgctl already resolved
//! (flags, environment, context).

use std::time::Duration;

use clap::Args;
use color_eyre::eyre::Result;

use crate::Ctx;
use crate::exit::{Exit, UsageError};

#[derive(Debug, Args)]
pub struct DashArgs {
    /// Poll interval of every source (e.g. 2s, 500ms; at least 200ms)
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
    /// Print one frame of the Overview and Workers views as text and exit (exit 1 when the
    /// gateway is unreachable)
    #[arg(long)]
    once: bool,
    /// Width of the --once frame
    #[arg(long, default_value_t = 160, value_name = "COLUMNS")]
    width: u16,
    /// Height of the --once frame
    #[arg(long, default_value_t = 48, value_name = "ROWS")]
    height: u16,
    /// The gateway's Prometheus endpoint, for requests/s and error rates per worker
    /// [default: the gateway's host, port 29000, /metrics]
    #[arg(long, env = "SMG_METRICS_URL", value_name = "URL")]
    metrics_url: Option<String>,
}

/// Run the dashboard until the user quits (or print one frame with `--once`).
pub async fn run(ctx: &Ctx, args: DashArgs) -> Result<Exit> {
    let metrics_url = args.metrics_url.filter(|u| !u.trim().is_empty());
    if let Some(url) = &metrics_url
        && let Err(e) = smg_sdk::Client::builder(url).build()
    {
        return Err(UsageError(format!("--metrics-url: {e}")).into());
    }
    let options = smg_tui::DashOptions {
        interval: args.interval,
        once: args.once,
        width: args.width.max(40),
        height: args.height.max(10),
        url_label: ctx.url.clone(),
        metrics_url,
    };
    smg_tui::run(ctx.client.clone(), options).await?;
    Ok(Exit::Ok)
}
