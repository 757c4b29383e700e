//! What flows into [`App::update`](crate::app::App::update): data snapshots from the pollers,
//! action results, keys and timer ticks; and what comes back out ([`Effect`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use crossterm::event::KeyEvent;
use smg_sdk::{
    AddTokenizerRequest, ApiKeyCreateRequest, ApiKeyList, AuditLogResponse, FleetLoads,
    GatewayIdentity, ModelList, Principal, ReadinessResponse, TokenizerInfo, WasmModuleList,
    WorkerEvent, WorkerSpec, WorkerUpdateRequest,
};

use crate::traffic::TrafficSample;

/// One of the endpoints the dashboard polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `GET /workers` (the SDK's worker watch).
    Workers,
    /// `GET /loads` (the load monitor's cached snapshot), or `GET /get_loads` on a gateway
    /// without it.
    Loads,
    /// `GET /readiness`.
    Readiness,
    /// `GET /v1/models`.
    Models,
    /// `GET /v1/tokenizers`.
    Tokenizers,
    /// `GET /wasm`.
    Wasm,
    /// `GET /admin/whoami`.
    Whoami,
    /// The gateway's Prometheus endpoint (`--metrics-url`), a separate listener.
    Metrics,
    /// `GET /admin/api-keys` (runtime API keys; not offered by upstream SMG).
    Keys,
    /// `GET /admin/audit` (the audit log; not offered by upstream SMG).
    Audit,
}

impl Source {
    /// Every source, in display order.
    pub const ALL: [Source; 10] = [
        Self::Workers,
        Self::Loads,
        Self::Readiness,
        Self::Models,
        Self::Tokenizers,
        Self::Wasm,
        Self::Whoami,
        Self::Metrics,
        Self::Keys,
        Self::Audit,
    ];

    /// The sources whose failure means the gateway is in trouble: they raise the red banner
    /// (and decide the exit code of `--once`). The others show their errors in their own view.
    pub const CORE: [Source; 4] = [Self::Workers, Self::Loads, Self::Readiness, Self::Models];

    /// The route polled.
    pub fn route(self) -> &'static str {
        match self {
            Self::Workers => "/workers",
            Self::Loads => LOADS_SNAPSHOT_ROUTE,
            Self::Readiness => "/readiness",
            Self::Models => "/v1/models",
            Self::Tokenizers => "/v1/tokenizers",
            Self::Wasm => "/wasm",
            Self::Whoami => "/admin/whoami",
            Self::Metrics => "/metrics",
            Self::Keys => "/admin/api-keys",
            Self::Audit => "/admin/audit",
        }
    }

    /// True for the [`CORE`](Self::CORE) sources.
    pub fn is_core(self) -> bool {
        Self::CORE.contains(&self)
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The cheap loads route, polled when the gateway offers it.
pub const LOADS_SNAPSHOT_ROUTE: &str = "/loads";
/// The fan-out loads route every gateway offers.
pub const LOADS_FANOUT_ROUTE: &str = "/get_loads";

/// One poll of the engine loads.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadsPoll {
    /// The loads, whichever route and shape they came in.
    pub loads: FleetLoads,
    /// The route that answered ([`LOADS_SNAPSHOT_ROUTE`] or [`LOADS_FANOUT_ROUTE`]).
    pub route: &'static str,
    /// What the gateway is, when the client knows (learned from the answers themselves).
    pub gateway: Option<GatewayIdentity>,
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
    /// One poll of `/loads` (or `/get_loads`).
    Loads(Polled<LoadsPoll>),
    /// One poll of `/readiness`.
    Readiness(Polled<ReadinessResponse>),
    /// One poll of `/v1/models`.
    Models(Polled<ModelList>),
    /// One poll of `/v1/tokenizers` (failed loads carry their reason in `message`).
    Tokenizers(Polled<Vec<TokenizerInfo>>),
    /// One poll of `/wasm`.
    Wasm(Polled<WasmState>),
    /// One poll of `/admin/whoami`.
    Whoami(Polled<Whoami>),
    /// One scrape of the gateway's Prometheus endpoint.
    Metrics(Polled<TrafficSample>),
    /// One poll of `/admin/api-keys`.
    Keys(Polled<Offered<ApiKeyList>>),
    /// One poll of `/admin/audit` (newest first).
    Audit(Polled<Offered<AuditLogResponse>>),
    /// A mutation finished.
    ActionDone(Stamped<ActionOutcome>),
    /// A key press.
    Key(KeyEvent),
    /// The clock moved (redraw ages, expire messages).
    Tick(SystemTime),
    /// The terminal was resized.
    Resize,
}

/// What `GET /wasm` said.
#[derive(Debug, Clone, PartialEq)]
pub enum WasmState {
    /// The modules and the gateway-wide execution counters.
    Enabled(WasmModuleList),
    /// The gateway runs without `--enable-wasm` (upstream answers an empty 500, this
    /// project's gateway 503).
    Disabled,
}

/// The answer of a route some gateways do not have.
#[derive(Debug, Clone, PartialEq)]
pub enum Offered<T> {
    /// The gateway answered.
    Yes(T),
    /// The gateway does not offer the route (the SDK's `Error::Unsupported`); holds its text,
    /// e.g. ``upstream SMG 1.13.0 does not offer `/admin/audit` ``.
    NotOffered(String),
}

/// What `GET /admin/whoami` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whoami {
    /// The caller, with its role.
    Principal(Principal),
    /// The gateway has no such endpoint (e.g. upstream SMG); the role is unknown, so actions
    /// stay enabled. Holds who says so: `upstream SMG 1.13.0`, or `this gateway`.
    NotOffered(String),
    /// `401`/`403`: the token was refused.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The SDK error text.
        message: String,
    },
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
    /// `PATCH /workers/{id}` with `{"disabled": true}`: no new traffic, still listed and probed.
    CordonWorker {
        /// Worker id.
        id: String,
    },
    /// `PATCH /workers/{id}` with `{"disabled": false}`.
    UncordonWorker {
        /// Worker id.
        id: String,
    },
    /// `POST /workers/{id}/retire`: cordon, drain, flush, remove, as one job.
    RetireWorker {
        /// Worker id.
        id: String,
    },
    /// `POST /workers/{id}/flush_cache`.
    FlushWorker {
        /// Worker id.
        id: String,
    },
    /// `POST /flush_cache`.
    FlushCache,
    /// `POST /v1/tokenizers` (loads in the background).
    AddTokenizer(AddTokenizerRequest),
    /// `DELETE /v1/tokenizers/{name}`.
    DeleteTokenizer {
        /// Tokenizer name (or id).
        name: String,
    },
    /// `POST /admin/api-keys` (the answer holds the secret, shown once).
    CreateKey(ApiKeyCreateRequest),
    /// `POST /admin/api-keys/{id}/rotate` (the old secret stops working at once).
    RotateKey {
        /// Key id.
        id: String,
    },
    /// `POST /admin/api-keys/{id}/disable`.
    DisableKey {
        /// Key id.
        id: String,
    },
    /// `POST /admin/api-keys/{id}/enable`.
    EnableKey {
        /// Key id.
        id: String,
    },
    /// `DELETE /admin/api-keys/{id}`.
    DeleteKey {
        /// Key id.
        id: String,
    },
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
            Self::CordonWorker { id } => format!("smgctl workers cordon {id}"),
            Self::UncordonWorker { id } => format!("smgctl workers uncordon {id}"),
            Self::RetireWorker { id } => format!("smgctl workers retire {id} --yes"),
            Self::FlushWorker { id } => format!("smgctl workers flush {id}"),
            Self::FlushCache => "smgctl cache flush".to_string(),
            Self::AddTokenizer(req) => {
                let mut cmd = format!(
                    "smgctl tokenizers add {} {}",
                    shell_quote(&req.name),
                    shell_quote(&req.source)
                );
                if let Some(path) = &req.chat_template_path {
                    cmd.push_str(&format!(" --chat-template {}", shell_quote(path)));
                }
                cmd
            }
            Self::DeleteTokenizer { name } => {
                format!("smgctl tokenizers delete {} --yes", shell_quote(name))
            }
            Self::CreateKey(req) => {
                let mut cmd = format!("smgctl keys create --id {}", shell_quote(&req.id));
                if let Some(name) = &req.name {
                    cmd.push_str(&format!(" --name {}", shell_quote(name)));
                }
                if let Some(role) = req.role {
                    cmd.push_str(&format!(" --role {role}"));
                }
                if let Some(at) = req.expires_at {
                    cmd.push_str(&format!(
                        " --expires-at {}",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ));
                }
                cmd
            }
            Self::RotateKey { id } => format!("smgctl keys rotate {} --yes", shell_quote(id)),
            Self::DisableKey { id } => format!("smgctl keys disable {}", shell_quote(id)),
            Self::EnableKey { id } => format!("smgctl keys enable {}", shell_quote(id)),
            Self::DeleteKey { id } => format!("smgctl keys delete {} --yes", shell_quote(id)),
        }
    }

    /// The confirmation dialog's question.
    pub fn question(&self) -> String {
        match self {
            Self::CreateWorker(spec) => format!("Register the worker at {}?", spec.url),
            Self::UpdateWorker { id, .. } => format!("Update worker {id}?"),
            Self::DeleteWorker { id } => {
                format!("Delete worker {id}? It drains its in-flight requests, then disappears.")
            }
            Self::CordonWorker { id } => format!("Cordon worker {id}?"),
            Self::UncordonWorker { id } => format!("Uncordon worker {id}?"),
            Self::RetireWorker { id } => format!("Retire worker {id}?"),
            Self::FlushWorker { id } => format!("Flush the KV cache of worker {id}?"),
            Self::FlushCache => "Flush the KV cache of every worker?".to_string(),
            Self::AddTokenizer(req) => format!(
                "Register the tokenizer {} from {}? It loads in the background.",
                req.name, req.source
            ),
            Self::DeleteTokenizer { name } => {
                format!("Delete the tokenizer {name}? /v1/tokenize stops serving it at once.")
            }
            Self::CreateKey(req) => format!(
                "Create the {} key {}? Its secret is shown once.",
                req.role.unwrap_or_default(),
                req.id
            ),
            Self::RotateKey { id } => format!("Rotate the secret of key {id}?"),
            Self::DisableKey { id } => format!("Disable key {id}?"),
            Self::EnableKey { id } => format!("Enable key {id}?"),
            Self::DeleteKey { id } => format!("Delete key {id}?"),
        }
    }

    /// True for actions that lose something (traffic, cache, a credential): their dialog is red.
    pub fn destructive(&self) -> bool {
        matches!(
            self,
            Self::DeleteWorker { .. }
                | Self::RetireWorker { .. }
                | Self::FlushWorker { .. }
                | Self::FlushCache
                | Self::DeleteTokenizer { .. }
                | Self::RotateKey { .. }
                | Self::DisableKey { .. }
                | Self::DeleteKey { .. }
        )
    }

    /// A short title for dialogs and messages.
    pub fn title(&self) -> &'static str {
        match self {
            Self::CreateWorker(_) => "Add worker",
            Self::UpdateWorker { .. } => "Edit worker",
            Self::DeleteWorker { .. } => "Delete worker",
            Self::CordonWorker { .. } => "Cordon worker",
            Self::UncordonWorker { .. } => "Uncordon worker",
            Self::RetireWorker { .. } => "Retire worker",
            Self::FlushWorker { .. } => "Flush worker cache",
            Self::FlushCache => "Flush all caches",
            Self::AddTokenizer(_) => "Add tokenizer",
            Self::DeleteTokenizer { .. } => "Delete tokenizer",
            Self::CreateKey(_) => "Create API key",
            Self::RotateKey { .. } => "Rotate API key",
            Self::DisableKey { .. } => "Disable API key",
            Self::EnableKey { .. } => "Enable API key",
            Self::DeleteKey { .. } => "Delete API key",
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
    /// A secret the gateway shows only once (a created or rotated API key), to display until
    /// dismissed.
    pub secret: Option<smg_sdk::SecretString>,
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
        let add = AddTokenizerRequest::new("llama3", "/models/llama 3")
            .with_chat_template("/t/chat.jinja");
        assert_eq!(
            Action::AddTokenizer(add).smgctl(),
            "smgctl tokenizers add llama3 '/models/llama 3' --chat-template /t/chat.jinja"
        );
        assert_eq!(
            Action::DeleteTokenizer {
                name: "llama3".into()
            }
            .smgctl(),
            "smgctl tokenizers delete llama3 --yes"
        );
    }
}
