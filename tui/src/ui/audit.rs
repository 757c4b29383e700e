//! Audit: the live tail of the gateway's audit log (control-plane changes and refused
//! requests), newest first, filtered by principal or action with `/`.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, Widget};
use smg_sdk::{AuditEvent, AuditOutcome};

use super::{dim_if_stale, no_data_text, panel, render_cursor_table, render_table_note};
use crate::app::{App, View};
use crate::event::{Offered, Source};
use crate::format;

fn outcome_cell(e: &AuditEvent) -> Span<'static> {
    match e.outcome {
        AuditOutcome::Success => Span::styled("● success", Style::new().fg(Color::Green)),
        AuditOutcome::Failure => Span::styled("✖ failure", Style::new().fg(Color::Red)),
        AuditOutcome::Denied => Span::styled("⊘ denied", Style::new().fg(Color::Magenta)),
    }
}

fn principal(e: &AuditEvent) -> String {
    match (&e.principal_id, &e.principal_name) {
        (Some(id), Some(name)) if name != id => format!("{name} [{id}]"),
        (Some(id), _) => id.clone(),
        (None, _) => e.auth_method.clone().unwrap_or_else(|| "-".to_string()),
    }
}

/// The message shown instead of the table, if any.
fn message(app: &App, total: usize, shown: usize) -> Option<Line<'static>> {
    let dim = Style::new().fg(Color::DarkGray);
    match &app.data.audit {
        Some(Offered::NotOffered(why)) => {
            return Some(Line::styled(
                format!("{why}: the audit log is an addition of this project's gateway."),
                dim,
            ));
        }
        Some(Offered::Yes(log)) if !log.enabled => {
            return Some(Line::styled(
                "The gateway records no audit log (it runs with --disable-audit-log).",
                dim,
            ));
        }
        _ => {}
    }
    if let Some(err) = no_data_text(app, Source::Audit) {
        return Some(err);
    }
    if total == 0 {
        return Some(Line::styled(
            "No audit events yet: control-plane changes and refused requests show here.",
            dim,
        ));
    }
    (shown == 0).then(|| {
        Line::styled(
            format!(
                "No events match \"{}\" (Esc clears the filter).",
                app.filter
            ),
            dim,
        )
    })
}

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let rows = app.audit_rows();
    let total = match &app.data.audit {
        Some(Offered::Yes(log)) => log.events.len(),
        _ => 0,
    };
    let name = if app.filter.is_empty() {
        format!("Audit log (newest {total})")
    } else {
        format!(
            "Audit log ({} of {total}) · filter \"{}\"",
            rows.len(),
            app.filter
        )
    };
    let block = panel(app, &name, Source::Audit);
    let inner = block.inner(area);
    block.render(area, buf);
    let header = Row::new(vec![
        "WHEN",
        "PRINCIPAL",
        "ROLE",
        "ACTION",
        "STATUS",
        "OUTCOME",
        "SUMMARY",
    ])
    .bold();
    let table_rows = rows.iter().map(|e| {
        Row::new(vec![
            Cell::from(format::age(
                app.now,
                std::time::SystemTime::from(e.timestamp),
            )),
            Cell::from(principal(e)),
            Cell::from(e.role.map_or("-", |r| r.as_str())),
            Cell::from(format!("{} {}", e.method, e.path)),
            Cell::from(e.status.to_string()),
            Cell::from(outcome_cell(e)),
            Cell::from(Span::styled(
                e.summary.clone().unwrap_or_default(),
                Style::new().fg(Color::DarkGray),
            )),
        ])
    });
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(10),
            Constraint::Fill(2),
            Constraint::Length(5),
            Constraint::Fill(3),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Fill(4),
        ],
    )
    .header(header)
    .column_spacing(2);
    render_cursor_table(table, app, View::Audit, rows.len(), inner, buf);
    if let Some(msg) = message(app, total, rows.len()) {
        render_table_note(msg, inner, buf);
    }
    dim_if_stale(area, buf, app, Source::Audit);
}
