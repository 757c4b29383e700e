//! `smgctl audit`: the gateway's stored audit log (`GET /admin/audit`), once or followed.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use color_eyre::eyre::Result;
use smg_sdk::{AuditEvent, AuditOutcome, AuditQuery};

use crate::Ctx;
use crate::exit::{Exit, UsageError};
use crate::output::{Format, Listing, diag, render_table};

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events newer than this: an age (1h, 30m, 7d) or an RFC 3339 time
    #[arg(long, value_name = "AGE|TIME")]
    since: Option<String>,
    /// Only events older than this: an age or an RFC 3339 time
    #[arg(long, value_name = "AGE|TIME")]
    until: Option<String>,
    /// Only events of this principal (key id, token subject, or auth method)
    #[arg(long, value_name = "P")]
    principal: Option<String>,
    /// Only events whose path starts with this (e.g. /workers)
    #[arg(long, value_name = "PREFIX")]
    path: Option<String>,
    /// Most events shown (1-1000)
    #[arg(long, default_value_t = 100, value_name = "N")]
    limit: usize,
    /// Keep polling and print new events as they are recorded
    #[arg(short = 'f', long)]
    follow: bool,
    /// Poll interval of --follow
    #[arg(long, value_parser = smg_sdk::config::parse_duration, default_value = "2s", value_name = "DURATION")]
    interval: Duration,
}

/// An age such as `1h` (before now) or an RFC 3339 time.
fn parse_instant(raw: &str, flag: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let age = humantime::parse_duration(raw.trim()).map_err(|_| {
        UsageError(format!(
            "--{flag} expects an age such as 1h, 30m, 7d or an RFC 3339 time (got '{raw}')"
        ))
    })?;
    chrono::Duration::from_std(age)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age))
        .ok_or_else(|| UsageError(format!("--{flag} is too far in the past")).into())
}

pub async fn run(ctx: &Ctx, args: AuditArgs) -> Result<Exit> {
    if !(1..=1000).contains(&args.limit) {
        return Err(UsageError("--limit must be 1-1000".into()).into());
    }
    let mut query = AuditQuery {
        since: args
            .since
            .as_deref()
            .map(|s| parse_instant(s, "since"))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_instant(s, "until"))
            .transpose()?,
        principal: args.principal.clone(),
        path: args.path.clone(),
        limit: Some(args.limit),
    };
    let first = ctx.client.audit(&query).await?;
    if !first.enabled {
        diag("note: the gateway runs with --disable-audit-log; nothing is recorded");
    }
    if !args.follow {
        let listing = Listing {
            items: &chronological(&first.events),
            name: |e| e.id.clone(),
            empty: Some("No audit events found."),
            footer: None,
        };
        ctx.out
            .list(&first, listing, |events| events_table(ctx, events))?;
        return Ok(Exit::Ok);
    }
    // Follow: oldest first, then only what is new, polling from the newest seen instant.
    let mut seen: HashSet<String> = HashSet::new();
    let mut events = first.events;
    events.reverse();
    let mut header = true;
    let ctrl_c = tokio::signal::ctrl_c();
    let mut ctrl_c = std::pin::pin!(ctrl_c);
    query.until = None;
    loop {
        let fresh: Vec<AuditEvent> = events
            .into_iter()
            .filter(|e| seen.insert(e.id.clone()))
            .collect();
        if let Some(newest) = fresh.iter().map(|e| e.timestamp).max() {
            query.since = Some(newest);
        }
        if !fresh.is_empty() {
            print_events(ctx, &fresh, header)?;
            header = false;
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(Exit::Ok),
            _ = tokio::time::sleep(args.interval) => {}
        }
        let mut page = match ctx.client.audit(&query).await {
            Ok(page) => page.events,
            Err(e) if e.is_auth() => return Err(e.into()),
            Err(e) => {
                diag(format_args!("warning: {e}"));
                Vec::new()
            }
        };
        page.reverse();
        events = page;
    }
}

/// Events in chronological order (oldest first) for people; JSON Lines with `-o json`.
fn print_events(ctx: &Ctx, events: &[AuditEvent], header: bool) -> Result<()> {
    let ordered = chronological(events);
    match ctx.out.format {
        Format::Json => {
            for e in ordered {
                ctx.out.json_line(e)?;
            }
            Ok(())
        }
        Format::Yaml => {
            for e in ordered {
                ctx.out.yaml(e)?;
            }
            Ok(())
        }
        Format::Name => {
            for e in ordered {
                ctx.out.line(&e.id)?;
            }
            Ok(())
        }
        Format::Table | Format::Wide => {
            let table = events_table(ctx, &ordered);
            if header {
                ctx.out.write(&table)
            } else {
                // Later batches of --follow: rows only.
                let body: String = table.lines().skip(1).map(|l| format!("{l}\n")).collect();
                ctx.out.write(&body)
            }
        }
    }
}

/// Oldest first.
fn chronological(events: &[AuditEvent]) -> Vec<&AuditEvent> {
    let mut ordered: Vec<&AuditEvent> = events.iter().collect();
    ordered.sort_by_key(|e| e.timestamp);
    ordered
}

fn events_table(ctx: &Ctx, events: &[&AuditEvent]) -> String {
    let wide = ctx.out.format == Format::Wide;
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mut row = vec![
                e.timestamp
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                e.principal_id.clone().unwrap_or_else(|| "-".into()),
                e.role.map_or("-".into(), |r| r.to_string()),
                e.method.clone(),
                e.path.clone(),
                e.status.to_string(),
                outcome(ctx, e.outcome),
            ];
            if wide {
                row.push(e.auth_method.clone().unwrap_or_else(|| "-".into()));
                row.push(e.request_id.clone().unwrap_or_else(|| "-".into()));
                row.push(e.summary.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut head = vec![
        "TIME",
        "PRINCIPAL",
        "ROLE",
        "METHOD",
        "PATH",
        "STATUS",
        "OUTCOME",
    ];
    if wide {
        head.extend(["AUTH METHOD", "REQUEST ID", "SUMMARY"]);
    }
    render_table(&head, &rows)
}

fn outcome(ctx: &Ctx, o: AuditOutcome) -> String {
    match o {
        AuditOutcome::Success => ctx.out.good(o.as_str()),
        AuditOutcome::Failure | AuditOutcome::Denied => ctx.out.bad(o.as_str()),
    }
}
