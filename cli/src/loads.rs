//! `smgctl loads` (engine load per worker and DP rank, and the fleet aggregate) and
//! `smgctl cache flush`.
//!
//! Both of the gateway's load routes and both wire shapes read into one [`FleetLoads`]:
//! `/get_loads` (this gateway's `{"workers":[…]}` live fan-out, or upstream 1.12+'s per-rank
//! snapshot) by default, `/loads` (the load monitor's cached snapshot) with `--snapshot`.
//! `-o json|yaml` prints that `FleetLoads`, so a script reads the same document from either
//! gateway and either route.

use std::time::Duration;

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;
use smg_sdk::{
    FleetLoads, FlushCacheResponse, FlushFailure, LoadAggregate, SchedulerLoadSnapshot, WorkerLoads,
};

use crate::Ctx;
use crate::exit::{self, Exit, HintScope, UsageError};
use crate::output::{CLEAR_SCREEN, Format, Listing, diag, render_table};

#[derive(Debug, Args)]
pub struct LoadsArgs {
    /// Read the load monitor's cached snapshot (GET /loads: cheap, public, only workers it has
    /// polled) instead of GET /get_loads
    #[arg(long)]
    snapshot: bool,
    /// With --snapshot: only workers serving this model
    #[arg(long, value_name = "MODEL", requires = "snapshot")]
    model: Option<String>,
    /// Keep polling: redraw on a terminal, else print each change (one JSON document per line with -o json)
    #[arg(short = 'w', long)]
    watch: bool,
    /// Poll interval of --watch
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
}

impl LoadsArgs {
    /// The route polled, for messages.
    fn route(&self) -> &'static str {
        if self.snapshot {
            "/loads"
        } else {
            "/get_loads"
        }
    }

    async fn fetch(&self, ctx: &Ctx) -> smg_sdk::Result<FleetLoads> {
        if self.snapshot {
            Ok(ctx
                .client
                .loads_snapshot(self.model.as_deref())
                .await?
                .into())
        } else {
            ctx.client.loads().await
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// Flush the KV cache of every worker (POST /flush_cache); exit 5 when some failed
    Flush,
}

pub async fn loads(ctx: &Ctx, args: LoadsArgs) -> Result<Exit> {
    if args.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err(UsageError("--model must not be empty".into()).into());
    }
    if args.watch {
        return watch(ctx, &args).await;
    }
    let loads = args.fetch(ctx).await?;
    let empty = empty_message(&args);
    let listing = Listing {
        items: &loads.workers,
        name: |w| w.worker.clone(),
        empty: Some(&empty),
        footer: None,
    };
    // Only called with workers to show, so the text is there.
    ctx.out.list(&loads, listing, |_| {
        loads_text(ctx, &loads).unwrap_or_default()
    })?;
    Ok(Exit::Ok)
}

fn empty_message(args: &LoadsArgs) -> String {
    match (&args.model, args.snapshot) {
        (Some(m), _) => format!("No load reports for model {m}."),
        (None, true) => "No load reports yet (the load monitor has polled no worker).".into(),
        (None, false) => "No workers found.".into(),
    }
}

/// The table and the aggregate line; `None` when there is no worker to show.
fn loads_text(ctx: &Ctx, loads: &FleetLoads) -> Option<String> {
    if loads.workers.is_empty() {
        return None;
    }
    let mut text = if ctx.out.format == Format::Wide {
        let rows: Vec<Vec<String>> = loads.workers.iter().flat_map(rank_rows).collect();
        render_table(
            &[
                "WORKER",
                "RANK",
                "RUNNING",
                "WAITING",
                "TOKENS (USED/MAX)",
                "TOKEN USAGE",
                "CACHE HIT",
                "GEN TOK/S",
                "UTILIZATION",
            ],
            &rows,
        )
    } else {
        let rows: Vec<Vec<String>> = loads.workers.iter().map(summary_row).collect();
        render_table(
            &[
                "WORKER",
                "TYPE",
                "LOAD",
                "RUNNING",
                "WAITING",
                "TOKEN USAGE",
                "CACHE HIT",
                "GEN TOK/S",
            ],
            &rows,
        )
    };
    text.push('\n');
    text.push_str(&aggregate_line(&loads.aggregate));
    text.push('\n');
    Some(text)
}

/// `aggregate: running 3 · waiting 1 · total 4 · avg token usage 7.5% · avg gen 5.0 tok/s ·
/// avg utilization 12.5%` (upstream's fields; computed over the ranks for the workers shape).
fn aggregate_line(a: &LoadAggregate) -> String {
    format!(
        "aggregate: running {} · waiting {} · total {} · avg token usage {} · avg gen {:.1} tok/s \
         · avg utilization {}",
        a.total_running_reqs,
        a.total_waiting_reqs,
        a.total_reqs,
        percent(a.avg_token_usage),
        a.avg_throughput,
        percent(a.avg_utilization),
    )
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

fn dash() -> String {
    "-".to_string()
}

/// One row per worker: counts and throughput summed over ranks, token usage over the summed
/// capacity, cache hit rate averaged over ranks.
fn summary_row(w: &WorkerLoads) -> Vec<String> {
    let kind = w.worker_type.map_or_else(dash, |t| t.to_string());
    if !w.reported() {
        return vec![
            w.worker.clone(),
            kind,
            "unavailable".into(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
        ];
    }
    let ranks = &w.ranks;
    let sum = |f: fn(&SchedulerLoadSnapshot) -> i32| -> i64 {
        ranks.iter().map(|l| i64::from(f(l))).sum()
    };
    let used = sum(|l| l.num_used_tokens);
    let max = sum(|l| l.max_total_num_tokens);
    let n = ranks.len() as f64;
    let usage = if max > 0 {
        used as f64 / max as f64
    } else {
        ranks.iter().map(|l| l.token_usage).sum::<f64>() / n
    };
    let cache_hit = ranks.iter().map(|l| l.cache_hit_rate).sum::<f64>() / n;
    let gen_tps: f64 = ranks.iter().map(|l| l.gen_throughput).sum();
    vec![
        w.worker.clone(),
        kind,
        if w.load < 0 {
            dash()
        } else {
            w.load.to_string()
        },
        sum(|l| l.num_running_reqs).to_string(),
        sum(|l| l.num_waiting_reqs).to_string(),
        percent(usage),
        percent(cache_hit),
        format!("{gen_tps:.1}"),
    ]
}

/// One row per DP rank (one `unavailable` row for a worker that did not answer).
fn rank_rows(w: &WorkerLoads) -> Vec<Vec<String>> {
    if !w.reported() {
        let mut row = vec![w.worker.clone()];
        row.extend((0..8).map(|i| if i == 3 { "unavailable".into() } else { dash() }));
        return vec![row];
    }
    w.ranks
        .iter()
        .map(|l| {
            vec![
                w.worker.clone(),
                l.dp_rank.to_string(),
                l.num_running_reqs.to_string(),
                l.num_waiting_reqs.to_string(),
                format!("{}/{}", l.num_used_tokens, l.max_total_num_tokens),
                percent(l.token_usage),
                percent(l.cache_hit_rate),
                format!("{:.1}", l.gen_throughput),
                percent(l.utilization),
            ]
        })
        .collect()
}

/// Whether two polls show the same loads: the snapshot's timestamp and each report's age move
/// on every poll and are not a change.
fn same_loads(a: &FleetLoads, b: &FleetLoads) -> bool {
    let key = |l: &FleetLoads| -> Vec<(String, i64, Vec<SchedulerLoadSnapshot>)> {
        l.workers
            .iter()
            .map(|w| (w.worker.clone(), w.load, w.ranks.clone()))
            .collect()
    };
    a.aggregate == b.aggregate && key(a) == key(b)
}

async fn watch(ctx: &Ctx, args: &LoadsArgs) -> Result<Exit> {
    let interval = args.interval;
    let ctrl_c = tokio::signal::ctrl_c();
    let mut ctrl_c = std::pin::pin!(ctrl_c);
    let mut previous: Option<FleetLoads> = None;
    let mut printed_blocks = 0usize;
    let mut first = true;
    loop {
        if !first {
            tokio::select! {
                _ = &mut ctrl_c => return Ok(Exit::Ok),
                () = tokio::time::sleep(interval) => {}
            }
        }
        first = false;
        let result = tokio::select! {
            _ = &mut ctrl_c => return Ok(Exit::Ok),
            r = args.fetch(ctx) => r,
        };
        let (loads, error) = match result {
            Ok(loads) => (Some(loads), None),
            Err(e) if e.is_auth() || e.is_not_found() || e.is_unsupported() => {
                return Err(e.into());
            }
            Err(e) => {
                let report = exit::report(&e.into(), Some(&ctx.url), HintScope::Other);
                (None, Some(report.message))
            }
        };
        if let Some(err) = &error
            && (!ctx.stdout_tty || ctx.out.format.is_structured())
        {
            diag(format_args!("warning: {err}"));
        }
        let changed = match (&loads, &previous) {
            (Some(now), Some(before)) => !same_loads(now, before),
            (now, _) => now.is_some(),
        };
        match ctx.out.format {
            Format::Json | Format::Yaml | Format::Name => {
                if let (true, Some(l)) = (changed, &loads) {
                    match ctx.out.format {
                        Format::Json => ctx.out.json_line(l)?,
                        Format::Yaml => ctx.out.yaml(l)?,
                        _ => {
                            for w in &l.workers {
                                ctx.out.line(&w.worker)?;
                            }
                        }
                    }
                }
            }
            Format::Table | Format::Wide => {
                let shown = loads.as_ref().or(previous.as_ref());
                let table = match shown {
                    Some(l) => {
                        loads_text(ctx, l).unwrap_or_else(|| format!("{}\n", empty_message(args)))
                    }
                    None => String::new(),
                };
                if ctx.stdout_tty {
                    let mut screen = String::from(CLEAR_SCREEN);
                    screen.push_str(&format!(
                        "Every {}: smgctl loads ({})   {}   (Ctrl-C to quit)\n",
                        humantime::format_duration(interval),
                        args.route(),
                        humantime::format_rfc3339_seconds(std::time::SystemTime::now()),
                    ));
                    if let Some(err) = &error {
                        screen.push_str(&format!("{}\n", ctx.out.bad(&format!("error: {err}"))));
                    }
                    screen.push('\n');
                    screen.push_str(&table);
                    ctx.out.write(&screen)?;
                } else if changed {
                    if printed_blocks > 0 {
                        ctx.out.write("\n")?;
                    }
                    ctx.out.write(&table)?;
                    printed_blocks += 1;
                }
            }
        }
        if loads.is_some() {
            previous = loads;
        }
    }
}

pub async fn cache(ctx: &Ctx, cmd: CacheCmd) -> Result<Exit> {
    match cmd {
        CacheCmd::Flush => flush(ctx).await,
    }
}

async fn flush(ctx: &Ctx) -> Result<Exit> {
    let resp = ctx.client.flush_cache().await?;
    let exit = if resp.is_partial() {
        Exit::Partial
    } else {
        Exit::Ok
    };
    if !ctx.out.structured(&resp)? {
        ctx.out.write(&flush_summary(ctx, &resp))?;
    }
    if resp.is_partial() {
        diag(format_args!(
            "error: cache flush failed on {} of {} workers",
            resp.failures().len(),
            resp.total_workers
        ));
    }
    Ok(exit)
}

pub(crate) fn flush_summary(ctx: &Ctx, resp: &FlushCacheResponse) -> String {
    let counts = format!(
        "flushed {} of {} workers (http {}, grpc {}, zmq skipped {})",
        resp.workers_flushed,
        resp.total_workers,
        resp.total_http_workers,
        resp.total_grpc_workers,
        resp.total_zmq_workers_skipped,
    );
    fanout_summary(
        ctx,
        &resp.status,
        resp.is_partial(),
        &resp.message,
        &counts,
        resp.failures(),
    )
}

/// A fan-out's answer for people: its status (red when partial), message and counts, then a
/// table of the workers that failed, if any. Shared by `cache flush`, `workers flush` and
/// `profile`.
pub(crate) fn fanout_summary(
    ctx: &Ctx,
    status: &str,
    partial: bool,
    message: &str,
    counts: &str,
    failures: &[FlushFailure],
) -> String {
    let status = if partial {
        ctx.out.bad(status)
    } else {
        ctx.out.good(status)
    };
    let mut out = format!("{status}: {message}\n{counts}\n");
    if !failures.is_empty() {
        let rows: Vec<Vec<String>> = failures
            .iter()
            .map(|f| vec![f.worker.clone(), f.error.clone()])
            .collect();
        out.push('\n');
        out.push_str(&render_table(&["FAILED WORKER", "ERROR"], &rows));
    }
    out
}
