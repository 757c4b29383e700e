//! Worker operations behind `/workers`: validation, durable writes before every 202, the
//! bounded job queues, and the jobs themselves. Free of HTTP; routes map [`WorkerError`].
//!
//! Concurrency: registrations and replacements share one bounded queue; at most
//! `job_queue_capacity` of them are in progress, and at most `job_concurrency` talk to workers
//! at once. A job waiting for its worker to come up holds no `job_concurrency` permit between
//! probes, so unreachable workers never stall the others. Removals have their own lane: they
//! only wait out the drain period and never queue behind registrations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smg_sdk::{
    ConnectionMode, JobState, JobStatus, WorkerAccepted, WorkerCreated, WorkerInfo,
    WorkerListStats, WorkerSpec, WorkerStatus, WorkerType, WorkerUpdateRequest,
};
use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc};

use super::health::HealthChecker;
use super::jobs::{ADD_WORKER, JobTracker, REMOVE_WORKER};
use super::registration::Registration;
use super::registry::{Registry, Worker};
use super::url::validate_worker_url;
use crate::config::GatewayConfig;
use crate::store::{Collection, SharedStore, StoreError};
use crate::upstream::WorkerHttp;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    InvalidUrl(String),
    #[error("Invalid worker_id '{raw}' (expected UUID). Error: {reason}")]
    InvalidId { raw: String, reason: String },
    #[error(
        "Worker already exists at URL '{url}' with ID {id}. Use PUT /workers/{id} to replace or PATCH /workers/{id} to update."
    )]
    AlreadyExists { url: String, id: String },
    #[error(
        "Worker at URL '{url}' is already being registered with ID {id}; wait for GET /workers/{id} to settle"
    )]
    RegistrationInFlight { url: String, id: String },
    #[error("Worker {0} not found")]
    NotFound(String),
    #[error(
        "Worker {0} is still being registered; retry once GET /workers/{0} shows it registered"
    )]
    NotRegisteredYet(String),
    #[error(
        "URL mismatch: worker has URL '{existing}' but request body has '{requested}'. URL changes are not supported via PUT. Use DELETE + POST instead."
    )]
    UrlMismatch { existing: String, requested: String },
    #[error("Job queue full: {capacity} jobs pending (capacity: {capacity})")]
    QueueFull { capacity: usize },
    #[error("could not persist the change: {0}")]
    Store(#[from] StoreError),
}

/// A worker as stored: the spec *with* its API key, and whether registration finished.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredWorker {
    pub spec: serde_json::Value,
    pub registered: bool,
    /// A PUT that was acknowledged but has not succeeded yet. It is re-run after a restart
    /// and dropped when its job fails, so `spec` is always the last good one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<serde_json::Value>,
}

impl StoredWorker {
    fn new(spec: &WorkerSpec, registered: bool) -> Self {
        Self {
            spec: spec.to_request_json(),
            registered,
            replacement: None,
        }
    }
}

/// Why this gateway cannot talk to a worker (gRPC and ZMQ connections), if it cannot.
fn unsupported_reason(spec: &WorkerSpec) -> Option<String> {
    (spec.connection_mode != ConnectionMode::Http).then(|| {
        format!(
            "Worker registered but {} connections are not supported by this gateway yet: it cannot be probed, queried or routed to",
            spec.connection_mode
        )
    })
}

/// `POST /workers` body: a spec, plus seed 000's `model_id` shorthand for one model card.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CreateWorkerRequest {
    #[serde(flatten)]
    pub spec: WorkerSpec,
    #[serde(default)]
    pub model_id: Option<String>,
}

/// A registration (POST, start-up) or a replacement (PUT).
struct Job {
    id: String,
    spec: Box<WorkerSpec>,
    /// Set for PUT: the revision the replace was based on.
    replace_revision: Option<u64>,
    /// Start-up `--worker-urls` workers are not written to the store.
    persist: bool,
}

pub struct WorkerService {
    config: Arc<GatewayConfig>,
    pub registry: Arc<Registry>,
    pub jobs: Arc<JobTracker>,
    health: HealthChecker,
    store: Collection<StoredWorker>,
    http: WorkerHttp,
    /// Registrations and replacements.
    queue: mpsc::Sender<Job>,
    /// Removals (worker ids), apart so they never wait behind registrations.
    removals: mpsc::Sender<String>,
    /// Permits to talk to workers: held for each probe and discovery, never while sleeping.
    work: Arc<Semaphore>,
    /// Serialises the store's read-modify-write sequences with deletions, so a job finishing
    /// late never writes back a worker that was deleted meanwhile.
    store_writes: AsyncMutex<()>,
    /// Specs of workers whose registration has not finished, for the pending form of GET.
    pending: Mutex<HashMap<String, Arc<WorkerSpec>>>,
}

pub fn parse_worker_id(raw: &str) -> Result<(), WorkerError> {
    uuid::Uuid::parse_str(raw)
        .map(|_| ())
        .map_err(|e| WorkerError::InvalidId {
            raw: raw.to_string(),
            reason: e.to_string(),
        })
}

impl WorkerService {
    /// A worker under this gateway's circuit-breaker defaults (`--cb-*`).
    fn new_worker(&self, id: String, spec: WorkerSpec, status: WorkerStatus) -> Arc<Worker> {
        Arc::new(Worker::with_breaker_defaults(
            id,
            spec,
            status,
            self.config.breaker(),
        ))
    }

    /// Build the service and start its job dispatcher, sweeper and failure listener.
    pub fn start(config: Arc<GatewayConfig>, store: SharedStore, http: WorkerHttp) -> Arc<Self> {
        let capacity = config.job_queue_capacity.max(1);
        let (queue, rx) = mpsc::channel(capacity);
        let (removals, removals_rx) = mpsc::channel(capacity);
        let (failed_tx, failed_rx) = mpsc::unbounded_channel();
        let service = Arc::new(Self {
            health: HealthChecker::new(http.clone(), config.clone(), failed_tx),
            registry: Arc::new(Registry::default()),
            jobs: Arc::new(JobTracker::new(Duration::from_secs(
                config.job_status_retention_secs,
            ))),
            store: Collection::new(store, "workers"),
            http,
            queue,
            removals,
            work: Arc::new(Semaphore::new(config.job_concurrency.max(1))),
            store_writes: AsyncMutex::new(()),
            pending: Mutex::new(HashMap::new()),
            config,
        });
        tokio::spawn(dispatch(Arc::downgrade(&service), rx, capacity));
        tokio::spawn(dispatch_removals(Arc::downgrade(&service), removals_rx));
        tokio::spawn(sweep(Arc::downgrade(&service)));
        tokio::spawn(remove_failed(Arc::downgrade(&service), failed_rx));
        service
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<WorkerSpec>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-register the workers in the store. Registered ones come back at once as pending
    /// and turn ready on their first good probe; unfinished registrations and acknowledged
    /// replacements are re-queued; workers this gateway cannot talk to come back `failed`
    /// with their reason.
    pub async fn restore(&self) -> Result<usize, StoreError> {
        let records = self.store.list().await?;
        let count = records.len();
        for (id, record) in records {
            let decode = |value: serde_json::Value| {
                serde_json::from_value::<WorkerSpec>(value).map_err(|e| StoreError::Corrupt {
                    kind: "workers".into(),
                    id: id.clone(),
                    message: e.to_string(),
                })
            };
            let spec = decode(record.spec)?;
            let replacement = record.replacement.map(decode).transpose()?;
            self.registry.reserve(&id, &spec.url);
            let queued = if record.registered {
                let worker = self.new_worker(id.clone(), spec, WorkerStatus::Pending);
                self.registry.insert(worker.clone());
                if !self.mark_if_unsupported(&worker) {
                    self.health.watch(worker.clone(), true, true);
                }
                match replacement {
                    Some(next) => self.enqueue_add(id, next, Some(worker.revision()), true),
                    None => Ok(()),
                }
            } else {
                self.enqueue_add(id, spec, None, true)
            };
            queued.map_err(|e| StoreError::Backend(e.to_string()))?;
        }
        Ok(count)
    }

    /// A worker this gateway cannot talk to is `failed` at once, with a reason that lasts as
    /// long as the worker does (rather than a pending worker whose probes quietly fail).
    fn mark_if_unsupported(&self, worker: &Worker) -> bool {
        let Some(reason) = unsupported_reason(&worker.spec()) else {
            return false;
        };
        worker.set_status(WorkerStatus::Failed);
        self.jobs.fail_lasting(&worker.url(), ADD_WORKER, reason);
        true
    }

    /// Register a start-up worker (from `--worker-urls`) unless the store already has it.
    pub fn add_startup_worker(&self, url: &str) -> Result<(), WorkerError> {
        let mut spec = WorkerSpec::new(url);
        spec.connection_mode = validate_worker_url(url).map_err(WorkerError::InvalidUrl)?;
        let id = self.registry.reserve_id_for_url(url);
        if self.registry.is_registered(&id) || self.jobs.get(url).is_some() {
            return Ok(());
        }
        self.enqueue_add(id, spec, None, false)
    }

    fn enqueue_add(
        &self,
        id: String,
        spec: WorkerSpec,
        replace_revision: Option<u64>,
        persist: bool,
    ) -> Result<(), WorkerError> {
        let url = spec.url.clone();
        if replace_revision.is_none() {
            self.pending().insert(id.clone(), Arc::new(spec.clone()));
        }
        self.jobs.set(&url, ADD_WORKER, JobState::Pending, None);
        let job = Job {
            id: id.clone(),
            spec: Box::new(spec),
            replace_revision,
            persist,
        };
        self.queue.try_send(job).map_err(|_| {
            self.jobs.clear(&url);
            self.pending().remove(&id);
            WorkerError::QueueFull {
                capacity: self.config.job_queue_capacity,
            }
        })
    }

    /// `POST /workers`.
    pub async fn create(&self, request: CreateWorkerRequest) -> Result<WorkerCreated, WorkerError> {
        let CreateWorkerRequest { mut spec, model_id } = request;
        spec.connection_mode = validate_worker_url(&spec.url).map_err(WorkerError::InvalidUrl)?;
        if spec.models.is_empty()
            && let Some(model_id) = model_id
        {
            spec.models.push(smg_sdk::ModelCard::new(model_id));
        }
        let url = spec.url.clone();
        let id = self.registry.reserve_id_for_url(&url);
        if self.registry.is_registered(&id) {
            return Err(WorkerError::AlreadyExists { url, id });
        }
        if matches!(self.jobs.get(&url), Some(job) if job.status != JobState::Failed) {
            return Err(WorkerError::RegistrationInFlight { url, id });
        }
        // Durable before the 202 (decision D6).
        self.store
            .put(&id, &StoredWorker::new(&spec, false))
            .await?;
        if let Err(e) = self.enqueue_add(id.clone(), spec, None, true) {
            let _ = self.store.delete(&id).await;
            return Err(e);
        }
        Ok(WorkerCreated {
            status: "accepted".into(),
            location: format!("/workers/{id}"),
            worker_id: id,
            url,
            message: "Worker addition queued for background processing".into(),
        })
    }

    /// `GET /workers[?model=]`: the `WorkerListResponse` document rendered straight to JSON
    /// bytes from each worker's cached spec fields, which keeps large fleets fast.
    pub fn list_json(&self, model: Option<&str>) -> Vec<u8> {
        let mut pieces = self.list_pieces(model);
        let mut out = Vec::new();
        while let Some(piece) = pieces.next_piece() {
            out.extend_from_slice(&piece);
        }
        out
    }

    /// The same document in pieces of [`WORKERS_PER_PIECE`] workers, rendered one at a time
    /// as they are asked for: a large list is written to the socket while the rest is still
    /// being rendered. The worker set is the one registered now.
    pub fn list_pieces(&self, model: Option<&str>) -> WorkerListPieces {
        let workers: Vec<Arc<Worker>> = self
            .registry
            .all()
            .into_iter()
            .filter(|w| model.is_none_or(|m| w.spec().serves(m)))
            .collect();
        WorkerListPieces {
            jobs: (!self.jobs.is_empty()).then(|| self.jobs.clone()),
            workers,
            next: 0,
            stats: WorkerListStats::default(),
            done: false,
        }
    }

    /// `GET /workers/{id}`: the worker, or the pending form while its registration job is
    /// tracked (including a failure, for the retention period).
    pub fn get(&self, id: &str) -> Result<WorkerInfo, WorkerError> {
        parse_worker_id(id)?;
        if let Some(worker) = self.registry.get(id) {
            let job = self.jobs.get(&worker.url());
            return Ok(worker.info(job));
        }
        let url = self
            .registry
            .reserved_url(id)
            .ok_or_else(|| WorkerError::NotFound(id.to_string()))?;
        let job = self
            .jobs
            .get(&url)
            .ok_or_else(|| WorkerError::NotFound(id.to_string()))?;
        let spec = self
            .pending()
            .get(id)
            .cloned()
            .unwrap_or_else(|| Arc::new(WorkerSpec::new(url)));
        Ok(pending_info(id, spec, job))
    }

    fn registered(&self, id: &str) -> Result<Arc<Worker>, WorkerError> {
        parse_worker_id(id)?;
        if let Some(worker) = self.registry.get(id) {
            return Ok(worker);
        }
        match self.registry.reserved_url(id) {
            Some(url) if matches!(self.jobs.get(&url), Some(j) if j.status != JobState::Failed) => {
                Err(WorkerError::NotRegisteredYet(id.to_string()))
            }
            _ => Err(WorkerError::NotFound(id.to_string())),
        }
    }

    /// `PATCH /workers/{id}`: merged and persisted before the 202, applied at once.
    pub async fn update(
        &self,
        id: &str,
        update: WorkerUpdateRequest,
    ) -> Result<WorkerAccepted, WorkerError> {
        let worker = self.registered(id)?;
        let mut spec = (*worker.spec()).clone();
        if let Some(priority) = update.priority {
            spec.priority = priority;
        }
        if let Some(cost) = update.cost {
            spec.cost = cost;
        }
        if let Some(labels) = update.labels {
            spec.labels.extend(labels);
        }
        if let Some(key) = update.api_key {
            spec.api_key = Some(key);
        }
        let health_changed = update.health.is_some_and(|h| !h.is_empty());
        if let Some(health) = update.health {
            spec.health = spec.health.merged_with(&health);
        }
        {
            let _writes = self.store_writes.lock().await;
            if let Some(mut record) = self.store.get(id).await? {
                record.spec = spec.to_request_json();
                record.registered = true;
                self.store.put(id, &record).await?;
            }
        }
        worker.set_spec(spec);
        if health_changed {
            let probe_now = worker.status() != WorkerStatus::Ready;
            self.health.watch(worker, probe_now, false);
        }
        Ok(accepted(
            id,
            "Worker update queued for background processing",
        ))
    }

    /// `PUT /workers/{id}`: full replace, re-running registration. The new spec is stored as
    /// a pending replacement before the 202 and becomes the stored spec only when the job
    /// succeeds.
    pub async fn replace(
        &self,
        id: &str,
        mut spec: WorkerSpec,
    ) -> Result<WorkerAccepted, WorkerError> {
        let worker = self.registered(id)?;
        let existing = worker.url();
        if spec.url != existing {
            return Err(WorkerError::UrlMismatch {
                existing,
                requested: spec.url,
            });
        }
        spec.connection_mode = validate_worker_url(&spec.url).map_err(WorkerError::InvalidUrl)?;
        let requested = spec.to_request_json();
        let _writes = self.store_writes.lock().await;
        let mut record = self.store.get(id).await?;
        if let Some(record) = record.as_mut() {
            record.replacement = Some(requested);
            self.store.put(id, record).await?;
        }
        let persisted = record.is_some();
        if let Err(e) = self.enqueue_add(id.to_string(), spec, Some(worker.revision()), persisted) {
            if let Some(mut record) = record {
                record.replacement = None;
                self.store.put(id, &record).await?;
            }
            return Err(e);
        }
        Ok(accepted(
            id,
            "Worker update queued for background processing",
        ))
    }

    /// `DELETE /workers/{id}`: removed from the store before the 202, then drained. A DELETE
    /// of a worker already being removed is accepted again without a second job.
    pub async fn delete(&self, id: &str) -> Result<WorkerAccepted, WorkerError> {
        parse_worker_id(id)?;
        let _writes = self.store_writes.lock().await;
        let Some(worker) = self.registry.get(id) else {
            // Registration not finished (or failed): cancel it; the job notices.
            let url = self
                .registry
                .reserved_url(id)
                .filter(|url| self.jobs.get(url).is_some())
                .ok_or_else(|| WorkerError::NotFound(id.to_string()))?;
            self.store.delete(id).await?;
            self.registry.release(id);
            self.pending().remove(id);
            self.jobs.clear(&url);
            return Ok(accepted(
                id,
                "Worker removal queued for background processing",
            ));
        };
        let url = worker.url();
        let removing = |j: &JobStatus| j.job_type == REMOVE_WORKER && j.status != JobState::Failed;
        if self.jobs.get(&url).is_some_and(|j| removing(&j)) {
            return Ok(accepted(
                id,
                "Worker removal queued for background processing",
            ));
        }
        let stored = self.store.get(id).await?;
        self.store.delete(id).await?;
        self.jobs.set(&url, REMOVE_WORKER, JobState::Pending, None);
        if self.removals.try_send(id.to_string()).is_err() {
            self.jobs.clear(&url);
            if let Some(record) = stored {
                self.store.put(id, &record).await?;
            }
            return Err(WorkerError::QueueFull {
                capacity: self.config.job_queue_capacity,
            });
        }
        Ok(accepted(
            id,
            "Worker removal queued for background processing",
        ))
    }

    async fn run_add(&self, job: Job) {
        let Job {
            id,
            spec,
            replace_revision,
            persist,
        } = job;
        let spec = *spec;
        let url = spec.url.clone();
        let still_wanted = |s: &Self| s.registry.reserved_url(&id).as_deref() == Some(url.as_str());
        if !still_wanted(self) {
            return;
        }
        // What a PUT stored as its pending replacement, to settle it when this job ends.
        let requested = replace_revision.map(|_| spec.to_request_json());
        self.jobs.set(&url, ADD_WORKER, JobState::Processing, None);
        let registration = Registration {
            http: &self.http,
            config: &self.config,
        };
        let http_worker = spec.connection_mode == ConnectionMode::Http;
        if http_worker
            && let Err(message) = registration.wait_until_reachable(&spec, &self.work).await
        {
            tracing::warn!(%url, %message, "worker registration failed");
            let _writes = self.store_writes.lock().await;
            if still_wanted(self) {
                self.jobs.fail(&url, ADD_WORKER, message);
                match &requested {
                    None => {
                        let _ = self.store.delete(&id).await;
                    }
                    Some(requested) => self.drop_replacement(&id, requested).await,
                }
            }
            return;
        }
        let resolved = {
            let Ok(_permit) = self.work.acquire().await else {
                return;
            };
            registration.resolve(spec).await
        };
        let _writes = self.store_writes.lock().await;
        // A DELETE while we were probing cancels the registration.
        if !still_wanted(self) {
            return;
        }
        let outcome = match replace_revision {
            None => {
                if self.registry.is_registered(&id) {
                    Err("Workflow failed at step register_workers: the URL was registered concurrently".to_string())
                } else {
                    let worker = self.new_worker(id.clone(), resolved.clone(), WorkerStatus::Ready);
                    let unsupported = self.mark_if_unsupported(&worker);
                    self.registry.insert(worker.clone());
                    if !unsupported {
                        self.health.watch(worker, false, false);
                    }
                    Ok(())
                }
            }
            Some(expected) => match self.registry.get(&id) {
                Some(worker) if worker.revision() == expected => {
                    worker.set_spec(resolved.clone());
                    if !self.mark_if_unsupported(&worker) {
                        self.health.watch(worker, false, false);
                    }
                    Ok(())
                }
                _ => Err("Workflow failed at step register_workers: the worker was changed or removed while being replaced".to_string()),
            },
        };
        self.pending().remove(&id);
        if let Err(message) = outcome {
            if let Some(requested) = &requested {
                self.drop_replacement(&id, requested).await;
            }
            self.jobs.fail(&url, ADD_WORKER, message);
            return;
        }
        if persist {
            let written = match &requested {
                None => {
                    self.store
                        .put(&id, &StoredWorker::new(&resolved, true))
                        .await
                }
                Some(requested) => {
                    self.settle_replacement(&id, requested, Some(&resolved))
                        .await
                }
            };
            if let Err(e) = written {
                tracing::error!(%url, error = %e, "registered worker could not be persisted");
                self.jobs.fail(
                    &url,
                    ADD_WORKER,
                    format!("registered, but could not be persisted: {e}"),
                );
                return;
            }
        }
        if http_worker {
            tracing::info!(%url, %id, model = resolved.primary_model().unwrap_or("*"), "worker registered");
            self.jobs.clear(&url);
        }
    }

    /// Settle a PUT's pending replacement in the store (the caller holds `store_writes`):
    /// the applied spec, if any, becomes the stored one, and the pending replacement is
    /// dropped if it is still this job's (a later PUT may have superseded it). A worker
    /// deleted meanwhile stays deleted.
    async fn settle_replacement(
        &self,
        id: &str,
        requested: &serde_json::Value,
        applied: Option<&WorkerSpec>,
    ) -> Result<(), StoreError> {
        let Some(mut record) = self.store.get(id).await? else {
            return Ok(());
        };
        if let Some(spec) = applied {
            record.spec = spec.to_request_json();
        }
        if record.replacement.as_ref() == Some(requested) {
            record.replacement = None;
        }
        self.store.put(id, &record).await
    }

    /// A failed PUT leaves the stored spec as it was.
    async fn drop_replacement(&self, id: &str, requested: &serde_json::Value) {
        if let Err(e) = self.settle_replacement(id, requested, None).await {
            // The rejected spec stays pending in the store and is retried after a restart.
            tracing::error!(%id, error = %e, "could not drop a failed replacement from the store");
        }
    }

    async fn run_remove(&self, id: &str) {
        let Some(worker) = self.registry.get(id) else {
            return;
        };
        let url = worker.url();
        self.jobs
            .set(&url, REMOVE_WORKER, JobState::Processing, None);
        self.health.unwatch(id);
        if worker.status() == WorkerStatus::Ready {
            worker.set_status(WorkerStatus::Draining);
            let settle = worker
                .spec()
                .health
                .drain_settle_secs
                .unwrap_or(self.config.drain_settle_secs);
            tokio::time::sleep(Duration::from_secs(settle)).await;
        } else {
            worker.set_status(WorkerStatus::Draining);
        }
        self.registry.remove(id);
        self.jobs.clear(&url);
        tracing::info!(%url, %id, "worker removed");
    }

    /// Worker jobs queued and not yet picked up.
    pub fn queue_depth(&self) -> usize {
        (self.queue.max_capacity() - self.queue.capacity())
            + (self.removals.max_capacity() - self.removals.capacity())
    }

    /// Workers that can take traffic.
    pub fn ready_workers(&self) -> Vec<Arc<Worker>> {
        self.registry
            .all()
            .into_iter()
            .filter(|w| w.is_ready())
            .collect()
    }
}

fn accepted(id: &str, message: &str) -> WorkerAccepted {
    WorkerAccepted {
        status: "accepted".into(),
        worker_id: id.to_string(),
        message: message.into(),
    }
}

fn pending_info(id: &str, spec: Arc<WorkerSpec>, job: JobStatus) -> WorkerInfo {
    WorkerInfo {
        id: id.to_string(),
        model_id: None,
        spec,
        is_healthy: false,
        status: Some(WorkerStatus::Pending),
        load: 0,
        circuit_breaker: None,
        job_status: Some(job),
        engine_load: None,
    }
}

/// Run registrations: at most `slots` in progress (the rest wait in the bounded queue, so a
/// full queue answers 503); their calls to workers are limited by `WorkerService::work`.
async fn dispatch(
    service: std::sync::Weak<WorkerService>,
    mut rx: mpsc::Receiver<Job>,
    slots: usize,
) {
    let slots = Arc::new(Semaphore::new(slots));
    while let Some(job) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(service) = service.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            service.run_add(job).await;
            drop(slot);
        });
    }
}

/// Run removals at once: each only waits out its drain period, and there is at most one
/// per registered worker (a repeated DELETE starts no second job).
async fn dispatch_removals(
    service: std::sync::Weak<WorkerService>,
    mut rx: mpsc::Receiver<String>,
) {
    while let Some(id) = rx.recv().await {
        let Some(service) = service.upgrade() else {
            return;
        };
        tokio::spawn(async move { service.run_remove(&id).await });
    }
}

async fn sweep(service: std::sync::Weak<WorkerService>) {
    loop {
        let period = match service.upgrade() {
            Some(s) => Duration::from_secs((s.config.job_status_retention_secs / 5).clamp(1, 60)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(service) = service.upgrade() else {
            return;
        };
        service.jobs.sweep();
        // Forget reservations whose registration failed and has expired.
        for id in service.registry.reserved_ids() {
            if service.registry.is_registered(&id) {
                continue;
            }
            if let Some(url) = service.registry.reserved_url(&id)
                && service.jobs.get(&url).is_none()
            {
                service.registry.release(&id);
                service.pending().remove(&id);
            }
        }
    }
}

async fn remove_failed(
    service: std::sync::Weak<WorkerService>,
    mut failed: mpsc::UnboundedReceiver<String>,
) {
    while let Some(id) = failed.recv().await {
        let Some(service) = service.upgrade() else {
            return;
        };
        if service.config.remove_unhealthy_workers {
            tracing::warn!(%id, "removing failed worker (--remove-unhealthy-workers)");
            if let Err(e) = service.delete(&id).await {
                tracing::error!(%id, error = %e, "could not remove failed worker");
            }
        }
    }
}

/// Workers rendered per piece of a streamed `GET /workers` (about 1 KiB each).
const WORKERS_PER_PIECE: usize = 256;

/// A `GET /workers` document being rendered piece by piece; see
/// [`WorkerService::list_pieces`].
pub struct WorkerListPieces {
    /// Registration jobs to show beside workers; `None` when none are tracked.
    jobs: Option<Arc<JobTracker>>,
    workers: Vec<Arc<Worker>>,
    next: usize,
    stats: WorkerListStats,
    done: bool,
}

impl WorkerListPieces {
    /// The next piece of the document, `None` once it is complete.
    pub fn next_piece(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let end = (self.next + WORKERS_PER_PIECE).min(self.workers.len());
        let mut out = Vec::with_capacity((end - self.next) * 1024 + 128);
        if self.next == 0 {
            out.extend_from_slice(b"{\"workers\":[");
        }
        for (i, worker) in self.workers[self.next..end].iter().enumerate() {
            if self.next + i > 0 {
                out.push(b',');
            }
            match worker.spec().worker_type {
                WorkerType::Prefill => self.stats.prefill_count += 1,
                WorkerType::Decode => self.stats.decode_count += 1,
                WorkerType::Regular => self.stats.regular_count += 1,
                WorkerType::Encode => {}
            }
            let job = self.jobs.as_ref().and_then(|jobs| jobs.get(&worker.url()));
            worker.write_info_json(&mut out, job.as_ref());
        }
        self.next = end;
        if end == self.workers.len() {
            out.extend_from_slice(
                format!("],\"total\":{},\"stats\":", self.workers.len()).as_bytes(),
            );
            let _ = serde_json::to_writer(&mut out, &self.stats);
            out.push(b'}');
            self.done = true;
        }
        Some(out)
    }
}
