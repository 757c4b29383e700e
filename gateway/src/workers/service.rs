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
    ConnectionMode, FlushCacheResponse, JobKind, JobState, JobStatus, RETIRE_DRAIN_TIMED_OUT,
    WorkerAccepted, WorkerCreated, WorkerInfo, WorkerListStats, WorkerSpec, WorkerStatus,
    WorkerType, WorkerUpdateRequest,
};
use tokio::sync::{Mutex as AsyncMutex, Semaphore, mpsc};

use super::health::HealthChecker;
use super::jobs::JobTracker;
use super::queue::{JobQueue, JobReceiver, Refused};
use super::registration::Registration;
use super::registry::{Registry, Worker};
use super::url::validate_worker_url;
use crate::config::GatewayConfig;
use crate::loads::Fanout;
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
    #[error(
        "Job queue full: {waiting} jobs pending (capacity: {capacity}); retry once the backlog drains (GET /workers shows it), or raise --job-queue-capacity"
    )]
    QueueFull { waiting: usize, capacity: usize },
    #[error("the gateway is shutting down; retry against another replica or after it restarts")]
    ShuttingDown,
    #[error("Worker {0} is already being removed")]
    BeingRemoved(String),
    #[error("timeout_secs must be at most {max} (one week), got {got}")]
    InvalidTimeout { got: u64, max: u64 },
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
    /// An acknowledged retirement (its drain timeout, in seconds) that has not finished; it
    /// starts again after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_timeout_secs: Option<u64>,
}

impl StoredWorker {
    fn new(spec: &WorkerSpec, registered: bool) -> Self {
        Self {
            spec: spec.to_request_json(),
            registered,
            replacement: None,
            retire_timeout_secs: None,
        }
    }
}

/// Longest drain a retirement may be given.
pub const MAX_RETIRE_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// Work of the removal lane.
enum Removal {
    /// `DELETE`: drain (unless forced), then remove.
    Delete { id: String, force: bool },
    /// `POST …/retire`: cordon, wait for in-flight requests, flush, remove.
    Retire { id: String, timeout: Duration },
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

/// Where a job comes from: a request now (admission-checked: a full queue is a 503), or an
/// acknowledged write replayed at start-up (always queued: a backlog never stops a start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Request,
    Replay,
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
    queue: JobQueue<Job>,
    /// Removals and retirements, apart so they never wait behind registrations.
    removals: JobQueue<Removal>,
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
        let (queue, rx) = JobQueue::new(capacity);
        let (removals, removals_rx) = JobQueue::new(capacity);
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
    pub async fn restore(&self) -> Result<usize, WorkerError> {
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
                if let Some(secs) = record.retire_timeout_secs {
                    self.enqueue_retire(&worker, Duration::from_secs(secs), Origin::Replay)?;
                }
                match replacement {
                    Some(next) => {
                        self.enqueue_add(id, next, Some(worker.revision()), true, Origin::Replay)
                    }
                    None => Ok(()),
                }
            } else {
                self.enqueue_add(id, spec, None, true, Origin::Replay)
            };
            // Only a closed queue refuses a replay: the gateway is already stopping.
            queued?;
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
        self.jobs
            .fail_lasting(&worker.url(), JobKind::AddWorker, reason);
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
        self.enqueue_add(id, spec, None, false, Origin::Replay)
    }

    fn enqueue_add(
        &self,
        id: String,
        spec: WorkerSpec,
        replace_revision: Option<u64>,
        persist: bool,
        origin: Origin,
    ) -> Result<(), WorkerError> {
        let url = spec.url.clone();
        if replace_revision.is_none() {
            self.pending().insert(id.clone(), Arc::new(spec.clone()));
        }
        self.jobs
            .set(&url, JobKind::AddWorker, JobState::Pending, None);
        let job = Job {
            id: id.clone(),
            spec: Box::new(spec),
            replace_revision,
            persist,
        };
        let queued = match origin {
            Origin::Request => self.queue.try_push(job),
            Origin::Replay => self.queue.push_acknowledged(job),
        };
        queued.map_err(|refused| {
            self.jobs.clear(&url);
            self.pending().remove(&id);
            refused_error(refused, self.queue.capacity())
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
        if let Err(e) = self.enqueue_add(id.clone(), spec, None, true, Origin::Request) {
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
    /// being rendered. The worker set is the one registered now, followed by the
    /// registrations in flight.
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
            registering: self.registrations_in_flight(model),
            next: 0,
            stats: WorkerListStats::default(),
            done: false,
        }
    }

    /// Registrations acknowledged with a 202 whose job is queued or running, in the pending
    /// form with their job, oldest first. They are listed at once — including those replayed
    /// from the store after a restart — so a 202 never hides a worker (decision D3). A
    /// failed registration is not a worker: `GET /workers/{id}` shows its failure.
    fn registrations_in_flight(&self, model: Option<&str>) -> Vec<WorkerInfo> {
        let pending: Vec<(String, Arc<WorkerSpec>)> = self
            .pending()
            .iter()
            .map(|(id, spec)| (id.clone(), spec.clone()))
            .collect();
        let mut listed: Vec<WorkerInfo> = pending
            .into_iter()
            .filter(|(id, spec)| {
                model.is_none_or(|m| spec.serves(m))
                    && !self.registry.is_registered(id)
                    && self.registry.reserved_url(id).as_deref() == Some(spec.url.as_str())
            })
            .filter_map(|(id, spec)| {
                let job = self
                    .jobs
                    .get(&spec.url)
                    .filter(|j| j.is_running(JobKind::AddWorker))?;
                Some(pending_info(&id, spec, job))
            })
            .collect();
        // UUIDv7 ids: registration order.
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        listed
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
        if let Some(disabled) = update.disabled {
            spec.disabled = disabled;
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
        if let Err(e) = self.enqueue_add(
            id.to_string(),
            spec,
            Some(worker.revision()),
            persisted,
            Origin::Request,
        ) {
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

    /// `DELETE /workers/{id}[?force=true]`: removed from the store before the 202, then
    /// drained (a forced removal skips the settle period; requests in flight still finish). A
    /// DELETE of a worker already being removed is accepted again without a second job; a
    /// forced one cuts that removal's settle period short.
    pub async fn delete(&self, id: &str, force: bool) -> Result<WorkerAccepted, WorkerError> {
        parse_worker_id(id)?;
        let removal_accepted = || accepted(id, "Worker removal queued for background processing");
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
            return Ok(removal_accepted());
        };
        let url = worker.url();
        if self.is_being_removed(&url) {
            if force {
                worker.cut_drain.notify_one();
            }
            return Ok(removal_accepted());
        }
        let stored = self.store.get(id).await?;
        self.store.delete(id).await?;
        self.jobs
            .set(&url, JobKind::RemoveWorker, JobState::Pending, None);
        let removal = Removal::Delete {
            id: id.to_string(),
            force,
        };
        if let Err(refused) = self.removals.try_push(removal) {
            self.jobs.clear(&url);
            if let Some(record) = stored {
                self.store.put(id, &record).await?;
            }
            return Err(refused_error(refused, self.removals.capacity()));
        }
        Ok(removal_accepted())
    }

    fn is_being_removed(&self, url: &str) -> bool {
        self.jobs
            .get(url)
            .is_some_and(|j| j.is_running(JobKind::RemoveWorker))
    }

    /// `POST /workers/{id}/retire`: cordoned and stored as retiring before the 202, then one
    /// job drains it (at most `timeout`, else [`RetireWorkerRequest`]'s default), flushes its
    /// KV cache and removes it. A retirement already running is accepted again as is.
    ///
    /// [`RetireWorkerRequest`]: smg_sdk::RetireWorkerRequest
    pub async fn retire(
        &self,
        id: &str,
        timeout_secs: Option<u64>,
    ) -> Result<WorkerAccepted, WorkerError> {
        let secs = timeout_secs.unwrap_or(self.config.retire_timeout_secs);
        if secs > MAX_RETIRE_TIMEOUT_SECS {
            return Err(WorkerError::InvalidTimeout {
                got: secs,
                max: MAX_RETIRE_TIMEOUT_SECS,
            });
        }
        let worker = self.registered(id)?;
        let url = worker.url();
        let retirement_accepted =
            || accepted(id, "Worker retirement queued for background processing");
        if self.is_being_removed(&url) {
            return Err(WorkerError::BeingRemoved(id.to_string()));
        }
        if self
            .jobs
            .get(&url)
            .is_some_and(|j| j.is_running(JobKind::RetireWorker))
        {
            return Ok(retirement_accepted());
        }
        let mut spec = (*worker.spec()).clone();
        spec.disabled = true;
        {
            let _writes = self.store_writes.lock().await;
            if let Some(mut record) = self.store.get(id).await? {
                record.spec = spec.to_request_json();
                record.retire_timeout_secs = Some(secs);
                self.store.put(id, &record).await?;
            }
            worker.set_spec(spec);
        }
        self.enqueue_retire(&worker, Duration::from_secs(secs), Origin::Request)?;
        Ok(retirement_accepted())
    }

    fn enqueue_retire(
        &self,
        worker: &Worker,
        timeout: Duration,
        origin: Origin,
    ) -> Result<(), WorkerError> {
        let url = worker.url();
        self.jobs.set(
            &url,
            JobKind::RetireWorker,
            JobState::Pending,
            Some("cordoned: the worker takes no new requests".into()),
        );
        let removal = Removal::Retire {
            id: worker.id.clone(),
            timeout,
        };
        let queued = match origin {
            Origin::Request => self.removals.try_push(removal),
            Origin::Replay => self.removals.push_acknowledged(removal),
        };
        queued.map_err(|refused| {
            self.jobs.clear(&url);
            refused_error(refused, self.removals.capacity())
        })
    }

    /// `POST /workers/{id}/flush_cache`: the `/flush_cache` answer for this worker alone.
    pub async fn flush_one(&self, id: &str) -> Result<FlushCacheResponse, WorkerError> {
        let worker = self.registered(id)?;
        Ok(self.fanout().flush_cache(vec![worker]).await)
    }

    fn fanout(&self) -> Fanout<'_> {
        Fanout {
            http: &self.http,
            config: &self.config,
        }
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
        self.jobs
            .set(&url, JobKind::AddWorker, JobState::Processing, None);
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
                self.jobs.fail(&url, JobKind::AddWorker, message);
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
            self.jobs.fail(&url, JobKind::AddWorker, message);
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
                    JobKind::AddWorker,
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

    async fn run_remove(&self, id: &str, force: bool) {
        let Some(worker) = self.registry.get(id) else {
            return;
        };
        let url = worker.url();
        self.jobs
            .set(&url, JobKind::RemoveWorker, JobState::Processing, None);
        self.health.unwatch(id);
        let settles = worker.status() == WorkerStatus::Ready && !force;
        worker.set_status(WorkerStatus::Draining);
        if settles {
            let settle = worker
                .spec()
                .health
                .drain_settle_secs
                .unwrap_or(self.config.drain_settle_secs);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(settle)) => {}
                () = worker.cut_drain.notified() => {}
            }
        }
        self.registry.remove(id);
        self.jobs.clear(&url);
        tracing::info!(%url, %id, force, "worker removed");
    }

    /// A retirement: the worker is cordoned already; wait until nothing is in flight to it
    /// (at most `timeout`), flush its KV cache, remove it. It gives way to a DELETE, and an
    /// uncordon cancels it while it drains. A drain that runs out of time fails the job and
    /// leaves the worker registered and cordoned.
    async fn run_retire(&self, id: &str, timeout: Duration) {
        let Some(worker) = self.registry.get(id) else {
            return;
        };
        let url = worker.url();
        // False once a DELETE (or the worker's removal) has taken over.
        let step = |message: String| {
            self.jobs.update_if_current(
                &url,
                JobKind::RetireWorker,
                JobState::Processing,
                Some(message),
            ) && self
                .registry
                .get(id)
                .is_some_and(|w| Arc::ptr_eq(&w, &worker))
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut shown = None;
        loop {
            let in_flight = worker.load();
            if in_flight == 0 {
                break;
            }
            if !worker.is_disabled() {
                self.end_retirement(&worker, "retire cancelled: the worker was uncordoned")
                    .await;
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                let message = format!(
                    "{RETIRE_DRAIN_TIMED_OUT} after {}s with {in_flight} request(s) still in flight; the worker stays registered and cordoned (DELETE /workers/{id}?force=true removes it now)",
                    timeout.as_secs()
                );
                self.end_retirement(&worker, &message).await;
                return;
            }
            if shown != Some(in_flight) {
                let message = format!(
                    "draining: waiting for {in_flight} in-flight request(s) to finish (timeout {}s)",
                    timeout.as_secs()
                );
                if !step(message) {
                    return;
                }
                shown = Some(in_flight);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !step("flushing the KV cache".into()) {
            return;
        }
        let flushed = self.fanout().flush_cache(vec![worker.clone()]).await;
        let removing = match flushed.failures().first() {
            Some(failure) => format!(
                "removing the worker (cache flush failed: {})",
                failure.error
            ),
            None => "removing the worker".to_string(),
        };
        if !step(removing) {
            return;
        }
        let _writes = self.store_writes.lock().await;
        if !self
            .registry
            .get(id)
            .is_some_and(|w| Arc::ptr_eq(&w, &worker))
        {
            return;
        }
        if let Err(e) = self.store.delete(id).await {
            self.jobs.fail(
                &url,
                JobKind::RetireWorker,
                format!("drained and flushed, but could not be removed from the store: {e}"),
            );
            return;
        }
        self.health.unwatch(id);
        worker.set_status(WorkerStatus::Draining);
        self.registry.remove(id);
        self.jobs.clear(&url);
        tracing::info!(%url, %id, "worker retired");
    }

    /// A retirement that stops short of removal: the job fails with `message` (decision D3)
    /// and the store forgets the retirement, so a restart does not start it again.
    async fn end_retirement(&self, worker: &Worker, message: &str) {
        tracing::warn!(url = %worker.url(), id = %worker.id, message, "retirement ended");
        let _writes = self.store_writes.lock().await;
        if let Ok(Some(mut record)) = self.store.get(&worker.id).await
            && record.retire_timeout_secs.take().is_some()
            && let Err(e) = self.store.put(&worker.id, &record).await
        {
            tracing::error!(id = %worker.id, error = %e, "could not clear an ended retirement");
        }
        self.jobs
            .fail(&worker.url(), JobKind::RetireWorker, message);
    }

    /// Worker jobs queued and not yet picked up.
    pub fn queue_depth(&self) -> usize {
        self.queue.waiting() + self.removals.waiting()
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

/// Run registrations: at most `slots` in progress (the rest wait in the queue, which admits
/// new requests only below its capacity); their calls to workers are limited by
/// `WorkerService::work`. A slot is taken before a job leaves the queue, so the queue's
/// count is what waits.
async fn dispatch(service: std::sync::Weak<WorkerService>, mut rx: JobReceiver<Job>, slots: usize) {
    let slots = Arc::new(Semaphore::new(slots));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(job) = rx.recv().await else {
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

fn refused_error<T>(refused: Refused<T>, capacity: usize) -> WorkerError {
    match refused {
        Refused::Full { waiting, .. } => WorkerError::QueueFull { waiting, capacity },
        Refused::Closed(_) => WorkerError::ShuttingDown,
    }
}

/// Run removals and retirements at once: each only waits out its drain, and there is at
/// most one per registered worker (a repeated DELETE or retire starts no second job).
async fn dispatch_removals(service: std::sync::Weak<WorkerService>, mut rx: JobReceiver<Removal>) {
    while let Some(removal) = rx.recv().await {
        let Some(service) = service.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            match removal {
                Removal::Delete { id, force } => service.run_remove(&id, force).await,
                Removal::Retire { id, timeout } => service.run_retire(&id, timeout).await,
            }
        });
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
            if let Err(e) = service.delete(&id, false).await {
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
    /// Registrations in flight, listed after the workers in their pending form.
    registering: Vec<WorkerInfo>,
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
        let total = self.workers.len() + self.registering.len();
        let end = (self.next + WORKERS_PER_PIECE).min(total);
        let mut out = Vec::with_capacity((end - self.next) * 1024 + 128);
        if self.next == 0 {
            out.extend_from_slice(b"{\"workers\":[");
        }
        for i in self.next..end {
            if i > 0 {
                out.push(b',');
            }
            let worker_type = match self.workers.get(i) {
                Some(worker) => {
                    let job = self.jobs.as_ref().and_then(|jobs| jobs.get(&worker.url()));
                    worker.write_info_json(&mut out, job.as_ref());
                    worker.spec().worker_type
                }
                None => {
                    let info = &self.registering[i - self.workers.len()];
                    let _ = serde_json::to_writer(&mut out, info);
                    info.spec.worker_type
                }
            };
            match worker_type {
                WorkerType::Prefill => self.stats.prefill_count += 1,
                WorkerType::Decode => self.stats.decode_count += 1,
                WorkerType::Regular => self.stats.regular_count += 1,
                WorkerType::Encode => {}
            }
        }
        self.next = end;
        if end == total {
            out.extend_from_slice(format!("],\"total\":{total},\"stats\":").as_bytes());
            let _ = serde_json::to_writer(&mut out, &self.stats);
            out.push(b'}');
            self.done = true;
        }
        Some(out)
    }
}
