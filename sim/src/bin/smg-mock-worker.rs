//! `smg-mock-worker`: run a fleet of simulated SGLang/vLLM workers until Ctrl-C or SIGTERM.
//!
//! Prints each worker's base URL on its own line to stdout (and nothing else there), so a
//! script can read them; logs go to stderr.

use std::io::{IsTerminal as _, Write as _};

use clap::Parser;
use color_eyre::eyre::{Result, WrapErr, bail};
use smg_sim::{DEFAULT_MODEL, Fault, FlushFault, HealthFault, MockConfig, MockFleet, MockRuntime};
use tracing_subscriber::EnvFilter;

/// Simulated inference workers speaking the SGLang / vLLM HTTP API.
#[derive(Debug, Parser)]
#[command(name = "smg-mock-worker", version, about)]
struct Args {
    /// Port of the first worker; worker i listens on base-port + i (0: ephemeral ports).
    #[arg(long, default_value_t = 0)]
    base_port: u16,
    /// Number of workers.
    #[arg(long, default_value_t = 1)]
    count: usize,
    /// Model id served.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: String,
    /// Engine to imitate.
    #[arg(long, value_enum, default_value_t = MockRuntime::Sglang)]
    runtime: MockRuntime,
    /// Time to first token of inference requests, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Delay between streamed tokens, in ms.
    #[arg(long, default_value_t = 0)]
    itl_ms: u64,
    /// Concurrent requests per worker before new ones wait.
    #[arg(long, default_value_t = 64)]
    max_running_requests: usize,
    /// KV-cache capacity per worker, in tokens.
    #[arg(long, default_value_t = 65536)]
    max_total_tokens: i32,
    /// Require `Authorization: Bearer <KEY>` on every non-/_mock request.
    #[arg(long)]
    api_key: Option<String>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Initial health fault.
    #[arg(long, value_enum, default_value_t = HealthFault::Ok)]
    health: HealthFault,
    /// Initial cache-flush fault.
    #[arg(long, value_enum, default_value_t = FlushFault::Ok)]
    flush: FlushFault,
    /// Initial extra latency added to every non-/_mock request, in ms.
    #[arg(long, default_value_t = 0)]
    fault_latency_ms: u64,
    /// Start with connections being dropped without a response.
    #[arg(long)]
    drop_connections: bool,
}

/// Errors end the process with `error: <cause and what to do>` on stderr and exit code 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = color_eyre::config::HookBuilder::blank()
        .display_env_section(false)
        .install();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only help a terminal; logs captured by a harness stay plain.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    if args.count == 0 {
        bail!("--count 0 starts no worker: pass --count 1 or more");
    }
    let host = args.host.clone();
    let config = MockConfig {
        model: args.model,
        runtime: args.runtime,
        latency_ms: args.latency_ms,
        itl_ms: args.itl_ms,
        max_running_requests: args.max_running_requests,
        max_total_tokens: args.max_total_tokens,
        api_key: args.api_key,
        host: args.host,
        fault: Fault {
            health: args.health,
            latency_ms: args.fault_latency_ms,
            flush: args.flush,
            drop_connections: args.drop_connections,
            ..Fault::default()
        },
    };
    let fleet = match MockFleet::start(args.base_port, args.count, config).await {
        Ok(fleet) => fleet,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{e}: stop the process using that port, or pass --base-port with {} (0 picks free ports)",
            match args.count {
                1 => "a free port".to_string(),
                n => format!("the first of {n} free ports in a row"),
            }
        ),
        Err(e) => bail!(
            "starting {} mock workers from port {} on {}: {e}; check --host and --base-port",
            args.count,
            args.base_port,
            host
        ),
    };
    {
        let mut stdout = std::io::stdout().lock();
        for url in fleet.urls() {
            writeln!(stdout, "{url}")?;
        }
        stdout.flush()?;
    }
    tracing::info!(count = args.count, runtime = %args.runtime, "mock workers ready");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    fleet.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() -> Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .wrap_err("installing the SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.wrap_err("waiting for Ctrl-C")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .wrap_err("waiting for Ctrl-C")?;
    Ok(())
}
