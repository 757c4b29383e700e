//! What flows into [`App::update`](crate::app::App::update): data snapshots from the pollers,
//! action results, keys and timer ticks; and what comes back out ([`Effect`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use crossterm::event::KeyEvent;
use smg_sdk::{
    GetLoadsResponse, ModelList, ReadinessResponse, WorkerEvent, WorkerSpec, WorkerUpdateRequest,
};

/// One of the gateway endpoints the dashboard polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `GET /workers` (diffed into worker events).
    Workers,
    /// `GET /get_loads`.
    Loads,
    /// `GET /readiness`.
    Readiness,
    /// `GET /v1/models`.
    Models,
}

impl Source {
    /// Every source, in display order.
    pub const ALL: [Source; 4] = [Self::Workers, Self::Loads, Self::Readiness, Self::Models];

    /// The route polled.
    pub fn route(self) -> &'static str {
        match self {
            Self::Workers => "/workers",
            Self::Loads => "/get_loads",
            Self::Readiness => "/readiness",
            Self::Models => "/v1/models",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A failed poll, kept as text (the SDK error is not `Clone`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The SDK error's `Display` (status, code, message and request id, or the transport cause).
    pub message: String,
    /// True when the gateway could not be reached at all (connect failure, timeout, transport
    /// error), as opposed to an answer with an error status.
    pub unreachable: bool,
}

impl SourceError {
    /// Classify an SDK error.
    pub fn from_sdk(err: &smg_sdk::Error) -> Self {
        Self {
            message: err.to_string(),
            unreachable: matches!(
                err,
                smg_sdk::Error::Connect { .. }
                    | smg_sdk::Error::Timeout { .. }
                    | smg_sdk::Error::Http(_)
            ),
        }
    }

    /// A timeout of the dashboard's own (e.g. the `--once` deadline).
    pub fn timed_out(route: &str) -> Self {
        Self {
            message: format!("no answer from {route} in time"),
            unreachable: true,
        }
    }
}

/// A value with the wall-clock time it was produced at.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped<T> {
    /// When the poll finished (or the action completed).
    pub at: SystemTime,
    /// The value.
    pub value: T,
}

impl<T> Stamped<T> {
    /// Stamp `value` with `at`.
    pub fn new(at: SystemTime, value: T) -> Self {
        Self { at, value }
    }
}

/// The result of one poll of a source.
pub type Polled<T> = Stamped<Result<T, SourceError>>;

/// Everything the app reacts to.
#[derive(Debug, Clone)]
pub enum Event {
    /// One poll of `/workers`: the changes since the previous successful poll (the first one
    /// has every worker as `Added`; an unchanged fleet gives an empty list, which still counts
    /// as a fresh success).
    Workers(Polled<Vec<WorkerEvent>>),
    /// One poll of `/get_loads`.
    Loads(Polled<GetLoadsResponse>),
    /// One poll of `/readiness`.
    Readiness(Polled<ReadinessResponse>),
    /// One poll of `/v1/models`.
    Models(Polled<ModelList>),
    /// A mutation finished.
    ActionDone(Stamped<ActionOutcome>),
    /// A key press.
    Key(KeyEvent),
    /// The clock moved (redraw ages, expire messages).
    Tick(SystemTime),
    /// The terminal was resized.
    Resize,
}

/// What the runtime should do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Nothing visible changed.
    None,
    /// State changed: redraw.
    Redraw,
    /// Leave the dashboard.
    Quit,
    /// Poll every source now (and redraw).
    Refresh,
    /// Run a mutation in the background (and redraw).
    Run(Action),
}

/// A mutation the user confirmed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `POST /workers`.
    CreateWorker(Box<WorkerSpec>),
    /// `PATCH /workers/{id}`.
    UpdateWorker {
        /// Worker id.
        id: String,
        /// The partial update.
        update: WorkerUpdateRequest,
    },
    /// `DELETE /workers/{id}` (the worker drains, then disappears).
    DeleteWorker {
        /// Worker id.
        id: String,
    },
    /// `POST /flush_cache`.
    FlushCache,
}

impl Action {
    /// The equivalent `smgctl` command line, shown in the confirmation dialog.
    pub fn smgctl(&self) -> String {
        match self {
            Self::CreateWorker(spec) => {
                let mut cmd = format!("smgctl workers add {}", shell_quote(&spec.url));
                for model in &spec.models {
                    cmd.push_str(&format!(" --model {}", shell_quote(&model.id)));
                }
                cmd.push_str(&format!(" --type {}", spec.worker_type));
                cmd.push_str(&format!(" --priority {}", spec.priority));
                cmd
            }
            Self::UpdateWorker { id, update } => {
                let mut cmd = format!("smgctl workers update {id}");
                if let Some(p) = update.priority {
                    cmd.push_str(&format!(" --priority {p}"));
                }
                if let Some(c) = update.cost {
                    cmd.push_str(&format!(" --cost {c}"));
                }
                for (k, v) in update.labels.iter().flatten() {
                    cmd.push_str(&format!(" --label {}", shell_quote(&format!("{k}={v}"))));
                }
                cmd
            }
            Self::DeleteWorker { id } => format!("smgctl workers delete {id} --yes"),
            Self::FlushCache => "smgctl cache flush".to_string(),
        }
    }

    /// A short title for dialogs and messages.
    pub fn title(&self) -> &'static str {
        match self {
            Self::CreateWorker(_) => "Add worker",
            Self::UpdateWorker { .. } => "Edit worker",
            Self::DeleteWorker { .. } => "Delete worker",
            Self::FlushCache => "Flush all caches",
        }
    }
}

/// The outcome of an [`Action`], shown as a transient message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    /// [`Action::title`] of what ran.
    pub title: String,
    /// A summary on success; the server's error (SDK error `Display`) on failure.
    pub result: Result<String, String>,
}

/// Quote a shell word when it needs it.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',')
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Parse `k=v,k2=v2` labels.
pub(crate) fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("label '{part}' is not key=value"))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("label '{part}' has an empty key"));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse() {
        let l = parse_labels("a=1, b = two ,").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l["b"], "two");
        assert!(parse_labels("nokey").is_err());
        assert!(parse_labels("=v").is_err());
        assert!(parse_labels("").unwrap().is_empty());
    }

    #[test]
    fn smgctl_lines() {
        assert_eq!(
            Action::DeleteWorker { id: "abc".into() }.smgctl(),
            "smgctl workers delete abc --yes"
        );
        let mut update = WorkerUpdateRequest {
            priority: Some(10),
            ..Default::default()
        };
        update.labels = Some(parse_labels("zone=us east").unwrap());
        assert_eq!(
            Action::UpdateWorker {
                id: "w".into(),
                update
            }
            .smgctl(),
            "smgctl workers update w --priority 10 --label 'zone=us east'"
        );
    }
}
