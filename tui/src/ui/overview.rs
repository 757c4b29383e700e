//! Overview: fleet cards, each with a sparkline over the retained history.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};
use smg_sdk::WorkerStatus;

use super::{dim_if_stale, no_data_text, panel, sparkline, status_style, status_text};
use crate::app::App;
use crate::event::Source;
use crate::format;
use crate::series::Series;

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let [top, r1, r2, r3] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ])
    .areas(area);
    let halves = |r: Rect| -> [Rect; 2] {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r)
    };
    let thirds = |r: Rect| -> [Rect; 3] {
        Layout::horizontal([
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
            Constraint::Ratio(1, 3),
        ])
        .areas(r)
    };
    let [workers, readiness] = halves(top);
    workers_card(workers, buf, app);
    readiness_card(readiness, buf, app);
    let [running, waiting, requests] = thirds(r1);
    let [tps, hit, errors] = thirds(r2);
    let [usage, sources] =
        Layout::horizontal([Constraint::Ratio(1, 3), Constraint::Ratio(2, 3)]).areas(r3);
    let f = &app.data.fleet;
    let count = |v: f64| format::num(v);
    metric_card(
        running,
        buf,
        app,
        "Running requests",
        &f.running,
        count,
        Metric::Count,
        Color::Cyan,
    );
    metric_card(
        waiting,
        buf,
        app,
        "Waiting requests",
        &f.waiting,
        count,
        Metric::Count,
        Color::Yellow,
    );
    traffic_card(
        requests,
        buf,
        app,
        "Requests/s (gateway)",
        &f.req_rate,
        super::rate_text,
        Metric::Count,
        Color::Cyan,
    );
    metric_card(
        tps,
        buf,
        app,
        "Gen throughput (tok/s)",
        &f.gen_tps,
        count,
        Metric::Count,
        Color::Green,
    );
    metric_card(
        hit,
        buf,
        app,
        "Mean cache hit rate",
        &f.hit_rate,
        format::pct,
        Metric::Ratio,
        Color::Magenta,
    );
    traffic_card(
        errors,
        buf,
        app,
        "Error rate (gateway)",
        &f.err_rate,
        format::pct,
        Metric::SmallRatio,
        Color::Red,
    );
    metric_card(
        usage,
        buf,
        app,
        "Mean token usage",
        &f.token_usage,
        format::pct,
        Metric::Ratio,
        Color::Blue,
    );
    sources_card(sources, buf, app);
}

/// A card fed by the gateway's Prometheus endpoint: a failing scrape shows "metrics
/// unavailable" dimmed (never the red banner: it is a separate listener).
#[allow(clippy::too_many_arguments)]
fn traffic_card(
    area: Rect,
    buf: &mut Buffer,
    app: &App,
    name: &str,
    series: &Series,
    fmt: impl Fn(f64) -> String,
    kind: Metric,
    color: Color,
) {
    let state = app.source(Source::Metrics);
    let mut title = vec![Span::styled(format!(" {name}"), Style::new().bold())];
    if let Some(at) = state.last_success {
        title.push(Span::raw(format!(" · {}", format::age(app.now, at))));
    }
    title.push(Span::raw(" "));
    let block = ratatui::widgets::Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);
    let dim = Style::new().fg(Color::DarkGray);
    if app.metrics_unavailable() {
        let url = app.metrics_url.as_deref().unwrap_or("/metrics");
        let mut lines = vec![Line::styled(format!("metrics unavailable ({url})"), dim)];
        if let Some(e) = state.failing() {
            lines.push(Line::styled(e.message.clone(), dim));
        }
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    if series.is_empty() {
        let text = if state.last_success.is_some() {
            "waiting for a second scrape…"
        } else {
            "waiting for data…"
        };
        Paragraph::new(Line::styled(text, dim)).render(inner, buf);
        return;
    }
    let (scale, max) = kind.scale();
    spark_with_caption(inner, buf, "", series, scale, max, color, fmt);
}

#[derive(Clone, Copy)]
enum Metric {
    /// Scaled to the largest sample.
    Count,
    /// A fraction, drawn against 100 %.
    Ratio,
    /// A fraction that is usually small (error rates), scaled to the largest sample.
    SmallRatio,
}

impl Metric {
    /// Sparkline scale and fixed maximum.
    fn scale(self) -> (f64, Option<u64>) {
        match self {
            Self::Count => (1.0, None),
            Self::Ratio => (1000.0, Some(1000)),
            Self::SmallRatio => (1000.0, None),
        }
    }
}

fn workers_card(area: Rect, buf: &mut Buffer, app: &App) {
    let name = format!("Workers ({})", app.data.workers.len());
    let block = panel(app, &name, Source::Workers);
    let inner = block.inner(area);
    block.render(area, buf);
    let [list, spark] =
        Layout::horizontal([Constraint::Length(26), Constraint::Fill(1)]).areas(inner);
    let counts = app.status_counts();
    let rows = [
        (Some(WorkerStatus::Ready), counts[0]),
        (Some(WorkerStatus::NotReady), counts[1]),
        (Some(WorkerStatus::Pending), counts[2]),
        (Some(WorkerStatus::Draining), counts[3]),
        (Some(WorkerStatus::Failed), counts[4]),
    ];
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|(s, n)| {
            let style = if *n > 0 {
                status_style(*s)
            } else {
                Style::new().fg(Color::DarkGray)
            };
            Line::from(vec![
                Span::styled(format!("{:<14}", status_text(*s)), style),
                Span::styled(format!("{n:>6}"), style.bold()),
            ])
        })
        .collect();
    if let Some(err) = no_data_text(app, Source::Workers) {
        lines = vec![err];
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    Paragraph::new(lines).render(list, buf);
    let total = Some(app.data.workers.len().max(1) as u64);
    spark_with_caption(
        spark,
        buf,
        "ready workers",
        &app.data.fleet.ready,
        1.0,
        total,
        Color::Green,
        format::num,
    );
    dim_if_stale(area, buf, app, Source::Workers);
}

fn readiness_card(area: Rect, buf: &mut Buffer, app: &App) {
    let block = panel(app, "Readiness", Source::Readiness);
    let inner = block.inner(area);
    block.render(area, buf);
    let [text, spark] =
        Layout::horizontal([Constraint::Length(36), Constraint::Fill(1)]).areas(inner);
    if let (None, Some(err)) = (&app.data.readiness, no_data_text(app, Source::Readiness)) {
        Paragraph::new(err)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let lines = match (&app.data.readiness, no_data_text(app, Source::Readiness)) {
        (Some(r), _) => {
            let mut lines = Vec::new();
            if r.is_ready() {
                lines.push(Line::styled(
                    "● READY",
                    Style::new().fg(Color::Green).bold(),
                ));
            } else {
                lines.push(Line::styled(
                    "✖ NOT READY",
                    Style::new().fg(Color::Red).bold(),
                ));
            }
            if let (Some(h), Some(t)) = (r.healthy_workers, r.total_workers) {
                lines.push(Line::raw(format!("healthy workers {h} / {t}")));
            }
            if let Some(reason) = &r.reason {
                lines.push(Line::styled(
                    format!("reason: {reason}"),
                    Style::new().fg(Color::Red),
                ));
            }
            lines
        }
        (None, Some(err)) => vec![err],
        (None, None) => vec![],
    };
    Paragraph::new(lines).render(text, buf);
    let total = app
        .data
        .readiness
        .as_ref()
        .and_then(|r| r.total_workers)
        .unwrap_or(app.data.workers.len())
        .max(1) as u64;
    spark_with_caption(
        spark,
        buf,
        "healthy workers",
        &app.data.fleet.healthy,
        1.0,
        Some(total),
        Color::Green,
        format::num,
    );
    dim_if_stale(area, buf, app, Source::Readiness);
}

#[allow(clippy::too_many_arguments)]
fn metric_card(
    area: Rect,
    buf: &mut Buffer,
    app: &App,
    name: &str,
    series: &Series,
    fmt: impl Fn(f64) -> String,
    kind: Metric,
    color: Color,
) {
    let block = panel(app, name, Source::Loads);
    let inner = block.inner(area);
    block.render(area, buf);
    if let (true, Some(err)) = (series.is_empty(), no_data_text(app, Source::Loads)) {
        Paragraph::new(err)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    }
    let (scale, max) = kind.scale();
    spark_with_caption(inner, buf, "", series, scale, max, color, fmt);
    dim_if_stale(area, buf, app, Source::Loads);
}

/// A caption line (`now … · min … · max …`) above a sparkline.
#[allow(clippy::too_many_arguments)]
fn spark_with_caption(
    area: Rect,
    buf: &mut Buffer,
    label: &str,
    series: &Series,
    scale: f64,
    max: Option<u64>,
    color: Color,
    fmt: impl Fn(f64) -> String,
) {
    if area.height == 0 {
        return;
    }
    let [caption, spark] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let now = series.last().map_or_else(|| "—".to_string(), &fmt);
    let mut spans = vec![];
    if !label.is_empty() {
        spans.push(Span::styled(
            format!("{label} "),
            Style::new().fg(Color::DarkGray),
        ));
    }
    spans.push(Span::styled(now, Style::new().fg(color).bold()));
    if let Some((lo, hi)) = series.min_max() {
        let used: usize = spans.iter().map(Span::width).sum();
        let mut stats = format!("  min {}  max {}", fmt(lo), fmt(hi));
        let samples = format!("  ({})", samples(series.len()));
        if used + stats.len() + samples.len() <= caption.width as usize {
            stats.push_str(&samples);
        }
        spans.push(Span::styled(stats, Style::new().fg(Color::DarkGray)));
    } else if !series.is_empty() {
        spans.push(Span::styled(
            format!("  no reports in {}", samples(series.len())),
            Style::new().fg(Color::DarkGray),
        ));
    }
    Paragraph::new(Line::from(spans)).render(caption, buf);
    sparkline(spark, buf, series, scale, max, color);
}

fn sources_card(area: Rect, buf: &mut Buffer, app: &App) {
    let block = ratatui::widgets::Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(" Sources ").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let [list, info] = Layout::vertical([Constraint::Length(4), Constraint::Fill(1)]).areas(inner);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(list);
    let lines = |sources: &[Source]| -> Vec<Line<'static>> {
        sources.iter().map(|s| source_line(app, *s)).collect()
    };
    Paragraph::new(lines(&Source::CORE)).render(left, buf);
    Paragraph::new(lines(&[
        Source::Tokenizers,
        Source::Wasm,
        Source::Whoami,
        Source::Metrics,
    ]))
    .render(right, buf);
    let reporting = app
        .data
        .metrics
        .values()
        .filter(|m| m.running.is_some())
        .count();
    let (wr, wt) = app.wildcard_workers();
    let mut lines = vec![
        Line::default(),
        Line::raw(format!(
            "engine loads reported by {reporting} of {} workers · models {} (wildcard workers \
             {wr}/{wt} ready)",
            app.data.workers.len(),
            app.model_count()
        )),
    ];
    if let Some(a) = &app.data.aggregate {
        lines.push(Line::raw(format!(
            "aggregate ({}): running {} · waiting {} · total {}",
            app.data.loads_route, a.total_running_reqs, a.total_waiting_reqs, a.total_reqs,
        )));
        lines.push(Line::raw(format!(
            "mean per DP rank: token usage {} · gen {} tok/s · utilization {}",
            format::pct(a.avg_token_usage),
            format::num(a.avg_throughput),
            format::pct(a.avg_utilization),
        )));
    }
    Paragraph::new(lines)
        .wrap(Wrap { trim: true })
        .render(info, buf);
}

/// One line of the Sources card: `✔ /workers  ok 3s ago`, or the error.
fn source_line(app: &App, s: Source) -> Line<'static> {
    let st = app.source(s);
    let age = st
        .last_success
        .map_or_else(|| "never".to_string(), |at| format::age(app.now, at));
    let route = format!("{:<15}", app.route(s));
    let ok = |note: String| {
        Line::from(vec![
            Span::styled(format!("✔ {route}"), Style::new().fg(Color::Green)),
            Span::raw(note),
        ])
    };
    match st.failing() {
        // A separate listener: never red.
        Some(e) if s == Source::Metrics => Line::styled(
            format!("– {route}unavailable · {}", e.message),
            Style::new().fg(Color::DarkGray),
        ),
        Some(e) => Line::from(vec![
            Span::styled(format!("✖ {route}"), Style::new().fg(Color::Red)),
            Span::styled(
                format!("last ok {age:<9} {}", e.message),
                Style::new().fg(Color::Red),
            ),
        ]),
        None if st.last_success.is_some() => match s {
            Source::Wasm if matches!(app.data.wasm, Some(crate::event::WasmState::Disabled)) => {
                ok(format!("disabled (no --enable-wasm) · {age}"))
            }
            Source::Whoami => match &app.identity {
                crate::app::Identity::NotOffered(by) => ok(format!("not offered by {by} · {age}")),
                _ => ok(format!("ok {age}")),
            },
            _ => ok(format!("ok {age}")),
        },
        None => Line::styled(
            format!("… {route}waiting"),
            Style::new().fg(Color::DarkGray),
        ),
    }
}

/// `1 sample`, `40 samples`.
pub(super) fn samples(n: usize) -> String {
    if n == 1 {
        "1 sample".to_string()
    } else {
        format!("{n} samples")
    }
}
