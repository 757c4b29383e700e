//! `smg`: run the gateway (`smg launch`) or a self-contained demo (`smg demo`).

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, eyre};
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
    let filter = EnvFilter::try_new(level).map_err(|e| {
        eyre!("invalid --log-level '{level}' ({e}): pass a level (error, warn, info, debug, trace) or filter directives such as 'info,smg_gateway=debug'")
    })?;
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

/// Errors end the process with `error: <cause and what to do>` on stderr and exit code 1 —
/// no backtrace or source location, which a supervisor's log does not need.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Only panics get color-eyre's report (a bug, where a backtrace helps).
    let plain = std::env::var_os("NO_COLOR").is_some() || !std::io::stderr().is_terminal();
    let hooks = if plain {
        color_eyre::config::HookBuilder::blank()
    } else {
        color_eyre::config::HookBuilder::default()
    };
    let _ = hooks.display_env_section(false).install();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", smg_gateway::error::causes(e.chain()));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
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
