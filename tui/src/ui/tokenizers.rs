//! Tokenizers: name, source, vocabulary size and load status (with the reason of a failed
//! load), plus the selected tokenizer in full.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};
use smg_sdk::TokenizerInfo;

use super::{dim_if_stale, no_data_text, panel, render_cursor_table, render_table_note};
use crate::app::{App, tokenizer_status};
use crate::event::{Source, shell_quote};

/// `128,256`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn status_style(word: &str) -> Style {
    match word {
        "loaded" => Style::new().fg(Color::Green),
        "failed" => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Yellow),
    }
}

fn status_cell(t: &TokenizerInfo) -> Line<'static> {
    let (word, reason) = tokenizer_status(t);
    let glyph = match word {
        "loaded" => '●',
        "failed" => '✖',
        _ => '◐',
    };
    let mut spans = vec![Span::styled(format!("{glyph} {word}"), status_style(word))];
    if let Some(reason) = reason {
        spans.push(Span::styled(
            format!(": {reason}"),
            status_style(word).add_modifier(Modifier::DIM),
        ));
    }
    Line::from(spans)
}

pub(super) fn draw(area: Rect, buf: &mut Buffer, app: &App) {
    let rows = app.tokenizer_rows();
    let total = app.data.tokenizers.as_ref().map_or(0, Vec::len);
    let failed = app
        .data
        .tokenizers
        .iter()
        .flatten()
        .filter(|t| tokenizer_status(t).0 == "failed")
        .count();
    let mut name = if app.filter.is_empty() {
        format!("Tokenizers ({total})")
    } else {
        format!(
            "Tokenizers ({} of {total}) · filter \"{}\"",
            rows.len(),
            app.filter
        )
    };
    if failed > 0 {
        name.push_str(&format!(" · {failed} failed"));
    }
    let [table_area, detail_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(7)]).areas(area);
    let block = panel(app, &name, Source::Tokenizers);
    let inner = block.inner(table_area);
    block.render(table_area, buf);

    let header = Row::new(vec![
        Cell::from("NAME"),
        Cell::from("ID"),
        Cell::from("SOURCE"),
        Cell::from(Line::from("VOCAB").alignment(Alignment::Right)),
        Cell::from("CHAT TPL"),
        Cell::from("STATUS"),
    ])
    .bold();
    let table_rows = rows.iter().map(|t| {
        Row::new(vec![
            Cell::from(t.name.clone()),
            Cell::from(t.short_id().to_string()),
            Cell::from(t.source.clone()),
            Cell::from(
                Line::from(if t.vocab_size > 0 {
                    thousands(t.vocab_size as u64)
                } else {
                    "-".to_string()
                })
                .alignment(Alignment::Right),
            ),
            Cell::from(if t.chat_template { "yes" } else { "-" }),
            Cell::from(status_cell(t)),
        ])
    });
    let table = Table::new(
        table_rows,
        [
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Fill(4),
        ],
    )
    .header(header)
    .column_spacing(2);
    let selected = render_cursor_table(
        table,
        app,
        crate::app::View::Tokenizers,
        rows.len(),
        inner,
        buf,
    );

    if rows.is_empty() {
        let msg = if let Some(err) = no_data_text(app, Source::Tokenizers) {
            err
        } else if total == 0 {
            Line::styled(
                "No tokenizers registered. Press a to add one (smgctl tokenizers add NAME SOURCE).",
                Style::new().fg(Color::DarkGray),
            )
        } else {
            Line::styled(
                format!(
                    "No tokenizers match \"{}\" (Esc clears the filter).",
                    app.filter
                ),
                Style::new().fg(Color::DarkGray),
            )
        };
        render_table_note(msg, inner, buf);
    }
    dim_if_stale(table_area, buf, app, Source::Tokenizers);
    detail(
        detail_area,
        buf,
        selected.and_then(|i| rows.get(i)).copied(),
    );
}

fn detail(area: Rect, buf: &mut Buffer, t: Option<&TokenizerInfo>) {
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::DarkGray))
        .title(Line::from(" Selected tokenizer ").bold());
    let inner = block.inner(area);
    block.render(area, buf);
    let Some(t) = t else {
        Paragraph::new(Line::styled(
            "nothing selected",
            Style::new().fg(Color::DarkGray),
        ))
        .render(inner, buf);
        return;
    };
    let dim = Style::new().fg(Color::DarkGray);
    let (word, reason) = tokenizer_status(t);
    let mut lines = vec![
        Line::from(vec![
            Span::styled(t.name.clone(), Style::new().bold()),
            Span::styled(format!("  id {}  ·  source ", t.id), dim),
            Span::raw(t.source.clone()),
        ]),
        Line::from(vec![
            Span::styled("status ", dim),
            Span::styled(word, status_style(word).bold()),
            Span::styled(
                format!(
                    "  ·  vocab {}  ·  chat template {}",
                    thousands(t.vocab_size as u64),
                    if t.chat_template { "yes" } else { "no" }
                ),
                dim,
            ),
        ]),
    ];
    if let Some(reason) = reason {
        lines.push(Line::styled(
            format!("reason: {reason}"),
            status_style(word),
        ));
    }
    lines.push(Line::styled(
        format!("$ smgctl tokenizers status {}", shell_quote(&t.name)),
        Style::new().fg(Color::Cyan),
    ));
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner, buf);
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(128_256), "128,256");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
