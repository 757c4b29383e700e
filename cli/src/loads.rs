//! `smgctl loads` (engine load per worker and DP rank) and `smgctl cache flush`.

use std::time::Duration;

use clap::{Args, Subcommand};
use color_eyre::eyre::Result;
use smg_sdk::{FlushCacheResponse, GetLoadsResponse, WorkerLoad};

use crate::Ctx;
use crate::exit::{self, Exit, HintScope};
use crate::output::{CLEAR_SCREEN, Format, diag, render_table};

#[derive(Debug, Args)]
pub struct LoadsArgs {
    /// Keep polling: redraw on a terminal, else print each change (one JSON document per line with -o json)
    #[arg(short = 'w', long)]
    watch: bool,
    /// Poll interval of --watch
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
}

#[derive(Debug, Subcommand)]
pub enum CacheCmd {
    /// Flush the KV cache of every worker (POST /flush_cache); exit 5 when some failed
    Flush,
}

pub async fn loads(ctx: &Ctx, args: LoadsArgs) -> Result<Exit> {
    if args.watch {
        return watch(ctx, args.interval).await;
    }
    let loads = ctx.client.get_loads().await?;
    if ctx.out.structured(&loads)? {
        return Ok(Exit::Ok);
    }
    if ctx.out.format == Format::Name {
        for w in &loads.workers {
            ctx.out.line(&w.worker)?;
        }
        return Ok(Exit::Ok);
    }
    if loads.workers.is_empty() {
        diag("No workers found.");
        return Ok(Exit::Ok);
    }
    ctx.out.write(&loads_table(ctx, &loads))?;
    Ok(Exit::Ok)
}

fn loads_table(ctx: &Ctx, loads: &GetLoadsResponse) -> String {
    if ctx.out.format == Format::Wide {
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
            ],
            &rows,
        )
    } else {
        let rows: Vec<Vec<String>> = loads.workers.iter().map(summary_row).collect();
        render_table(
            &[
                "WORKER",
                "LOAD",
                "RUNNING",
                "WAITING",
                "TOKEN USAGE",
                "CACHE HIT",
                "GEN TOK/S",
            ],
            &rows,
        )
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// One row per worker: counts and throughput summed over ranks, token usage over the summed
/// capacity, cache hit rate averaged over ranks.
fn summary_row(w: &WorkerLoad) -> Vec<String> {
    let dash = || "-".to_string();
    let Some(details) = w.details.as_ref().filter(|d| !d.loads.is_empty()) else {
        return vec![
            w.worker.clone(),
            "unavailable".into(),
            dash(),
            dash(),
            dash(),
            dash(),
            dash(),
        ];
    };
    let ranks = &details.loads;
    let running: i64 = ranks.iter().map(|l| i64::from(l.num_running_reqs)).sum();
    let waiting: i64 = ranks.iter().map(|l| i64::from(l.num_waiting_reqs)).sum();
    let used: i64 = ranks.iter().map(|l| i64::from(l.num_used_tokens)).sum();
    let max: i64 = ranks
        .iter()
        .map(|l| i64::from(l.max_total_num_tokens))
        .sum();
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
        if w.load < 0 {
            dash()
        } else {
            w.load.to_string()
        },
        running.to_string(),
        waiting.to_string(),
        percent(usage),
        percent(cache_hit),
        format!("{gen_tps:.1}"),
    ]
}

/// One row per DP rank (one `unavailable` row for a worker that did not answer).
fn rank_rows(w: &WorkerLoad) -> Vec<Vec<String>> {
    let dash = || "-".to_string();
    match w.details.as_ref().filter(|d| !d.loads.is_empty()) {
        None => vec![vec![
            w.worker.clone(),
            dash(),
            dash(),
            dash(),
            "unavailable".into(),
            dash(),
            dash(),
            dash(),
        ]],
        Some(details) => details
            .loads
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
                ]
            })
            .collect(),
    }
}

async fn watch(ctx: &Ctx, interval: Duration) -> Result<Exit> {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut ctrl_c = std::pin::pin!(ctrl_c);
    let mut previous: Option<GetLoadsResponse> = None;
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
            r = ctx.client.get_loads() => r,
        };
        let (loads, error) = match result {
            Ok(loads) => (Some(loads), None),
            Err(e) if e.is_auth() || e.is_not_found() => return Err(e.into()),
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
        let changed = loads.is_some() && loads != previous;
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
                    Some(l) if !l.workers.is_empty() => loads_table(ctx, l),
                    Some(_) => "No workers found.\n".to_string(),
                    None => String::new(),
                };
                if ctx.stdout_tty {
                    let mut screen = String::from(CLEAR_SCREEN);
                    screen.push_str(&format!(
                        "Every {}: smgctl loads   {}   (Ctrl-C to quit)\n",
                        humantime::format_duration(interval),
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

fn flush_summary(ctx: &Ctx, resp: &FlushCacheResponse) -> String {
    let status = if resp.is_partial() {
        ctx.out.bad(&resp.status)
    } else {
        ctx.out.good(&resp.status)
    };
    let mut out = format!(
        "{status}: {}\nflushed {} of {} workers (http {}, grpc {}, zmq skipped {})\n",
        resp.message,
        resp.workers_flushed,
        resp.total_workers,
        resp.total_http_workers,
        resp.total_grpc_workers,
        resp.total_zmq_workers_skipped,
    );
    if !resp.failures().is_empty() {
        let rows: Vec<Vec<String>> = resp
            .failures()
            .iter()
            .map(|f| vec![f.worker.clone(), f.error.clone()])
            .collect();
        out.push('\n');
        out.push_str(&render_table(&["FAILED WORKER", "ERROR"], &rows));
    }
    out
}
