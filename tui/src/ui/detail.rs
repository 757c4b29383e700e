//! One worker: spec, labels, job status, per-DP-rank loads and its history.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};
use smg_sdk::{JobState, WorkerInfo};

use super::{
    breaker_style, breaker_text, dim_if_stale, panel, rate_text, sparkline, status_style,
    status_text,
};
use crate::app::App;
use crate::event::Source;
use crate::format;

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let Some(w) = app.detail_worker() else {
        let id = app.detail_id.as_deref().unwrap_or("?");
        let block = panel(app, "Worker", Source::Workers);
        let inner = block.inner(area);
        block.render(area, buf);
        Paragraph::new(vec![
            Line::styled(
                format!("Worker {id} is not registered (any more)."),
                Style::new().fg(Color::Yellow),
            ),
            Line::raw("Esc goes back to the worker list."),
        ])
        .render(inner, buf);
        return;
    };
    let [top, bottom] = Layout::vertical([Constraint::Fill(1), Constraint::Length(8)]).areas(area);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    spec_panel(left, buf, app, w);
    let [job, ranks] = Layout::vertical([Constraint::Length(5), Constraint::Fill(1)]).areas(right);
    job_panel(job, buf, app, w);
    ranks_panel(ranks, buf, app, w);
    history_panel(bottom, buf, app, w);
}

fn kv(key: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{key:<16}"), Style::new().fg(Color::DarkGray)),
        Span::raw(value.into()),
    ])
}

fn spec_panel(area: Rect, buf: &mut Buffer, app: &App, w: &WorkerInfo) {
    let block = panel(
        app,
        &format!("Worker {}", format::short_id(&w.id)),
        Source::Workers,
    );
    let inner = block.inner(area);
    block.render(area, buf);
    let s = &w.spec;
    let models = if s.models.is_empty() {
        "* (wildcard: serves any model)".to_string()
    } else {
        s.models
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        kv("id", w.id.clone()),
        kv("url", s.url.clone()),
        kv("models", models),
        kv(
            "type",
            format!(
                "{} · {} · {}",
                s.worker_type, s.connection_mode, s.runtime_type
            ),
        ),
        Line::from(vec![
            Span::styled(
                format!("{:<16}", "status"),
                Style::new().fg(Color::DarkGray),
            ),
            Span::styled(status_text(w.status), status_style(w.status).bold()),
            Span::raw(if w.is_disabled() {
                "  (cordoned: no new requests; u uncordons)"
            } else if w.is_healthy {
                "  (routable)"
            } else {
                "  (not routable)"
            }),
        ]),
        kv("priority · cost", format!("{} · {}", s.priority, s.cost)),
        kv(
            "in-flight",
            format!("{} requests through the gateway", w.load),
        ),
    ];
    let cb = w.circuit_breaker.as_deref();
    lines.push(Line::from(vec![
        Span::styled(
            format!("{:<16}", "circuit breaker"),
            Style::new().fg(Color::DarkGray),
        ),
        Span::styled(breaker_text(cb), breaker_style(cb)),
        Span::styled(
            match cb {
                Some("open") => "  (not routed to until it half-opens)",
                Some("half_open") => "  (probing with a few requests)",
                _ => "",
            },
            Style::new().fg(Color::DarkGray),
        ),
    ]));
    let traffic = if app.metrics_unavailable() {
        Line::styled(
            format!(
                "{:<16}metrics unavailable ({})",
                "traffic",
                app.metrics_url.as_deref().unwrap_or("/metrics")
            ),
            Style::new().fg(Color::DarkGray),
        )
    } else {
        match app.data.traffic.for_worker(&s.url) {
            Some(r) => kv(
                "traffic",
                format!(
                    "{} req/s · {} errors (gateway counters)",
                    rate_text(r.req_per_sec),
                    r.err_rate.map_or_else(|| "-".to_string(), format::pct)
                ),
            ),
            None => kv("traffic", "- (waiting for a second metrics scrape)"),
        }
    };
    lines.push(traffic);
    if let Some(p) = &s.provider {
        lines.push(kv("provider", p.as_str().to_string()));
    }
    if let (Some(rank), Some(size)) = (s.dp_rank, s.dp_size) {
        lines.push(kv("dp rank", format!("{rank} of {size}")));
    }
    if let Some(port) = s.bootstrap_port {
        lines.push(kv("bootstrap port", port.to_string()));
    }
    if let Some(m) = app.metrics_for(w) {
        let kv_text = match (m.kv_load, m.kv_capacity) {
            (Some(l), Some(c)) => format!(
                "{} / {} tokens",
                format::num(l as f64),
                format::num(c as f64)
            ),
            (Some(l), None) => format!("{} tokens", format::num(l as f64)),
            _ => "- (no load report)".to_string(),
        };
        lines.push(kv("KV cache", kv_text));
    }
    lines.push(Line::default());
    lines.push(Line::styled(
        format!("Labels ({})", s.labels.len()),
        Style::new().bold(),
    ));
    if s.labels.is_empty() {
        lines.push(Line::styled("none", Style::new().fg(Color::DarkGray)));
    }
    for (k, v) in &s.labels {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k}"), Style::new().fg(Color::Cyan)),
            Span::raw(format!(" = {v}")),
        ]));
    }
    Paragraph::new(lines).render(inner, buf);
    dim_if_stale(area, buf, app, Source::Workers);
}

fn job_panel(area: Rect, buf: &mut Buffer, app: &App, w: &WorkerInfo) {
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(" Job status ").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let lines = match &w.job_status {
        None => vec![Line::styled(
            "no job in progress",
            Style::new().fg(Color::DarkGray),
        )],
        Some(job) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(job.timestamp);
            let color = match job.status {
                JobState::Failed => Color::Red,
                JobState::Completed => Color::Green,
                _ => Color::Yellow,
            };
            let mut lines = vec![Line::from(vec![
                Span::raw(format!("{} ", job.job_type)),
                Span::styled(job.status.to_string(), Style::new().fg(color).bold()),
                Span::styled(
                    format!("  ({})", format::age(app.now, at)),
                    Style::new().fg(Color::DarkGray),
                ),
            ])];
            if let Some(msg) = &job.message {
                lines.push(Line::styled(msg.clone(), Style::new().fg(color)));
            }
            lines
        }
    };
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(inner, buf);
}

fn ranks_panel(area: Rect, buf: &mut Buffer, app: &App, w: &WorkerInfo) {
    let block = panel(app, "Loads per DP rank", Source::Loads);
    let inner = block.inner(area);
    block.render(area, buf);
    let route = app.route(Source::Loads);
    let Some(ranks) = app
        .data
        .loads
        .get(&w.spec.url)
        .map(|l| &l.ranks)
        .filter(|r| !r.is_empty())
    else {
        let text = if app.source(Source::Loads).last_success.is_none() {
            format!("waiting for {route}…")
        } else {
            format!("no load report from this worker in {route} (it did not answer in time)")
        };
        Paragraph::new(Line::styled(text, Style::new().fg(Color::DarkGray)))
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    };
    let r = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    let header = Row::new(
        [
            "RANK", "RUN", "WAIT", "USED", "MAX", "USAGE", "HIT%", "TOK/S", "UTIL",
        ]
        .map(|h| Cell::from(Line::from(h).alignment(Alignment::Right))),
    )
    .bold();
    let rows = ranks.iter().map(|l| {
        Row::new(vec![
            r(l.dp_rank.to_string()),
            r(l.num_running_reqs.to_string()),
            r(l.num_waiting_reqs.to_string()),
            r(format::num(f64::from(l.num_used_tokens))),
            r(format::num(f64::from(l.max_total_num_tokens))),
            r(format::pct(l.token_usage)),
            r(format!("{:.1}", l.cache_hit_rate * 100.0)),
            r(format::num(l.gen_throughput)),
            r(format::pct(l.utilization)),
        ])
    });
    Table::new(
        rows,
        [Constraint::Length(6); 3]
            .into_iter()
            .chain([Constraint::Length(8); 6]),
    )
    .header(header)
    .render(inner, buf);
    dim_if_stale(area, buf, app, Source::Loads);
}

fn history_panel(area: Rect, buf: &mut Buffer, app: &App, w: &WorkerInfo) {
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let series = app.data.worker_series.get(&w.spec.url);
    for (rect, name, pick, scale, max, color, fmt) in [
        (
            left,
            "KV tokens in use",
            0usize,
            1.0,
            None,
            Color::Cyan,
            format::num as fn(f64) -> String,
        ),
        (
            right,
            "Cache hit rate",
            1,
            1000.0,
            Some(1000),
            Color::Magenta,
            format::pct,
        ),
    ] {
        let block = panel(app, name, Source::Loads);
        let inner = block.inner(rect);
        block.render(rect, buf);
        let Some(series) = series else {
            Paragraph::new(Line::styled(
                "no history yet",
                Style::new().fg(Color::DarkGray),
            ))
            .render(inner, buf);
            continue;
        };
        let s = if pick == 0 {
            &series.load
        } else {
            &series.hit_rate
        };
        let [caption, spark] =
            Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(inner);
        let mut spans = vec![Span::styled(
            s.last().map_or_else(|| "—".to_string(), fmt),
            Style::new().fg(color).bold(),
        )];
        match s.min_max() {
            Some((lo, hi)) => spans.push(Span::styled(
                format!(
                    "  min {}  max {}  ({})",
                    fmt(lo),
                    fmt(hi),
                    super::overview::samples(s.len())
                ),
                Style::new().fg(Color::DarkGray),
            )),
            None => spans.push(Span::styled(
                format!("  no load reports in {}", super::overview::samples(s.len())),
                Style::new().fg(Color::DarkGray),
            )),
        }
        Paragraph::new(Line::from(spans)).render(caption, buf);
        sparkline(spark, buf, s, scale, max, color);
        dim_if_stale(rect, buf, app, Source::Loads);
    }
}
