//! `smgctl workers …`: list (and watch), get, add, update, replace and delete workers, and the
//! fleet operations: cordon, uncordon, retire (with its steps followed by `--wait`), force
//! delete and a per-worker cache flush.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use color_eyre::eyre::{Result, WrapErr, eyre};
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use smg_sdk::{
    HealthCheckUpdate, JobStatus, ModelCard, RetireWorkerRequest, RuntimeType, SecretString,
    WorkerAccepted, WorkerEvent, WorkerInfo, WorkerSpec, WorkerType, WorkerUpdateRequest,
};

use crate::Ctx;
use crate::exit::{self, Exit, HintScope, NotFoundError, UsageError};
use crate::output::{CLEAR_SCREEN, Format, Listing, diag, render_kv, render_table};
use crate::toolkit::{Consent, SEVERAL_IDS_HELP, Spinner, Targets, plural};

/// How long `--wait` waits when neither `--timeout` nor `--wait-timeout` is given.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);

/// What the list (and its watch) says when there is no worker to show.
const NO_WORKERS: &str = "No workers found.";

/// Help shared by the commands that take a worker id.
const ID_HELP: &str = "Worker id: the full id, or a unique part of it (its start, or its end \
                       as the tables show it)";

#[derive(Debug, Subcommand)]
pub enum WorkersCmd {
    /// List workers (GET /workers)
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Show one worker (GET /workers/ID)
    Get {
        #[arg(help = ID_HELP)]
        id: String,
    },
    /// Register a worker (POST /workers) from flags or a spec file
    ///
    /// The gateway answers 202 and registers the worker in the background; --wait follows the
    /// job until the worker is ready. The wait is bounded by --timeout when given (which also
    /// bounds each HTTP request), else by --wait-timeout (default 5m); running out exits 6.
    Add(Box<AddArgs>),
    /// Partially update a worker (PATCH /workers/ID); labels are merged
    Update(Box<UpdateArgs>),
    /// Replace a worker's whole spec (PUT /workers/ID); the URL must stay the same
    Replace {
        #[arg(help = ID_HELP)]
        id: String,
        /// Spec file (JSON or YAML; `-` reads stdin)
        #[arg(
            short = 'f',
            long = "file",
            visible_alias = "filename",
            value_name = "FILE"
        )]
        file: String,
    },
    /// Remove workers (DELETE /workers/ID): each drains, then disappears
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is required. Every id is
    /// resolved before anything is deleted. --force removes at once, without the drain settle
    /// period (requests already in flight still finish). --wait waits for each worker to be
    /// gone, bounded by --timeout when given, else by --wait-timeout (default 5m); running out
    /// exits 6.
    #[command(visible_alias = "rm", after_help = SEVERAL_IDS_HELP)]
    Delete(DeleteArgs),
    /// Cordon workers (PATCH /workers/ID {"disabled": true}): they stay registered,
    /// health-checked and listed (status `…,cordoned`) but get no new requests
    #[command(after_help = SEVERAL_IDS_HELP)]
    Cordon {
        /// Worker ids (full ids, or unique parts of them as for `workers get`)
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Put cordoned workers back into rotation (PATCH /workers/ID {"disabled": false}); this
    /// also cancels a retirement that is still draining
    #[command(after_help = SEVERAL_IDS_HELP)]
    Uncordon {
        /// Worker ids (full ids, or unique parts of them as for `workers get`)
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Retire a worker (POST /workers/ID/retire): cordon it, wait until nothing is in flight to
    /// it, flush its KV cache, remove it; one background job
    ///
    /// Asks for confirmation on a terminal; without a terminal, --yes is required. --wait
    /// prints each step as the job reaches it (cordoned, draining with the requests still in
    /// flight, flushing, removing, removed; on stderr with -o json|yaml|name) and returns when
    /// the worker is gone. A failed job (e.g. the drain ran out of --timeout-secs: the worker
    /// then stays registered and cordoned) exits 1; the wait is bounded by --wait-timeout, else
    /// an explicit --timeout, else 5m (or --timeout-secs plus a minute when longer); running out
    /// exits 6.
    Retire(RetireArgs),
    /// Flush one worker's KV cache (POST /workers/ID/flush_cache); exit 5 when it failed
    Flush {
        #[arg(help = ID_HELP)]
        id: String,
    },
}

impl WorkersCmd {
    /// Commands whose 404 means "no such worker".
    pub fn is_about_one_worker(&self) -> bool {
        matches!(
            self,
            Self::Get { .. }
                | Self::Update(_)
                | Self::Replace { .. }
                | Self::Delete(_)
                | Self::Cordon { .. }
                | Self::Uncordon { .. }
                | Self::Retire(_)
                | Self::Flush { .. }
        )
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only workers serving this model (id or alias; wildcard workers always match)
    #[arg(long, value_name = "ID")]
    model: Option<String>,
    /// Keep watching: redraw on a terminal, else print each change (one JSON event per line with -o json)
    #[arg(short = 'w', long)]
    watch: bool,
    /// Poll interval of --watch
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
}

/// `--type`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum TypeArg {
    Regular,
    Prefill,
    Decode,
    Encode,
}

impl From<TypeArg> for WorkerType {
    fn from(t: TypeArg) -> Self {
        match t {
            TypeArg::Regular => Self::Regular,
            TypeArg::Prefill => Self::Prefill,
            TypeArg::Decode => Self::Decode,
            TypeArg::Encode => Self::Encode,
        }
    }
}

/// `--runtime`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuntimeArg {
    Sglang,
    Vllm,
    Trtllm,
    Mlx,
    Tokenspeed,
    External,
    Unspecified,
}

impl From<RuntimeArg> for RuntimeType {
    fn from(r: RuntimeArg) -> Self {
        match r {
            RuntimeArg::Sglang => Self::Sglang,
            RuntimeArg::Vllm => Self::Vllm,
            RuntimeArg::Trtllm => Self::Trtllm,
            RuntimeArg::Mlx => Self::Mlx,
            RuntimeArg::Tokenspeed => Self::Tokenspeed,
            RuntimeArg::External => Self::External,
            RuntimeArg::Unspecified => Self::Unspecified,
        }
    }
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Worker base URL (http://, https://, grpc://, grpcs:// or ipc://)
    #[arg(
        required_unless_present = "file",
        conflicts_with = "file",
        value_name = "URL"
    )]
    worker_url: Option<String>,
    /// Spec file (JSON or YAML, sniffed; `-` reads stdin); other flags override its fields
    #[arg(
        short = 'f',
        long = "file",
        visible_alias = "filename",
        value_name = "FILE"
    )]
    file: Option<String>,
    /// Model served (repeatable; none means any model)
    #[arg(long = "model", value_name = "ID")]
    models: Vec<String>,
    /// Role in (dis)aggregated serving
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    worker_type: Option<TypeArg>,
    /// Inference engine (detected when unspecified)
    #[arg(long, value_enum, value_name = "RUNTIME")]
    runtime: Option<RuntimeArg>,
    /// Routing priority, higher preferred [gateway default: 50]
    #[arg(long, value_name = "N")]
    priority: Option<u32>,
    /// Relative cost, lower preferred [gateway default: 1.0]
    #[arg(long, value_name = "X")]
    cost: Option<f32>,
    /// Label (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// File holding the bearer token the gateway sends to the worker
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Wait until the worker is ready, then print it (bounded by --timeout if given)
    #[arg(long)]
    wait: bool,
    /// How long --wait waits; takes precedence over --timeout for the wait [default: --timeout
    /// if given, else 5m]
    #[arg(long, value_parser = smg_sdk::config::parse_duration, value_name = "DURATION", requires = "wait")]
    wait_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(help = ID_HELP)]
    id: String,
    /// New routing priority
    #[arg(long, value_name = "N")]
    priority: Option<u32>,
    /// New relative cost
    #[arg(long, value_name = "X")]
    cost: Option<f32>,
    /// Label to set, merged into the existing ones (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// File holding the worker's new bearer token (rotation)
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// Health probe timeout
    #[arg(long, value_name = "N")]
    health_timeout_secs: Option<u64>,
    /// Seconds between health probes
    #[arg(long, value_name = "N")]
    health_interval_secs: Option<u64>,
    /// Consecutive successes to become ready
    #[arg(long, value_name = "N")]
    health_success_threshold: Option<u32>,
    /// Consecutive failures to become not ready
    #[arg(long, value_name = "N")]
    health_failure_threshold: Option<u32>,
    /// Skip health probes (the worker is always considered healthy)
    #[arg(long, value_name = "BOOL")]
    disable_health_check: Option<bool>,
    /// Seconds a deleted worker stays draining before removal
    #[arg(long, value_name = "N")]
    drain_settle_secs: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Worker ids (full ids, or unique parts of them as for `workers get`)
    #[arg(required = true, value_name = "ID")]
    ids: Vec<String>,
    /// Wait until each worker is gone (bounded by --timeout if given)
    #[arg(long)]
    wait: bool,
    /// How long --wait waits for each worker; takes precedence over --timeout for the wait
    /// [default: --timeout if given, else 5m]
    #[arg(long, value_parser = smg_sdk::config::parse_duration, value_name = "DURATION", requires = "wait")]
    wait_timeout: Option<Duration>,
    /// Remove at once, without the drain settle period (DELETE ?force=true); requests already
    /// in flight still finish
    #[arg(long)]
    force: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Debug, Args)]
pub struct RetireArgs {
    #[arg(help = ID_HELP)]
    id: String,
    /// Longest wait for the worker's in-flight requests to finish; past it the retirement fails
    /// and the worker stays registered and cordoned [gateway default: its
    /// --retire-timeout-secs]
    #[arg(long, value_name = "N")]
    timeout_secs: Option<u64>,
    /// Follow the job, printing each step, until the worker is gone
    #[arg(long)]
    wait: bool,
    /// How long --wait waits; takes precedence over --timeout for the wait
    #[arg(long, value_parser = smg_sdk::config::parse_duration, value_name = "DURATION", requires = "wait")]
    wait_timeout: Option<Duration>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long)]
    yes: bool,
}

fn parse_label(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got '{raw}'")),
    }
}

pub async fn run(ctx: &Ctx, cmd: WorkersCmd) -> Result<Exit> {
    match cmd {
        WorkersCmd::List(args) if args.watch => watch(ctx, args).await,
        WorkersCmd::List(args) => list(ctx, args).await,
        WorkersCmd::Get { id } => {
            let id = resolve_id(ctx, &id).await?;
            let info = ctx.client.workers().get(&id).await?;
            print_worker(ctx, &info)?;
            Ok(Exit::Ok)
        }
        WorkersCmd::Add(args) => add(ctx, *args).await,
        WorkersCmd::Update(args) => update(ctx, *args).await,
        WorkersCmd::Replace { id, file } => {
            let spec = read_spec(&file)?;
            let id = resolve_id(ctx, &id).await?;
            let accepted = ctx.client.workers().replace(&id, &spec).await?;
            print_accepted(ctx, &accepted, "replacement accepted")?;
            Ok(Exit::Ok)
        }
        WorkersCmd::Delete(args) => delete(ctx, args).await,
        WorkersCmd::Cordon { ids } => set_cordoned(ctx, &ids, true).await,
        WorkersCmd::Uncordon { ids } => set_cordoned(ctx, &ids, false).await,
        WorkersCmd::Retire(args) => retire(ctx, args).await,
        WorkersCmd::Flush { id } => flush(ctx, &id).await,
    }
}

// ---------------------------------------------------------------------------------------------
// ids and waits

/// A full worker id is used as given (the gateway judges it); anything shorter is matched
/// against the listed workers' ids, at their start or at their end (the tables show the
/// last 8 characters), and must match exactly one: none exits 3, several exit 2.
async fn resolve_id(ctx: &Ctx, raw: &str) -> Result<String> {
    let ids = resolve_ids(ctx, std::slice::from_ref(&raw.to_string())).await?;
    Ok(ids.into_iter().next().unwrap_or_else(|| raw.to_string()))
}

/// [`resolve_id`] for several ids, listing the workers at most once.
async fn resolve_ids(ctx: &Ctx, raw: &[String]) -> Result<Vec<String>> {
    let mut listed: Option<Vec<String>> = None;
    let mut resolved = Vec::with_capacity(raw.len());
    for fragment in raw {
        // 36 = a hyphenated UUID; an empty id is left to the SDK's own check.
        if fragment.len() >= 36 || fragment.trim().is_empty() {
            resolved.push(fragment.clone());
            continue;
        }
        if listed.is_none() {
            let list = ctx.client.workers().list().await?;
            listed = Some(list.workers.into_iter().map(|w| w.id).collect());
        }
        let needle = fragment.to_ascii_lowercase();
        let matching: Vec<&String> = listed
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|id| id.starts_with(&needle) || id.ends_with(&needle))
            .collect();
        match matching.as_slice() {
            [one] => resolved.push((*one).clone()),
            [] => {
                return Err(NotFoundError(format!(
                    "no worker id starts or ends with '{fragment}' (a worker still being \
                     registered is only found by its full id)"
                ))
                .into());
            }
            many => {
                let ids: Vec<&str> = many.iter().map(|id| id.as_str()).collect();
                return Err(UsageError(format!(
                    "'{fragment}' matches {} workers ({}); give more of the id",
                    many.len(),
                    ids.join(", ")
                ))
                .into());
            }
        }
    }
    Ok(resolved)
}

/// How long `--wait` waits: `--wait-timeout`, else an explicit `--timeout`, else 5 minutes.
fn wait_bound(ctx: &Ctx, wait_timeout: Option<Duration>) -> Duration {
    wait_timeout
        .or(ctx.explicit_timeout)
        .unwrap_or(DEFAULT_WAIT)
}

// ---------------------------------------------------------------------------------------------
// list and watch

async fn list(ctx: &Ctx, args: ListArgs) -> Result<Exit> {
    let workers = ctx.client.workers();
    let list = match &args.model {
        Some(model) => workers.list_for_model(model).await?,
        None => workers.list().await?,
    };
    let listing = Listing {
        items: &list.workers,
        name: |w| w.id.clone(),
        empty: Some(NO_WORKERS),
        footer: None,
    };
    ctx.out
        .list(&list, listing, |workers| worker_table(ctx, workers))?;
    Ok(Exit::Ok)
}

fn worker_table(ctx: &Ctx, workers: &[WorkerInfo]) -> String {
    let wide = ctx.out.format == Format::Wide;
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            let spec = &w.spec;
            let id = if wide {
                w.id.clone()
            } else {
                w.short_id().to_string()
            };
            let mut row = vec![
                id,
                spec.url.clone(),
                model_of(w),
                spec.worker_type.to_string(),
            ];
            if wide {
                row.push(spec.connection_mode.to_string());
            }
            row.extend([
                spec.runtime_type.to_string(),
                ctx.out.worker_status(w),
                w.load.to_string(),
                spec.priority.to_string(),
                spec.cost.to_string(),
            ]);
            if wide {
                row.push(w.circuit_breaker.clone().unwrap_or_else(|| "-".into()));
                row.push(
                    w.job_status
                        .as_ref()
                        .map(|j| format!("{} {}", j.job_type, j.status))
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(labels_inline(&spec.labels));
            }
            row
        })
        .collect();
    let header: &[&str] = if wide {
        &[
            "ID",
            "URL",
            "MODEL",
            "TYPE",
            "CONNECTION",
            "RUNTIME",
            "STATUS",
            "LOAD",
            "PRIORITY",
            "COST",
            "CIRCUIT",
            "JOB",
            "LABELS",
        ]
    } else {
        &[
            "ID", "URL", "MODEL", "TYPE", "RUNTIME", "STATUS", "LOAD", "PRIORITY", "COST",
        ]
    };
    render_table(header, &rows)
}

/// The primary model, or `*` for a wildcard worker.
fn model_of(w: &WorkerInfo) -> String {
    w.model_id
        .clone()
        .or_else(|| w.spec.primary_model().map(str::to_string))
        .unwrap_or_else(|| "*".into())
}

fn labels_inline(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "-".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A watch event as printed with `-o json|yaml`.
#[derive(Serialize)]
struct WatchEventView<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    object: &'a WorkerInfo,
}

/// The watch type of a change; `None` for the end-of-poll marker, which is never printed.
fn event_kind(event: &WorkerEvent) -> Option<&'static str> {
    match event {
        WorkerEvent::Added(_) => Some("ADDED"),
        WorkerEvent::Changed { .. } => Some("MODIFIED"),
        WorkerEvent::Removed(_) => Some("DELETED"),
        WorkerEvent::Synced { .. } => None,
    }
}

async fn watch(ctx: &Ctx, args: ListArgs) -> Result<Exit> {
    let stream = ctx.client.watch_workers(args.interval);
    let mut stream = std::pin::pin!(stream);
    let ctrl_c = tokio::signal::ctrl_c();
    let mut ctrl_c = std::pin::pin!(ctrl_c);
    let matches_model = |w: &WorkerInfo| args.model.as_deref().is_none_or(|m| w.spec.serves(m));
    // Workers in the order they were first seen.
    let mut workers: Vec<WorkerInfo> = Vec::new();
    let mut last_error: Option<String> = None;
    let mut drawn_once = false;
    let mut synced_once = false;
    loop {
        let first = tokio::select! {
            _ = &mut ctrl_c => return Ok(Exit::Ok),
            item = stream.next() => item,
        };
        let Some(first) = first else {
            return Ok(Exit::Ok);
        };
        // Take every event that is already available, so one poll gives one redraw.
        let mut batch = vec![first];
        while let Some(Some(item)) = stream.next().now_or_never() {
            batch.push(item);
        }
        let mut changed = false;
        for item in batch {
            let event = match item {
                Ok(event) => event,
                Err(e) if e.is_auth() || e.is_not_found() => return Err(e.into()),
                Err(e) => {
                    let report = exit::report(&e.into(), Some(&ctx.url), HintScope::Other);
                    if !ctx.stdout_tty || ctx.out.format.is_structured() {
                        diag(format_args!("warning: {}", report.message));
                    }
                    last_error = Some(report.message);
                    changed = true;
                    continue;
                }
            };
            // The first successful poll draws the table even when the fleet is empty; on a
            // terminal, one after an error also redraws, to clear the error line.
            let recovered = last_error.take().is_some();
            if !synced_once || (recovered && ctx.stdout_tty) {
                changed = true;
            }
            apply_event(&mut workers, &event);
            let (Some(kind), Some(worker)) = (event_kind(&event), event.worker()) else {
                synced_once = true;
                continue;
            };
            if !matches_model(worker) {
                continue;
            }
            changed = true;
            match ctx.out.format {
                Format::Json => ctx.out.json_line(&WatchEventView {
                    kind,
                    object: worker,
                })?,
                Format::Yaml => ctx.out.yaml(&WatchEventView {
                    kind,
                    object: worker,
                })?,
                Format::Name => ctx.out.line(&worker.id)?,
                Format::Table | Format::Wide => {}
            }
        }
        if !changed || !matches!(ctx.out.format, Format::Table | Format::Wide) {
            continue;
        }
        let shown: Vec<WorkerInfo> = workers
            .iter()
            .filter(|w| matches_model(w))
            .cloned()
            .collect();
        let table = if shown.is_empty() {
            format!("{NO_WORKERS}\n")
        } else {
            worker_table(ctx, &shown)
        };
        if ctx.stdout_tty {
            let mut screen = String::from(CLEAR_SCREEN);
            screen.push_str(&format!(
                "Every {}: smgctl workers list{}   {}   (Ctrl-C to quit)\n",
                humantime::format_duration(args.interval),
                args.model
                    .as_deref()
                    .map(|m| format!(" --model {m}"))
                    .unwrap_or_default(),
                humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
            ));
            if let Some(err) = &last_error {
                screen.push_str(&format!("{}\n", ctx.out.bad(&format!("error: {err}"))));
            }
            screen.push('\n');
            screen.push_str(&table);
            ctx.out.write(&screen)?;
        } else if last_error.is_none() {
            if drawn_once {
                ctx.out.write("\n")?;
            }
            ctx.out.write(&table)?;
            drawn_once = true;
        }
    }
}

fn apply_event(workers: &mut Vec<WorkerInfo>, event: &WorkerEvent) {
    match event {
        WorkerEvent::Added(w) => match workers.iter_mut().find(|x| x.id == w.id) {
            Some(slot) => *slot = w.clone(),
            None => workers.push(w.clone()),
        },
        WorkerEvent::Changed { new, .. } => match workers.iter_mut().find(|x| x.id == new.id) {
            Some(slot) => *slot = new.clone(),
            None => workers.push(new.clone()),
        },
        WorkerEvent::Removed(w) => workers.retain(|x| x.id != w.id),
        WorkerEvent::Synced { .. } => {}
    }
}

// ---------------------------------------------------------------------------------------------
// get

fn print_worker(ctx: &Ctx, info: &WorkerInfo) -> Result<()> {
    if ctx.out.structured(info)? {
        return Ok(());
    }
    if ctx.out.format == Format::Name {
        return ctx.out.line(&info.id);
    }
    ctx.out.write(&worker_details(ctx, info))
}

fn worker_details(ctx: &Ctx, w: &WorkerInfo) -> String {
    let spec = &w.spec;
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", w.id.clone()),
        ("URL", spec.url.clone()),
        ("Model", model_of(w)),
    ];
    if spec.models.len() > 1 || spec.models.iter().any(|m| !m.aliases.is_empty()) {
        let models = spec
            .models
            .iter()
            .map(|m| {
                if m.aliases.is_empty() {
                    m.id.clone()
                } else {
                    format!("{} (aliases: {})", m.id, m.aliases.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        rows.push(("Models", models));
    }
    rows.extend([
        ("Type", spec.worker_type.to_string()),
        ("Connection", spec.connection_mode.to_string()),
        ("Runtime", spec.runtime_type.to_string()),
        ("Status", ctx.out.worker_status(w)),
        ("Healthy", w.is_healthy.to_string()),
        ("Load", w.load.to_string()),
        ("Priority", spec.priority.to_string()),
        ("Cost", spec.cost.to_string()),
    ]);
    if let Some(cb) = &w.circuit_breaker {
        rows.push(("Circuit breaker", cb.clone()));
    }
    if let Some(provider) = &spec.provider {
        rows.push(("Provider", provider.as_str().to_string()));
    }
    if let Some(rank) = spec.dp_rank {
        let size = spec.dp_size.map_or("?".to_string(), |s| s.to_string());
        rows.push(("DP rank", format!("{rank} of {size}")));
    }
    if let Some(port) = spec.bootstrap_port {
        rows.push(("Bootstrap port", port.to_string()));
    }
    if let Some(connector) = &spec.kv_connector {
        rows.push(("KV connector", connector.clone()));
    }
    if let Some(model) = spec.models.first() {
        if let Some(len) = model.context_length {
            rows.push(("Context length", len.to_string()));
        }
        if let Some(tok) = &model.tokenizer_path {
            rows.push(("Tokenizer", tok.clone()));
        }
    }
    if !spec.health.is_empty() {
        let h = &spec.health;
        let mut parts = Vec::new();
        if let Some(v) = h.timeout_secs {
            parts.push(format!("timeout {v}s"));
        }
        if let Some(v) = h.check_interval_secs {
            parts.push(format!("interval {v}s"));
        }
        if let Some(v) = h.success_threshold {
            parts.push(format!("success threshold {v}"));
        }
        if let Some(v) = h.failure_threshold {
            parts.push(format!("failure threshold {v}"));
        }
        if let Some(v) = h.disable_health_check {
            parts.push(format!("disabled {v}"));
        }
        if let Some(v) = h.drain_settle_secs {
            parts.push(format!("drain settle {v}s"));
        }
        rows.push(("Health check", parts.join(", ")));
    }
    let labels = if spec.labels.is_empty() {
        "-".to_string()
    } else {
        spec.labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    rows.push(("Labels", labels));
    let job = match &w.job_status {
        None => "-".to_string(),
        Some(j) => {
            let mut s = format!("{} {}", j.job_type, j.status);
            if let Some(msg) = &j.message {
                s.push_str(&format!(": {msg}"));
            }
            s
        }
    };
    rows.push(("Job", job));
    render_kv(&rows)
}

// ---------------------------------------------------------------------------------------------
// add, update, replace

/// Read a worker spec from a file or stdin (`-`): JSON if it starts with `{`, else YAML.
fn read_spec(source: &str) -> Result<WorkerSpec> {
    let (text, name) = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .wrap_err("cannot read the worker spec from stdin")?;
        (text, "stdin".to_string())
    } else {
        let text = std::fs::read_to_string(source)
            .wrap_err_with(|| format!("cannot read the worker spec file {source}"))?;
        (text, source.to_string())
    };
    if text.trim_start().starts_with('{') {
        serde_json::from_str(&text)
            .wrap_err_with(|| format!("{name} is not a valid JSON worker spec"))
    } else {
        serde_yaml::from_str(&text)
            .wrap_err_with(|| format!("{name} is not a valid YAML worker spec"))
    }
}

fn read_secret_file(path: &PathBuf) -> Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("cannot read the API key file {}", path.display()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(eyre!("the API key file {} is empty", path.display()));
    }
    Ok(SecretString::new(key))
}

fn build_spec(args: &AddArgs) -> Result<WorkerSpec> {
    let mut spec = match (&args.file, &args.worker_url) {
        (Some(file), _) => read_spec(file)?,
        (None, Some(url)) => WorkerSpec::new(url.clone()),
        (None, None) => {
            return Err(UsageError("give a worker URL or -f FILE".into()).into());
        }
    };
    if !args.models.is_empty() {
        spec.models = args.models.iter().map(ModelCard::new).collect();
    }
    if let Some(t) = args.worker_type {
        spec.worker_type = t.into();
    }
    if let Some(r) = args.runtime {
        spec.runtime_type = r.into();
    }
    if let Some(p) = args.priority {
        spec.priority = p;
    }
    if let Some(c) = args.cost {
        spec.cost = c;
    }
    for (k, v) in &args.labels {
        spec.labels.insert(k.clone(), v.clone());
    }
    if let Some(path) = &args.api_key_file {
        spec.api_key = Some(read_secret_file(path)?);
    }
    Ok(spec)
}

async fn add(ctx: &Ctx, args: AddArgs) -> Result<Exit> {
    let spec = build_spec(&args)?;
    let workers = ctx.client.workers();
    let created = workers.create(&spec).await?;
    if !args.wait {
        if ctx.out.structured(&created)? {
            return Ok(Exit::Ok);
        }
        if ctx.out.format == Format::Name {
            ctx.out.line(&created.worker_id)?;
        } else {
            ctx.out.line(format_args!(
                "worker {} accepted ({})",
                created.worker_id, created.url
            ))?;
        }
        return Ok(Exit::Ok);
    }
    if !ctx.out.format.is_structured() && ctx.out.format != Format::Name {
        ctx.out.line(format_args!(
            "worker {} accepted ({})",
            created.worker_id, created.url
        ))?;
    }
    let spinner = Spinner::start(
        ctx,
        format!("waiting for worker {} to become ready", created.worker_id),
    );
    let result = workers
        .wait_for_worker(&created.worker_id, wait_bound(ctx, args.wait_timeout))
        .await;
    drop(spinner);
    let info = result?;
    print_worker(ctx, &info)?;
    Ok(Exit::Ok)
}

async fn update(ctx: &Ctx, args: UpdateArgs) -> Result<Exit> {
    let health = HealthCheckUpdate {
        timeout_secs: args.health_timeout_secs,
        check_interval_secs: args.health_interval_secs,
        success_threshold: args.health_success_threshold,
        failure_threshold: args.health_failure_threshold,
        disable_health_check: args.disable_health_check,
        drain_settle_secs: args.drain_settle_secs,
    };
    let update = WorkerUpdateRequest {
        priority: args.priority,
        cost: args.cost,
        labels: (!args.labels.is_empty()).then(|| args.labels.iter().cloned().collect()),
        api_key: args
            .api_key_file
            .as_ref()
            .map(read_secret_file)
            .transpose()?,
        health: (!health.is_empty()).then_some(health),
        disabled: None,
    };
    if update == WorkerUpdateRequest::default() {
        return Err(UsageError(
            "nothing to update: give at least one of --priority, --cost, --label, \
             --api-key-file, --health-*, --disable-health-check, --drain-settle-secs"
                .into(),
        )
        .into());
    }
    let id = resolve_id(ctx, &args.id).await?;
    let accepted = ctx.client.workers().update(&id, &update).await?;
    print_accepted(ctx, &accepted, "update accepted")?;
    Ok(Exit::Ok)
}

fn print_accepted(ctx: &Ctx, accepted: &WorkerAccepted, what: &str) -> Result<()> {
    if ctx.out.structured(accepted)? {
        return Ok(());
    }
    if ctx.out.format == Format::Name {
        return ctx.out.line(&accepted.worker_id);
    }
    ctx.out
        .line(format_args!("worker {} {what}", accepted.worker_id))
}

// ---------------------------------------------------------------------------------------------
// delete

async fn delete(ctx: &Ctx, args: DeleteArgs) -> Result<Exit> {
    let consent = Consent::require(
        ctx,
        args.yes,
        &format!("delete {}", plural(args.ids.len(), "worker")),
    )?;
    // Resolve every id first, so a typo deletes nothing and the prompt shows full ids.
    let targets = worker_targets(ctx, &args.ids).await?;
    let verb = if args.force { "Force-delete" } else { "Delete" };
    if !consent.confirm(&format!(
        "{verb} {} ({})?",
        plural(targets.ids().len(), "worker"),
        targets.ids().join(", ")
    )) {
        return Ok(Exit::Failure);
    }
    targets
        .run(async |id| delete_one(ctx, id, &args).await)
        .await
}

/// The workers named by `raw` (each resolved as by [`resolve_id`], before anything changes).
async fn worker_targets<'a>(ctx: &'a Ctx, raw: &[String]) -> Result<Targets<'a>> {
    let ids = resolve_ids(ctx, raw).await?;
    Ok(Targets::new(ctx, "worker", HintScope::Worker, ids))
}

async fn delete_one(ctx: &Ctx, id: &str, args: &DeleteArgs) -> Result<()> {
    let workers = ctx.client.workers();
    let accepted = if args.force {
        workers.force_delete(id).await?
    } else {
        workers.delete(id).await?
    };
    if args.wait {
        let spinner = Spinner::start(ctx, format!("waiting for worker {id} to be removed"));
        let result = workers
            .wait_for_removal(id, wait_bound(ctx, args.wait_timeout))
            .await;
        drop(spinner);
        result?;
        print_accepted(ctx, &accepted, "deleted")
    } else {
        print_accepted(ctx, &accepted, "removal accepted")
    }
}

// ---------------------------------------------------------------------------------------------
// fleet operations: cordon, uncordon, retire, flush

async fn set_cordoned(ctx: &Ctx, ids: &[String], cordon: bool) -> Result<Exit> {
    let targets = worker_targets(ctx, ids).await?;
    let what = if cordon { "cordoned" } else { "uncordoned" };
    targets
        .run(async |id| {
            let workers = ctx.client.workers();
            let accepted = if cordon {
                workers.cordon(id).await?
            } else {
                workers.uncordon(id).await?
            };
            print_accepted(ctx, &accepted, what)
        })
        .await
}

async fn flush(ctx: &Ctx, id: &str) -> Result<Exit> {
    let id = resolve_id(ctx, id).await?;
    let resp = ctx.client.workers().flush_cache(&id).await?;
    if !ctx.out.structured(&resp)? {
        if ctx.out.format == Format::Name {
            ctx.out.line(&id)?;
        } else {
            ctx.out.write(&crate::loads::flush_summary(ctx, &resp))?;
        }
    }
    if !resp.is_partial() {
        return Ok(Exit::Ok);
    }
    let failures: Vec<String> = resp
        .failures()
        .iter()
        .map(|f| format!("{}: {}", f.worker, f.error))
        .collect();
    let why = if failures.is_empty() {
        resp.message.clone()
    } else {
        failures.join("; ")
    };
    diag(format_args!(
        "error: the KV cache of worker {id} was not flushed: {why}"
    ));
    Ok(Exit::Partial)
}

/// The steps of a retirement, in the order the gateway's job goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum RetireStep {
    Cordoned,
    Draining,
    Flushing,
    Removing,
    Removed,
}

impl RetireStep {
    /// The step a `RetireWorker` job message reports, by its first word.
    fn of_message(message: &str) -> Option<Self> {
        let word = message
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match word.as_str() {
            "cordoned" => Some(Self::Cordoned),
            "draining" => Some(Self::Draining),
            "flushing" => Some(Self::Flushing),
            "removing" => Some(Self::Removing),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }

    /// What to print for a step the polls did not catch (the job went through it between
    /// two polls): every retirement goes through each step, in order.
    fn passed(self) -> &'static str {
        match self {
            Self::Cordoned => "cordoned: the worker takes no new requests",
            Self::Draining => "draining: done",
            Self::Flushing => "flushing the KV cache",
            Self::Removing => "removing the worker",
            Self::Removed => "removed",
        }
    }
}

/// Turns the job statuses seen while waiting into one line per step, in order: a step the
/// polls missed is filled in, a step seen again (e.g. the in-flight count fell) prints only
/// when its message changed.
#[derive(Debug, Default)]
struct RetireProgress {
    reached: Option<RetireStep>,
    last_message: Option<String>,
}

impl RetireProgress {
    fn lines(&mut self, job: &JobStatus) -> Vec<String> {
        let message = job.message.clone().unwrap_or_default();
        let Some(step) = RetireStep::of_message(&message) else {
            // A message this client does not know: shown as it is, once.
            if message.is_empty() || self.last_message.as_deref() == Some(&message) {
                return Vec::new();
            }
            self.last_message = Some(message.clone());
            return vec![format!("{}: {message}", job.job_type)];
        };
        let mut lines = self.advance_to(step);
        // The gateway's own words: a draining step names the requests still in flight.
        if self.last_message.as_deref() != Some(&message) {
            lines.push(message.clone());
            self.last_message = Some(message);
        }
        lines
    }

    /// Lines for the steps between the last one printed and `step` (exclusive).
    fn advance_to(&mut self, step: RetireStep) -> Vec<String> {
        let all = [
            RetireStep::Cordoned,
            RetireStep::Draining,
            RetireStep::Flushing,
            RetireStep::Removing,
            RetireStep::Removed,
        ];
        let lines = all
            .iter()
            .filter(|s| self.reached.is_none_or(|r| **s > r) && **s < step)
            .map(|s| s.passed().to_string())
            .collect();
        if self.reached.is_none_or(|r| r < step) {
            self.reached = Some(step);
        }
        lines
    }

    /// The lines once the worker is gone.
    fn finish(&mut self, id: &str) -> Vec<String> {
        let mut lines = self.advance_to(RetireStep::Removed);
        lines.push(format!("removed: worker {id} is gone"));
        lines
    }
}

async fn retire(ctx: &Ctx, args: RetireArgs) -> Result<Exit> {
    let consent = Consent::require(ctx, args.yes, &format!("retire {}", plural(1, "worker")))?;
    let id = resolve_id(ctx, &args.id).await?;
    if !consent.confirm(&format!(
        "Retire worker {id} (cordon, drain, flush its cache, remove it)?"
    )) {
        return Ok(Exit::Failure);
    }
    let request = RetireWorkerRequest {
        timeout_secs: args.timeout_secs,
    };
    let workers = ctx.client.workers();
    let accepted = workers.retire(&id, &request).await?;
    if !args.wait {
        print_accepted(ctx, &accepted, "retirement accepted")?;
        return Ok(Exit::Ok);
    }
    // Steps are data for people (stdout with a table); with -o json|yaml|name, stdout keeps
    // only the document or the id, and the steps go to stderr.
    let steps_on_stdout = matches!(ctx.out.format, Format::Table | Format::Wide);
    if ctx.out.format.is_structured() {
        print_accepted(ctx, &accepted, "retirement accepted")?;
    } else if steps_on_stdout {
        ctx.out
            .line(format_args!("worker {id} retirement accepted"))?;
    }
    let emit = |line: &str| -> Result<()> {
        if steps_on_stdout {
            ctx.out.line(line)
        } else {
            diag(line);
            Ok(())
        }
    };
    let bound = match args.timeout_secs {
        // The drain alone may take that long: leave it a minute more to flush and remove.
        Some(secs) if args.wait_timeout.is_none() && ctx.explicit_timeout.is_none() => {
            DEFAULT_WAIT.max(Duration::from_secs(secs.saturating_add(60)))
        }
        _ => wait_bound(ctx, args.wait_timeout),
    };
    let mut progress = RetireProgress::default();
    let mut write_error = None;
    let result = workers
        .wait_for_retirement(&id, bound, |job| {
            for line in progress.lines(job) {
                if write_error.is_none()
                    && let Err(e) = emit(&line)
                {
                    write_error = Some(e);
                }
            }
        })
        .await;
    if let Some(e) = write_error {
        return Err(e);
    }
    result?;
    for line in progress.finish(&id) {
        emit(&line)?;
    }
    if ctx.out.format == Format::Name {
        ctx.out.line(&id)?;
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use smg_sdk::JobState;

    fn job(message: &str) -> JobStatus {
        JobStatus {
            job_type: smg_sdk::JobKind::RetireWorker.as_str().into(),
            worker_url: "http://w:1".into(),
            status: JobState::Processing,
            message: Some(message.into()),
            timestamp: 0,
        }
    }

    #[test]
    fn every_step_seen_is_printed_once_in_order() {
        let mut p = RetireProgress::default();
        let mut out = Vec::new();
        for m in [
            "cordoned: the worker takes no new requests",
            "draining: waiting for 2 in-flight request(s) to finish (timeout 30s)",
            "draining: waiting for 2 in-flight request(s) to finish (timeout 30s)",
            "draining: waiting for 1 in-flight request(s) to finish (timeout 30s)",
            "flushing the KV cache",
            "removing the worker",
        ] {
            out.extend(p.lines(&job(m)));
        }
        out.extend(p.finish("abc"));
        assert_eq!(
            out,
            [
                "cordoned: the worker takes no new requests",
                "draining: waiting for 2 in-flight request(s) to finish (timeout 30s)",
                "draining: waiting for 1 in-flight request(s) to finish (timeout 30s)",
                "flushing the KV cache",
                "removing the worker",
                "removed: worker abc is gone",
            ]
        );
    }

    #[test]
    fn steps_between_two_polls_are_filled_in() {
        let mut p = RetireProgress::default();
        let mut out = p.lines(&job("flushing the KV cache"));
        out.extend(p.finish("abc"));
        assert_eq!(
            out,
            [
                "cordoned: the worker takes no new requests",
                "draining: done",
                "flushing the KV cache",
                "removing the worker",
                "removed: worker abc is gone",
            ]
        );
        // Gone before the first poll: every step, then removed.
        let mut p = RetireProgress::default();
        assert_eq!(p.finish("x").len(), 5);
    }

    #[test]
    fn an_unknown_message_is_shown_as_it_is_once() {
        let mut p = RetireProgress::default();
        assert_eq!(
            p.lines(&job("something new")),
            ["RetireWorker: something new"]
        );
        assert!(p.lines(&job("something new")).is_empty());
        assert_eq!(
            RetireStep::of_message("Draining: x"),
            Some(RetireStep::Draining)
        );
        assert_eq!(RetireStep::of_message(""), None);
    }
}
