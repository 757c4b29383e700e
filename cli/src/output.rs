//! Rendering: tables for people, JSON/YAML for scripts, ids for `xargs`; colour; EPIPE-safe
//! writes to stdout and best-effort diagnostics on stderr.

use std::cell::Cell;
use std::fmt::Display;
use std::io::{self, IsTerminal, Write};
use std::rc::Rc;

use color_eyre::eyre::{Result, WrapErr, eyre};
use serde::Serialize;
use smg_sdk::{WorkerInfo, WorkerStatus};
use tabled::builder::Builder;
use tabled::settings::{Padding, Style};

use crate::exit::StdoutClosed;
use crate::jq::JqFilter;

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people (not a stable interface).
    #[default]
    Table,
    /// The table with more columns.
    Wide,
    /// The gateway's JSON wire types, pretty-printed.
    Json,
    /// The same documents as YAML.
    Yaml,
    /// Resource ids (or names), one per line.
    Name,
}

impl Format {
    /// JSON or YAML: output is a document, not text for people.
    pub fn is_structured(self) -> bool {
        matches!(self, Self::Json | Self::Yaml)
    }
}

/// Write `text` to stdout and flush. A closed pipe becomes [`StdoutClosed`] (exit 0, quietly).
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(eyre!(e)).wrap_err("cannot write to stdout"),
    }
}

/// Write one line to stderr; failures are ignored (there is nowhere left to report them).
pub fn diag(line: impl Display) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Whether to colour stdout: never with `--no-color`, `NO_COLOR` or `TERM=dumb`; always with
/// `CLICOLOR_FORCE`; otherwise only when stdout is a terminal.
pub fn color_enabled(no_color_flag: bool) -> bool {
    let env_set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if no_color_flag || env_set("NO_COLOR") {
        return false;
    }
    if std::env::var_os("TERM").is_some_and(|t| t == "dumb") {
        return false;
    }
    if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    io::stdout().is_terminal()
}

/// What a list command shows besides its wire document; [`Output::list`] prints it.
pub struct Listing<'a, T> {
    /// The items, in the order shown.
    pub items: &'a [T],
    /// An item's line with `-o name`.
    pub name: fn(&T) -> String,
    /// Said on stderr instead of the table when there are no items; `None` draws the table
    /// anyway.
    pub empty: Option<&'a str>,
    /// A line for people after the table, or after the empty note: a summary that holds for
    /// an empty list too.
    pub footer: Option<String>,
}

/// How a command prints its results.
#[derive(Debug)]
pub struct Output {
    /// The selected format.
    pub format: Format,
    /// Whether ANSI colours may be used on stdout.
    pub color: bool,
    /// YAML documents written so far (later ones are preceded by `---`).
    yaml_docs: Cell<usize>,
    /// `--jq`: every JSON document goes through it instead of being printed.
    jq: Option<Rc<JqFilter>>,
}

impl Output {
    /// An output in `format`; with `jq`, every document is filtered by it (the format is then
    /// JSON whatever `format` says).
    pub fn new(format: Format, color: bool, jq: Option<Rc<JqFilter>>) -> Self {
        Self {
            format: if jq.is_some() { Format::Json } else { format },
            color,
            yaml_docs: Cell::new(0),
            jq,
        }
    }

    /// Whether `--jq` is in force.
    pub fn has_jq(&self) -> bool {
        self.jq.is_some()
    }

    /// Print what `--jq` makes of `value`, one result per line; false without `--jq`.
    fn filtered<T: Serialize + ?Sized>(&self, value: &T) -> Result<bool> {
        let Some(jq) = &self.jq else {
            return Ok(false);
        };
        let mut text = String::new();
        for line in jq.apply(value)? {
            text.push_str(&line);
            text.push('\n');
        }
        write_stdout(&text)?;
        Ok(true)
    }

    /// Write `text` as is.
    pub fn write(&self, text: &str) -> Result<()> {
        write_stdout(text)
    }

    /// Write one line.
    pub fn line(&self, line: impl Display) -> Result<()> {
        write_stdout(&format!("{line}\n"))
    }

    /// Pretty JSON, one document.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        if self.filtered(value)? {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(value).wrap_err("cannot encode JSON")?;
        write_stdout(&format!("{text}\n"))
    }

    /// Compact JSON on one line (JSON Lines, for watches).
    pub fn json_line<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        if self.filtered(value)? {
            return Ok(());
        }
        let text = serde_json::to_string(value).wrap_err("cannot encode JSON")?;
        write_stdout(&format!("{text}\n"))
    }

    /// One YAML document; every document after the first is preceded by `---`.
    pub fn yaml<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        if self.filtered(value)? {
            return Ok(());
        }
        let text = serde_yaml::to_string(value).wrap_err("cannot encode YAML")?;
        let n = self.yaml_docs.get();
        self.yaml_docs.set(n + 1);
        if n == 0 {
            write_stdout(&text)
        } else {
            write_stdout(&format!("---\n{text}"))
        }
    }

    /// For `-o json|yaml`, print `value` and return true; otherwise print nothing and return
    /// false so the caller renders its table.
    pub fn structured<T: Serialize + ?Sized>(&self, value: &T) -> Result<bool> {
        if self.filtered(value)? {
            return Ok(true);
        }
        match self.format {
            Format::Json => self.json(value).map(|()| true),
            Format::Yaml => self.yaml(value).map(|()| true),
            _ => Ok(false),
        }
    }

    /// A free-form document: YAML with `-o yaml`, pretty JSON otherwise.
    pub fn document<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        if self.filtered(value)? {
            return Ok(());
        }
        match self.format {
            Format::Yaml => self.yaml(value),
            _ => self.json(value),
        }
    }

    /// A list command's result, the same for every noun: the wire document `doc` with
    /// `-o json|yaml` (or through `--jq`), one name per item with `-o name`, else the table
    /// `table` renders for the items (its width from `-o wide`), or `listing.empty` on stderr
    /// when there is none.
    pub fn list<D: Serialize + ?Sized, T>(
        &self,
        doc: &D,
        listing: Listing<'_, T>,
        table: impl FnOnce(&[T]) -> String,
    ) -> Result<()> {
        if self.structured(doc)? {
            return Ok(());
        }
        let (stdout, stderr) = self.list_text(listing, table);
        if let Some(note) = stderr {
            diag(note);
        }
        if stdout.is_empty() {
            return Ok(());
        }
        write_stdout(&stdout)
    }

    /// [`Output::list`] for `-o name|table|wide`: what goes to stdout, and the note for stderr.
    fn list_text<T>(
        &self,
        listing: Listing<'_, T>,
        table: impl FnOnce(&[T]) -> String,
    ) -> (String, Option<String>) {
        if self.format == Format::Name {
            let names = listing
                .items
                .iter()
                .map(|item| format!("{}\n", (listing.name)(item)))
                .collect();
            return (names, None);
        }
        let (mut text, note) = match listing.empty {
            Some(note) if listing.items.is_empty() => (String::new(), Some(note.to_string())),
            _ => (table(listing.items), None),
        };
        if let Some(footer) = listing.footer {
            text.push_str(&footer);
            text.push('\n');
        }
        (text, note)
    }

    /// A worker status, coloured when allowed: ready green, not_ready/failed red,
    /// pending/draining yellow.
    pub fn status(&self, status: Option<WorkerStatus>) -> String {
        let Some(status) = status else {
            return "-".into();
        };
        let text = status.as_str();
        if !self.color {
            return text.into();
        }
        let code = match status {
            WorkerStatus::Ready => "32",
            WorkerStatus::NotReady | WorkerStatus::Failed => "31",
            WorkerStatus::Pending | WorkerStatus::Draining => "33",
        };
        paint(code, text)
    }

    /// A worker's status for tables: the health status, plus `,cordoned` when it takes no new
    /// traffic (it is still health-checked, so both halves matter), the cordon in yellow.
    pub fn worker_status(&self, w: &WorkerInfo) -> String {
        let health = self.status(w.status);
        if !w.is_disabled() {
            return health;
        }
        let cordoned = if self.color {
            paint("33", "cordoned")
        } else {
            "cordoned".into()
        };
        format!("{health},{cordoned}")
    }

    /// `text` in green (or plain).
    pub fn good(&self, text: &str) -> String {
        if self.color {
            paint("32", text)
        } else {
            text.into()
        }
    }

    /// `text` in red (or plain).
    pub fn bad(&self, text: &str) -> String {
        if self.color {
            paint("31", text)
        } else {
            text.into()
        }
    }
}

fn paint(code: &str, text: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// kubectl-style columns: an upper-case header, three spaces between columns, no borders, no
/// trailing spaces.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().copied());
    for row in rows {
        builder.push_record(row.iter().map(String::as_str));
    }
    let mut table = builder.build();
    table.with(Style::blank()).with(Padding::new(0, 2, 0, 0));
    let mut out = String::new();
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A describe-style view: `Key:` padded to a common width, then the value; continuation lines
/// of a multi-line value are indented under it.
pub fn render_kv(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (key, value) in rows {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        let label = format!("{key}:");
        out.push_str(format!("{label:<width$}{first}").trim_end());
        out.push('\n');
        for more in lines {
            out.push_str(format!("{:width$}{more}", "").trim_end());
            out.push('\n');
        }
    }
    out
}

/// ANSI sequence that moves the cursor home and clears the screen (watch redraws).
pub const CLEAR_SCREEN: &str = "\x1b[H\x1b[2J";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_trailing_spaces() {
        let t = render_table(&["A", "LONGER"], &[vec!["x".into(), "y".into()]]);
        assert_eq!(t, "A   LONGER\nx   y\n");
    }

    #[test]
    fn kv_aligns_and_indents() {
        let t = render_kv(&[("ID", "1".into()), ("Labels", "a=1\nb=2".into())]);
        assert_eq!(t, "ID:      1\nLabels:  a=1\n         b=2\n");
    }

    fn listing<'a>(items: &'a [&'a str], footer: Option<&str>) -> Listing<'a, &'a str> {
        Listing {
            items,
            name: |s| format!("n/{s}"),
            empty: Some("Nothing here."),
            footer: footer.map(str::to_string),
        }
    }

    fn table_of(items: &[&str]) -> String {
        render_table(
            &["ITEM"],
            &items
                .iter()
                .map(|s| vec![s.to_string()])
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn list_prints_names_one_per_line_and_nothing_else() {
        let out = Output::new(Format::Name, false, None);
        assert_eq!(
            out.list_text(listing(&["a", "b"], Some("total 2")), table_of),
            ("n/a\nn/b\n".to_string(), None)
        );
        // An empty list prints no names and no note.
        assert_eq!(
            out.list_text(listing(&[], Some("total 0")), table_of),
            (String::new(), None)
        );
    }

    #[test]
    fn list_draws_the_table_then_the_footer() {
        for format in [Format::Table, Format::Wide] {
            let out = Output::new(format, false, None);
            assert_eq!(
                out.list_text(listing(&["a"], Some("\ntotal 1")), table_of),
                ("ITEM\na\n\ntotal 1\n".to_string(), None)
            );
        }
    }

    #[test]
    fn an_empty_list_is_a_note_on_stderr_unless_the_table_is_wanted_anyway() {
        let out = Output::new(Format::Table, false, None);
        assert_eq!(
            out.list_text(listing(&[], None), table_of),
            (String::new(), Some("Nothing here.".to_string()))
        );
        // The footer still holds for an empty list.
        assert_eq!(
            out.list_text(listing(&[], Some("total 0")), table_of),
            ("total 0\n".to_string(), Some("Nothing here.".to_string()))
        );
        let always = Listing {
            empty: None,
            ..listing(&[], None)
        };
        assert_eq!(
            out.list_text(always, table_of),
            ("ITEM\n".to_string(), None)
        );
    }

    #[test]
    fn coloured_status_keeps_table_alignment() {
        let out = Output::new(Format::Table, true, None);
        let t = render_table(
            &["S", "X"],
            &[
                vec![out.status(Some(WorkerStatus::Ready)), "1".into()],
                vec![out.status(Some(WorkerStatus::NotReady)), "2".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[1].starts_with("\x1b[32mready\x1b[0m       1"),
            "{t:?}"
        );
        assert!(
            lines[2].starts_with("\x1b[31mnot_ready\x1b[0m   2"),
            "{t:?}"
        );
    }
}
