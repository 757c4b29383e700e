//! Tokenizer registrations and what runs on them: `POST /v1/tokenizers` stores the
//! registration (decision D6) and queues a load job; jobs run with bounded concurrency and
//! report `pending` → `processing` → `completed` | `failed`; a failure keeps its reason for
//! the retention period, also across a restart (decision D3), and a stored registration whose
//! reload failed stays listed until it is deleted or registered again. Free of HTTP; routes
//! map [`TokenizerError`].
//!
//! A new registration whose load failed is not retried on the next start, even when the Hub
//! was unreachable: `failed` is final for a job, the name is free to register again at once,
//! and a restart should not silently bring back a tokenizer the operator saw fail.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use smg_sdk::{
    AddTokenizerRequest, AddTokenizerResponse, DeleteTokenizerResponse, DetokenizeRequest,
    DetokenizeResponse, DetokenizedText, JobState, Prompt, TokenIds, TokenizeRequest,
    TokenizeResponse, TokenizerInfo, TokenizerList, TokenizerStatus,
};
use tokio::sync::Semaphore;

use super::hub::Hub;
use super::source::{self, LoadError, LoadedTokenizer, Source};
use crate::config::GatewayConfig;
use crate::store::{Collection, SharedStore, StoreError};

/// Prompts up to this many bytes in total are encoded on the request's own task: that takes
/// tens of microseconds, about what a hand-over to the blocking pool costs. Larger ones are
/// encoded on the blocking pool, so they never stall the async runtime.
pub const INLINE_MAX_BYTES: usize = 4096;
/// The same bound for `/v1/detokenize`, in tokens.
pub const INLINE_MAX_TOKENS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{0}")]
    Invalid(String),
    #[error("Tokenizer '{name}' already exists (id {id})")]
    AlreadyExists { name: String, id: String },
    #[error("Job queue full: {capacity} tokenizer loads pending (capacity: {capacity})")]
    QueueFull { capacity: usize },
    #[error("Tokenizer '{0}' not found")]
    NotFound(String),
    #[error("Tokenizer '{0}' not found and no pending job")]
    NoJob(String),
    #[error("{}", model_not_found(.model, .available))]
    ModelNotFound {
        model: String,
        available: Vec<String>,
    },
    #[error("Tokenizer for model '{model}' is not available: {message}")]
    ModelFailed { model: String, message: String },
    #[error(
        "Tokenizer for model '{model}' is not loaded yet (status: {state}); retry shortly or \
         watch GET /v1/tokenizers/{model}/status"
    )]
    NotReady { model: String, state: JobState },
    #[error("Tokenization failed: {0}")]
    Tokenization(String),
    #[error("Detokenization failed: {0}")]
    Detokenization(String),
    #[error("could not persist the change: {0}")]
    Store(#[from] StoreError),
}

fn model_not_found(model: &str, available: &[String]) -> String {
    if available.is_empty() {
        "No tokenizers available. Use POST /v1/tokenizers to add one.".to_string()
    } else {
        format!(
            "Tokenizer for model '{model}' not found. Available: {}",
            available.join(", ")
        )
    }
}

/// A registration as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokenizer {
    pub id: String,
    pub name: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template_path: Option<String>,
    /// Unix milliseconds of the registration.
    pub created_at_ms: i64,
    /// Why the load of this new registration failed: kept so `…/status` still says why after
    /// a restart, until the retention period is over and the sweeper removes the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<StoredFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFailure {
    pub message: String,
    /// Unix milliseconds of the failure.
    pub at_ms: i64,
}

enum State {
    Pending(String),
    Processing(String),
    Loaded(Arc<LoadedTokenizer>),
    Failed { message: String, at: Instant },
}

struct Entry {
    id: String,
    name: String,
    source: String,
    chat_template_path: Option<String>,
    /// Restored from the store at start-up: a failed reload stays listed (and stored) until
    /// it is deleted, since the registration was the operator's.
    restored: bool,
    state: State,
}

impl Entry {
    fn job_state(&self) -> JobState {
        match self.state {
            State::Pending(_) => JobState::Pending,
            State::Processing(_) => JobState::Processing,
            State::Loaded(_) => JobState::Completed,
            State::Failed { .. } => JobState::Failed,
        }
    }

    fn info(&self) -> TokenizerInfo {
        let (vocab_size, chat_template, message) = match &self.state {
            State::Loaded(t) => (t.vocab_size, t.chat_template.is_some(), None),
            State::Pending(m) | State::Processing(m) | State::Failed { message: m, .. } => {
                (0, false, Some(m.clone()))
            }
        };
        TokenizerInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            vocab_size,
            chat_template,
            status: Some(self.job_state()),
            message,
        }
    }

    fn status(&self) -> TokenizerStatus {
        let (message, vocab_size) = match &self.state {
            State::Loaded(t) => (
                format!("Tokenizer '{}' is loaded and ready", self.name),
                Some(t.vocab_size),
            ),
            State::Pending(m) | State::Processing(m) | State::Failed { message: m, .. } => {
                (m.clone(), None)
            }
        };
        TokenizerStatus {
            id: self.id.clone(),
            status: self.job_state(),
            message,
            vocab_size,
        }
    }
}

/// Entries by id (UUID v7, so in registration order) and an index by name.
#[derive(Default)]
struct Registry {
    entries: BTreeMap<String, Entry>,
    names: HashMap<String, String>,
}

impl Registry {
    /// By id, then by name.
    fn find(&self, key: &str) -> Option<&Entry> {
        self.entries
            .get(key)
            .or_else(|| self.names.get(key).and_then(|id| self.entries.get(id)))
    }

    fn insert(&mut self, entry: Entry) {
        self.names.insert(entry.name.clone(), entry.id.clone());
        self.entries.insert(entry.id.clone(), entry);
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        if self.names.get(&entry.name).map(String::as_str) == Some(id) {
            self.names.remove(&entry.name);
        }
        Some(entry)
    }

    fn loaded_names(&self) -> Vec<String> {
        self.entries
            .values()
            .filter(|e| matches!(e.state, State::Loaded(_)))
            .map(|e| e.name.clone())
            .collect()
    }

    /// Forget failed runtime registrations older than `retention`; returns their ids.
    fn sweep(&mut self, retention: Duration) -> Vec<String> {
        let expired: Vec<String> = self
            .entries
            .values()
            .filter(|e| {
                !e.restored
                    && matches!(e.state, State::Failed { at, .. } if at.elapsed() >= retention)
            })
            .map(|e| e.id.clone())
            .collect();
        for id in &expired {
            self.remove(id);
        }
        expired
    }
}

pub struct TokenizerService {
    store: Collection<StoredTokenizer>,
    hub: Hub,
    registry: RwLock<Registry>,
    /// Loads running at once.
    loads: Arc<Semaphore>,
    /// Blocking-pool encodes running at once.
    encodes: Arc<Semaphore>,
    /// Load jobs queued or running.
    in_flight: AtomicUsize,
    queue_capacity: usize,
    retention: Duration,
}

impl TokenizerService {
    /// Build the service and start its sweeper. Call [`restore`](Self::restore) next.
    pub fn start(config: &GatewayConfig, store: SharedStore) -> Arc<Self> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let service = Arc::new(Self {
            store: Collection::new(store, "tokenizers"),
            hub: Hub::new(
                &config.hf_endpoint,
                config.hf_cache_dir.clone(),
                Duration::from_secs(config.hf_hub_timeout_secs),
            ),
            registry: RwLock::new(Registry::default()),
            loads: Arc::new(Semaphore::new(config.tokenizer_load_concurrency.max(1))),
            encodes: Arc::new(Semaphore::new(cpus)),
            in_flight: AtomicUsize::new(0),
            queue_capacity: config.job_queue_capacity.max(1),
            retention: Duration::from_secs(config.job_status_retention_secs),
        });
        tokio::spawn(sweep(Arc::downgrade(&service)));
        service
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Reload every stored registration in the background; returns how many. A stored
    /// failure comes back as it was (not retried) for what is left of its retention period.
    pub async fn restore(self: &Arc<Self>) -> Result<usize, StoreError> {
        let records = self.store.list().await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        let mut count = 0;
        for (id, mut record) in records {
            let failed = record.failed.take().map(|f| {
                let age = Duration::from_millis(u64::try_from(now_ms - f.at_ms).unwrap_or(0));
                (f.message, age)
            });
            if failed
                .as_ref()
                .is_some_and(|(_, age)| *age >= self.retention)
            {
                self.store.delete(&id).await?;
                continue;
            }
            {
                let mut registry = self.write();
                if registry.entries.contains_key(&id) || registry.names.contains_key(&record.name) {
                    tracing::warn!(%id, name = %record.name, "skipping a stored tokenizer whose name is taken");
                    continue;
                }
                if let Some((message, age)) = failed {
                    registry.insert(Entry {
                        id,
                        name: record.name,
                        source: record.source,
                        chat_template_path: record.chat_template_path,
                        restored: false,
                        state: State::Failed {
                            message,
                            at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
                        },
                    });
                    continue;
                }
                registry.insert(Entry {
                    id: id.clone(),
                    state: State::Pending(format!(
                        "Tokenizer '{}' is queued for reloading from {} after a restart",
                        record.name, record.source
                    )),
                    name: record.name,
                    source: record.source,
                    chat_template_path: record.chat_template_path,
                    restored: true,
                });
            }
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            self.spawn_load(id);
            count += 1;
        }
        Ok(count)
    }

    /// `POST /v1/tokenizers`: persisted before the 202, then loaded in the background. A
    /// name whose previous registration failed can be registered again.
    pub async fn add(
        self: &Arc<Self>,
        request: AddTokenizerRequest,
    ) -> Result<AddTokenizerResponse, TokenizerError> {
        let name = request.name.trim().to_string();
        let source = request.source.trim().to_string();
        if name.is_empty() {
            return Err(TokenizerError::Invalid(
                "Tokenizer name must not be empty".into(),
            ));
        }
        if source.is_empty() {
            return Err(TokenizerError::Invalid(
                "Tokenizer source must not be empty".into(),
            ));
        }
        let chat_template_path = request
            .chat_template_path
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        let id = uuid::Uuid::now_v7().to_string();
        let replaced = {
            let mut registry = self.write();
            let taken = registry
                .names
                .get(&name)
                .and_then(|id| registry.entries.get(id));
            let replaced = match taken {
                Some(e) if matches!(e.state, State::Failed { .. }) => Some(e.id.clone()),
                Some(e) => {
                    return Err(TokenizerError::AlreadyExists {
                        name,
                        id: e.id.clone(),
                    });
                }
                _ => None,
            };
            if self.in_flight.load(Ordering::Relaxed) >= self.queue_capacity {
                return Err(TokenizerError::QueueFull {
                    capacity: self.queue_capacity,
                });
            }
            if let Some(old) = &replaced {
                registry.remove(old);
            }
            registry.insert(Entry {
                id: id.clone(),
                name: name.clone(),
                source: source.clone(),
                chat_template_path: chat_template_path.clone(),
                restored: false,
                state: State::Pending(format!(
                    "Tokenizer '{name}' is queued for loading from {source}"
                )),
            });
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            replaced
        };
        if let Some(old) = replaced
            && let Err(e) = self.store.delete(&old).await
        {
            tracing::warn!(id = %old, error = %e, "could not delete a replaced tokenizer registration");
        }
        let record = StoredTokenizer {
            id: id.clone(),
            name: name.clone(),
            source: source.clone(),
            chat_template_path,
            created_at_ms: chrono::Utc::now().timestamp_millis(),
            failed: None,
        };
        // Durable before the 202 (decision D6).
        if let Err(e) = self.store.put(&id, &record).await {
            self.write().remove(&id);
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(e.into());
        }
        self.spawn_load(id.clone());
        Ok(AddTokenizerResponse {
            id,
            status: JobState::Pending,
            message: format!(
                "Tokenizer '{name}' registration job submitted. Loading from: {source}"
            ),
            vocab_size: None,
        })
    }

    fn spawn_load(self: &Arc<Self>, id: String) {
        let service = Arc::clone(self);
        tokio::spawn(async move {
            service.run_load(&id).await;
            service.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }

    async fn run_load(&self, id: &str) {
        let Ok(_permit) = self.loads.clone().acquire_owned().await else {
            return;
        };
        // Gone meanwhile (deleted): nothing to do.
        let job = {
            let mut registry = self.write();
            let Some(entry) = registry.entries.get_mut(id) else {
                return;
            };
            entry.state = State::Processing(format!(
                "Loading tokenizer '{}' from {}",
                entry.name, entry.source
            ));
            (
                entry.name.clone(),
                entry.source.clone(),
                entry.chat_template_path.clone(),
            )
        };
        let (name, source, chat_template_path) = job;
        let started = Instant::now();
        match self.load(id, &name, &source, chat_template_path).await {
            Ok(loaded) => {
                let (vocab_size, template) = (loaded.vocab_size, loaded.chat_template.is_some());
                let mut registry = self.write();
                if let Some(entry) = registry.entries.get_mut(id) {
                    entry.state = State::Loaded(Arc::new(loaded));
                    tracing::info!(
                        %id, %name, %source, vocab_size, chat_template = template,
                        elapsed_ms = started.elapsed().as_millis() as u64, "tokenizer loaded"
                    );
                }
            }
            Err(err) => {
                let message = format!("Failed to load tokenizer '{name}' from {source}: {err}");
                tracing::warn!(%id, %name, %message, "tokenizer load failed");
                let restored = self.read().entries.get(id).map(|e| e.restored);
                // A new registration keeps its failure in the store (D3 across a restart);
                // a restored one stays as stored, to be reloaded again on the next start.
                if restored == Some(false) {
                    self.persist_failure(id, &message).await;
                }
                if let Some(entry) = self.write().entries.get_mut(id) {
                    entry.state = State::Failed {
                        message,
                        at: Instant::now(),
                    };
                }
            }
        }
    }

    /// Record a new registration's failure in its stored record. Written before the status
    /// turns `failed`; a record deleted meanwhile is not brought back.
    async fn persist_failure(&self, id: &str, message: &str) {
        let failed = StoredFailure {
            message: message.to_string(),
            at_ms: chrono::Utc::now().timestamp_millis(),
        };
        let result = match self.store.get(id).await {
            Ok(Some(mut record)) => {
                record.failed = Some(failed);
                self.store.put(id, &record).await
            }
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(%id, error = %e, "could not store a tokenizer registration's failure");
        }
        // Deleted while the record was being written: remove the record again.
        if !self.read().entries.contains_key(id)
            && let Err(e) = self.store.delete(id).await
        {
            tracing::warn!(%id, error = %e, "could not delete a removed tokenizer registration");
        }
    }

    /// Forget failed registrations past the retention period, in memory and in the store.
    async fn sweep_expired(&self, retention: Duration) {
        let expired = self.write().sweep(retention);
        for id in expired {
            if let Err(e) = self.store.delete(&id).await {
                tracing::warn!(%id, error = %e, "could not delete an expired tokenizer registration");
            }
        }
    }

    async fn load(
        &self,
        id: &str,
        name: &str,
        source: &str,
        chat_template_path: Option<String>,
    ) -> Result<LoadedTokenizer, LoadError> {
        let path = match source::classify(source)? {
            Source::Local(path) => path,
            Source::Hub { repo, revision } => {
                self.progress(
                    id,
                    format!(
                        "Downloading the tokenizer files of '{repo}' from the Hugging Face Hub at {}",
                        self.hub.endpoint()
                    ),
                );
                let dir = self.hub.fetch(&repo, revision.as_deref()).await?;
                self.progress(
                    id,
                    format!("Loading tokenizer '{name}' from {}", dir.display()),
                );
                dir
            }
        };
        let template = chat_template_path.map(PathBuf::from);
        tokio::task::spawn_blocking(move || source::load_local(&path, template.as_deref()))
            .await
            .map_err(|e| LoadError::new(format!("the load task failed: {e}")))?
    }

    fn progress(&self, id: &str, message: String) {
        if let Some(entry) = self.write().entries.get_mut(id)
            && matches!(entry.state, State::Processing(_))
        {
            entry.state = State::Processing(message);
        }
    }

    /// `GET /v1/tokenizers`: every registration, oldest first, with its status.
    pub fn list(&self) -> TokenizerList {
        TokenizerList {
            tokenizers: self.read().entries.values().map(Entry::info).collect(),
        }
    }

    /// `GET /v1/tokenizers/{id_or_name}`.
    pub fn get(&self, id_or_name: &str) -> Result<TokenizerInfo, TokenizerError> {
        self.read()
            .find(id_or_name)
            .map(Entry::info)
            .ok_or_else(|| TokenizerError::NotFound(id_or_name.to_string()))
    }

    /// `GET /v1/tokenizers/{id_or_name}/status`.
    pub fn status(&self, id_or_name: &str) -> Result<TokenizerStatus, TokenizerError> {
        self.read()
            .find(id_or_name)
            .map(Entry::status)
            .ok_or_else(|| TokenizerError::NoJob(id_or_name.to_string()))
    }

    /// `DELETE /v1/tokenizers/{id_or_name}`: synchronous; removed from the store before the
    /// answer. A load still running is abandoned.
    pub async fn delete(
        &self,
        id_or_name: &str,
    ) -> Result<DeleteTokenizerResponse, TokenizerError> {
        let (id, name) = self
            .read()
            .find(id_or_name)
            .map(|e| (e.id.clone(), e.name.clone()))
            .ok_or_else(|| TokenizerError::NotFound(id_or_name.to_string()))?;
        self.store.delete(&id).await?;
        self.write().remove(&id);
        tracing::info!(%id, %name, "tokenizer removed");
        Ok(DeleteTokenizerResponse {
            success: true,
            message: format!("Tokenizer '{name}' removed successfully"),
        })
    }

    /// The loaded tokenizer for `model` (a name or id; `""` or `"unknown"`: the first loaded).
    pub fn lookup(&self, model: &str) -> Result<Arc<LoadedTokenizer>, TokenizerError> {
        let registry = self.read();
        let loaded = |e: &Entry| match &e.state {
            State::Loaded(t) => Some(t.clone()),
            _ => None,
        };
        if model.trim().is_empty() || model == "unknown" {
            return registry.entries.values().find_map(loaded).ok_or_else(|| {
                TokenizerError::ModelNotFound {
                    model: model.to_string(),
                    available: Vec::new(),
                }
            });
        }
        match registry.find(model) {
            Some(entry) => match &entry.state {
                State::Loaded(t) => Ok(t.clone()),
                State::Pending(_) | State::Processing(_) => Err(TokenizerError::NotReady {
                    model: model.to_string(),
                    state: entry.job_state(),
                }),
                State::Failed { message, .. } => Err(TokenizerError::ModelFailed {
                    model: model.to_string(),
                    message: message.clone(),
                }),
            },
            None => Err(TokenizerError::ModelNotFound {
                model: model.to_string(),
                available: registry.loaded_names(),
            }),
        }
    }

    /// `POST /v1/tokenize`.
    pub async fn tokenize(
        &self,
        request: TokenizeRequest,
    ) -> Result<TokenizeResponse, TokenizerError> {
        let tokenizer = self.lookup(&request.model)?;
        let with_strs = request.return_token_strs;
        let prompt = request.prompt;
        let size = match &prompt {
            Prompt::Single(text) => text.len(),
            Prompt::Batch(texts) => texts.iter().map(String::len).sum(),
        };
        if size <= INLINE_MAX_BYTES {
            return encode(&tokenizer, prompt, with_strs);
        }
        let _permit = self
            .encodes
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| TokenizerError::Tokenization(e.to_string()))?;
        tokio::task::spawn_blocking(move || encode(&tokenizer, prompt, with_strs))
            .await
            .map_err(|e| TokenizerError::Tokenization(format!("the encode task failed: {e}")))?
    }

    /// `POST /v1/detokenize`.
    pub async fn detokenize(
        &self,
        request: DetokenizeRequest,
    ) -> Result<DetokenizeResponse, TokenizerError> {
        let tokenizer = self.lookup(&request.model)?;
        let skip = request.skip_special_tokens;
        let tokens = request.tokens;
        let size = match &tokens {
            TokenIds::Single(ids) => ids.len(),
            TokenIds::Batch(batch) => batch.iter().map(Vec::len).sum(),
        };
        if size <= INLINE_MAX_TOKENS {
            return decode(&tokenizer, tokens, skip);
        }
        let _permit = self
            .encodes
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| TokenizerError::Detokenization(e.to_string()))?;
        tokio::task::spawn_blocking(move || decode(&tokenizer, tokens, skip))
            .await
            .map_err(|e| TokenizerError::Detokenization(format!("the decode task failed: {e}")))?
    }
}

type Encoded = (Vec<u32>, usize, Option<Vec<String>>);

fn encode_one(
    tokenizer: &LoadedTokenizer,
    text: &str,
    with_strs: bool,
) -> Result<Encoded, TokenizerError> {
    let encoding = tokenizer
        .tokenizer
        .encode_fast(text, false)
        .map_err(|e| TokenizerError::Tokenization(e.to_string()))?;
    // `encode_fast` leaves the token strings empty: look them up in the vocabulary.
    let strs = with_strs.then(|| {
        encoding
            .get_ids()
            .iter()
            .map(|id| tokenizer.tokenizer.id_to_token(*id).unwrap_or_default())
            .collect()
    });
    Ok((encoding.get_ids().to_vec(), text.chars().count(), strs))
}

/// Encode without special tokens; the batch shape iff the prompt was an array.
pub fn encode(
    tokenizer: &LoadedTokenizer,
    prompt: Prompt,
    with_strs: bool,
) -> Result<TokenizeResponse, TokenizerError> {
    match prompt {
        Prompt::Single(text) => {
            let (tokens, char_count, token_strs) = encode_one(tokenizer, &text, with_strs)?;
            Ok(TokenizeResponse::Single {
                count: tokens.len(),
                tokens,
                char_count,
                token_strs,
            })
        }
        Prompt::Batch(texts) => {
            let mut tokens = Vec::with_capacity(texts.len());
            let mut count = Vec::with_capacity(texts.len());
            let mut char_count = Vec::with_capacity(texts.len());
            let mut strs = Vec::with_capacity(if with_strs { texts.len() } else { 0 });
            for text in &texts {
                let (ids, chars, token_strs) = encode_one(tokenizer, text, with_strs)?;
                count.push(ids.len());
                tokens.push(ids);
                char_count.push(chars);
                strs.extend(token_strs);
            }
            Ok(TokenizeResponse::Batch {
                tokens,
                count,
                char_count,
                token_strs: with_strs.then_some(strs),
            })
        }
    }
}

/// Decode one sequence or a batch.
pub fn decode(
    tokenizer: &LoadedTokenizer,
    tokens: TokenIds,
    skip_special_tokens: bool,
) -> Result<DetokenizeResponse, TokenizerError> {
    let one = |ids: &[u32]| {
        tokenizer
            .tokenizer
            .decode(ids, skip_special_tokens)
            .map_err(|e| TokenizerError::Detokenization(e.to_string()))
    };
    let text = match tokens {
        TokenIds::Single(ids) => DetokenizedText::Single(one(&ids)?),
        TokenIds::Batch(batch) => DetokenizedText::Batch(
            batch
                .iter()
                .map(|ids| one(ids))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(DetokenizeResponse { text })
}

async fn sweep(service: Weak<TokenizerService>) {
    loop {
        let period = match service.upgrade() {
            Some(s) => Duration::from_secs((s.retention.as_secs() / 5).clamp(1, 60)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        let retention = service.retention;
        service.sweep_expired(retention).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizers::testing::write_tokenizer;

    struct Fixture {
        _dir: tempfile::TempDir,
        tokdir: PathBuf,
        store: SharedStore,
        config: GatewayConfig,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let tokdir = dir.path().join("tok");
        std::fs::create_dir(&tokdir).unwrap();
        write_tokenizer(&tokdir);
        let store = crate::store::open(&dir.path().join("smg.db"))
            .await
            .unwrap();
        Fixture {
            _dir: dir,
            tokdir,
            store,
            config: GatewayConfig::default(),
        }
    }

    async fn settle(service: &TokenizerService, id: &str) -> TokenizerStatus {
        for _ in 0..200 {
            let status = service.status(id).unwrap();
            if matches!(status.status, JobState::Completed | JobState::Failed) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("tokenizer {id} did not settle");
    }

    fn add(name: &str, source: &std::path::Path) -> AddTokenizerRequest {
        AddTokenizerRequest::new(name, source.to_str().unwrap())
    }

    #[tokio::test]
    async fn lifecycle_conflict_and_encoding() {
        let f = fixture().await;
        let service = TokenizerService::start(&f.config, f.store.clone());
        let added = service.add(add("tiny", &f.tokdir)).await.unwrap();
        assert_eq!(added.status, JobState::Pending);
        let status = settle(&service, &added.id).await;
        assert_eq!(status.status, JobState::Completed, "{status:?}");
        assert_eq!(status.vocab_size, Some(5));
        assert_eq!(status.message, "Tokenizer 'tiny' is loaded and ready");

        let err = service.add(add("tiny", &f.tokdir)).await.unwrap_err();
        assert!(matches!(err, TokenizerError::AlreadyExists { ref id, .. } if *id == added.id));

        let encoded = service
            .tokenize(TokenizeRequest::new("tiny", "hello <s> world !").with_token_strs())
            .await
            .unwrap();
        assert_eq!(
            encoded,
            TokenizeResponse::Single {
                tokens: vec![2, 1, 3, 4],
                count: 4,
                char_count: 17,
                token_strs: Some(vec![
                    "hello".into(),
                    "<s>".into(),
                    "world".into(),
                    "!".into()
                ]),
            }
        );
        let decoded = service
            .detokenize(DetokenizeRequest::new(added.id.clone(), vec![2, 1, 3]))
            .await
            .unwrap();
        assert_eq!(decoded.text, DetokenizedText::Single("hello world".into()));
        let first = service
            .tokenize(TokenizeRequest::new("unknown", vec!["hello".to_string()]))
            .await
            .unwrap();
        assert!(first.is_batch());

        let err = service
            .tokenize(TokenizeRequest::new("nope", "x"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Tokenizer for model 'nope' not found. Available: tiny"
        );

        let deleted = service.delete("tiny").await.unwrap();
        assert_eq!(deleted.message, "Tokenizer 'tiny' removed successfully");
        assert!(matches!(
            service.status(&added.id),
            Err(TokenizerError::NoJob(_))
        ));
        assert!(service.list().tokenizers.is_empty());
        assert!(f.store.list("tokenizers").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn large_inputs_use_the_blocking_pool_and_match_inline_results() {
        let f = fixture().await;
        let service = TokenizerService::start(&f.config, f.store.clone());
        let added = service.add(add("tiny", &f.tokdir)).await.unwrap();
        settle(&service, &added.id).await;
        let big = "hello world ".repeat(INLINE_MAX_BYTES);
        let encoded = service
            .tokenize(TokenizeRequest::new("tiny", big.as_str()))
            .await
            .unwrap();
        assert_eq!(encoded.counts(), vec![2 * INLINE_MAX_BYTES]);
        let ids = encoded.token_ids()[0].to_vec();
        let decoded = service
            .detokenize(DetokenizeRequest::new("tiny", ids))
            .await
            .unwrap();
        assert_eq!(
            decoded.text,
            DetokenizedText::Single(big.trim_end().to_string())
        );
    }

    /// `#[tokio::test]` runs on a current-thread runtime: one thread for every task, so a
    /// timer can fire during an encode only if the encode runs off that thread.
    #[tokio::test]
    async fn a_large_encode_does_not_block_the_runtime() {
        let f = fixture().await;
        let service = TokenizerService::start(&f.config, f.store.clone());
        let added = service.add(add("tiny", &f.tokdir)).await.unwrap();
        settle(&service, &added.id).await;
        // ~5 MB: far longer to encode than the 1 ms timer, even in a release build.
        let big = "hello world ".repeat(400_000);
        let encoding = tokio::spawn({
            let service = service.clone();
            async move {
                service
                    .tokenize(TokenizeRequest::new("tiny", big.as_str()))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert!(
            !encoding.is_finished(),
            "the timer fired only after the encode had finished"
        );
        let encoded = encoding.await.unwrap().unwrap();
        assert_eq!(encoded.counts(), vec![800_000]);
    }

    #[tokio::test]
    async fn failure_keeps_its_reason_and_frees_the_name() {
        let f = fixture().await;
        let service = TokenizerService::start(&f.config, f.store.clone());
        let missing = f.tokdir.join("missing.json");
        let added = service.add(add("broken", &missing)).await.unwrap();
        let status = settle(&service, &added.id).await;
        assert_eq!(status.status, JobState::Failed);
        assert!(
            status.message.contains("missing.json"),
            "{}",
            status.message
        );
        assert!(
            status.message.contains("no such file"),
            "{}",
            status.message
        );
        // Listed with its reason, and stored with it for a restart (D3).
        let stored = f.store.list("tokenizers").await.unwrap();
        assert_eq!(stored.len(), 1);
        let info = service.get("broken").unwrap();
        assert_eq!(info.status, Some(JobState::Failed));
        let err = service
            .tokenize(TokenizeRequest::new("broken", "x"))
            .await
            .unwrap_err();
        assert!(matches!(err, TokenizerError::ModelFailed { .. }), "{err}");

        // The name can be registered again with a good source.
        let again = service.add(add("broken", &f.tokdir)).await.unwrap();
        assert_eq!(
            settle(&service, &again.id).await.status,
            JobState::Completed
        );
        assert!(service.status(&added.id).is_err());
        // The failed record was replaced in the store too.
        let stored = f.store.list("tokenizers").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].0, again.id);

        // Expiry after the retention period.
        service.write().entries.values_mut().for_each(|e| {
            e.state = State::Failed {
                message: "x".into(),
                at: Instant::now(),
            }
        });
        service.sweep_expired(Duration::ZERO).await;
        assert!(service.list().tokenizers.is_empty());
    }

    #[tokio::test]
    async fn a_failure_keeps_its_reason_across_a_restart_until_it_expires() {
        let f = fixture().await;
        let missing = f.tokdir.join("missing.json");
        let (id, reason) = {
            let service = TokenizerService::start(&f.config, f.store.clone());
            let added = service.add(add("broken", &missing)).await.unwrap();
            let status = settle(&service, &added.id).await;
            assert_eq!(status.status, JobState::Failed);
            (added.id, status.message)
        };

        // Restarted within the retention period: the same failure, not retried.
        let service = TokenizerService::start(&f.config, f.store.clone());
        assert_eq!(service.restore().await.unwrap(), 0);
        let status = service.status("broken").unwrap();
        assert_eq!(status.id, id);
        assert_eq!(status.status, JobState::Failed);
        assert_eq!(status.message, reason);
        // It keeps the rest of its retention period, then goes from the store too.
        service
            .sweep_expired(Duration::from_secs(f.config.job_status_retention_secs))
            .await;
        assert!(service.status(&id).is_ok());
        service.sweep_expired(Duration::ZERO).await;
        assert!(service.status(&id).is_err());
        assert!(f.store.list("tokenizers").await.unwrap().is_empty());

        // A stored failure older than the retention period is dropped at start-up.
        let service = TokenizerService::start(&f.config, f.store.clone());
        let added = service.add(add("broken", &missing)).await.unwrap();
        settle(&service, &added.id).await;
        let config = GatewayConfig {
            job_status_retention_secs: 0,
            ..f.config.clone()
        };
        let service = TokenizerService::start(&config, f.store.clone());
        assert_eq!(service.restore().await.unwrap(), 0);
        assert!(service.list().tokenizers.is_empty());
        assert!(f.store.list("tokenizers").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn restore_reloads_stored_registrations() {
        let f = fixture().await;
        let id = {
            let service = TokenizerService::start(&f.config, f.store.clone());
            let template = f.tokdir.join("t.tmpl");
            std::fs::write(&template, "{{ messages }}").unwrap();
            let request = add("tiny", &f.tokdir).with_chat_template(template.to_str().unwrap());
            let added = service.add(request).await.unwrap();
            assert_eq!(
                settle(&service, &added.id).await.status,
                JobState::Completed
            );
            added.id
        };
        let service = TokenizerService::start(&f.config, f.store.clone());
        assert_eq!(service.restore().await.unwrap(), 1);
        assert_eq!(settle(&service, &id).await.status, JobState::Completed);
        let info = service.get("tiny").unwrap();
        assert_eq!(info.id, id);
        assert!(info.chat_template);

        // A stored registration whose reload fails stays listed and stored.
        std::fs::remove_file(f.tokdir.join("tokenizer.json")).unwrap();
        let service = TokenizerService::start(&f.config, f.store.clone());
        service.restore().await.unwrap();
        assert_eq!(settle(&service, &id).await.status, JobState::Failed);
        service.sweep_expired(Duration::ZERO).await;
        assert_eq!(service.list().tokenizers.len(), 1);
        assert_eq!(f.store.list("tokenizers").await.unwrap().len(), 1);
        // Stored as it was, without the failure: the next start reloads it again.
        let service = TokenizerService::start(&f.config, f.store.clone());
        assert_eq!(service.restore().await.unwrap(), 1);
    }
}
