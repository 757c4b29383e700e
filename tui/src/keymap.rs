//! The one table of key bindings: the key handler ([`App::on_key`](crate::app::App::on_key)),
//! the `:` command line, the help overlay and the hints bar all read [`KEYMAP`], so a binding
//! is added (or changed) in one place.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::app::View;

/// What a binding does. Some commands depend on the view (e.g. [`Cmd::Delete`] deletes the
/// selected worker, tokenizer or key); the app interprets them for the current view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    /// Switch to a view.
    Show(View),
    /// Open the help overlay.
    Help,
    /// Open the `:` command line.
    CommandLine,
    /// Start typing a filter (`:filter TEXT` sets it).
    Filter,
    /// Leave the dashboard.
    Quit,
    /// Poll every source now.
    Refresh,
    /// Back to the previous view, or clear the filter.
    Back,
    /// Open the selected row (worker detail, workers of a model).
    Open,
    /// Move the cursor down one row.
    Down,
    /// Move the cursor up one row.
    Up,
    /// One page down.
    PageDown,
    /// One page up.
    PageUp,
    /// First row.
    First,
    /// Last row.
    Last,
    /// Next sort column.
    SortNext,
    /// Flip the sort direction.
    SortFlip,
    /// Sort by the column of the pressed Shift+letter.
    SortHotkey,
    /// `:sort [-]COLUMN`.
    SortBy,
    /// Add (a worker, a tokenizer, a key: whatever the view lists).
    Add,
    /// Edit the selected worker.
    Edit,
    /// Delete the selected row.
    Delete,
    /// Cordon the selected worker.
    Cordon,
    /// Uncordon the selected worker.
    Uncordon,
    /// Retire the selected worker.
    Retire,
    /// Flush the selected worker's KV cache.
    FlushWorker,
    /// Flush every worker's KV cache.
    FlushAll,
    /// Rotate the selected key's secret.
    Rotate,
    /// Disable the selected key.
    Disable,
    /// Enable the selected key.
    Enable,
    /// Forms: next field.
    NextField,
    /// Forms: previous field.
    PrevField,
    /// Forms: validate and ask for confirmation; dialogs: confirm.
    Submit,
    /// Close the form, dialog or overlay.
    Cancel,
}

/// Which keyboard context a binding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// Every mode, typing included (Ctrl-C).
    Always,
    /// Navigation (no text input, no overlay).
    Normal,
    /// The help overlay.
    Help,
    /// A confirmation dialog.
    Confirm,
    /// A form.
    Form,
}

/// A key pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// This key without Ctrl.
    Plain(KeyCode),
    /// Ctrl + this letter.
    Ctrl(char),
    /// This key with or without modifiers.
    Any(KeyCode),
    /// Any Shift+letter (the sort hotkeys, see [`Column::hotkey`](crate::app::Column::hotkey)).
    Upper,
}

impl Key {
    /// True when `key` is this pattern.
    pub fn matches(self, key: &KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Self::Plain(code) => !ctrl && key.code == code,
            Self::Ctrl(c) => ctrl && key.code == KeyCode::Char(c),
            Self::Any(code) => key.code == code,
            Self::Upper => matches!(key.code, KeyCode::Char(c) if c.is_ascii_uppercase()),
        }
    }
}

/// The hint of a binding in the bottom bar of some views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    /// The views showing it (empty: every view).
    pub views: &'static [View],
    /// Key text (`j/k`).
    pub key: &'static str,
    /// What it does (`move`).
    pub label: &'static str,
    /// Position in the bar (lower first; navigation, then the view's actions, then global).
    pub rank: u8,
}

/// One binding: one line of the help overlay, its keys and commands, where it is active, its
/// hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    /// Help section.
    pub section: &'static str,
    /// Keyboard context.
    pub ctx: Ctx,
    /// Views where it is active (empty: every view).
    pub views: &'static [View],
    /// The keys and what each does.
    pub keys: &'static [(Key, Cmd)],
    /// `:` commands (and aliases) running [`cmd`](Self::cmd); the first is the one completed.
    pub commands: &'static [&'static str],
    /// The command `:` names run (and the help line's meaning).
    pub cmd: Option<Cmd>,
    /// Keys as shown in the help (`j  k  ↓  ↑`).
    pub help_keys: &'static str,
    /// Help text; empty: not listed in the help.
    pub help: &'static str,
    /// Hints in the bottom bar; the first whose views include the current view is shown.
    pub hints: &'static [Hint],
    /// True for changes to the gateway (greyed out and refused when the role forbids them).
    pub mutating: bool,
}

const fn row(section: &'static str, help_keys: &'static str, help: &'static str) -> Binding {
    Binding {
        section,
        ctx: Ctx::Normal,
        views: &[],
        keys: &[],
        commands: &[],
        cmd: None,
        help_keys,
        help,
        hints: &[],
        mutating: false,
    }
}

const fn hint(views: &'static [View], key: &'static str, label: &'static str, rank: u8) -> Hint {
    Hint {
        views,
        key,
        label,
        rank,
    }
}

const VIEWS: &str = "Views";
const MOVE: &str = "Move";
const SORT: &str = "Filter and sort";
const ACTIONS: &str = "Actions (confirmed first)";
const FORMS: &str = "In forms and prompts";

use View::{Audit, Detail, Keys, Models, Modules, Overview, Tokenizers, Workers};

/// Views with a table the cursor keys move in.
const TABLES: &[View] = &[Workers, Models, Tokenizers, Modules, Keys, Audit];
/// Views where c, u and x act on workers (the Keys view uses u and x for its keys).
const NOT_KEYS: &[View] = &[
    Overview, Workers, Detail, Models, Tokenizers, Modules, Audit,
];
const WORKER_VIEWS: &[View] = &[Workers, Detail];

/// Every key binding, in help order.
pub const KEYMAP: &[Binding] = &[
    Binding {
        ctx: Ctx::Always,
        keys: &[(Key::Ctrl('c'), Cmd::Quit)],
        ..row(VIEWS, "", "")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('1')), Cmd::Show(Overview))],
        commands: &["overview", "o", "1"],
        cmd: Some(Cmd::Show(Overview)),
        hints: &[hint(&[Overview], "1-5", "views", 0)],
        ..row(VIEWS, "1  :overview", "fleet overview")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('2')), Cmd::Show(Workers))],
        commands: &["workers", "w", "2"],
        cmd: Some(Cmd::Show(Workers)),
        ..row(VIEWS, "2  :workers", "worker table")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('3')), Cmd::Show(Models))],
        commands: &["models", "m", "3"],
        cmd: Some(Cmd::Show(Models)),
        ..row(VIEWS, "3  :models", "models and their workers")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('4')), Cmd::Show(Tokenizers))],
        commands: &["tokenizers", "tokenizer", "tok", "t", "4"],
        cmd: Some(Cmd::Show(Tokenizers)),
        ..row(VIEWS, "4  :tokenizers", "tokenizers and load status")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('5')), Cmd::Show(Modules))],
        commands: &["modules", "module", "wasm", "5"],
        cmd: Some(Cmd::Show(Modules)),
        ..row(VIEWS, "5  :modules", "WASM modules and executions")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('6')), Cmd::Show(Keys))],
        commands: &["keys", "key", "api-keys", "6"],
        cmd: Some(Cmd::Show(Keys)),
        ..row(VIEWS, "6  :keys", "runtime API keys")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('7')), Cmd::Show(Audit))],
        commands: &["audit", "7"],
        cmd: Some(Cmd::Show(Audit)),
        ..row(VIEWS, "7  :audit", "audit log, newest first")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Char('?')), Cmd::Help)],
        commands: &["help", "h", "?"],
        cmd: Some(Cmd::Help),
        hints: &[hint(&[], "?", "help", 23)],
        ..row(VIEWS, "?  :help", "this help (Esc closes)")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Enter), Cmd::Open)],
        hints: &[
            hint(&[Workers], "⏎", "detail", 3),
            hint(&[Models], "⏎", "workers", 3),
        ],
        ..row(VIEWS, "Enter", "worker detail / workers of model")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Esc), Cmd::Back)],
        hints: &[hint(&[Detail], "Esc", "back", 2)],
        ..row(VIEWS, "Esc", "back, or clear the filter")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Char(':')), Cmd::CommandLine)],
        hints: &[hint(&[], ":", "cmd", 22)],
        ..row(VIEWS, ":", "command line (Tab completes)")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('q')), Cmd::Quit)],
        commands: &["quit", "q", "q!", "exit"],
        cmd: Some(Cmd::Quit),
        hints: &[hint(&[], "q", "quit", 24)],
        ..row(VIEWS, "q  Ctrl-C  :q", "quit")
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('j')), Cmd::Down),
            (Key::Any(KeyCode::Down), Cmd::Down),
            (Key::Plain(KeyCode::Char('k')), Cmd::Up),
            (Key::Any(KeyCode::Up), Cmd::Up),
        ],
        hints: &[hint(TABLES, "j/k", "move", 2)],
        ..row(MOVE, "j  k  ↓  ↑", "next / previous row")
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('g')), Cmd::First),
            (Key::Any(KeyCode::Home), Cmd::First),
            (Key::Any(KeyCode::Char('G')), Cmd::Last),
            (Key::Any(KeyCode::End), Cmd::Last),
        ],
        ..row(MOVE, "g  G  Home  End", "first / last row")
    },
    Binding {
        keys: &[
            (Key::Any(KeyCode::PageDown), Cmd::PageDown),
            (Key::Any(KeyCode::PageUp), Cmd::PageUp),
        ],
        ..row(MOVE, "PgDn  PgUp", "page down / up")
    },
    Binding {
        keys: &[
            (Key::Ctrl('f'), Cmd::PageDown),
            (Key::Ctrl('b'), Cmd::PageUp),
        ],
        ..row(MOVE, "Ctrl-f  Ctrl-b", "page down / up")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Char('/')), Cmd::Filter)],
        commands: &["filter"],
        cmd: Some(Cmd::Filter),
        hints: &[hint(TABLES, "/", "filter", 4)],
        ..row(SORT, "/", "filter the table of the view")
    },
    Binding {
        keys: &[
            (Key::Plain(KeyCode::Char('s')), Cmd::SortNext),
            (Key::Any(KeyCode::Char('S')), Cmd::SortFlip),
        ],
        hints: &[hint(&[Workers], "s/S", "sort", 5)],
        ..row(SORT, "s  S", "next sort column / flip direction")
    },
    row(
        SORT,
        "I U M T R A",
        "sort: id url model type runtime status",
    ),
    row(
        SORT,
        "B N W K H O",
        "sort: breaker run wait usage hit tok/s",
    ),
    row(SORT, "Q E L P", "sort: req/s err% load prio"),
    Binding {
        keys: &[(Key::Upper, Cmd::SortHotkey)],
        ..row(SORT, "", "(Shift+letter; again flips the direction)")
    },
    Binding {
        commands: &["sort"],
        cmd: Some(Cmd::SortBy),
        ..row(SORT, ":sort -run", "sort by a column (- = descending)")
    },
    Binding {
        views: &[Overview, Workers, Detail, Models, Tokenizers, Modules, Keys],
        keys: &[(Key::Plain(KeyCode::Char('a')), Cmd::Add)],
        commands: &["add"],
        cmd: Some(Cmd::Add),
        hints: &[
            hint(&[Tokenizers], "a", "add tokenizer", 10),
            hint(&[Keys], "a", "create key", 10),
            hint(&[Overview, Workers, Detail, Models], "a", "add", 10),
        ],
        mutating: true,
        ..row(
            ACTIONS,
            "a  :add",
            "add a worker (tokenizer in 4, key in 6)",
        )
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('e')), Cmd::Edit)],
        hints: &[hint(WORKER_VIEWS, "e", "edit", 11)],
        mutating: true,
        ..row(ACTIONS, "e", "edit priority / cost / labels")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Char('d')), Cmd::Delete)],
        hints: &[hint(
            &[Workers, Detail, Tokenizers, Keys],
            "d",
            "delete",
            14,
        )],
        mutating: true,
        ..row(
            ACTIONS,
            "d  Ctrl-d",
            "delete the selected worker/tokenizer/key",
        )
    },
    Binding {
        views: NOT_KEYS,
        keys: &[(Key::Plain(KeyCode::Char('c')), Cmd::Cordon)],
        commands: &["cordon"],
        cmd: Some(Cmd::Cordon),
        hints: &[hint(WORKER_VIEWS, "c/u", "cordon", 12)],
        mutating: true,
        ..row(
            ACTIONS,
            "c  :cordon",
            "cordon: no new traffic, stays listed",
        )
    },
    Binding {
        views: NOT_KEYS,
        keys: &[(Key::Plain(KeyCode::Char('u')), Cmd::Uncordon)],
        commands: &["uncordon"],
        cmd: Some(Cmd::Uncordon),
        mutating: true,
        ..row(ACTIONS, "u  :uncordon", "take traffic again")
    },
    Binding {
        views: NOT_KEYS,
        keys: &[(Key::Plain(KeyCode::Char('x')), Cmd::Retire)],
        commands: &["retire"],
        cmd: Some(Cmd::Retire),
        hints: &[hint(WORKER_VIEWS, "x", "retire", 13)],
        mutating: true,
        ..row(ACTIONS, "x  :retire", "cordon, drain, flush, then remove")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('f')), Cmd::FlushWorker)],
        mutating: true,
        ..row(ACTIONS, "f", "flush the selected worker's KV cache")
    },
    Binding {
        keys: &[(Key::Any(KeyCode::Char('F')), Cmd::FlushAll)],
        commands: &["flush"],
        cmd: Some(Cmd::FlushAll),
        hints: &[hint(&[], "F", "flush", 20)],
        mutating: true,
        ..row(ACTIONS, "F  :flush", "flush the KV cache of all workers")
    },
    Binding {
        views: &[Keys],
        keys: &[(Key::Plain(KeyCode::Char('o')), Cmd::Rotate)],
        commands: &["rotate"],
        cmd: Some(Cmd::Rotate),
        hints: &[hint(&[Keys], "o", "rotate", 11)],
        mutating: true,
        ..row(
            ACTIONS,
            "o  x  u",
            "key (view 6): rotate / disable / enable",
        )
    },
    Binding {
        views: &[Keys],
        keys: &[(Key::Plain(KeyCode::Char('x')), Cmd::Disable)],
        commands: &["disable"],
        cmd: Some(Cmd::Disable),
        hints: &[hint(&[Keys], "x/u", "disable/enable", 12)],
        mutating: true,
        ..row(ACTIONS, "", "")
    },
    Binding {
        views: &[Keys],
        keys: &[(Key::Plain(KeyCode::Char('u')), Cmd::Enable)],
        commands: &["enable"],
        cmd: Some(Cmd::Enable),
        mutating: true,
        ..row(ACTIONS, "", "")
    },
    Binding {
        keys: &[(Key::Plain(KeyCode::Char('r')), Cmd::Refresh)],
        commands: &["refresh", "r"],
        cmd: Some(Cmd::Refresh),
        hints: &[
            hint(&[Overview], "r", "refresh", 1),
            hint(&[], "r", "refresh", 21),
        ],
        ..row(ACTIONS, "r  :refresh", "poll every source now")
    },
    Binding {
        ctx: Ctx::Form,
        keys: &[
            (Key::Any(KeyCode::Tab), Cmd::NextField),
            (Key::Any(KeyCode::Down), Cmd::NextField),
            (Key::Any(KeyCode::BackTab), Cmd::PrevField),
            (Key::Any(KeyCode::Up), Cmd::PrevField),
        ],
        ..row(FORMS, "Tab  Shift-Tab", "next / previous field")
    },
    Binding {
        ctx: Ctx::Form,
        keys: &[(Key::Any(KeyCode::Enter), Cmd::Submit)],
        ..row(FORMS, "Enter", "submit, then y to confirm")
    },
    Binding {
        ctx: Ctx::Form,
        keys: &[(Key::Any(KeyCode::Esc), Cmd::Cancel)],
        ..row(FORMS, "Esc", "cancel")
    },
    Binding {
        ctx: Ctx::Confirm,
        keys: &[
            (Key::Any(KeyCode::Char('y')), Cmd::Submit),
            (Key::Any(KeyCode::Char('Y')), Cmd::Submit),
            (Key::Any(KeyCode::Enter), Cmd::Submit),
            (Key::Any(KeyCode::Char('n')), Cmd::Cancel),
            (Key::Any(KeyCode::Char('N')), Cmd::Cancel),
            (Key::Any(KeyCode::Char('q')), Cmd::Cancel),
            (Key::Any(KeyCode::Esc), Cmd::Cancel),
        ],
        ..row(FORMS, "", "")
    },
    Binding {
        ctx: Ctx::Help,
        keys: &[
            (Key::Any(KeyCode::Esc), Cmd::Cancel),
            (Key::Any(KeyCode::Char('?')), Cmd::Cancel),
            (Key::Any(KeyCode::Char('q')), Cmd::Cancel),
            (Key::Any(KeyCode::Enter), Cmd::Cancel),
        ],
        ..row(FORMS, "", "")
    },
];

impl Binding {
    /// True when the binding is active in `view`.
    pub fn active_in(&self, view: View) -> bool {
        self.views.is_empty() || self.views.contains(&view)
    }
}

/// The command `key` runs in `ctx` and `view` (bindings of [`Ctx::Always`] first), with its
/// binding.
pub fn lookup(ctx: Ctx, view: View, key: &KeyEvent) -> Option<(Cmd, &'static Binding)> {
    let find = |c: Ctx, catch_all: bool| {
        KEYMAP
            .iter()
            .filter(|b| b.ctx == c && (c != Ctx::Normal || b.active_in(view)))
            .find_map(|b| {
                b.keys
                    .iter()
                    .find(|(k, _)| (*k == Key::Upper) == catch_all && k.matches(key))
                    .map(|(_, cmd)| (*cmd, b))
            })
    };
    // A key bound by itself (F, S, G) wins over the Shift+letter catch-all.
    find(Ctx::Always, false)
        .or_else(|| find(ctx, false))
        .or_else(|| find(ctx, true))
}

/// The binding of the `:` command `name` in `view`.
pub fn command(name: &str, view: View) -> Option<&'static Binding> {
    KEYMAP
        .iter()
        .filter(|b| b.active_in(view))
        .find(|b| b.cmd.is_some() && b.commands.contains(&name))
}

/// Every completable `:` command, in table order.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    KEYMAP.iter().filter_map(|b| b.commands.first().copied())
}

/// The help sections in order, each with its `(keys, text)` lines.
pub fn help_sections() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut out: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for b in KEYMAP.iter().filter(|b| !b.help.is_empty()) {
        match out.iter_mut().find(|(s, _)| *s == b.section) {
            Some((_, lines)) => lines.push((b.help_keys, b.help)),
            None => out.push((b.section, vec![(b.help_keys, b.help)])),
        }
    }
    out
}

/// The hints of `view` in bar order: `(key, label, mutating)`.
pub fn hints(view: View) -> Vec<(&'static str, &'static str, bool)> {
    let mut out: Vec<(u8, &str, &str, bool)> = KEYMAP
        .iter()
        .filter(|b| b.ctx == Ctx::Normal && b.active_in(view))
        .filter_map(|b| {
            b.hints
                .iter()
                .find(|h| h.views.is_empty() || h.views.contains(&view))
                .map(|h| (h.rank, h.key, h.label, b.mutating))
        })
        .collect();
    out.sort_by_key(|h| h.0);
    out.into_iter().map(|(_, k, l, m)| (k, l, m)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_view_and_context() {
        let views = View::ALL;
        for view in views {
            for ctx in [Ctx::Normal, Ctx::Form, Ctx::Confirm, Ctx::Help] {
                let keys: Vec<Key> = KEYMAP
                    .iter()
                    .filter(|b| b.ctx == ctx && (ctx != Ctx::Normal || b.active_in(view)))
                    .flat_map(|b| b.keys.iter().map(|(k, _)| *k))
                    .collect();
                for (i, k) in keys.iter().enumerate() {
                    assert!(
                        !keys[i + 1..].contains(k),
                        "{k:?} bound twice in {view:?}/{ctx:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn commands_are_unique() {
        let all: Vec<&str> = KEYMAP
            .iter()
            .flat_map(|b| b.commands.iter().copied())
            .collect();
        for (i, c) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(c), ":{c} defined twice");
        }
    }
}
