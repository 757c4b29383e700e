//! WASM middleware modules: the gateway-wide execution counters, then each module's attach
//! points, executions, failures and timing (per module when the gateway reports it, which
//! upstream SMG does not: then the access count stands in and the rest is `-`).

use std::time::SystemTime;

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};
use smg_sdk::{WasmMetrics, WasmModule};

use super::tokenizers::thousands;
use super::{dim_if_stale, no_data_text, panel, render_cursor_table, render_table_note};
use crate::app::{App, ModuleRow, module_executions};
use crate::event::{Source, WasmState};
use crate::format;

/// Shown instead of the table when `/wasm` answers 503.
pub const DISABLED: &str = "WASM disabled (start smg with --enable-wasm)";

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let list = match &app.data.wasm {
        Some(WasmState::Enabled(list)) => Some(list),
        Some(WasmState::Disabled) => {
            let block = panel(app, "Modules", Source::Wasm);
            let inner = block.inner(area);
            block.render(area, buf);
            let mut msg = inner;
            msg.y = msg.y.saturating_add(inner.height / 3).min(inner.bottom());
            msg.height = inner.bottom().saturating_sub(msg.y);
            Paragraph::new(vec![
                Line::styled(DISABLED, Style::new().fg(Color::Yellow).bold()),
                Line::default(),
                Line::styled(
                    "The gateway answers 503 on /wasm: middleware modules are off. Start it with \
                     `smg launch --enable-wasm`, then register modules with `smgctl wasm add`.",
                    Style::new().fg(Color::DarkGray),
                ),
            ])
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .render(msg, buf);
            dim_if_stale(area, buf, app, Source::Wasm);
            return;
        }
        None => None,
    };
    let [totals_area, table_area, detail_area] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Fill(1),
        Constraint::Length(6),
    ])
    .areas(area);
    totals(totals_area, buf, app, list.map(|l| &l.metrics));

    let rows = app.module_rows();
    let total = list.map_or(0, |l| l.modules.len());
    let name = if app.filter.is_empty() {
        format!("Modules ({total})")
    } else {
        format!(
            "Modules ({} of {total}) · filter \"{}\"",
            rows.len(),
            app.filter
        )
    };
    let block = panel(app, &name, Source::Wasm);
    let inner = block.inner(table_area);
    block.render(table_area, buf);
    let right = |s: &str| Cell::from(Line::from(s.to_string()).alignment(Alignment::Right));
    let header = Row::new(vec![
        Cell::from("NAME"),
        Cell::from("UUID"),
        Cell::from("ATTACH POINTS"),
        right("RUNS"),
        right("RUNS/S"),
        right("FAILED"),
        right("FAIL%"),
        right("AVG MS"),
        right("MAX MS"),
        Cell::from("LAST RUN"),
        right("SIZE"),
    ])
    .bold();
    let table_rows = rows.iter().map(|r| module_row(app.now, r));
    let table = Table::new(
        table_rows,
        [
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(3),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(9),
        ],
    )
    .header(header)
    .column_spacing(1);
    let selected = render_cursor_table(
        table,
        app,
        crate::app::View::Modules,
        rows.len(),
        inner,
        buf,
    );
    if rows.is_empty() {
        let msg = if let Some(err) = no_data_text(app, Source::Wasm) {
            err
        } else if total == 0 {
            Line::styled(
                "No modules registered (smgctl wasm add NAME FILE --attach on-request).",
                Style::new().fg(Color::DarkGray),
            )
        } else {
            Line::styled(
                format!(
                    "No modules match \"{}\" (Esc clears the filter).",
                    app.filter
                ),
                Style::new().fg(Color::DarkGray),
            )
        };
        render_table_note(msg, inner, buf);
    }
    dim_if_stale(table_area, buf, app, Source::Wasm);
    detail(
        detail_area,
        buf,
        app,
        selected.and_then(|i| rows.get(i)).map(|r| r.module),
    );
}

fn totals(area: Rect, buf: &mut Buffer, app: &App, m: Option<&WasmMetrics>) {
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(" Executions, all modules ").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let dim = Style::new().fg(Color::DarkGray);
    let Some(m) = m else {
        let line = no_data_text(app, Source::Wasm)
            .unwrap_or_else(|| Line::styled("waiting for data…", dim));
        Paragraph::new(line)
            .wrap(Wrap { trim: true })
            .render(inner, buf);
        return;
    };
    let fail_share =
        (m.total_executions > 0).then(|| m.failed_executions as f64 / m.total_executions as f64);
    let failed_style = if m.failed_executions > 0 {
        Style::new().fg(Color::Red).bold()
    } else {
        Style::new().bold()
    };
    let rate = app
        .wasm_exec_rate()
        .map_or_else(|| "-".to_string(), |r| format!("{r:.1}"));
    let l1 = Line::from(vec![
        Span::styled("runs ", dim),
        Span::styled(thousands(m.total_executions), Style::new().bold()),
        Span::styled(format!(" ({rate}/s)   succeeded "), dim),
        Span::styled(
            thousands(m.successful_executions),
            Style::new().fg(Color::Green).bold(),
        ),
        Span::styled("   failed ", dim),
        Span::styled(thousands(m.failed_executions), failed_style),
        Span::styled(
            fail_share.map_or_else(String::new, |s| format!(" ({})", format::pct(s))),
            dim,
        ),
    ]);
    let l2 = Line::from(vec![
        Span::styled("time: avg ", dim),
        Span::raw(
            m.average_execution_time_ms
                .map_or_else(|| "-".to_string(), |a| format!("{a:.2} ms")),
        ),
        Span::styled("   max ", dim),
        Span::raw(format!("{} ms", m.max_execution_time_ms)),
        Span::styled("   total ", dim),
        Span::raw(format!("{} ms", thousands(m.total_execution_time_ms))),
        Span::styled(
            "   (failed runs were treated as `continue`)",
            Style::new().fg(Color::DarkGray),
        ),
    ]);
    Paragraph::new(vec![l1, l2]).render(inner, buf);
    dim_if_stale(area, buf, app, Source::Wasm);
}

fn module_row<'a>(now: SystemTime, r: &ModuleRow<'a>) -> Row<'a> {
    let m = r.module;
    let meta = &m.module_meta;
    let right = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    let dash = || right("-".to_string());
    let points = meta
        .attach_points
        .iter()
        .map(|p| p.middleware().kebab())
        .collect::<Vec<_>>()
        .join(", ");
    let runs = module_executions(m);
    let (failed, fail_pct, avg, max) = match &m.metrics {
        Some(x) => {
            let style = if x.failed_executions > 0 {
                Style::new().fg(Color::Red)
            } else {
                Style::new()
            };
            (
                Cell::from(
                    Line::styled(thousands(x.failed_executions), style).alignment(Alignment::Right),
                ),
                if x.total_executions > 0 {
                    right(format!(
                        "{:.1}",
                        x.failed_executions as f64 * 100.0 / x.total_executions as f64
                    ))
                } else {
                    dash()
                },
                x.average_execution_time_ms
                    .map_or_else(dash, |a| right(format!("{a:.2}"))),
                right(x.max_execution_time_ms.to_string()),
            )
        }
        None => (dash(), dash(), dash(), dash()),
    };
    let last = if runs == 0 {
        "never".to_string()
    } else {
        format::age(now, SystemTime::from(meta.last_accessed_at))
    };
    Row::new(vec![
        Cell::from(meta.name.clone()),
        Cell::from(format::short_id(&m.module_uuid).to_string()),
        Cell::from(points),
        right(thousands(runs)),
        r.exec_rate
            .map_or_else(dash, |x| right(super::rate_text(x))),
        failed,
        fail_pct,
        avg,
        max,
        Cell::from(last),
        right(format!("{:.1} KiB", meta.size_bytes as f64 / 1024.0)),
    ])
}

fn detail(area: Rect, buf: &mut Buffer, app: &App, m: Option<&WasmModule>) {
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(" Selected module ").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let dim = Style::new().fg(Color::DarkGray);
    let Some(m) = m else {
        Paragraph::new(Line::styled("nothing selected", dim)).render(inner, buf);
        return;
    };
    let meta = &m.module_meta;
    let lines = vec![
        Line::from(vec![
            Span::styled(meta.name.clone(), Style::new().bold()),
            Span::styled(format!("  uuid {}", m.module_uuid), dim),
        ]),
        Line::from(vec![
            Span::styled("file ", dim),
            Span::raw(meta.file_path.clone()),
            Span::styled(
                format!(
                    "  ·  {} bytes  ·  registered {}",
                    thousands(meta.size_bytes),
                    format::age(app.now, SystemTime::from(meta.created_at))
                ),
                dim,
            ),
        ]),
        Line::from(vec![
            Span::styled("sha256 ", dim),
            Span::raw(meta.sha256_hash.clone()),
        ]),
        Line::styled(
            if m.metrics.is_some() {
                "runs, failures and timing are this module's own counters"
            } else {
                "runs = access count (this gateway reports no per-module failures or timing)"
            },
            dim,
        ),
    ];
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}
