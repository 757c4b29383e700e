//! Models and how many workers serve them.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget};

use super::{dim_if_stale, no_data_text, panel, render_cursor_table};
use crate::app::App;
use crate::event::Source;
use crate::format;

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let rows = app.model_rows();
    let mut name = format!("Models ({})", rows.len());
    if !app.filter.is_empty() {
        name.push_str(&format!(" · filter \"{}\"", app.filter));
    }
    let block = panel(app, &name, Source::Models);
    let inner = block.inner(area);
    block.render(area, buf);
    let [table_area, foot] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(2)]).areas(inner);
    let r = |s: String| Cell::from(Line::from(s).alignment(Alignment::Right));
    let header = Row::new(vec![
        Cell::from("MODEL"),
        r("READY".into()),
        r("WORKERS".into()),
        Cell::from("READY SHARE"),
        Cell::from("LISTED BY /v1/models"),
    ])
    .bold();
    let table_rows = rows.iter().map(|m| {
        let share = if m.total > 0 {
            m.ready as f64 / m.total as f64
        } else {
            0.0
        };
        let color = if m.ready == 0 {
            Color::Red
        } else if m.ready < m.total {
            Color::Yellow
        } else {
            Color::Green
        };
        Row::new(vec![
            Cell::from(m.id.clone()),
            Cell::from(
                Line::styled(m.ready.to_string(), Style::new().fg(color))
                    .alignment(Alignment::Right),
            ),
            r(m.total.to_string()),
            Cell::from(Span::styled(format::bar(share, 12), Style::new().fg(color))),
            Cell::from(match &m.owned_by {
                Some(owner) => format!("yes ({owner})"),
                None => "no".to_string(),
            }),
        ])
    });
    let table = Table::new(
        table_rows,
        [
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(12),
            Constraint::Length(28),
        ],
    )
    .header(header)
    .column_spacing(2);
    render_cursor_table(
        table,
        app,
        crate::app::View::Models,
        rows.len(),
        table_area,
        buf,
    );
    let (wr, wt) = app.wildcard_workers();
    let mut foot_lines = vec![];
    if rows.is_empty() {
        foot_lines.push(
            no_data_text(app, Source::Models)
                .unwrap_or_else(|| Line::styled("No models.", Style::new().fg(Color::DarkGray))),
        );
    }
    if wt > 0 {
        foot_lines.push(Line::styled(
            format!("+ {wt} wildcard workers ({wr} ready) serve any model"),
            Style::new().fg(Color::DarkGray),
        ));
    }
    Paragraph::new(foot_lines).render(foot, buf);
    dim_if_stale(area, buf, app, Source::Models);
}
