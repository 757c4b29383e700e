//! Overlays: the help screen, confirmation dialogs and forms.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::app::{App, Confirm, Form};

/// A `w`×`h` rectangle centred in `area` (clamped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub(super) fn help(area: Rect, buf: &mut Buffer, app: &App) {
    let key_style = Style::new().fg(Color::Cyan).bold();
    let mut left: Vec<Line> = Vec::new();
    let mut right: Vec<Line> = Vec::new();
    for (i, (section, keys)) in crate::keymap::help_sections().into_iter().enumerate() {
        let col = if i < 2 { &mut left } else { &mut right };
        col.push(Line::styled(section, Style::new().bold().underlined()));
        for (k, d) in keys {
            col.push(Line::from(vec![
                Span::styled(format!("{k:<17}"), key_style),
                Span::raw(d),
            ]));
        }
        col.push(Line::default());
    }
    left.push(Line::styled("Columns", Style::new().bold().underlined()));
    left.push(Line::raw("ID = last 8 characters of the worker id;"));
    left.push(Line::raw("LOAD = requests in flight through the gateway;"));
    left.push(Line::raw("RUN/WAIT/TOKEN USAGE/HIT%/GEN TOK/S come from"));
    left.push(Line::raw(
        "/loads or /get_loads (- when a worker did not report);",
    ));
    left.push(Line::raw(
        "REQ/S, ERR% from the gateway's /metrics counters;",
    ));
    left.push(Line::raw(
        "BREAKER: closed, open (red), half_open (yellow).",
    ));
    left.push(Line::default());
    if let Some(reason) = app.actions_blocked_reason() {
        right.push(Line::styled(reason, Style::new().fg(Color::Yellow)));
    }
    let h = left.len().max(right.len()) as u16 + 3;
    let rect = centered(area, 120, h);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(Line::from(" Help · smg-tui ").bold())
        .title_bottom(Line::from(" Esc / ? close ").centered());
    let inner = block.inner(rect);
    block.render(rect, buf);
    let [l, r] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
        .spacing(2)
        .areas(inner.inner(ratatui::layout::Margin::new(1, 0)));
    Paragraph::new(left).render(l, buf);
    Paragraph::new(right).render(r, buf);
}

pub(super) fn confirm(area: Rect, buf: &mut Buffer, c: &Confirm) {
    let color = if c.action.destructive() {
        Color::Red
    } else {
        Color::Yellow
    };
    let question = c.action.question();
    let mut lines = vec![Line::styled(question, Style::new().bold()), Line::default()];
    for d in &c.details {
        lines.push(Line::raw(format!("  {d}")));
    }
    if !c.details.is_empty() {
        lines.push(Line::default());
    }
    lines.push(Line::styled(
        "Equivalent command:",
        Style::new().fg(Color::DarkGray),
    ));
    lines.push(Line::styled(
        format!("  $ {}", c.action.smgctl()),
        Style::new().fg(Color::Cyan),
    ));
    lines.push(Line::default());
    lines.push(Line::from(vec![
        Span::styled(" y ", Style::new().fg(Color::Black).bg(color).bold()),
        Span::raw(" confirm    "),
        Span::styled(" n ", Style::new().fg(Color::Black).bg(Color::Gray).bold()),
        Span::raw(" / Esc cancel"),
    ]));
    let h = lines.len() as u16 + 2;
    let rect = centered(area, 110, h + 1);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(Style::new().fg(color))
        .title(Line::from(format!(" {} ", c.action.title())).bold());
    let inner = block.inner(rect);
    block.render(rect, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .render(inner.inner(ratatui::layout::Margin::new(1, 0)), buf);
}

pub(super) fn form(area: Rect, buf: &mut Buffer, f: &Form) {
    const BOX: usize = 40;
    let mut lines = vec![Line::default()];
    for (i, field) in f.fields.iter().enumerate() {
        let focused = i == f.focus;
        let label_style = if focused {
            Style::new().fg(Color::Cyan).bold()
        } else {
            Style::new()
        };
        let mut value = crate::format::truncate(&field.value, BOX - 1);
        if focused {
            value.push('▏');
        }
        let pad = BOX.saturating_sub(value.chars().count());
        let box_style = if focused {
            Style::new().bg(Color::DarkGray).fg(Color::White)
        } else {
            Style::new().bg(Color::Black).fg(Color::Gray)
        };
        lines.push(Line::from(vec![
            Span::styled(if focused { "▶ " } else { "  " }, label_style),
            Span::styled(format!("{:<10}", field.label), label_style),
            Span::styled(format!("[{value}{}]", " ".repeat(pad)), box_style),
            Span::styled(
                format!("  {}", field.hint),
                Style::new().fg(Color::DarkGray),
            ),
        ]));
        lines.push(Line::default());
    }
    match &f.error {
        Some(e) => lines.push(Line::styled(
            format!("  ✖ {e}"),
            Style::new().fg(Color::Red),
        )),
        None => lines.push(Line::default()),
    }
    lines.push(Line::styled(
        "  Tab/↓ next field · Shift-Tab/↑ previous · Enter submit · Esc cancel",
        Style::new().fg(Color::DarkGray),
    ));
    let h = lines.len() as u16 + 2;
    let rect = centered(area, 100, h);
    Clear.render(rect, buf);
    let block = Block::bordered()
        .border_style(Style::new().fg(Color::Cyan))
        .title(Line::from(format!(" {} ", f.title())).bold());
    let inner = block.inner(rect);
    block.render(rect, buf);
    Paragraph::new(lines).render(inner, buf);
}
