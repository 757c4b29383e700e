//! Rendering: pure functions from [`App`] to a buffer. No I/O, no clock reads: every age is
//! computed from [`App::now`].

mod audit;
mod detail;
mod keys;
mod models;
mod modules;
mod overlay;
mod overview;
mod tokenizers;
mod workers;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline, Widget};
use smg_sdk::{WorkerInfo, WorkerStatus};

use crate::app::{App, Identity, Mode, View};
use crate::event::Source;
use crate::format;
use crate::series::Series;

/// Draw the current view (and any overlay) into the frame.
pub fn render(frame: &mut Frame, app: &App) {
    let area = frame.area();
    draw(area, frame.buffer_mut(), app, app.view);
}

/// Draw `view` (and any overlay of `app.mode`) into `buf`.
pub fn draw(area: Rect, buf: &mut Buffer, app: &App, view: View) {
    if area.width < 40 || area.height < 10 {
        Paragraph::new("terminal too small for smg-tui (need 40x10)").render(area, buf);
        return;
    }
    let banner = banner_lines(app);
    let banner_h = banner_height(&banner, area.width);
    let [header, tabs, banner_area, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(banner_h),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(header, buf, app);
    draw_tabs(tabs, buf, app, view);
    if banner_h > 0 {
        let style = Style::new().fg(Color::White).bg(Color::Red).bold();
        Paragraph::new(banner)
            .style(style)
            .wrap(ratatui::widgets::Wrap { trim: false })
            .render(banner_area, buf);
    }
    match view {
        View::Overview => overview::draw(body, buf, app),
        View::Workers => workers::draw(body, buf, app),
        View::Detail => detail::draw(body, buf, app),
        View::Models => models::draw(body, buf, app),
        View::Tokenizers => tokenizers::draw(body, buf, app),
        View::Modules => modules::draw(body, buf, app),
        View::Keys => keys::draw(body, buf, app),
        View::Audit => audit::draw(body, buf, app),
    }
    draw_status_line(status, buf, app);
    draw_hints(hints, buf, app, view);
    match &app.mode {
        Mode::Help => overlay::help(area, buf, app),
        Mode::Confirm(c) => overlay::confirm(area, buf, c),
        Mode::Form(f) => overlay::form(area, buf, f),
        _ => {}
    }
}

/// Colour of a worker status.
pub fn status_style(status: Option<WorkerStatus>) -> Style {
    match status {
        Some(WorkerStatus::Ready) => Style::new().fg(Color::Green),
        Some(WorkerStatus::NotReady | WorkerStatus::Failed) => Style::new().fg(Color::Red),
        Some(WorkerStatus::Pending | WorkerStatus::Draining) => Style::new().fg(Color::Yellow),
        None => Style::new().fg(Color::DarkGray),
    }
}

/// A view's table with the shared selection look, its cursor (clamped to the `rows` shown)
/// selected; the selected row, if any.
pub(crate) fn render_cursor_table(
    table: ratatui::widgets::Table<'_>,
    app: &App,
    view: View,
    rows: usize,
    area: Rect,
    buf: &mut Buffer,
) -> Option<usize> {
    let table = table
        .row_highlight_style(
            Style::new()
                .bg(Color::DarkGray)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▶ ");
    let selected = (rows > 0).then(|| app.cursors.get(view).min(rows - 1));
    let mut state = ratatui::widgets::TableState::default().with_selected(selected);
    ratatui::widgets::StatefulWidget::render(table, area, buf, &mut state);
    selected
}

/// A note (why a table is empty) centred under the table's header.
pub(crate) fn render_table_note<'a>(
    note: impl Into<ratatui::text::Text<'a>>,
    inner: Rect,
    buf: &mut Buffer,
) {
    let mut area = inner;
    area.y = area.y.saturating_add(2).min(inner.bottom());
    area.height = inner.bottom().saturating_sub(area.y);
    Paragraph::new(note)
        .alignment(ratatui::layout::Alignment::Center)
        .wrap(ratatui::widgets::Wrap { trim: true })
        .render(area, buf);
}

/// A worker's status cell: its health, or `⊘ cordoned` while it takes no new traffic (its
/// health then shows in the detail view).
pub fn worker_status(w: &WorkerInfo) -> (String, Style) {
    if w.is_disabled() {
        ("⊘ cordoned".to_string(), Style::new().fg(Color::Magenta))
    } else {
        (status_text(w.status), status_style(w.status))
    }
}

/// `● ready` (a glyph next to the colour, for colour-blind users).
pub fn status_text(status: Option<WorkerStatus>) -> String {
    let glyph = match status {
        Some(WorkerStatus::Ready) => '●',
        Some(WorkerStatus::NotReady | WorkerStatus::Failed) => '✖',
        Some(WorkerStatus::Pending | WorkerStatus::Draining) => '◐',
        None => '?',
    };
    format!("{glyph} {}", status.map_or("unknown", WorkerStatus::as_str))
}

/// Colour of a circuit-breaker state: open red, half-open yellow, closed plain.
pub fn breaker_style(state: Option<&str>) -> Style {
    match state {
        Some("open") => Style::new().fg(Color::Red).bold(),
        Some("half_open") => Style::new().fg(Color::Yellow),
        Some(_) => Style::new(),
        None => Style::new().fg(Color::DarkGray),
    }
}

/// A circuit-breaker state as shown: the wire spelling, `-` when not reported.
pub fn breaker_text(state: Option<&str>) -> String {
    state.unwrap_or("-").to_string()
}

/// `12.5`, `0.3`, `1.2k` requests per second.
pub fn rate_text(per_sec: f64) -> String {
    if per_sec == 0.0 {
        "0".to_string()
    } else if per_sec < 10.0 {
        format!("{per_sec:.1}")
    } else {
        format::num(per_sec)
    }
}

/// Panel title with the data's age: ` Workers (42) · 3s ago `, `· loading…`, `· stale`.
pub(crate) fn title(app: &App, name: &str, source: Source) -> Line<'static> {
    let state = app.source(source);
    let mut spans = vec![Span::styled(format!(" {name}"), Style::new().bold())];
    match state.last_success {
        Some(at) => spans.push(Span::raw(format!(" · {}", format::age(app.now, at)))),
        None if state.failing().is_some() => {
            spans.push(Span::styled(" · no data", Style::new().fg(Color::Red)))
        }
        None => spans.push(Span::raw(" · loading…")),
    }
    if state.failing().is_some() && state.last_success.is_some() {
        spans.push(Span::styled(" · stale", Style::new().fg(Color::Red)));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// A bordered panel titled with its data's age.
pub(crate) fn panel(app: &App, name: &str, source: Source) -> Block<'static> {
    let border = if app.source(source).failing().is_some() {
        Style::new().fg(Color::Red)
    } else {
        Style::new().fg(Color::DarkGray)
    };
    Block::bordered()
        .border_style(border)
        .title(title(app, name, source))
}

/// Dim `area` when `source` is failing (its data is stale), after drawing it.
pub(crate) fn dim_if_stale(area: Rect, buf: &mut Buffer, app: &App, source: Source) {
    if app.source(source).failing().is_some() {
        buf.set_style(area, Style::new().add_modifier(Modifier::DIM));
    }
}

/// The error of a source that never succeeded, for an empty panel.
pub(crate) fn no_data_text(app: &App, source: Source) -> Option<Line<'static>> {
    let state = app.source(source);
    if state.last_success.is_some() {
        return None;
    }
    Some(match state.failing() {
        Some(e) => Line::styled(
            format!("{} failed: {}", app.route(source), e.message),
            Style::new().fg(Color::Red),
        ),
        None => Line::styled("waiting for data…", Style::new().fg(Color::DarkGray)),
    })
}

/// A sparkline of `series`, newest at the right edge.
pub(crate) fn sparkline(
    area: Rect,
    buf: &mut Buffer,
    series: &Series,
    scale: f64,
    max: Option<u64>,
    color: Color,
) {
    if area.width == 0 || area.height == 0 {
        return;
    }
    let data = series.sparkline_data(area.width as usize, scale);
    let mut spark = Sparkline::default()
        .data(data)
        .style(Style::new().fg(color))
        .absent_value_symbol(" ");
    if let Some(max) = max {
        spark = spark.max(max);
    }
    spark.render(area, buf);
}

fn draw_header(area: Rect, buf: &mut Buffer, app: &App) {
    let counts = app.status_counts();
    let total = app.data.workers.len();
    let models = app.model_count();
    let readiness = match &app.data.readiness {
        Some(r) if r.is_ready() => Span::styled("ready", Style::new().fg(Color::Green)),
        Some(_) => Span::styled("not ready", Style::new().fg(Color::Red)),
        None => Span::styled("?", Style::new().fg(Color::DarkGray)),
    };
    let dim = Style::new().fg(Color::DarkGray);
    let mut who = vec![Span::raw("principal ")];
    match (&app.identity, &app.principal) {
        (Identity::Refused { status, .. }, _) => {
            who = vec![Span::styled(
                format!("✖ token refused ({status} on /admin/whoami) · actions disabled"),
                Style::new().fg(Color::Red).bold(),
            )]
        }
        (_, Some((name, role))) => {
            let role_style = if role.eq_ignore_ascii_case("admin") {
                Style::new().fg(Color::Green)
            } else {
                Style::new().fg(Color::Yellow)
            };
            who.push(Span::styled(name.clone(), Style::new().bold()));
            who.push(Span::raw(" ("));
            who.push(Span::styled(role.clone(), role_style));
            who.push(Span::raw(")"));
        }
        (Identity::NotOffered(_), None) => {
            who.push(Span::styled("? (role unknown: no /admin/whoami)", dim))
        }
        _ => who.push(Span::styled("—", dim)),
    }
    let mut line = Line::from(vec![
        Span::styled(
            " SMG ",
            Style::new().fg(Color::Black).bg(Color::Cyan).bold(),
        ),
        Span::raw(" "),
        Span::styled(app.url.clone(), Style::new().bold()),
        Span::styled("  │  ", dim),
    ]);
    if let Some(gateway) = &app.data.gateway {
        line.spans.push(Span::styled(
            gateway.to_string(),
            Style::new().fg(Color::Cyan),
        ));
        line.spans.push(Span::styled("  │  ", dim));
    }
    line.spans.extend([
        Span::raw(format!("workers {total} ({} ready)", counts[0])),
        Span::styled("  │  ", dim),
        Span::raw(format!("models {models}")),
        Span::styled("  │  ", dim),
        Span::raw("readiness "),
        readiness,
        Span::styled("  │  ", dim),
    ]);
    line.spans.extend(who);
    if !app.actions_allowed() && app.principal.is_some() {
        line.spans
            .push(Span::styled("  read-only", Style::new().fg(Color::Yellow)));
    }
    Paragraph::new(line).render(area, buf);
}

fn draw_tabs(area: Rect, buf: &mut Buffer, app: &App, view: View) {
    let tab = |key: &str, name: &str, active: bool| {
        let style = if active {
            Style::new().fg(Color::Black).bg(Color::Yellow).bold()
        } else {
            Style::new().fg(Color::Gray)
        };
        Span::styled(format!(" {key} {name} "), style)
    };
    let mut spans = vec![
        Span::raw(" "),
        tab("1", "Overview", view == View::Overview),
        Span::raw(" "),
        tab("2", "Workers", matches!(view, View::Workers | View::Detail)),
        Span::raw(" "),
        tab("3", "Models", view == View::Models),
        Span::raw(" "),
        tab("4", "Tokenizers", view == View::Tokenizers),
        Span::raw(" "),
        tab("5", "Modules", view == View::Modules),
        Span::raw(" "),
    ];
    // The admin views get a tab while shown (the bar of the other views stays as it was).
    match view {
        View::Keys => spans.extend([tab("6", "Keys", true), Span::raw(" ")]),
        View::Audit => spans.extend([tab("7", "Audit", true), Span::raw(" ")]),
        _ => {}
    }
    spans.push(tab("?", "Help", matches!(app.mode, Mode::Help)));
    if view == View::Detail {
        let id = app.detail_id.as_deref().unwrap_or("?");
        spans.push(Span::styled(
            format!("   Workers › {id}"),
            Style::new().fg(Color::Cyan),
        ));
    }
    if !app.filter.is_empty() && view.filterable() {
        spans.push(Span::styled(
            format!("   filter: {}", app.filter),
            Style::new().fg(Color::Cyan),
        ));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// The red banner shown while some source fails: what, where, since when, and the error.
fn banner_lines(app: &App) -> Vec<Line<'static>> {
    let failing = app.failing_sources();
    let Some((_, first)) = failing.first() else {
        return Vec::new();
    };
    let since = failing
        .iter()
        .filter_map(|(s, _)| app.source(*s).failing_since())
        .min();
    let last_ok = Source::CORE
        .iter()
        .filter_map(|s| app.source(*s).last_success)
        .max();
    let headline = if app.unreachable() {
        format!("✖ GATEWAY UNREACHABLE at {}", app.url)
    } else {
        format!("✖ GATEWAY ERRORS at {}", app.url)
    };
    let mut l1 = format!(" {headline}");
    if let Some(since) = since {
        l1.push_str(&format!(
            " · failing for {}",
            format::duration(app.now.duration_since(since).unwrap_or_default())
        ));
    }
    match last_ok {
        Some(at) => l1.push_str(&format!(
            " · showing data from {} (dimmed)",
            format::age(app.now, at)
        )),
        None => l1.push_str(" · no data yet"),
    }
    let routes: Vec<&str> = failing.iter().map(|(s, _)| app.route(*s)).collect();
    let l2 = format!("   {}: {}", routes.join(" "), first.message);
    vec![Line::from(l1), Line::from(l2)]
}

/// Rows the banner needs at `width` (wrapped), at most 4.
fn banner_height(lines: &[Line], width: u16) -> u16 {
    let w = usize::from(width.max(1));
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
    rows.min(4) as u16
}

fn draw_status_line(area: Rect, buf: &mut Buffer, app: &App) {
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", Style::new().fg(Color::Cyan).bold()),
            Span::raw(app.filter.clone()),
            Span::styled("▏", Style::new().fg(Color::Cyan)),
            Span::styled(
                match app.view {
                    View::Keys => "   Enter keep · Esc clear · matches id, name, role, status",
                    View::Audit => {
                        "   Enter keep · Esc clear · matches principal, method and path, outcome"
                    }
                    _ => "   Enter keep · Esc clear · matches id, url, model, status",
                },
                Style::new().fg(Color::DarkGray),
            ),
        ]),
        Mode::Command(text) => {
            let suggestions = crate::app::complete(text);
            Line::from(vec![
                Span::styled(":", Style::new().fg(Color::Cyan).bold()),
                Span::raw(text.clone()),
                Span::styled("▏", Style::new().fg(Color::Cyan)),
                Span::styled(
                    format!(
                        "   {}   (Tab completes, Enter runs, Esc cancels)",
                        suggestions.join(" · ")
                    ),
                    Style::new().fg(Color::DarkGray),
                ),
            ])
        }
        _ => match app.visible_flash() {
            Some(f) if f.error => Line::styled(format!(" {}", f.text), Style::new().fg(Color::Red)),
            Some(f) => Line::styled(format!(" {}", f.text), Style::new().fg(Color::Green)),
            None => Line::default(),
        },
    };
    Paragraph::new(line).render(area, buf);
}

fn draw_hints(area: Rect, buf: &mut Buffer, app: &App, view: View) {
    let key = Style::new().fg(Color::Cyan).bold();
    let text = Style::new().fg(Color::Gray);
    let off = Style::new()
        .fg(Color::DarkGray)
        .add_modifier(Modifier::CROSSED_OUT);
    let allowed = app.actions_allowed();
    let hints = crate::keymap::hints(view);
    let mut spans = vec![Span::raw(" ")];
    let mut seen = std::collections::HashSet::new();
    for (k, label, action) in hints {
        if !seen.insert(k) {
            continue;
        }
        let (ks, ts) = if action && !allowed {
            (off, off)
        } else {
            (key, text)
        };
        spans.push(Span::styled(k.to_string(), ks));
        spans.push(Span::styled(format!(" {label}  "), ts));
    }
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// The buffer as plain text: each row's symbols, trailing spaces trimmed.
pub fn buffer_to_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::with_capacity(area.width as usize * area.height as usize + 64);
    for y in area.top()..area.bottom() {
        let mut line = String::with_capacity(area.width as usize);
        let mut skip = 0usize;
        for x in area.left()..area.right() {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let cell = &buf[(x, y)];
            let sym = cell.symbol();
            line.push_str(sym);
            skip = unicode_width(sym).saturating_sub(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    use ratatui::text::Span;
    Span::raw(s).width()
}

/// Render `view` of `app` into a fresh `width`×`height` buffer and return it as plain text.
pub fn render_to_text(app: &App, view: View, width: u16, height: u16) -> String {
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    draw(area, &mut buf, app, view);
    buffer_to_text(&buf)
}
