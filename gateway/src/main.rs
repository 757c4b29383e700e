//! `smg`: run the gateway (`smg launch`) or a self-contained demo (`smg demo`).

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr};
use smg_gateway::{Gateway, GatewayConfig};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "smg",
    version,
    about = "Shepherd Model Gateway compatible control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    #[command(args_override_self = true)]
    Launch(Box<GatewayConfig>),
    /// Run a demo: the gateway plus simulated workers on the embedded store.
    Demo(smg_gateway::demo::DemoArgs),
}

fn init_logging(level: &str, json: bool) -> Result<()> {
    let filter =
        EnvFilter::try_new(level).wrap_err_with(|| format!("invalid --log-level '{level}'"))?;
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    color_eyre::install()?;
    let cli = Cli::parse();
    match cli.command {
        Command::Launch(config) => {
            init_logging(&config.log_level, config.log_json)?;
            let gateway = Gateway::start(*config).await?;
            tracing::info!("smg metrics on http://{}/metrics", gateway.metrics_addr);
            tracing::info!("smg listening on http://{}", gateway.addr);
            wait_for_signal().await;
            tracing::info!("shutting down");
            gateway.shutdown().await?;
        }
        Command::Demo(args) => {
            init_logging("warn,smg_gateway=info", false)?;
            let demo = smg_gateway::demo::start(&args).await?;
            tracing::info!("smg listening on http://{}", demo.gateway.addr);
            smg_gateway::demo::print_next_steps(&demo);
            wait_for_signal().await;
            demo.gateway.shutdown().await?;
            for fleet in demo.fleets {
                fleet.shutdown().await;
            }
        }
    }
    Ok(())
}
