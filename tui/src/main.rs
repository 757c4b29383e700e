//! `smg-tui`: the live dashboard as a standalone binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use color_eyre::eyre::WrapErr;
use smg_sdk::config::ConnectionOptions;

/// Live terminal dashboard for the Shepherd Model Gateway.
#[derive(Debug, Parser)]
#[command(name = "smg-tui", version, about)]
struct Args {
    /// Gateway URL.
    #[arg(long, env = "SMG_URL")]
    url: Option<String>,
    /// Admin token for control-plane routes.
    #[arg(long, env = "SMG_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// API key for serving routes (/v1/models).
    #[arg(long, env = "SMG_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Named context from the smgctl config file.
    #[arg(long, env = "SMG_CONTEXT")]
    context: Option<String>,
    /// Config file (default: $XDG_CONFIG_HOME/smgctl/config.toml).
    #[arg(long, env = "SMGCTL_CONFIG")]
    config: Option<PathBuf>,
    /// The gateway's Prometheus endpoint, for requests/s and error rates per worker
    /// [default: the gateway's host, port 29000, /metrics].
    #[arg(long, env = "SMG_METRICS_URL", value_name = "URL")]
    metrics_url: Option<String>,
    /// Poll interval (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = smg_sdk::config::parse_duration)]
    interval: Duration,
    /// Print one frame of the Overview and Workers views as text and exit
    /// (exit 1 when the gateway is unreachable).
    #[arg(long)]
    once: bool,
    /// Width of the --once frame.
    #[arg(long, default_value_t = 160)]
    width: u16,
    /// Height of the --once frame.
    #[arg(long, default_value_t = 48)]
    height: u16,
}

async fn run(args: Args) -> color_eyre::Result<()> {
    let conn = ConnectionOptions {
        url: args.url,
        token: args.token.map(Into::into),
        api_key: args.api_key.map(Into::into),
        context: args.context,
        config_path: args.config,
    }
    .resolve()?;
    let mut builder = smg_sdk::Client::builder(conn.url.clone())
        .user_agent(format!("smg-tui/{}", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(3))
        .request_timeout(Duration::from_secs(10));
    if let Some(token) = conn.admin_token {
        builder = builder.admin_token(token);
    }
    if let Some(key) = conn.api_key {
        builder = builder.api_key(key);
    }
    let client = builder.build().wrap_err("invalid connection settings")?;
    let options = smg_tui::DashOptions {
        interval: args.interval,
        once: args.once,
        width: args.width.max(40),
        height: args.height.max(10),
        url_label: conn.url,
        metrics_url: args.metrics_url.filter(|u| !u.trim().is_empty()),
    };
    smg_tui::run(client, options).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let _ = color_eyre::install();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
