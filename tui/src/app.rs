//! The dashboard's state and its pure update function.
//!
//! [`App::update`] takes an [`Event`] (a data snapshot, an action result, a key, a tick) and
//! returns an [`Effect`] for the runtime; it does no I/O, so every behaviour here is unit-tested
//! without a terminal or a gateway.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use smg_sdk::{
    AddTokenizerRequest, ApiKeyCreateRequest, ApiKeyInfo, ApiKeyList, AuditEvent, AuditLogResponse,
    GatewayIdentity, JobState, LoadAggregate, ModelCard, ModelList, ReadinessResponse, Role,
    SecretString, TokenizerInfo, WasmModule, WorkerEvent, WorkerInfo, WorkerLoads, WorkerSpec,
    WorkerStatus, WorkerType, WorkerUpdateRequest,
};

use crate::event::{
    Action, ActionOutcome, Effect, Event, LoadsPoll, Offered, Polled, Source, SourceError, Stamped,
    WasmState, Whoami,
};
use crate::keymap::{self, Binding, Cmd, Ctx};
use crate::series::{DEFAULT_CAPACITY, Series};
use crate::traffic::{self, Rate, TrafficSample};

/// How long a success message stays.
pub const MESSAGE_TTL: Duration = Duration::from_secs(5);
/// How long an error message stays.
pub const ERROR_TTL: Duration = Duration::from_secs(10);

/// The top-level views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Fleet cards and sparklines.
    Overview,
    /// The worker table.
    Workers,
    /// One worker ([`App::detail_id`]).
    Detail,
    /// Models and how many workers serve them.
    Models,
    /// Registered tokenizers and their load status.
    Tokenizers,
    /// WASM middleware modules and their executions.
    Modules,
    /// Runtime API keys (`/admin/api-keys`).
    Keys,
    /// The audit log (`/admin/audit`), newest first.
    Audit,
}

impl View {
    /// Every view, in tab order.
    pub const ALL: [View; 8] = [
        Self::Overview,
        Self::Workers,
        Self::Detail,
        Self::Models,
        Self::Tokenizers,
        Self::Modules,
        Self::Keys,
        Self::Audit,
    ];

    /// Sources polled only while this view is shown (the Keys view shows when the audit
    /// tail last saw each key).
    pub fn on_demand_sources(self) -> &'static [Source] {
        match self {
            Self::Keys => &[Source::Keys, Source::Audit],
            Self::Audit => &[Source::Audit],
            _ => &[],
        }
    }

    /// Views with a table the `/` filter applies to.
    pub fn filterable(self) -> bool {
        matches!(
            self,
            Self::Workers
                | Self::Models
                | Self::Tokenizers
                | Self::Modules
                | Self::Keys
                | Self::Audit
        )
    }
}

/// Columns of the worker table (also the sort keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// Worker id.
    Id,
    /// Worker URL.
    Url,
    /// Primary model.
    Model,
    /// Worker type.
    Type,
    /// Runtime.
    Runtime,
    /// Health status.
    Status,
    /// Circuit breaker state (`closed`, `open`, `half_open`).
    Breaker,
    /// Running requests (engine).
    Running,
    /// Waiting requests (engine).
    Waiting,
    /// KV-cache token usage.
    TokenUsage,
    /// Prefix-cache hit rate.
    HitRate,
    /// Generated tokens per second.
    GenTps,
    /// Requests per second through the gateway (its Prometheus counters).
    ReqRate,
    /// Share of failed requests through the gateway (5xx, `error`, `stream_error`).
    ErrRate,
    /// Gateway-side in-flight requests (`WorkerInfo.load`).
    Load,
    /// Routing priority.
    Priority,
}

impl Column {
    /// Every column, in table order (`s` cycles in this order).
    pub const ALL: [Column; 16] = [
        Self::Id,
        Self::Url,
        Self::Model,
        Self::Type,
        Self::Runtime,
        Self::Status,
        Self::Breaker,
        Self::Running,
        Self::Waiting,
        Self::TokenUsage,
        Self::HitRate,
        Self::GenTps,
        Self::ReqRate,
        Self::ErrRate,
        Self::Load,
        Self::Priority,
    ];

    /// Header text.
    pub fn header(self) -> &'static str {
        match self {
            Self::Id => "ID",
            Self::Url => "URL",
            Self::Model => "MODEL",
            Self::Type => "TYPE",
            Self::Runtime => "RUNTIME",
            Self::Status => "STATUS",
            Self::Breaker => "BREAKER",
            Self::Running => "RUN",
            Self::Waiting => "WAIT",
            Self::TokenUsage => "TOKEN USAGE",
            Self::HitRate => "HIT%",
            Self::GenTps => "GEN TOK/S",
            Self::ReqRate => "REQ/S",
            Self::ErrRate => "ERR%",
            Self::Load => "LOAD",
            Self::Priority => "PRIO",
        }
    }

    /// The Shift+letter that sorts by this column (pressing it again flips the direction).
    pub fn hotkey(self) -> char {
        match self {
            Self::Id => 'I',
            Self::Url => 'U',
            Self::Model => 'M',
            Self::Type => 'T',
            Self::Runtime => 'R',
            Self::Status => 'A',
            Self::Breaker => 'B',
            Self::Running => 'N',
            Self::Waiting => 'W',
            Self::TokenUsage => 'K',
            Self::HitRate => 'H',
            Self::GenTps => 'O',
            Self::ReqRate => 'Q',
            Self::ErrRate => 'E',
            Self::Load => 'L',
            Self::Priority => 'P',
        }
    }

    /// Numeric columns sort descending first (biggest on top).
    fn numeric(self) -> bool {
        matches!(
            self,
            Self::Running
                | Self::Waiting
                | Self::TokenUsage
                | Self::HitRate
                | Self::GenTps
                | Self::ReqRate
                | Self::ErrRate
                | Self::Load
                | Self::Priority
        )
    }

    fn from_hotkey(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|col| col.hotkey() == c)
    }

    fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        let alias = match name.as_str() {
            "req" | "rps" => Some(Self::ReqRate),
            "err" | "errors" => Some(Self::ErrRate),
            "cb" | "circuit" => Some(Self::Breaker),
            _ => None,
        };
        alias.or_else(|| {
            Self::ALL.into_iter().find(|col| {
                col.header().to_ascii_lowercase() == name
                    || format!("{col:?}").to_lowercase() == name
            })
        })
    }
}

/// The worker table's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// Column sorted by.
    pub column: Column,
    /// Descending instead of ascending.
    pub descending: bool,
}

/// Freshness of one source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    /// When the last successful poll finished.
    pub last_success: Option<SystemTime>,
    /// The last failed poll.
    pub last_error: Option<Stamped<SourceError>>,
}

impl SourceState {
    /// The current error: the last error if no success came after it.
    pub fn failing(&self) -> Option<&SourceError> {
        let err = self.last_error.as_ref()?;
        match self.last_success {
            Some(ok) if ok >= err.at => None,
            _ => Some(&err.value),
        }
    }

    /// Since when the source has been failing.
    pub fn failing_since(&self) -> Option<SystemTime> {
        self.failing()?;
        self.last_error.as_ref().map(|e| e.at)
    }
}

/// Per-worker engine metrics derived from the loads (absent when the worker did not report:
/// shown as `-`, never as zero).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerMetrics {
    /// KV tokens in use over all ranks (`load` of the loads).
    pub kv_load: Option<i64>,
    /// KV capacity in tokens over all ranks.
    pub kv_capacity: Option<i64>,
    /// Running requests over all ranks.
    pub running: Option<i64>,
    /// Waiting requests over all ranks.
    pub waiting: Option<i64>,
    /// Used / capacity tokens (or the mean reported ratio).
    pub token_usage: Option<f64>,
    /// Mean prefix-cache hit rate over ranks.
    pub hit_rate: Option<f64>,
    /// Generated tokens per second over all ranks.
    pub gen_tps: Option<f64>,
}

impl WorkerMetrics {
    /// Derive from one worker's loads.
    pub fn from_load(load: &WorkerLoads) -> Self {
        let kv_load = (load.load >= 0).then_some(load.load);
        if !load.reported() {
            return Self {
                kv_load,
                ..Self::default()
            };
        }
        let ranks = &load.ranks;
        let n = ranks.len() as f64;
        let sum_i = |f: fn(&smg_sdk::SchedulerLoadSnapshot) -> i32| -> i64 {
            ranks.iter().map(|r| i64::from(f(r))).sum()
        };
        let used = sum_i(|r| r.num_used_tokens);
        let cap = sum_i(|r| r.max_total_num_tokens);
        let token_usage = if cap > 0 {
            used as f64 / cap as f64
        } else {
            ranks.iter().map(|r| r.token_usage).sum::<f64>() / n
        };
        Self {
            kv_load,
            kv_capacity: (cap > 0).then_some(cap),
            running: Some(sum_i(|r| r.num_running_reqs)),
            waiting: Some(sum_i(|r| r.num_waiting_reqs)),
            token_usage: Some(token_usage),
            hit_rate: Some(ranks.iter().map(|r| r.cache_hit_rate).sum::<f64>() / n),
            gen_tps: Some(ranks.iter().map(|r| r.gen_throughput).sum()),
        }
    }
}

/// Fleet-wide history, one sample per loads (or `/readiness`) snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetSeries {
    /// Workers with status `ready`.
    pub ready: Series,
    /// `healthy_workers` of `/readiness`.
    pub healthy: Series,
    /// Running requests.
    pub running: Series,
    /// Waiting requests.
    pub waiting: Series,
    /// Generated tokens per second.
    pub gen_tps: Series,
    /// Mean cache hit rate over reporting workers.
    pub hit_rate: Series,
    /// Mean token usage over reporting workers.
    pub token_usage: Series,
    /// Requests per second through the gateway (one sample per metrics scrape).
    pub req_rate: Series,
    /// Share of failed requests through the gateway (a gap when there were none).
    pub err_rate: Series,
}

impl FleetSeries {
    fn with_capacity(cap: usize) -> Self {
        Self {
            ready: Series::new(cap),
            healthy: Series::new(cap),
            running: Series::new(cap),
            waiting: Series::new(cap),
            gen_tps: Series::new(cap),
            hit_rate: Series::new(cap),
            token_usage: Series::new(cap),
            req_rate: Series::new(cap),
            err_rate: Series::new(cap),
        }
    }
}

/// One worker's history.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSeries {
    /// KV tokens in use.
    pub load: Series,
    /// Cache hit rate.
    pub hit_rate: Series,
}

/// Traffic through the gateway, from its Prometheus counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// The last successful scrape (the base of the next rate).
    pub last: Option<Stamped<TrafficSample>>,
    /// Rates by worker URL between the last two successful scrapes (a worker without an
    /// entry had no requests).
    pub workers: HashMap<String, Rate>,
    /// The fleet's rate over the same window; `None` until two scrapes succeeded.
    pub fleet: Option<Rate>,
}

impl Traffic {
    /// The rate of the worker at `url`: zero when it had no requests in the window, `None`
    /// before the first rate.
    pub fn for_worker(&self, url: &str) -> Option<Rate> {
        self.fleet?;
        Some(self.workers.get(url).copied().unwrap_or(Rate {
            req_per_sec: 0.0,
            err_rate: None,
        }))
    }
}

/// Who the dashboard acts as, from `/admin/whoami`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Identity {
    /// Not known yet (or `/admin/whoami` could not be reached).
    #[default]
    Unknown,
    /// `/admin/whoami` named the principal: see [`App::principal`].
    Known,
    /// The gateway has no such endpoint (e.g. upstream SMG; holds who says so, `upstream SMG
    /// 1.13.0`). The role is unknown, so actions stay enabled.
    NotOffered(String),
    /// The token was refused (401/403): actions are disabled.
    Refused {
        /// HTTP status.
        status: u16,
        /// The error text.
        message: String,
    },
}

/// Add-worker or edit-worker form.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    /// Which form.
    pub kind: FormKind,
    /// Its fields, in order.
    pub fields: Vec<Field>,
    /// The focused field.
    pub focus: usize,
    /// Validation error of the last submit.
    pub error: Option<String>,
}

/// What a form does.
#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    /// `POST /workers`.
    AddWorker,
    /// `POST /v1/tokenizers`.
    AddTokenizer,
    /// `POST /admin/api-keys`.
    AddKey,
    /// `PATCH /workers/{id}`; the current values, to send only what changed.
    EditWorker {
        /// Worker id.
        id: String,
        /// Current priority.
        priority: u32,
        /// Current cost.
        cost: f32,
    },
}

/// One text field of a [`Form`].
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Label.
    pub label: &'static str,
    /// Current text.
    pub value: String,
    /// Help shown next to it.
    pub hint: &'static str,
}

impl Field {
    fn new(label: &'static str, value: impl Into<String>, hint: &'static str) -> Self {
        Self {
            label,
            value: value.into(),
            hint,
        }
    }
}

impl Form {
    /// The add-worker form.
    pub fn add_worker() -> Self {
        Self {
            kind: FormKind::AddWorker,
            fields: vec![
                Field::new("URL", "", "http://host:port, grpc://host:port"),
                Field::new("Model", "", "model id; empty = discover / wildcard"),
                Field::new("Type", "regular", "regular | prefill | decode | encode"),
                Field::new("Priority", "50", "0-4294967295, higher preferred"),
            ],
            focus: 0,
            error: None,
        }
    }

    /// The add-tokenizer form.
    pub fn add_tokenizer() -> Self {
        Self {
            kind: FormKind::AddTokenizer,
            fields: vec![
                Field::new("Name", "", "unique; smgctl tokenize --model NAME"),
                Field::new(
                    "Source",
                    "",
                    "dir or tokenizer.json on the gateway, or HF id",
                ),
                Field::new("Template", "", "optional chat template file on the gateway"),
            ],
            focus: 0,
            error: None,
        }
    }

    /// The create-key form.
    pub fn add_key() -> Self {
        Self {
            kind: FormKind::AddKey,
            fields: vec![
                Field::new("ID", "", "1-128 of A-Z a-z 0-9 . _ -"),
                Field::new("Name", "", "optional label; default: the id"),
                Field::new("Role", "user", "user (serving) | admin (control plane)"),
                Field::new("Expires", "", "optional, RFC 3339: 2027-01-01T00:00:00Z"),
            ],
            focus: 0,
            error: None,
        }
    }

    /// The edit form for `worker`.
    pub fn edit_worker(worker: &WorkerInfo) -> Self {
        Self {
            kind: FormKind::EditWorker {
                id: worker.id.clone(),
                priority: worker.spec.priority,
                cost: worker.spec.cost,
            },
            fields: vec![
                Field::new(
                    "Priority",
                    worker.spec.priority.to_string(),
                    "higher preferred",
                ),
                Field::new("Cost", worker.spec.cost.to_string(), "lower preferred"),
                Field::new("Labels", "", "k=v,k2=v2 (merged into existing labels)"),
            ],
            focus: 0,
            error: None,
        }
    }

    /// Dialog title.
    pub fn title(&self) -> String {
        match &self.kind {
            FormKind::AddWorker => "Add worker".to_string(),
            FormKind::AddTokenizer => "Add tokenizer".to_string(),
            FormKind::AddKey => "Create API key".to_string(),
            FormKind::EditWorker { id, .. } => {
                format!("Edit worker {}", crate::format::short_id(id))
            }
        }
    }

    fn value(&self, i: usize) -> &str {
        self.fields.get(i).map_or("", |f| f.value.trim())
    }

    /// Validate and turn into an action.
    pub fn submit(&self) -> Result<Action, String> {
        match &self.kind {
            FormKind::AddWorker => {
                let url = self.value(0);
                if url.is_empty() {
                    return Err("URL is required".into());
                }
                if !url.contains("://") {
                    return Err(format!("URL '{url}' needs a scheme, e.g. http://{url}"));
                }
                let mut spec = WorkerSpec::new(url);
                let model = self.value(1);
                if !model.is_empty() {
                    spec.models = vec![ModelCard::new(model)];
                }
                spec.worker_type = match self.value(2).to_ascii_lowercase().as_str() {
                    "" | "regular" => WorkerType::Regular,
                    "prefill" => WorkerType::Prefill,
                    "decode" => WorkerType::Decode,
                    "encode" => WorkerType::Encode,
                    other => {
                        return Err(format!(
                            "type '{other}' is not one of regular, prefill, decode, encode"
                        ));
                    }
                };
                let prio = self.value(3);
                if !prio.is_empty() {
                    spec.priority = prio
                        .parse()
                        .map_err(|_| format!("priority '{prio}' is not a whole number"))?;
                }
                Ok(Action::CreateWorker(Box::new(spec)))
            }
            FormKind::AddTokenizer => {
                let name = self.value(0);
                if name.is_empty() {
                    return Err("name is required".into());
                }
                if name.chars().any(char::is_whitespace) {
                    return Err(format!("name '{name}' must not contain spaces"));
                }
                let source = self.value(1);
                if source.is_empty() {
                    return Err(
                        "source is required (a path on the gateway host or a HF model id)".into(),
                    );
                }
                let mut req = AddTokenizerRequest::new(name, source);
                let template = self.value(2);
                if !template.is_empty() {
                    req = req.with_chat_template(template);
                }
                Ok(Action::AddTokenizer(req))
            }
            FormKind::AddKey => {
                let id = self.value(0);
                if id.is_empty() {
                    return Err("id is required".into());
                }
                if id.len() > 128
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                {
                    return Err(format!(
                        "id '{id}' must be 1-128 characters of A-Z a-z 0-9 . _ -"
                    ));
                }
                let role = self.value(2);
                let role = if role.is_empty() {
                    Role::User
                } else {
                    Role::parse(role)
                        .ok_or_else(|| format!("role '{role}' is not one of user, admin"))?
                };
                let mut req = ApiKeyCreateRequest::new(id).role(role);
                let name = self.value(1);
                if !name.is_empty() {
                    req = req.name(name);
                }
                let expires = self.value(3);
                if !expires.is_empty() {
                    let at = chrono::DateTime::parse_from_rfc3339(expires).map_err(|_| {
                        format!("expiry '{expires}' is not RFC 3339 (2027-01-01T00:00:00Z)")
                    })?;
                    req.expires_at = Some(at.with_timezone(&chrono::Utc));
                }
                Ok(Action::CreateKey(req))
            }
            FormKind::EditWorker { id, priority, cost } => {
                let mut update = WorkerUpdateRequest::default();
                let p = self.value(0);
                if !p.is_empty() {
                    let p: u32 = p
                        .parse()
                        .map_err(|_| format!("priority '{p}' is not a whole number"))?;
                    if p != *priority {
                        update.priority = Some(p);
                    }
                }
                let c = self.value(1);
                if !c.is_empty() {
                    let c: f32 = c
                        .parse()
                        .ok()
                        .filter(|c: &f32| c.is_finite() && *c >= 0.0)
                        .ok_or_else(|| format!("cost '{c}' is not a non-negative number"))?;
                    if c != *cost {
                        update.cost = Some(c);
                    }
                }
                let labels = crate::event::parse_labels(self.value(2))?;
                if !labels.is_empty() {
                    update.labels = Some(labels);
                }
                if update == WorkerUpdateRequest::default() {
                    return Err("nothing changed".into());
                }
                Ok(Action::UpdateWorker {
                    id: id.clone(),
                    update,
                })
            }
        }
    }
}

/// A pending confirmation.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// What runs on `y`.
    pub action: Action,
    /// Extra lines describing the target.
    pub details: Vec<String>,
    /// The form to go back to on `n`/`Esc`.
    pub back: Option<Box<Form>>,
}

/// What the keyboard is talking to.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Mode {
    /// Navigation keys.
    #[default]
    Normal,
    /// Typing a filter (the text is [`App::filter`]).
    Filter,
    /// Typing a `:` command.
    Command(String),
    /// The help overlay.
    Help,
    /// A confirmation dialog.
    Confirm(Box<Confirm>),
    /// A form.
    Form(Box<Form>),
}

impl Mode {
    /// True while the user is typing text (so `q` is a letter, not quit).
    pub fn is_typing(&self) -> bool {
        matches!(self, Self::Filter | Self::Command(_) | Self::Form(_))
    }
}

/// A transient message in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// The text.
    pub text: String,
    /// Shown in red.
    pub error: bool,
    /// When it disappears.
    pub expires: SystemTime,
}

/// One row of the Models view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    /// Model id.
    pub id: String,
    /// Ready workers serving it (by id or alias).
    pub ready: usize,
    /// All workers serving it.
    pub total: usize,
    /// `owned_by` from `/v1/models`, if listed there.
    pub owned_by: Option<String>,
}

/// One row of the Modules view.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRow<'a> {
    /// The module.
    pub module: &'a WasmModule,
    /// Executions per second since the previous poll (from its own counters), once known.
    pub exec_rate: Option<f64>,
}

/// Everything the dashboard knows about the gateway, from its sources (no UI state).
#[derive(Debug, Clone)]
pub struct FleetData {
    /// Workers by id.
    pub workers: HashMap<String, WorkerInfo>,
    /// Each worker's loads by worker URL.
    pub loads: HashMap<String, WorkerLoads>,
    /// The route the last loads came from (`/loads`, or `/get_loads` on a gateway without it).
    pub loads_route: &'static str,
    /// The fleet aggregate of the last loads (the gateway's own on the snapshot shape).
    pub aggregate: Option<LoadAggregate>,
    /// What the gateway is (this project's or upstream SMG), once known.
    pub gateway: Option<GatewayIdentity>,
    /// Derived metrics by worker URL.
    pub metrics: HashMap<String, WorkerMetrics>,
    /// Last `/readiness` answer.
    pub readiness: Option<ReadinessResponse>,
    /// Last `/v1/models` answer.
    pub models: Option<ModelList>,
    /// Last `/v1/tokenizers` answer (`None` before the first).
    pub tokenizers: Option<Vec<TokenizerInfo>>,
    /// Last `/wasm` answer (`None` before the first).
    pub wasm: Option<WasmState>,
    /// The `/wasm` answer before the last one, and when it came (for executions per second).
    pub wasm_prev: Option<Stamped<WasmState>>,
    /// When the last `/wasm` answer came.
    pub wasm_at: Option<SystemTime>,
    /// Traffic through the gateway (its Prometheus counters).
    pub traffic: Traffic,
    /// Last `/admin/api-keys` answer (`None` before the first).
    pub keys: Option<Offered<ApiKeyList>>,
    /// Last `/admin/audit` answer, newest first (`None` before the first).
    pub audit: Option<Offered<AuditLogResponse>>,
    /// Freshness of each source, indexed by [`Source`].
    pub sources: [SourceState; Source::ALL.len()],
    /// Fleet history.
    pub fleet: FleetSeries,
    /// Per-worker history by worker URL.
    pub worker_series: HashMap<String, WorkerSeries>,
    /// Samples kept per series.
    pub history: usize,
}

/// One table cursor per view (the detail view shares the worker table's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursors([usize; View::ALL.len()]);

impl Cursors {
    fn slot(view: View) -> usize {
        match view {
            View::Detail => View::Workers as usize,
            v => v as usize,
        }
    }

    /// The selected row of `view`'s table.
    pub fn get(&self, view: View) -> usize {
        self.0[Self::slot(view)]
    }

    /// Select `row` in `view`'s table.
    pub fn set(&mut self, view: View, row: usize) {
        self.0[Self::slot(view)] = row;
    }

    /// Back to the first row of every table.
    pub fn reset(&mut self) {
        self.0 = Default::default();
    }
}

/// The whole dashboard state.
#[derive(Debug, Clone)]
pub struct App {
    /// Gateway URL (header and banner).
    pub url: String,
    /// The clock: every age on screen is `now - at`. Set by the runtime before drawing; fixed
    /// in tests.
    pub now: SystemTime,
    /// What the gateway said: one field per data source, and the history derived from it.
    pub data: FleetData,
    /// The gateway's Prometheus URL (shown when it is unavailable).
    pub metrics_url: Option<String>,
    /// Current view.
    pub view: View,
    /// Worker shown by the detail view.
    pub detail_id: Option<String>,
    /// Worker ids of the table, filtered and sorted (recomputed on every change).
    pub order: Vec<String>,
    /// The selected row of each table view.
    pub cursors: Cursors,
    /// Sort order of the worker table.
    pub sort: Sort,
    /// Filter text (workers: id/url/model/status substring; models: id substring).
    pub filter: String,
    /// Keyboard mode (input line or modal).
    pub mode: Mode,
    /// Transient message.
    pub flash: Option<Flash>,
    /// `(principal, role)` from `/admin/whoami`, once known. A known non-admin role disables
    /// the actions.
    pub principal: Option<(String, String)>,
    /// What `/admin/whoami` said when it did not name a principal.
    pub identity: Identity,
    /// The secret of the key just created or rotated, with what happened: the gateway shows
    /// it only once, so it stays on screen until Esc.
    pub revealed: Option<(String, SecretString)>,
    /// First visible row of the worker table (kept by the renderer, like `TableState`).
    pub scroll: Cell<usize>,
    /// Visible rows of the worker table at the last draw (for PgUp/PgDn).
    pub page: Cell<usize>,
}

impl App {
    /// An empty dashboard for the gateway at `url`.
    pub fn new(url: impl Into<String>, now: SystemTime) -> Self {
        Self::with_history(url, now, DEFAULT_CAPACITY)
    }

    /// Same as [`new`](Self::new), keeping `history` samples per series.
    pub fn with_history(url: impl Into<String>, now: SystemTime, history: usize) -> Self {
        Self {
            url: url.into(),
            now,
            data: FleetData {
                workers: HashMap::new(),
                loads: HashMap::new(),
                loads_route: Source::Loads.route(),
                aggregate: None,
                gateway: None,
                metrics: HashMap::new(),
                readiness: None,
                models: None,
                tokenizers: None,
                wasm: None,
                wasm_prev: None,
                wasm_at: None,
                traffic: Traffic::default(),
                keys: None,
                audit: None,
                sources: Default::default(),
                fleet: FleetSeries::with_capacity(history),
                worker_series: HashMap::new(),
                history,
            },
            metrics_url: None,
            view: View::Overview,
            detail_id: None,
            order: Vec::new(),
            cursors: Cursors::default(),
            sort: Sort {
                column: Column::Url,
                descending: false,
            },
            filter: String::new(),
            mode: Mode::Normal,
            flash: None,
            principal: None,
            identity: Identity::Unknown,
            revealed: None,
            scroll: Cell::new(0),
            page: Cell::new(20),
        }
    }

    /// The route `source` polls (the loads route depends on what the gateway offers).
    pub fn route(&self, source: Source) -> &'static str {
        match source {
            Source::Loads => self.data.loads_route,
            s => s.route(),
        }
    }

    /// Freshness of `source`.
    pub fn source(&self, source: Source) -> &SourceState {
        &self.data.sources[source.index()]
    }

    fn source_mut(&mut self, source: Source) -> &mut SourceState {
        &mut self.data.sources[source.index()]
    }

    /// Record a poll's outcome on its source; the polled value when it succeeded.
    fn polled<T>(&mut self, source: Source, p: Polled<T>) -> Option<T> {
        let state = self.source_mut(source);
        match p.value {
            Ok(value) => {
                state.last_success = Some(p.at);
                Some(value)
            }
            Err(e) => {
                state.last_error = Some(Stamped::new(p.at, e));
                None
            }
        }
    }

    /// The selected worker of the table.
    pub fn selected_worker(&self) -> Option<&WorkerInfo> {
        self.order
            .get(self.cursors.get(View::Workers))
            .and_then(|id| self.data.workers.get(id))
    }

    /// The worker of the detail view.
    pub fn detail_worker(&self) -> Option<&WorkerInfo> {
        self.detail_id
            .as_ref()
            .and_then(|id| self.data.workers.get(id))
    }

    /// Metrics of `worker`, by URL.
    pub fn metrics_for(&self, worker: &WorkerInfo) -> Option<&WorkerMetrics> {
        self.data.metrics.get(&worker.spec.url)
    }

    /// True unless the role is known and is not `admin`, or the token was refused.
    pub fn actions_allowed(&self) -> bool {
        !matches!(self.identity, Identity::Refused { .. })
            && self
                .principal
                .as_ref()
                .is_none_or(|(_, role)| role.eq_ignore_ascii_case("admin"))
    }

    /// Why actions are disabled, if they are.
    pub fn actions_blocked_reason(&self) -> Option<String> {
        if let Identity::Refused { status, .. } = &self.identity {
            return Some(format!(
                "actions are disabled: the gateway refused the token ({status} on /admin/whoami)"
            ));
        }
        match &self.principal {
            Some((who, role)) if !role.eq_ignore_ascii_case("admin") => {
                Some(format!("actions need the admin role ({who} is '{role}')"))
            }
            _ => None,
        }
    }

    /// Core sources ([`Source::CORE`]) currently failing, in display order: what the red
    /// banner shows.
    pub fn failing_sources(&self) -> Vec<(Source, &SourceError)> {
        Source::CORE
            .into_iter()
            .filter_map(|s| self.source(s).failing().map(|e| (s, e)))
            .collect()
    }

    /// True when the metrics scrape is failing or has never succeeded (the REQ/S and ERR%
    /// columns then show `n/a`).
    pub fn metrics_unavailable(&self) -> bool {
        let st = self.source(Source::Metrics);
        st.failing().is_some() || (st.last_success.is_none() && st.last_error.is_some())
    }

    /// Rate of `worker` through the gateway, when known and the scrape is healthy.
    pub fn traffic_for(&self, worker: &WorkerInfo) -> Option<Rate> {
        if self.metrics_unavailable() {
            return None;
        }
        self.data.traffic.for_worker(&worker.spec.url)
    }

    /// Tokenizers matching the filter (name, id, source, status), in registration order.
    pub fn tokenizer_rows(&self) -> Vec<&TokenizerInfo> {
        let needle = self.filter.to_lowercase();
        self.data
            .tokenizers
            .iter()
            .flatten()
            .filter(|t| {
                needle.is_empty()
                    || [t.name.as_str(), t.id.as_str(), t.source.as_str()]
                        .iter()
                        .any(|f| f.to_lowercase().contains(&needle))
                    || tokenizer_status(t).0.contains(&needle)
            })
            .collect()
    }

    /// The selected tokenizer.
    pub fn selected_tokenizer(&self) -> Option<&TokenizerInfo> {
        self.tokenizer_rows()
            .get(self.cursors.get(View::Tokenizers))
            .copied()
    }

    /// Modules matching the filter (name, uuid, path), oldest first, with their execution
    /// rates.
    pub fn module_rows(&self) -> Vec<ModuleRow<'_>> {
        let Some(WasmState::Enabled(list)) = &self.data.wasm else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        let prev = match &self.data.wasm_prev {
            Some(Stamped {
                at,
                value: WasmState::Enabled(prev),
            }) => self
                .data
                .wasm_at
                .and_then(|now| now.duration_since(*at).ok())
                .filter(|d| !d.is_zero())
                .map(|d| (prev, d)),
            _ => None,
        };
        list.modules
            .iter()
            .filter(|m| {
                needle.is_empty()
                    || [
                        m.module_meta.name.as_str(),
                        m.module_uuid.as_str(),
                        m.module_meta.file_path.as_str(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .map(|m| ModuleRow {
                module: m,
                exec_rate: prev.and_then(|(prev, d)| {
                    let before = prev
                        .modules
                        .iter()
                        .find(|p| p.module_uuid == m.module_uuid)
                        .map_or(0, module_executions);
                    let now = module_executions(m);
                    Some(now.checked_sub(before)? as f64 / d.as_secs_f64())
                }),
            })
            .collect()
    }

    /// Keys matching the filter (id, name, role, status), oldest first; empty when the
    /// gateway does not offer keys.
    pub fn key_rows(&self) -> Vec<&ApiKeyInfo> {
        let Some(Offered::Yes(list)) = &self.data.keys else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        list.keys
            .iter()
            .filter(|k| {
                needle.is_empty()
                    || [
                        k.id.as_str(),
                        k.name.as_str(),
                        k.role.as_str(),
                        key_status(k),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect()
    }

    /// The selected key.
    pub fn selected_key(&self) -> Option<&ApiKeyInfo> {
        self.key_rows().get(self.cursors.get(View::Keys)).copied()
    }

    /// When the audit tail last saw `key_id` act (its newest event), if it did.
    pub fn key_last_seen(&self, key_id: &str) -> Option<&AuditEvent> {
        let Some(Offered::Yes(log)) = &self.data.audit else {
            return None;
        };
        log.events
            .iter()
            .filter(|e| e.principal_id.as_deref() == Some(key_id))
            .max_by_key(|e| e.timestamp)
    }

    /// Audit events matching the filter by principal (id, name, auth method) or action
    /// (method, path, outcome), newest first.
    pub fn audit_rows(&self) -> Vec<&AuditEvent> {
        let Some(Offered::Yes(log)) = &self.data.audit else {
            return Vec::new();
        };
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&AuditEvent> = log
            .events
            .iter()
            .filter(|e| needle.is_empty() || audit_matches(e, &needle))
            .collect();
        // The gateway answers newest first; sorting keeps that promise on screen whatever
        // order a gateway used.
        rows.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| b.id.cmp(&a.id)));
        rows
    }

    /// Gateway-wide WASM executions per second since the previous poll.
    pub fn wasm_exec_rate(&self) -> Option<f64> {
        let (Some(WasmState::Enabled(now)), Some(prev), Some(at)) =
            (&self.data.wasm, &self.data.wasm_prev, self.data.wasm_at)
        else {
            return None;
        };
        let WasmState::Enabled(before) = &prev.value else {
            return None;
        };
        let d = at.duration_since(prev.at).ok().filter(|d| !d.is_zero())?;
        let runs = now
            .metrics
            .total_executions
            .checked_sub(before.metrics.total_executions)?;
        Some(runs as f64 / d.as_secs_f64())
    }

    /// True when some source cannot reach the gateway at all.
    pub fn unreachable(&self) -> bool {
        self.failing_sources().iter().any(|(_, e)| e.unreachable)
    }

    /// The flash message, unless it has expired.
    pub fn visible_flash(&self) -> Option<&Flash> {
        self.flash.as_ref().filter(|f| f.expires > self.now)
    }

    /// Worker counts by status: ready, not ready, pending, draining, failed, unknown.
    pub fn status_counts(&self) -> [usize; 6] {
        let mut counts = [0; 6];
        for w in self.data.workers.values() {
            let i = match w.status {
                Some(WorkerStatus::Ready) => 0,
                Some(WorkerStatus::NotReady) => 1,
                Some(WorkerStatus::Pending) => 2,
                Some(WorkerStatus::Draining) => 3,
                Some(WorkerStatus::Failed) => 4,
                None => 5,
            };
            counts[i] += 1;
        }
        counts
    }

    /// Models with the number of ready and total workers serving each, sorted by id and
    /// filtered by [`filter`](Self::filter). Models come from `/v1/models` and from the
    /// workers' specs; wildcard workers (no models) are not counted (see
    /// [`wildcard_workers`](Self::wildcard_workers)).
    pub fn model_rows(&self) -> Vec<ModelRow> {
        self.collect_model_rows(&self.filter.to_lowercase())
    }

    /// Number of distinct models (ignoring the filter).
    pub fn model_count(&self) -> usize {
        self.collect_model_rows("").len()
    }

    fn collect_model_rows(&self, needle: &str) -> Vec<ModelRow> {
        let mut rows: BTreeMap<String, ModelRow> = BTreeMap::new();
        fn row<'a>(rows: &'a mut BTreeMap<String, ModelRow>, id: &str) -> &'a mut ModelRow {
            rows.entry(id.to_string()).or_insert_with(|| ModelRow {
                id: id.to_string(),
                ready: 0,
                total: 0,
                owned_by: None,
            })
        }
        if let Some(models) = &self.data.models {
            for m in &models.data {
                row(&mut rows, &m.id).owned_by = Some(m.owned_by.clone());
            }
        }
        for w in self.data.workers.values() {
            for card in &w.spec.models {
                let r = row(&mut rows, &card.id);
                r.total += 1;
                if w.status == Some(WorkerStatus::Ready) {
                    r.ready += 1;
                }
            }
        }
        // Models listed by /v1/models under an alias count the workers of that alias.
        let mut rows: Vec<ModelRow> = rows
            .into_values()
            .map(|mut r| {
                if r.total == 0 {
                    for w in self.data.workers.values() {
                        if !w.spec.models.is_empty() && w.spec.serves(&r.id) {
                            r.total += 1;
                            if w.status == Some(WorkerStatus::Ready) {
                                r.ready += 1;
                            }
                        }
                    }
                }
                r
            })
            .filter(|r| needle.is_empty() || r.id.to_lowercase().contains(needle))
            .collect();
        rows.sort_by(|a, b| natural_cmp(&a.id, &b.id).then_with(|| a.id.cmp(&b.id)));
        rows
    }

    /// Workers that serve any model (no model cards).
    pub fn wildcard_workers(&self) -> (usize, usize) {
        let mut ready = 0;
        let mut total = 0;
        for w in self
            .data
            .workers
            .values()
            .filter(|w| w.spec.models.is_empty())
        {
            total += 1;
            if w.status == Some(WorkerStatus::Ready) {
                ready += 1;
            }
        }
        (ready, total)
    }

    fn set_flash(&mut self, text: impl Into<String>, error: bool) {
        let ttl = if error { ERROR_TTL } else { MESSAGE_TTL };
        self.flash = Some(Flash {
            text: text.into(),
            error,
            expires: self.now + ttl,
        });
    }

    /// Apply one event.
    pub fn update(&mut self, event: Event) -> Effect {
        match event {
            Event::Tokenizers(p) => {
                if let Some(list) = self.polled(Source::Tokenizers, p) {
                    self.data.tokenizers = Some(list);
                }
                self.clamp_tables();
                Effect::Redraw
            }
            Event::Wasm(p) => {
                let at = p.at;
                if let Some(state) = self.polled(Source::Wasm, p) {
                    if let (Some(old), Some(prev_at)) = (self.data.wasm.take(), self.data.wasm_at) {
                        self.data.wasm_prev = Some(Stamped::new(prev_at, old));
                    }
                    self.data.wasm = Some(state);
                    self.data.wasm_at = Some(at);
                }
                self.clamp_tables();
                Effect::Redraw
            }
            Event::Keys(p) => {
                if let Some(keys) = self.polled(Source::Keys, p) {
                    self.data.keys = Some(keys);
                }
                self.clamp(View::Keys);
                Effect::Redraw
            }
            Event::Audit(p) => {
                if let Some(log) = self.polled(Source::Audit, p) {
                    self.data.audit = Some(log);
                }
                self.clamp(View::Audit);
                Effect::Redraw
            }
            Event::Whoami(p) => {
                match p.value {
                    Ok(Whoami::Principal(who)) => {
                        let name = who.name.clone().filter(|n| !n.is_empty() && *n != who.id);
                        let label = match name {
                            Some(name) => format!("{} [{}]", name, who.id),
                            None => who.id.clone(),
                        };
                        self.principal = Some((label, who.role.to_string()));
                        self.identity = Identity::Known;
                        self.source_mut(Source::Whoami).last_success = Some(p.at);
                    }
                    Ok(Whoami::NotOffered(by)) => {
                        self.principal = None;
                        self.identity = Identity::NotOffered(by);
                        self.source_mut(Source::Whoami).last_success = Some(p.at);
                    }
                    Ok(Whoami::Refused { status, message }) => {
                        self.principal = None;
                        self.identity = Identity::Refused {
                            status,
                            message: message.clone(),
                        };
                        self.source_mut(Source::Whoami).last_error = Some(Stamped::new(
                            p.at,
                            SourceError {
                                message,
                                unreachable: false,
                            },
                        ));
                    }
                    // Unreachable or another error: keep what was known.
                    Err(e) => {
                        self.source_mut(Source::Whoami).last_error = Some(Stamped::new(p.at, e))
                    }
                }
                Effect::Redraw
            }
            Event::Metrics(p) => {
                let at = p.at;
                match self.polled(Source::Metrics, p) {
                    Some(sample) => self.apply_traffic(Stamped::new(at, sample)),
                    None => {
                        self.data.fleet.req_rate.push(None);
                        self.data.fleet.err_rate.push(None);
                    }
                }
                if matches!(self.sort.column, Column::ReqRate | Column::ErrRate) {
                    self.refresh_order();
                }
                Effect::Redraw
            }
            Event::Workers(p) => {
                if let Some(events) = self.polled(Source::Workers, p) {
                    for e in events {
                        self.apply_worker_event(e);
                    }
                    self.refresh_order();
                }
                Effect::Redraw
            }
            Event::Loads(p) => {
                if let Some(loads) = self.polled(Source::Loads, p) {
                    self.apply_loads(loads);
                    self.refresh_order();
                }
                Effect::Redraw
            }
            Event::Readiness(p) => {
                if let Some(r) = self.polled(Source::Readiness, p) {
                    self.data.fleet.healthy.push(
                        r.healthy_workers
                            .map(|n| n as f64)
                            .or((!r.is_ready()).then_some(0.0)),
                    );
                    self.data.readiness = Some(r);
                }
                Effect::Redraw
            }
            Event::Models(p) => {
                if let Some(m) = self.polled(Source::Models, p) {
                    self.data.models = Some(m);
                }
                self.clamp_models();
                Effect::Redraw
            }
            Event::ActionDone(done) => self.action_done(done.value),
            Event::Key(key) => self.on_key(key),
            Event::Tick(now) => {
                self.now = now;
                if self.flash.as_ref().is_some_and(|f| f.expires <= now) {
                    self.flash = None;
                }
                Effect::Redraw
            }
            Event::Resize => Effect::Redraw,
        }
    }

    fn action_done(&mut self, outcome: ActionOutcome) -> Effect {
        if let (Ok(text), Some(secret)) = (&outcome.result, outcome.secret) {
            self.revealed = Some((format!("{}: {text}", outcome.title), secret));
        }
        match outcome.result {
            Ok(text) => {
                self.set_flash(format!("{}: {text}", outcome.title), false);
                Effect::Refresh
            }
            Err(err) => {
                self.set_flash(format!("{} failed: {err}", outcome.title), true);
                Effect::Redraw
            }
        }
    }

    fn apply_worker_event(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::Added(w) | WorkerEvent::Changed { new: w, .. } => {
                self.data.workers.insert(w.id.clone(), w);
            }
            WorkerEvent::Removed(w) => {
                self.data.workers.remove(&w.id);
                if !self.data.workers.values().any(|o| o.spec.url == w.spec.url) {
                    self.data.worker_series.remove(&w.spec.url);
                }
            }
            // The pollers end each batch with it; nothing to apply.
            WorkerEvent::Synced { .. } => {}
        }
    }

    fn apply_traffic(&mut self, sample: Stamped<TrafficSample>) {
        let rates = self.data.traffic.last.as_ref().and_then(|prev| {
            let elapsed = sample.at.duration_since(prev.at).ok()?;
            traffic::rates(&prev.value, &sample.value, elapsed)
        });
        match rates {
            Some((workers, fleet)) => {
                self.data.fleet.req_rate.push(Some(fleet.req_per_sec));
                self.data.fleet.err_rate.push(fleet.err_rate);
                self.data.traffic.workers = workers;
                self.data.traffic.fleet = Some(fleet);
            }
            None if self.data.traffic.last.is_some() => {
                // Two scrapes stamped the same instant: keep the previous rates.
            }
            None => {}
        }
        self.data.traffic.last = Some(sample);
    }

    fn apply_loads(&mut self, poll: LoadsPoll) {
        self.data.loads_route = poll.route;
        if poll.gateway.is_some() {
            self.data.gateway = poll.gateway;
        }
        self.data.aggregate = Some(poll.loads.aggregate);
        let mut running = 0i64;
        let mut waiting = 0i64;
        let mut gen_tps = 0f64;
        let mut hit = Vec::new();
        let mut usage = Vec::new();
        self.data.loads.clear();
        self.data.metrics.clear();
        let cap = self.data.history;
        for load in poll.loads.workers {
            let m = WorkerMetrics::from_load(&load);
            if let Some(r) = m.running {
                running += r;
                waiting += m.waiting.unwrap_or(0);
                gen_tps += m.gen_tps.unwrap_or(0.0);
            }
            hit.extend(m.hit_rate);
            usage.extend(m.token_usage);
            let series = self
                .data
                .worker_series
                .entry(load.worker.clone())
                .or_insert_with(|| WorkerSeries {
                    load: Series::new(cap),
                    hit_rate: Series::new(cap),
                });
            series.load.push(m.kv_load.map(|v| v as f64));
            series.hit_rate.push(m.hit_rate);
            self.data.metrics.insert(load.worker.clone(), m);
            self.data.loads.insert(load.worker.clone(), load);
        }
        // Forget the history of URLs that are neither loaded nor registered any more.
        let workers = &self.data.workers;
        let loads = &self.data.loads;
        self.data.worker_series.retain(|url, _| {
            loads.contains_key(url) || workers.values().any(|w| &w.spec.url == url)
        });
        let reported = !hit.is_empty()
            || !usage.is_empty()
            || self.data.loads.values().any(WorkerLoads::reported);
        let empty_fleet = self.data.loads.is_empty();
        let total = |v: f64| (reported || empty_fleet).then_some(v);
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        self.data.fleet.running.push(total(running as f64));
        self.data.fleet.waiting.push(total(waiting as f64));
        self.data.fleet.gen_tps.push(total(gen_tps));
        self.data.fleet.hit_rate.push(mean(&hit));
        self.data.fleet.token_usage.push(mean(&usage));
        let ready = self.status_counts()[0];
        self.data.fleet.ready.push(Some(ready as f64));
    }

    /// Recompute [`order`](Self::order) from the workers, the filter and the sort, keeping the
    /// selection on the same worker when it is still listed.
    pub fn refresh_order(&mut self) {
        let selected_id = self.order.get(self.cursors.get(View::Workers)).cloned();
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<SortRow<'_>> = self
            .data
            .workers
            .values()
            .filter(|w| needle.is_empty() || worker_matches(w, &needle))
            .map(|w| (w, self.data.metrics.get(&w.spec.url), self.traffic_for(w)))
            .collect();
        let sort = self.sort;
        rows.sort_by(|a, b| compare(a, b, sort).then_with(|| a.0.id.cmp(&b.0.id)));
        self.order = rows.into_iter().map(|(w, _, _)| w.id.clone()).collect();
        if let Some(pos) = selected_id.and_then(|id| self.order.iter().position(|o| *o == id)) {
            self.cursors.set(View::Workers, pos);
        }
        self.clamp(View::Workers);
    }

    /// Rows of `view`'s table (0 for views without one).
    pub fn row_count(&self, view: View) -> usize {
        match view {
            View::Workers | View::Detail => self.order.len(),
            View::Models => self.model_rows().len(),
            View::Tokenizers => self.tokenizer_rows().len(),
            View::Modules => self.module_rows().len(),
            View::Keys => self.key_rows().len(),
            View::Audit => self.audit_rows().len(),
            View::Overview => 0,
        }
    }

    /// Keep `view`'s cursor on a row after its table shrank.
    fn clamp(&mut self, view: View) {
        let n = self.row_count(view);
        self.cursors
            .set(view, self.cursors.get(view).min(n.saturating_sub(1)));
    }

    fn clamp_models(&mut self) {
        self.clamp(View::Models);
    }

    fn clamp_tables(&mut self) {
        self.clamp(View::Tokenizers);
        self.clamp(View::Modules);
        self.clamp(View::Keys);
        self.clamp(View::Audit);
    }

    /// After the filter changed: back to the top of every table.
    fn filter_changed(&mut self) {
        self.refresh_order();
        self.clamp_models();
        self.clamp_tables();
    }

    /// Handle a key press: the [`KEYMAP`](crate::keymap::KEYMAP) says what it does in the
    /// current mode and view; typing modes take the other keys as text.
    pub fn on_key(&mut self, key: KeyEvent) -> Effect {
        if key.kind == KeyEventKind::Release {
            return Effect::None;
        }
        let ctx = match &self.mode {
            Mode::Normal => Ctx::Normal,
            Mode::Help => Ctx::Help,
            Mode::Confirm(_) => Ctx::Confirm,
            Mode::Form(_) => Ctx::Form,
            Mode::Filter | Mode::Command(_) => Ctx::Always,
        };
        let found = keymap::lookup(ctx, self.view, &key);
        let cmd = found.map(|(cmd, _)| cmd);
        if cmd == Some(Cmd::Quit) {
            return Effect::Quit;
        }
        match std::mem::take(&mut self.mode) {
            Mode::Normal => match found {
                Some((cmd, binding)) => self.exec_binding(cmd, binding, Some(&key), ""),
                None => Effect::None,
            },
            Mode::Filter => self.key_filter(key),
            Mode::Command(text) => self.key_command(key, text),
            Mode::Help => {
                if cmd != Some(Cmd::Cancel) {
                    self.mode = Mode::Help;
                    return Effect::None;
                }
                Effect::Redraw
            }
            Mode::Confirm(confirm) => match cmd {
                Some(Cmd::Submit) => Effect::Run(confirm.action),
                Some(Cmd::Cancel) => {
                    if let Some(form) = confirm.back {
                        self.mode = Mode::Form(form);
                    }
                    Effect::Redraw
                }
                _ => {
                    self.mode = Mode::Confirm(confirm);
                    Effect::None
                }
            },
            Mode::Form(form) => self.key_form(key, cmd, form),
        }
    }

    /// Run `cmd` of `binding`, unless the binding changes the gateway and the role does not
    /// allow it (the reason is shown instead).
    fn exec_binding(
        &mut self,
        cmd: Cmd,
        binding: &Binding,
        key: Option<&KeyEvent>,
        arg: &str,
    ) -> Effect {
        if binding.mutating
            && let Some(reason) = self.actions_blocked_reason()
        {
            self.set_flash(reason, true);
            return Effect::Redraw;
        }
        self.exec(cmd, key, arg)
    }

    /// Run a command of the keymap: from a `key`, or (`None`) from the `:` command line with
    /// its argument `arg`.
    fn exec(&mut self, cmd: Cmd, key: Option<&KeyEvent>, arg: &str) -> Effect {
        let page = self.page.get().max(1);
        match cmd {
            Cmd::Quit => Effect::Quit,
            Cmd::Help => {
                self.mode = Mode::Help;
                Effect::Redraw
            }
            Cmd::CommandLine => {
                self.mode = Mode::Command(String::new());
                Effect::Redraw
            }
            Cmd::Filter if key.is_none() => {
                self.filter = arg.to_string();
                self.cursors.set(View::Workers, 0);
                self.filter_changed();
                if !self.view.filterable() {
                    self.view = View::Workers;
                }
                Effect::Redraw
            }
            Cmd::Filter => {
                if !self.view.filterable() {
                    self.view = View::Workers;
                }
                self.mode = Mode::Filter;
                Effect::Redraw
            }
            Cmd::Show(view) => self.show(view),
            // `:refresh` answers in the status line already: no "refreshing…".
            Cmd::Refresh if key.is_none() => Effect::Refresh,
            Cmd::Refresh => {
                self.set_flash("refreshing…", false);
                Effect::Refresh
            }
            Cmd::Back => match self.view {
                View::Detail => self.show(View::Workers),
                View::Keys if self.revealed.is_some() => {
                    self.revealed = None;
                    Effect::Redraw
                }
                v if v.filterable() && !self.filter.is_empty() => {
                    self.filter.clear();
                    self.filter_changed();
                    Effect::Redraw
                }
                View::Models => self.show(View::Workers),
                _ => Effect::None,
            },
            Cmd::Down => self.move_by(1),
            Cmd::Up => self.move_by(-1),
            Cmd::PageDown => self.move_by(page as isize),
            Cmd::PageUp => self.move_by(-(page as isize)),
            Cmd::First => self.move_by(isize::MIN),
            Cmd::Last => self.move_by(isize::MAX),
            Cmd::Open => match self.view {
                View::Workers => match self.order.get(self.cursors.get(View::Workers)) {
                    Some(id) => {
                        self.detail_id = Some(id.clone());
                        self.show(View::Detail)
                    }
                    None => Effect::None,
                },
                View::Models => match self
                    .model_rows()
                    .into_iter()
                    .nth(self.cursors.get(View::Models))
                {
                    Some(row) => {
                        self.filter = row.id;
                        self.cursors.set(View::Workers, 0);
                        self.refresh_order();
                        self.show(View::Workers)
                    }
                    None => Effect::None,
                },
                _ => Effect::None,
            },
            Cmd::SortNext => {
                let i = Column::ALL
                    .iter()
                    .position(|c| *c == self.sort.column)
                    .unwrap_or(0);
                let column = Column::ALL[(i + 1) % Column::ALL.len()];
                self.sort_by(column, column.numeric())
            }
            Cmd::SortFlip => {
                self.sort.descending = !self.sort.descending;
                self.refresh_order();
                Effect::Redraw
            }
            Cmd::SortHotkey => {
                let column = match key.map(|k| k.code) {
                    Some(KeyCode::Char(c)) => Column::from_hotkey(c),
                    _ => None,
                };
                match column {
                    Some(column) => {
                        let descending = if self.sort.column == column {
                            !self.sort.descending
                        } else {
                            column.numeric()
                        };
                        self.sort_by(column, descending)
                    }
                    None => Effect::None,
                }
            }
            Cmd::SortBy => match Column::from_name(arg.trim_start_matches(['-', '+'])) {
                Some(column) => {
                    self.view = View::Workers;
                    self.sort_by(column, arg.starts_with('-'))
                }
                None => {
                    self.set_flash(format!("unknown column '{arg}' (e.g. :sort -run)"), true);
                    Effect::Redraw
                }
            },
            Cmd::Add => self.add_in_view(),
            Cmd::Edit => self.guard_action(|app| match app.target_worker() {
                Some(w) => {
                    app.mode = Mode::Form(Box::new(Form::edit_worker(w)));
                    Effect::Redraw
                }
                None => app.no_target(),
            }),
            Cmd::Delete if self.view == View::Tokenizers => self.delete_tokenizer(),
            Cmd::Delete if self.view == View::Keys => self.key_action(|k| {
                Ok((
                    Action::DeleteKey { id: k.id.clone() },
                    "Revoked at once: requests with this key get 401. Cannot be undone.",
                ))
            }),
            Cmd::Rotate => self.key_action(|k| {
                Ok((
                    Action::RotateKey { id: k.id.clone() },
                    "The current secret stops working at once; the new one is shown once.",
                ))
            }),
            Cmd::Disable => self.key_action(|k| {
                if k.enabled {
                    Ok((
                        Action::DisableKey { id: k.id.clone() },
                        "Suspended: requests with this key get 401 until it is enabled again.",
                    ))
                } else {
                    Err("already disabled (u enables it)".into())
                }
            }),
            Cmd::Enable => self.key_action(|k| {
                if k.enabled {
                    Err("already enabled".into())
                } else {
                    Ok((
                        Action::EnableKey { id: k.id.clone() },
                        "Authenticates again (unless it has expired).",
                    ))
                }
            }),
            Cmd::Delete => self.guard_action(|app| match app.target_worker() {
                Some(w) => {
                    let details = worker_lines(w);
                    app.mode = Mode::Confirm(Box::new(Confirm {
                        action: Action::DeleteWorker { id: w.id.clone() },
                        details,
                        back: None,
                    }));
                    Effect::Redraw
                }
                None => app.no_target(),
            }),
            Cmd::Cordon => self.worker_action(|w| {
                if w.is_disabled() {
                    Err("already cordoned (u uncordons it)".into())
                } else {
                    Ok((
                        Action::CordonWorker { id: w.id.clone() },
                        "Stays registered and health-checked; gets no new requests.",
                    ))
                }
            }),
            Cmd::Uncordon => self.worker_action(|w| {
                if w.is_disabled() {
                    Ok((
                        Action::UncordonWorker { id: w.id.clone() },
                        "Takes new requests again (a retirement in progress is cancelled).",
                    ))
                } else {
                    Err("not cordoned".into())
                }
            }),
            Cmd::Retire => self.worker_action(|w| {
                Ok((
                    Action::RetireWorker { id: w.id.clone() },
                    "Cordons it, waits for its in-flight requests, flushes its KV cache, removes it.",
                ))
            }),
            Cmd::FlushWorker => self.worker_action(|w| {
                Ok((
                    Action::FlushWorker { id: w.id.clone() },
                    "Flushes this worker's KV cache.",
                ))
            }),
            Cmd::FlushAll => self.guard_action(|app| {
                let n = app.data.workers.len();
                app.mode = Mode::Confirm(Box::new(Confirm {
                    action: Action::FlushCache,
                    details: vec![format!(
                        "Flushes the KV cache of all {n} registered workers."
                    )],
                    back: None,
                }));
                Effect::Redraw
            }),
            // Form and dialog commands do nothing here.
            Cmd::NextField
            | Cmd::PrevField
            | Cmd::Submit
            | Cmd::Cancel => Effect::None,
        }
    }

    fn show(&mut self, view: View) -> Effect {
        self.view = view;
        Effect::Redraw
    }

    fn sort_by(&mut self, column: Column, descending: bool) -> Effect {
        self.sort = Sort { column, descending };
        self.refresh_order();
        Effect::Redraw
    }

    fn move_by(&mut self, delta: isize) -> Effect {
        let view = self.view;
        if view == View::Detail {
            return Effect::None;
        }
        let (cur, len) = (self.cursors.get(view), self.row_count(view));
        if len == 0 {
            return Effect::None;
        }
        let next = match delta {
            isize::MIN => 0,
            isize::MAX => len - 1,
            d => cur.saturating_add_signed(d).min(len - 1),
        };
        if next == cur {
            return Effect::None;
        }
        self.cursors.set(view, next);
        Effect::Redraw
    }

    /// `a`: what "add" means in the current view.
    fn add_in_view(&mut self) -> Effect {
        match self.view {
            View::Tokenizers => self.guard_action(|app| {
                app.mode = Mode::Form(Box::new(Form::add_tokenizer()));
                Effect::Redraw
            }),
            View::Keys => self.guard_action(|app| {
                app.mode = Mode::Form(Box::new(Form::add_key()));
                Effect::Redraw
            }),
            View::Modules => {
                self.set_flash(
                    "modules are registered with smgctl wasm add (a file on the gateway host)",
                    false,
                );
                Effect::Redraw
            }
            _ => self.guard_action(|app| {
                app.mode = Mode::Form(Box::new(Form::add_worker()));
                Effect::Redraw
            }),
        }
    }

    fn delete_tokenizer(&mut self) -> Effect {
        self.guard_action(|app| match app.selected_tokenizer() {
            Some(t) => {
                let details = tokenizer_lines(t);
                app.mode = Mode::Confirm(Box::new(Confirm {
                    action: Action::DeleteTokenizer {
                        name: t.name.clone(),
                    },
                    details,
                    back: None,
                }));
                Effect::Redraw
            }
            None => {
                app.set_flash("no tokenizer selected", true);
                Effect::Redraw
            }
        })
    }

    /// The worker an edit/delete applies to: the detail view's, else the selected row.
    fn target_worker(&self) -> Option<&WorkerInfo> {
        match self.view {
            View::Detail => self.detail_worker(),
            View::Workers => self.selected_worker(),
            _ => None,
        }
    }

    /// Confirm an action on the targeted worker, or say why there is none (`Err` is shown).
    fn worker_action(
        &mut self,
        make: impl FnOnce(&WorkerInfo) -> Result<(Action, &'static str), String>,
    ) -> Effect {
        self.guard_action(|app| {
            let Some(w) = app.target_worker() else {
                return app.no_target();
            };
            match make(w) {
                Ok((action, what)) => {
                    let mut details = worker_lines(w);
                    details.push(what.to_string());
                    app.mode = Mode::Confirm(Box::new(Confirm {
                        action,
                        details,
                        back: None,
                    }));
                }
                Err(why) => app.set_flash(why, true),
            }
            Effect::Redraw
        })
    }

    /// Confirm an action on the selected key, or say why there is none (`Err` is shown).
    fn key_action(
        &mut self,
        make: impl FnOnce(&ApiKeyInfo) -> Result<(Action, &'static str), String>,
    ) -> Effect {
        self.guard_action(|app| {
            let Some(k) = app.selected_key() else {
                app.set_flash("no key selected", true);
                return Effect::Redraw;
            };
            match make(k) {
                Ok((action, what)) => {
                    let mut details = key_lines(k);
                    details.push(what.to_string());
                    app.mode = Mode::Confirm(Box::new(Confirm {
                        action,
                        details,
                        back: None,
                    }));
                }
                Err(why) => app.set_flash(why, true),
            }
            Effect::Redraw
        })
    }

    fn no_target(&mut self) -> Effect {
        self.set_flash("select a worker first (2: Workers view)", true);
        Effect::Redraw
    }

    fn guard_action(&mut self, f: impl FnOnce(&mut Self) -> Effect) -> Effect {
        match self.actions_blocked_reason() {
            None => f(self),
            Some(reason) => {
                self.set_flash(reason, true);
                Effect::Redraw
            }
        }
    }

    fn key_filter(&mut self, key: KeyEvent) -> Effect {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
            }
            KeyCode::Enter => {}
            KeyCode::Backspace => {
                self.filter.pop();
                self.mode = Mode::Filter;
            }
            KeyCode::Down => {
                self.mode = Mode::Filter;
                return self.move_by(1);
            }
            KeyCode::Up => {
                self.mode = Mode::Filter;
                return self.move_by(-1);
            }
            KeyCode::Char(c) => {
                self.filter.push(c);
                self.mode = Mode::Filter;
                self.cursors.reset();
            }
            _ => {
                self.mode = Mode::Filter;
                return Effect::None;
            }
        }
        self.filter_changed();
        Effect::Redraw
    }

    fn key_command(&mut self, key: KeyEvent, mut text: String) -> Effect {
        match key.code {
            KeyCode::Esc => Effect::Redraw,
            KeyCode::Enter => self.run_command(text.trim()),
            KeyCode::Backspace => {
                if text.pop().is_some() {
                    self.mode = Mode::Command(text);
                }
                Effect::Redraw
            }
            KeyCode::Tab => {
                let matches = complete(&text);
                if let [only] = matches.as_slice() {
                    text = format!("{only} ");
                }
                self.mode = Mode::Command(text);
                Effect::Redraw
            }
            KeyCode::Char(c) => {
                text.push(c);
                self.mode = Mode::Command(text);
                Effect::Redraw
            }
            _ => {
                self.mode = Mode::Command(text);
                Effect::None
            }
        }
    }

    fn run_command(&mut self, line: &str) -> Effect {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        if cmd.is_empty() {
            return Effect::Redraw;
        }
        match keymap::command(cmd, self.view).and_then(|b| b.cmd.map(|c| (c, b))) {
            Some((c, binding)) => self.exec_binding(c, binding, None, arg),
            None => {
                self.set_flash(format!("unknown command ':{cmd}' (try :help)"), true);
                Effect::Redraw
            }
        }
    }

    fn key_form(&mut self, key: KeyEvent, cmd: Option<Cmd>, mut form: Box<Form>) -> Effect {
        let n = form.fields.len().max(1);
        match (cmd, key.code) {
            (Some(Cmd::Cancel), _) => return Effect::Redraw,
            (Some(Cmd::NextField), _) => form.focus = (form.focus + 1) % n,
            (Some(Cmd::PrevField), _) => form.focus = (form.focus + n - 1) % n,
            (_, KeyCode::Backspace) => {
                if let Some(f) = form.fields.get_mut(form.focus) {
                    f.value.pop();
                }
            }
            (Some(Cmd::Submit), _) => match form.submit() {
                Ok(action) => {
                    form.error = None;
                    let details = match &action {
                        Action::UpdateWorker { id, .. } => self
                            .data
                            .workers
                            .get(id)
                            .map(worker_lines)
                            .unwrap_or_default(),
                        _ => Vec::new(),
                    };
                    self.mode = Mode::Confirm(Box::new(Confirm {
                        action,
                        details,
                        back: Some(form),
                    }));
                    return Effect::Redraw;
                }
                Err(e) => form.error = Some(e),
            },
            (_, KeyCode::Char(c)) => {
                if let Some(f) = form.fields.get_mut(form.focus) {
                    f.value.push(c);
                }
            }
            _ => {
                self.mode = Mode::Form(form);
                return Effect::None;
            }
        }
        self.mode = Mode::Form(form);
        Effect::Redraw
    }
}

/// Commands starting with `prefix`.
pub fn complete(prefix: &str) -> Vec<&'static str> {
    let prefix = prefix.trim_start();
    keymap::command_names()
        .filter(|c| c.starts_with(prefix) && !prefix.contains(' '))
        .collect()
}

/// `(status word, reason)` of a tokenizer: `loaded`, `pending`, `loading`, `failed`.
pub fn tokenizer_status(t: &TokenizerInfo) -> (&'static str, Option<&str>) {
    let reason = t.message.as_deref().filter(|m| !m.is_empty());
    match t.status {
        None | Some(JobState::Completed) => ("loaded", None),
        Some(JobState::Pending) => ("pending", reason),
        Some(JobState::Processing) => ("loading", reason),
        Some(JobState::Failed) => ("failed", reason),
    }
}

fn tokenizer_lines(t: &TokenizerInfo) -> Vec<String> {
    let (status, reason) = tokenizer_status(t);
    let mut lines = vec![
        format!("name    {}   (id {})", t.name, t.id),
        format!("source  {}", t.source),
        format!("status  {status}   vocab {}", t.vocab_size),
    ];
    if let Some(reason) = reason {
        lines.push(format!("reason  {reason}"));
    }
    lines
}

/// `active`, `expired` or `disabled`.
pub fn key_status(k: &ApiKeyInfo) -> &'static str {
    if !k.enabled {
        "disabled"
    } else if k.is_expired {
        "expired"
    } else {
        "active"
    }
}

fn key_lines(k: &ApiKeyInfo) -> Vec<String> {
    vec![
        format!("id      {}   ({})", k.id, k.name),
        format!("key     {}   role {}", k.masked_key, k.role),
        format!(
            "status  {}   expires {}",
            key_status(k),
            k.expires_at.map_or("never".to_string(), |t| t
                .format("%Y-%m-%d %H:%M UTC")
                .to_string())
        ),
    ]
}

fn audit_matches(e: &AuditEvent, needle: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    e.principal_id.as_deref().is_some_and(has)
        || e.principal_name.as_deref().is_some_and(has)
        || e.auth_method.as_deref().is_some_and(has)
        || has(&format!("{} {}", e.method, e.path))
        || has(e.outcome.as_str())
}

/// Times a module ran: its own counter when the gateway reports one, else `access_count`.
pub fn module_executions(m: &WasmModule) -> u64 {
    m.metrics
        .as_ref()
        .map_or(m.module_meta.access_count, |x| x.total_executions)
}

fn worker_lines(w: &WorkerInfo) -> Vec<String> {
    vec![
        format!("id     {}", w.id),
        format!("url    {}", w.spec.url),
        format!(
            "model  {}   status {}{}   in-flight {}",
            w.model_id.as_deref().unwrap_or("*"),
            w.status.map_or("-", WorkerStatus::as_str),
            if w.is_disabled() { ", cordoned" } else { "" },
            w.load
        ),
    ]
}

fn worker_matches(w: &WorkerInfo, needle: &str) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(&w.id)
        || has(&w.spec.url)
        || w.model_id.as_deref().is_some_and(has)
        || w.spec.models.iter().any(|m| has(&m.id))
        || w.status.is_some_and(|s| has(s.as_str()))
}

/// Problems first when sorting by status ascending.
fn status_rank(s: Option<WorkerStatus>) -> u8 {
    match s {
        Some(WorkerStatus::Failed) => 0,
        Some(WorkerStatus::NotReady) => 1,
        Some(WorkerStatus::Draining) => 2,
        Some(WorkerStatus::Pending) => 3,
        Some(WorkerStatus::Ready) => 4,
        None => 5,
    }
}

/// Open breakers first when sorting by breaker ascending.
fn breaker_rank(b: Option<&str>) -> u8 {
    match b {
        Some("open") => 0,
        Some("half_open") => 1,
        Some("closed") => 2,
        Some(_) => 3,
        None => 4,
    }
}

/// A row being sorted: the worker, its engine metrics and its traffic.
type SortRow<'a> = (&'a WorkerInfo, Option<&'a WorkerMetrics>, Option<Rate>);

fn compare(a: &SortRow<'_>, b: &SortRow<'_>, sort: Sort) -> Ordering {
    let dir = |o: Ordering| if sort.descending { o.reverse() } else { o };
    // Missing metrics sort last in both directions.
    let opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => dir(x.total_cmp(&y)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let m = |p: &SortRow<'_>, f: fn(&WorkerMetrics) -> Option<f64>| p.1.and_then(f);
    let (wa, wb) = (a.0, b.0);
    match sort.column {
        Column::Id => dir(wa.id.cmp(&wb.id)),
        Column::Url => dir(natural_cmp(&wa.spec.url, &wb.spec.url)),
        Column::Model => dir(natural_cmp(
            wa.model_id.as_deref().unwrap_or(""),
            wb.model_id.as_deref().unwrap_or(""),
        )),
        Column::Type => dir(wa
            .spec
            .worker_type
            .to_string()
            .cmp(&wb.spec.worker_type.to_string())),
        Column::Runtime => dir(wa
            .spec
            .runtime_type
            .to_string()
            .cmp(&wb.spec.runtime_type.to_string())),
        Column::Status => dir(status_rank(wa.status).cmp(&status_rank(wb.status))),
        Column::Breaker => dir(breaker_rank(wa.circuit_breaker.as_deref())
            .cmp(&breaker_rank(wb.circuit_breaker.as_deref()))),
        Column::ReqRate => opt(a.2.map(|r| r.req_per_sec), b.2.map(|r| r.req_per_sec)),
        Column::ErrRate => opt(a.2.and_then(|r| r.err_rate), b.2.and_then(|r| r.err_rate)),
        Column::Running => opt(
            m(a, |m| m.running.map(|v| v as f64)),
            m(b, |m| m.running.map(|v| v as f64)),
        ),
        Column::Waiting => opt(
            m(a, |m| m.waiting.map(|v| v as f64)),
            m(b, |m| m.waiting.map(|v| v as f64)),
        ),
        Column::TokenUsage => opt(m(a, |m| m.token_usage), m(b, |m| m.token_usage)),
        Column::HitRate => opt(m(a, |m| m.hit_rate), m(b, |m| m.hit_rate)),
        Column::GenTps => opt(m(a, |m| m.gen_tps), m(b, |m| m.gen_tps)),
        Column::Load => dir(wa.load.cmp(&wb.load)),
        Column::Priority => dir(wa.spec.priority.cmp(&wb.spec.priority)),
    }
}

/// Case-insensitive comparison where runs of digits compare as numbers, so that
/// `10.0.0.2` sorts before `10.0.0.10`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&a[si..i]);
            let db = trim_zeros(&b[sj..j]);
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            let ord = a[i].to_ascii_lowercase().cmp(&b[j].to_ascii_lowercase());
            if ord != Ordering::Equal {
                return ord;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let start = d.iter().position(|c| *c != b'0').unwrap_or(d.len());
    &d[start..]
}
