//! `smgctl`: the scriptable operator CLI for the Shepherd Model Gateway.
//!
//! Layout: one module per noun (`workers`, `loads`, `health`, `context`), sharing [`Ctx`] (the
//! client, the output settings and what the terminals are) and [`output`] for rendering. Data goes
//! to stdout, diagnostics to stderr; [`exit`] maps errors to the documented exit codes.
//!
//! Adding a noun: create `src/<noun>.rs` with a clap `Subcommand` enum and
//! `pub async fn run(ctx: &Ctx, cmd) -> Result<Exit>` (print with `ctx.out`: `list()` for a
//! listing in every format, `structured()` for `-o json|yaml`, `render_kv()` for people,
//! `line()` for `-o name`), then add a variant to [`Command`] and one arm to [`run`]. A
//! destructive command asks through [`toolkit::Consent`], a wait shows a [`toolkit::Spinner`],
//! and a command taking several ids acts through [`toolkit::Targets`] (its `--help` shows
//! [`toolkit::SEVERAL_IDS_HELP`]). SDK errors propagate with `?`; their exit code and hints
//! are chosen in [`exit::report`].

mod api;
mod audit;
mod chat;
mod context;
mod dash;
mod exit;
mod health;
mod jq;
mod keys;
mod loads;
mod output;
mod parse;
mod profile;
mod tokenizers;
mod toolkit;
mod wasm;
mod whoami;
mod workers;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr};
use smg_sdk::config::{ConfigFile, ConnectionOptions, Source};
use smg_sdk::{Client, SecretString};

use crate::exit::{EXIT_CODES_HELP, Exit, HintScope, UsageError};
use crate::jq::JqFilter;
use crate::output::{Format, Output, diag};

/// Scriptable operator CLI for the Shepherd Model Gateway (SMG).
#[derive(Debug, Parser)]
#[command(name = "smgctl", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Gateway base URL [default: the context's URL, else http://localhost:30000]
    #[arg(long, env = "SMG_URL", global = true, value_name = "URL")]
    pub url: Option<String>,

    /// Admin token for control-plane routes (never printed)
    #[arg(
        long,
        env = "SMG_ADMIN_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// API key for serving routes such as /v1/models (never printed)
    #[arg(
        long = "api-key",
        env = "SMG_API_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,

    /// Named context to use instead of the current one (see `smgctl context`)
    #[arg(long, env = "SMG_CONTEXT", global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// Config file with the contexts [default: $XDG_CONFIG_HOME/smgctl/config.toml]
    #[arg(long, env = "SMGCTL_CONFIG", global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Output format; `name` applies to listings, other commands print their table
    #[arg(
        short = 'o',
        long,
        value_enum,
        default_value_t = Format::Table,
        global = true,
        value_name = "FORMAT"
    )]
    pub output: Format,

    /// Deadline of each HTTP request (e.g. 30s, 2m); given with --wait, it also bounds the
    /// whole wait
    #[arg(
        long,
        global = true,
        value_parser = smg_sdk::config::parse_duration,
        default_value = "30s",
        value_name = "DURATION"
    )]
    pub timeout: Duration,

    /// Filter every JSON document the command prints through this jq expression (run by jaq:
    /// the jq language and its standard library) and print the results instead, one per line:
    /// strings raw (like jq -r), other values compact JSON (like jq -c). Implies -o json
    #[arg(long, global = true, value_name = "EXPR")]
    pub jq: Option<String>,

    /// The compiled --jq program, set once the flags are parsed.
    #[arg(skip)]
    pub jq_filter: Option<Rc<JqFilter>>,

    /// Never colour the output (the NO_COLOR environment variable does the same)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Print the resolved connection (-v) and HTTP debugging (-vv) to stderr; never tokens
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage named gateway connections (contexts)
    #[command(subcommand, visible_alias = "ctx")]
    Context(context::ContextCmd),
    /// List, inspect, register, update and remove workers; cordon, retire and flush them
    #[command(subcommand, visible_alias = "worker")]
    Workers(workers::WorkersCmd),
    /// Register, list, inspect and remove tokenizers (/v1/tokenizers)
    #[command(subcommand, visible_alias = "tokenizer")]
    Tokenizers(tokenizers::TokenizersCmd),
    /// Tokenize text: a table of token ids and pieces, and the count (POST /v1/tokenize; uses
    /// the API key)
    Tokenize(tokenizers::TokenizeArgs),
    /// Turn token ids back into text (POST /v1/detokenize; uses the API key)
    Detokenize(tokenizers::DetokenizeArgs),
    /// Engine load per worker and DP rank, and the fleet aggregate (GET /get_loads, or GET
    /// /loads with --snapshot; either gateway)
    Loads(loads::LoadsArgs),
    /// KV-cache operations
    #[command(subcommand)]
    Cache(loads::CacheCmd),
    /// Register, list and remove WASM middleware modules
    #[command(subcommand)]
    Wasm(wasm::WasmCmd),
    /// Replay raw model output through the gateway's tool-call and reasoning parsers
    #[command(subcommand)]
    Parse(parse::ParseCmd),
    /// Ask a model through the gateway and stream the answer (a data-plane smoke test)
    Chat(chat::ChatArgs),
    /// Liveness and readiness summary (exit 0 while the gateway is live)
    Health,
    /// Exit 0 if the gateway is ready to route, 1 if not (printing the reason)
    Ready,
    /// Models the gateway routes to (GET /v1/models; uses the API key)
    Models,
    /// A worker's server info, passed through (JSON unless -o yaml)
    ServerInfo,
    /// A worker's model info, passed through (JSON unless -o yaml)
    ModelInfo,
    /// Create, list, rotate, enable, disable and delete runtime API keys (/admin/api-keys)
    #[command(subcommand, visible_alias = "key")]
    Keys(keys::KeysCmd),
    /// The audit log of control-plane changes and refused requests (GET /admin/audit)
    Audit(audit::AuditArgs),
    /// Who the admin token authenticates as, and its role (GET /admin/whoami)
    Whoami,
    /// The live terminal dashboard (the same as smg-tui), on this connection
    Dash(dash::DashArgs),
    /// Client version, which gateway answers (this project's or upstream SMG) and its version,
    /// and a worker's engine version when one reports it
    Version,
    /// Start or stop the engine profiler of the workers (POST /start_profile, /stop_profile)
    #[command(subcommand)]
    Profile(profile::ProfileCmd),
    /// Send any request to the gateway with this connection and credentials, print the answer
    /// (like `gh api`)
    Api(api::ApiArgs),
    /// Print the gateway's OpenAPI 3.1 document (GET /openapi.json)
    Openapi,
    /// Print a shell completion script to stdout
    Completions {
        /// Shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Which hints fit an error from this command.
    fn hint_scope(&self) -> HintScope {
        match self {
            Self::Workers(cmd) if cmd.is_about_one_worker() => HintScope::Worker,
            Self::Tokenize(_) | Self::Detokenize(_) => HintScope::Serving,
            Self::Models | Self::Chat(_) => HintScope::Serving,
            Self::Api(args) if args.route_kind() == smg_sdk::RouteKind::Serving => {
                HintScope::Serving
            }
            _ => HintScope::Other,
        }
    }
}

/// What every gateway command gets: the client and how to print.
pub struct Ctx {
    /// The SDK client, with credentials and the per-request timeout.
    pub client: Client,
    /// The gateway URL in use (for messages).
    pub url: String,
    /// Output format and colour.
    pub out: Output,
    /// Whether stdin is a terminal (prompts are only allowed then).
    pub stdin_tty: bool,
    /// Whether stdout is a terminal (watches redraw in place then).
    pub stdout_tty: bool,
    /// Whether stderr is a terminal (spinners are only drawn then).
    pub stderr_tty: bool,
    /// `--timeout` when given on the command line: it then also bounds `--wait`.
    pub explicit_timeout: Option<Duration>,
}

impl Ctx {
    /// Resolve the connection (flag > env > context > default) and build the client.
    pub fn connect(global: &GlobalArgs, matches: &ArgMatches) -> Result<Self> {
        // An empty flag or environment variable counts as unset.
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let options = ConnectionOptions {
            url: set(&global.url),
            token: set(&global.token).map(SecretString::from),
            api_key: set(&global.api_key).map(SecretString::from),
            context: set(&global.context),
            config_path: global.config.clone().filter(|p| !p.as_os_str().is_empty()),
        };
        let resolved = options
            .resolve()
            .wrap_err("cannot resolve the gateway connection")?;
        if global.verbose > 0 {
            let url_from = match resolved.url_source {
                Source::FlagOrEnv => format!("from {}", flag_or_env(matches, "url", "SMG_URL")),
                Source::Context => format!(
                    "from context '{}'",
                    resolved.context.as_deref().unwrap_or_default()
                ),
                Source::Default => "default".to_string(),
            };
            diag(format_args!(
                "smgctl: gateway {} ({url_from})",
                resolved.url
            ));
            match &resolved.context {
                Some(name) if options.context.is_some() => diag(format_args!(
                    "smgctl: context '{name}' (from {})",
                    flag_or_env(matches, "context", "SMG_CONTEXT")
                )),
                Some(name) => diag(format_args!(
                    "smgctl: context '{name}' (current context of {})",
                    config_path(global)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "the config file".into())
                )),
                None => diag("smgctl: no context"),
            }
            let token_from = if resolved.admin_token.is_none() {
                "not set".to_string()
            } else if options.token.is_some() {
                format!(
                    "set (from {})",
                    flag_or_env(matches, "token", "SMG_ADMIN_TOKEN")
                )
            } else {
                "set (from the context)".to_string()
            };
            let key_from = if resolved.api_key.is_none() {
                "not set".to_string()
            } else if options.api_key.is_some() {
                format!(
                    "set (from {})",
                    flag_or_env(matches, "api_key", "SMG_API_KEY")
                )
            } else {
                "set (from the context)".to_string()
            };
            diag(format_args!(
                "smgctl: admin token {token_from}; API key {key_from}; request timeout {}",
                humantime::format_duration(global.timeout)
            ));
        }
        let mut builder = Client::builder(resolved.url.clone())
            .request_timeout(global.timeout)
            .user_agent(format!("smgctl/{}", env!("CARGO_PKG_VERSION")));
        if let Some(token) = resolved.admin_token {
            builder = builder.admin_token(token);
        }
        if let Some(key) = resolved.api_key {
            builder = builder.api_key(key);
        }
        let client = builder.build()?;
        Ok(Self {
            client,
            url: resolved.url,
            out: Output::new(
                global.output,
                output::color_enabled(global.no_color),
                global.jq_filter.clone(),
            ),
            stdin_tty: std::io::stdin().is_terminal(),
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            explicit_timeout: (matches.value_source("timeout") == Some(ValueSource::CommandLine))
                .then_some(global.timeout),
        })
    }
}

/// `--flag` or `ENV`, whichever supplied the value of `id`.
fn flag_or_env(matches: &ArgMatches, id: &str, env: &str) -> String {
    match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => env.to_string(),
        _ => format!("--{}", id.replace('_', "-")),
    }
}

/// The config file: `--config`/`SMGCTL_CONFIG`, else the default location.
pub fn config_path(global: &GlobalArgs) -> Result<PathBuf> {
    match global.config.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        Some(path) => Ok(path.clone()),
        None => Ok(ConfigFile::default_path()?),
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    install_hooks(&cli.global);
    if let Err(e) = compile_jq(&mut cli.global, &matches) {
        diag(format_args!("error: {e}"));
        return Exit::Usage.into();
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            diag(format_args!("error: cannot start the async runtime: {e}"));
            return Exit::Failure.into();
        }
    };
    let scope = cli.command.hint_scope();
    let mut gateway_url = None;
    let result = runtime.block_on(run(cli, &matches, &mut gateway_url));
    match result {
        Ok(exit) => exit.into(),
        Err(err) if exit::is_stdout_closed(&err) => Exit::Ok.into(),
        Err(err) => {
            let report = exit::report(&err, gateway_url.as_deref(), scope);
            diag(format_args!("error: {}", report.message));
            for hint in &report.hints {
                diag(format_args!("hint: {hint}"));
            }
            report.exit.into()
        }
    }
}

/// `--jq`: compile the program once, before anything is sent (a bad expression is a usage
/// error with jaq's diagnosis); it prints JSON, so it only goes with `-o json`.
fn compile_jq(global: &mut GlobalArgs, matches: &ArgMatches) -> Result<(), UsageError> {
    let Some(expr) = &global.jq else {
        return Ok(());
    };
    if matches.value_source("output") == Some(ValueSource::CommandLine)
        && global.output != Format::Json
    {
        return Err(UsageError(
            "--jq prints JSON: it cannot be combined with -o other than json".into(),
        ));
    }
    global.jq_filter = Some(Rc::new(JqFilter::compile(expr)?));
    global.output = Format::Json;
    Ok(())
}

/// color-eyre's panic hook (plain when colour is off) and tracing to stderr with `-vv`.
fn install_hooks(global: &GlobalArgs) {
    let plain = global.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let hooks = if plain {
        color_eyre::config::HookBuilder::blank()
    } else {
        color_eyre::config::HookBuilder::default()
    };
    let _ = hooks.display_env_section(false).install();

    let filter = match global.verbose {
        0 | 1 => "warn",
        2 => "warn,smgctl=debug,smg_sdk=debug",
        _ => "warn,smgctl=trace,smg_sdk=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(!plain && std::io::stderr().is_terminal())
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(true)
        .try_init();
}

async fn run(cli: Cli, matches: &ArgMatches, gateway_url: &mut Option<String>) -> Result<Exit> {
    let global = &cli.global;
    let mut connect = || -> Result<Ctx> {
        let ctx = Ctx::connect(global, matches)?;
        *gateway_url = Some(ctx.url.clone());
        Ok(ctx)
    };
    match cli.command {
        Command::Context(cmd) => context::run(cmd, global, matches),
        Command::Workers(cmd) => workers::run(&connect()?, cmd).await,
        Command::Tokenizers(cmd) => tokenizers::run(&connect()?, cmd).await,
        Command::Tokenize(args) => tokenizers::tokenize(&connect()?, args).await,
        Command::Detokenize(args) => tokenizers::detokenize(&connect()?, args).await,
        Command::Loads(args) => loads::loads(&connect()?, args).await,
        Command::Cache(cmd) => loads::cache(&connect()?, cmd).await,
        Command::Wasm(cmd) => wasm::run(&connect()?, cmd).await,
        Command::Parse(cmd) => parse::run(&connect()?, cmd).await,
        Command::Chat(args) => chat::run(&connect()?, args).await,
        Command::Health => health::health(&connect()?).await,
        Command::Ready => health::ready(&connect()?).await,
        Command::Models => health::models(&connect()?).await,
        Command::ServerInfo => health::server_info(&connect()?).await,
        Command::ModelInfo => health::model_info(&connect()?).await,
        Command::Keys(cmd) => keys::run(&connect()?, cmd).await,
        Command::Audit(args) => audit::run(&connect()?, args).await,
        Command::Whoami => whoami::run(&connect()?).await,
        Command::Dash(args) => dash::run(&connect()?, args).await,
        Command::Version => health::version(global, connect()).await,
        Command::Profile(cmd) => profile::run(&connect()?, cmd).await,
        Command::Api(args) => api::run(&connect()?, args).await,
        Command::Openapi => api::openapi(&connect()?).await,
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "smgctl", &mut buf);
            output::write_stdout(&String::from_utf8_lossy(&buf))?;
            Ok(Exit::Ok)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
