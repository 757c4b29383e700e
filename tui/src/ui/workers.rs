//! The worker table. Only the visible rows are built, so a 1000-worker fleet costs the same
//! as a 40-worker one.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget};
use smg_sdk::{RuntimeType, WorkerInfo};

use super::{breaker_style, breaker_text, dim_if_stale, no_data_text, rate_text, worker_status};
use crate::app::{App, Column, WorkerMetrics};
use crate::event::Source;
use crate::format;
use crate::traffic::Rate;

const BAR_WIDTH: usize = 8;

fn width(c: Column) -> Constraint {
    match c {
        Column::Id => Constraint::Length(8),
        Column::Url => Constraint::Fill(2),
        Column::Model => Constraint::Fill(1),
        Column::Type => Constraint::Length(7),
        Column::Runtime => Constraint::Length(10),
        Column::Status => Constraint::Length(11),
        Column::Breaker => Constraint::Length(9),
        Column::Running => Constraint::Length(5),
        Column::Waiting => Constraint::Length(5),
        Column::TokenUsage => Constraint::Length(BAR_WIDTH as u16 + 6),
        Column::HitRate => Constraint::Length(6),
        Column::GenTps => Constraint::Length(9),
        Column::ReqRate => Constraint::Length(6),
        Column::ErrRate => Constraint::Length(6),
        Column::Load => Constraint::Length(5),
        Column::Priority => Constraint::Length(5),
    }
}

/// Narrowest useful width of a column.
fn min_width(c: Column) -> u16 {
    match width(c) {
        Constraint::Length(n) => n,
        // Sized so every column fits the default 160-column `--once` frame.
        _ if c == Column::Url => 22,
        _ => 12,
    }
}

/// Columns dropped first when the terminal is too narrow for all of them.
const DROP_ORDER: [Column; 10] = [
    Column::Runtime,
    Column::Type,
    Column::Priority,
    Column::Load,
    Column::Waiting,
    Column::GenTps,
    Column::HitRate,
    Column::Id,
    Column::Breaker,
    Column::ErrRate,
];

/// The columns that fit in `avail` cells (the sort column is never dropped).
pub(crate) fn visible_columns(avail: u16, sort: Column) -> Vec<Column> {
    let mut cols = Column::ALL.to_vec();
    let need = |cols: &[Column]| -> u16 { cols.iter().map(|c| min_width(*c) + 1).sum::<u16>() };
    for drop in DROP_ORDER {
        if need(&cols) <= avail {
            break;
        }
        if drop != sort {
            cols.retain(|c| *c != drop);
        }
    }
    cols
}

fn right(c: Column) -> bool {
    matches!(
        c,
        Column::Running
            | Column::Waiting
            | Column::HitRate
            | Column::GenTps
            | Column::ReqRate
            | Column::ErrRate
            | Column::Load
            | Column::Priority
    )
}

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let mut name = format!("Workers ({})", app.data.workers.len());
    if !app.filter.is_empty() {
        name = format!(
            "Workers ({} of {}) · filter \"{}\"",
            app.order.len(),
            app.data.workers.len(),
            app.filter
        );
    }
    let arrow = if app.sort.descending { '↓' } else { '↑' };
    name.push_str(&format!(" · sort {}{arrow}", app.sort.column.header()));
    let mut block = super::panel(app, &name, Source::Workers);
    let metrics_na = app.metrics_unavailable();
    if metrics_na {
        let url = app
            .metrics_url
            .as_deref()
            .unwrap_or("the gateway's /metrics");
        block = block.title_bottom(Line::styled(
            format!(" REQ/S, ERR%: metrics unavailable ({url}) "),
            Style::new().fg(Color::DarkGray),
        ));
    }
    let inner = block.inner(area);
    block.render(area, buf);

    let cols = visible_columns(inner.width.saturating_sub(2), app.sort.column);
    let header = Row::new(cols.iter().map(|c| {
        let mut text = c.header().to_string();
        if *c == app.sort.column {
            text.push(arrow);
        }
        let style = if *c == app.sort.column {
            Style::new().fg(Color::Yellow).bold()
        } else {
            Style::new().bold()
        };
        let style = if metrics_na && matches!(c, Column::ReqRate | Column::ErrRate) {
            Style::new().fg(Color::DarkGray)
        } else {
            style
        };
        let line = Line::styled(text, style);
        Cell::from(if right(*c) {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    }));

    let page = inner.height.saturating_sub(1) as usize;
    app.page.set(page.max(1));
    let len = app.order.len();
    let selected = app
        .cursors
        .get(crate::app::View::Workers)
        .min(len.saturating_sub(1));
    let mut offset = app.scroll.get();
    if selected < offset {
        offset = selected;
    } else if page > 0 && selected >= offset + page {
        offset = selected + 1 - page;
    }
    offset = offset.min(len.saturating_sub(page));
    app.scroll.set(offset);

    let rows: Vec<Row> = app.order[offset..(offset + page).min(len)]
        .iter()
        .filter_map(|id| app.data.workers.get(id))
        .map(|w| {
            let traffic = if metrics_na {
                Traffic::Unavailable
            } else {
                app.data
                    .traffic
                    .for_worker(&w.spec.url)
                    .map_or(Traffic::Pending, Traffic::Rate)
            };
            row(w, app.metrics_for(w), traffic, &cols)
        })
        .collect();
    let table = Table::new(rows, cols.iter().map(|c| width(*c)))
        .header(header)
        .column_spacing(1)
        .row_highlight_style(
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ");
    let mut state = TableState::default().with_selected((len > 0).then(|| selected - offset));
    StatefulWidget::render(table, inner, buf, &mut state);

    if len == 0 {
        let msg = if let Some(err) = no_data_text(app, Source::Workers) {
            err
        } else if app.data.workers.is_empty() {
            Line::styled(
                "No workers registered. Press a to add one (smgctl workers add <url>).",
                Style::new().fg(Color::DarkGray),
            )
        } else {
            Line::styled(
                format!(
                    "No workers match \"{}\" (Esc clears the filter).",
                    app.filter
                ),
                Style::new().fg(Color::DarkGray),
            )
        };
        let mut msg_area = inner;
        msg_area.y = msg_area.y.saturating_add(2).min(inner.bottom());
        msg_area.height = inner.bottom().saturating_sub(msg_area.y);
        Paragraph::new(msg)
            .alignment(Alignment::Center)
            .render(msg_area, buf);
    }
    dim_if_stale(area, buf, app, Source::Workers);
}

/// What the REQ/S and ERR% cells show.
#[derive(Clone, Copy)]
enum Traffic {
    /// The metrics endpoint is failing: `n/a`, dimmed.
    Unavailable,
    /// Fewer than two scrapes so far: `-`.
    Pending,
    /// A rate.
    Rate(Rate),
}

fn row<'a>(
    w: &'a WorkerInfo,
    m: Option<&WorkerMetrics>,
    traffic: Traffic,
    cols: &[Column],
) -> Row<'a> {
    let dash = || Cell::from(Line::from("-").alignment(Alignment::Right));
    let num = |v: Option<i64>| match v {
        Some(v) => Cell::from(Line::from(v.to_string()).alignment(Alignment::Right)),
        None => dash(),
    };
    let m = m.copied().unwrap_or_default();
    let usage = match m.token_usage {
        Some(u) => {
            let color = if u >= 0.9 {
                Color::Red
            } else if u >= 0.7 {
                Color::Yellow
            } else {
                Color::Green
            };
            Cell::from(Line::from(vec![
                Span::styled(format::bar(u, BAR_WIDTH), Style::new().fg(color)),
                Span::raw(format!("{:>5.0}%", u * 100.0)),
            ]))
        }
        None => Cell::from(Span::styled(
            format!("{:<w$} {:>5}", "", "-", w = BAR_WIDTH),
            Style::new().fg(Color::DarkGray),
        )),
    };
    let hit = match m.hit_rate {
        Some(h) => Cell::from(Line::from(format!("{:.1}", h * 100.0)).alignment(Alignment::Right)),
        None => dash(),
    };
    let tps = match m.gen_tps {
        Some(t) => Cell::from(Line::from(format::num(t)).alignment(Alignment::Right)),
        None => dash(),
    };
    let na = || {
        Cell::from(
            Line::styled("n/a", Style::new().fg(Color::DarkGray)).alignment(Alignment::Right),
        )
    };
    let (req, err) = match traffic {
        Traffic::Unavailable => (na(), na()),
        Traffic::Pending => (dash(), dash()),
        Traffic::Rate(r) => {
            let err = match r.err_rate {
                Some(e) => {
                    let style = if e >= 0.05 {
                        Style::new().fg(Color::Red)
                    } else if e > 0.0 {
                        Style::new().fg(Color::Yellow)
                    } else {
                        Style::new()
                    };
                    Cell::from(
                        Line::styled(format!("{:.1}", e * 100.0), style)
                            .alignment(Alignment::Right),
                    )
                }
                None => dash(),
            };
            (
                Cell::from(Line::from(rate_text(r.req_per_sec)).alignment(Alignment::Right)),
                err,
            )
        }
    };
    let breaker = w.circuit_breaker.as_deref();
    let model = w
        .model_id
        .clone()
        .or_else(|| w.spec.primary_model().map(str::to_string))
        .unwrap_or_else(|| "*".to_string());
    let mut cells = vec![
        Cell::from(format::short_id(&w.id)),
        Cell::from(w.spec.url.as_str()),
        Cell::from(model),
        Cell::from(w.spec.worker_type.to_string()),
        Cell::from(match w.spec.runtime_type {
            RuntimeType::Unspecified => "-".to_string(),
            runtime => runtime.to_string(),
        }),
        Cell::from({
            let (text, style) = worker_status(w);
            Span::styled(text, style)
        }),
        Cell::from(Span::styled(breaker_text(breaker), breaker_style(breaker))),
        num(m.running),
        num(m.waiting),
        usage,
        hit,
        tps,
        req,
        err,
        Cell::from(Line::from(w.load.to_string()).alignment(Alignment::Right)),
        Cell::from(Line::from(w.spec.priority.to_string()).alignment(Alignment::Right)),
    ];
    if cols.len() == cells.len() {
        return Row::new(cells);
    }
    // Keep the visible columns, in table order (cells follow `Column::ALL`).
    let mut out = Vec::with_capacity(cols.len());
    for (i, cell) in cells.drain(..).enumerate() {
        if cols.contains(&Column::ALL[i]) {
            out.push(cell);
        }
    }
    Row::new(out)
}
