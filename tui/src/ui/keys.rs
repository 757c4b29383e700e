//! Keys: the gateway's runtime API keys (masked), their role, status, expiry and when the
//! audit tail last saw them act; the secret of a key just created or rotated, once.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Widget, Wrap};
use smg_sdk::ApiKeyInfo;

use super::{dim_if_stale, no_data_text, panel, render_cursor_table, render_table_note};
use crate::app::{App, View, key_status};
use crate::event::{Offered, Source};
use crate::format;

fn status_cell(k: &ApiKeyInfo) -> Span<'static> {
    match key_status(k) {
        "active" => Span::styled("● active", Style::new().fg(Color::Green)),
        "expired" => Span::styled("◐ expired", Style::new().fg(Color::Yellow)),
        word => Span::styled(format!("⊘ {word}"), Style::new().fg(Color::Magenta)),
    }
}

/// The message shown instead of the table, if any.
fn message(app: &App, total: usize, shown: usize) -> Option<Line<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    if let Some(Offered::NotOffered(why)) = &app.data.keys {
        return Some(Line::styled(
            format!("{why}: runtime API keys are an addition of this project's gateway."),
            dim,
        ));
    }
    if let Some(err) = no_data_text(app, Source::Keys) {
        return Some(err);
    }
    if total == 0 {
        return Some(Line::styled(
            "No runtime API keys. Press a to create one (smgctl keys create --id ID).",
            dim,
        ));
    }
    (shown == 0).then(|| {
        Line::styled(
            format!("No keys match \"{}\" (Esc clears the filter).", app.filter),
            dim,
        )
    })
}

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let rows = app.key_rows();
    let (total, summary) = match &app.data.keys {
        Some(Offered::Yes(list)) => (list.keys.len(), Some(list.summary)),
        _ => (0, None),
    };
    let mut name = if app.filter.is_empty() {
        format!("API keys ({total})")
    } else {
        format!(
            "API keys ({} of {total}) · filter \"{}\"",
            rows.len(),
            app.filter
        )
    };
    if let Some(s) = summary {
        name.push_str(&format!(
            " · {} active, {} expired, {} disabled",
            s.active, s.expired, s.disabled
        ));
    }
    let secret_h = if app.revealed.is_some() { 4 } else { 0 };
    let [secret_area, table_area] =
        Layout::vertical([Constraint::Length(secret_h), Constraint::Fill(1)]).areas(area);
    if let Some((what, secret)) = &app.revealed {
        let lines = vec![
            Line::styled(what.clone(), Style::new().fg(Color::Green)),
            Line::from(vec![
                Span::styled("secret ", Style::new().fg(Color::DarkGray)),
                Span::styled(secret.expose().to_string(), Style::new().bold()),
            ]),
            Line::styled(
                "Copy it now: the gateway never shows it again. Esc hides it.",
                Style::new().fg(Color::Yellow),
            ),
        ];
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .render(secret_area, buf);
    }
    let block = panel(app, &name, Source::Keys);
    let inner = block.inner(table_area);
    block.render(table_area, buf);

    let header = Row::new(vec![
        "ID",
        "NAME",
        "KEY",
        "ROLE",
        "STATUS",
        "EXPIRES",
        "CREATED",
        "LAST SEEN (AUDIT)",
    ])
    .bold();
    let when =
        |t: chrono::DateTime<chrono::Utc>| format::age(app.now, std::time::SystemTime::from(t));
    let table_rows = rows.iter().map(|k| {
        let role_style = if k.role.is_admin() {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        };
        Row::new(vec![
            Cell::from(k.id.clone()),
            Cell::from(k.name.clone()),
            Cell::from(k.masked_key.clone()),
            Cell::from(Span::styled(k.role.as_str(), role_style)),
            Cell::from(status_cell(k)),
            Cell::from(k.expires_at.map_or("never".to_string(), |t| {
                t.format("%Y-%m-%d %H:%M").to_string()
            })),
            Cell::from(when(k.created_at)),
            Cell::from(
                app.key_last_seen(&k.id)
                    .map_or("-".to_string(), |e| when(e.timestamp)),
            ),
        ])
    });
    let table = Table::new(
        table_rows,
        [
            Constraint::Fill(2),
            Constraint::Fill(2),
            Constraint::Length(14),
            Constraint::Length(6),
            Constraint::Length(11),
            Constraint::Length(17),
            Constraint::Length(10),
            Constraint::Length(18),
        ],
    )
    .header(header)
    .column_spacing(2);
    render_cursor_table(table, app, View::Keys, rows.len(), inner, buf);
    if let Some(msg) = message(app, total, rows.len()) {
        render_table_note(msg, inner, buf);
    }
    dim_if_stale(table_area, buf, app, Source::Keys);
}
