//! The in-memory worker registry: registered workers by id, and ids reserved per URL so a
//! 202 can name the worker before it exists.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use smg_sdk::{JobStatus, WorkerInfo, WorkerLoadResponse, WorkerSpec, WorkerStatus};

use crate::proxy::breaker::{BreakerConfig, BreakerState, CircuitBreaker};

/// Consecutive probe results, for the health state machine.
#[derive(Debug, Default, Clone)]
pub struct ProbeHistory {
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    /// Probes since the worker last became pending.
    pub probes_while_pending: u32,
    pub last_error: Option<String>,
}

/// The load monitor's last report of a worker, with its `engine_load` JSON rendered once so
/// that listing thousands of workers copies it instead of re-serialising it.
#[derive(Debug)]
pub struct EngineLoad {
    pub report: WorkerLoadResponse,
    json: Box<str>,
    /// When the monitor received it.
    pub polled_at: Instant,
    /// After this the report is too old to show (the worker stopped answering its polls).
    expires_at: Instant,
}

/// A registered worker.
#[derive(Debug)]
pub struct Worker {
    pub id: String,
    spec: RwLock<SpecCell>,
    status: AtomicU8,
    /// Bumped on every spec change, so a late replace can detect it was overtaken.
    revision: AtomicU64,
    /// Requests in flight through this gateway (`WorkerInfo.load`).
    pub in_flight: AtomicUsize,
    pub probes: Mutex<ProbeHistory>,
    breaker: Mutex<CircuitBreaker>,
    /// The gateway-wide breaker settings that the spec's `resilience` overrides.
    breaker_defaults: BreakerConfig,
    engine_load: RwLock<Option<Arc<EngineLoad>>>,
    /// Woken by a forced DELETE to cut a removal's settle period short.
    pub cut_drain: tokio::sync::Notify,
}

/// The spec, the start of the worker's `WorkerInfo` JSON (`{"id":…,"model_id":…,` and the
/// spec's fields) and its circuit-breaker settings, derived once per change so that listing
/// thousands of workers is a copy, not a re-serialisation, and routing does not re-resolve.
#[derive(Debug)]
struct SpecCell {
    spec: Arc<WorkerSpec>,
    json_head: Arc<str>,
    breaker: BreakerConfig,
}

impl SpecCell {
    fn new(id: &str, spec: WorkerSpec, breaker_defaults: &BreakerConfig) -> Self {
        let mut head = String::with_capacity(1024);
        head.push_str("{\"id\":");
        head.push_str(&serde_json::to_string(id).unwrap_or_default());
        if let Some(model) = spec.primary_model() {
            head.push_str(",\"model_id\":");
            head.push_str(&serde_json::to_string(model).unwrap_or_default());
        }
        let json = serde_json::to_string(&spec).unwrap_or_else(|_| "{}".into());
        let fields = json
            .strip_prefix('{')
            .and_then(|j| j.strip_suffix('}'))
            .unwrap_or_default();
        if !fields.is_empty() {
            head.push(',');
            head.push_str(fields);
        }
        Self {
            breaker: BreakerConfig::resolve(breaker_defaults, &spec.resilience),
            spec: Arc::new(spec),
            json_head: Arc::from(head),
        }
    }
}

fn status_to_u8(status: WorkerStatus) -> u8 {
    match status {
        WorkerStatus::Pending => 0,
        WorkerStatus::Ready => 1,
        WorkerStatus::NotReady => 2,
        WorkerStatus::Failed => 3,
        WorkerStatus::Draining => 4,
    }
}

fn status_from_u8(v: u8) -> WorkerStatus {
    match v {
        1 => WorkerStatus::Ready,
        2 => WorkerStatus::NotReady,
        3 => WorkerStatus::Failed,
        4 => WorkerStatus::Draining,
        _ => WorkerStatus::Pending,
    }
}

impl Worker {
    /// A worker with upstream's breaker defaults under its own `resilience` overrides.
    pub fn new(id: String, spec: WorkerSpec, status: WorkerStatus) -> Self {
        Self::with_breaker_defaults(id, spec, status, BreakerConfig::default())
    }

    /// A worker whose `resilience` overrides the gateway's `--cb-*` settings.
    pub fn with_breaker_defaults(
        id: String,
        spec: WorkerSpec,
        status: WorkerStatus,
        breaker_defaults: BreakerConfig,
    ) -> Self {
        Self {
            spec: RwLock::new(SpecCell::new(&id, spec, &breaker_defaults)),
            breaker_defaults,
            id,
            status: AtomicU8::new(status_to_u8(status)),
            revision: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            probes: Mutex::new(ProbeHistory::default()),
            breaker: Mutex::new(CircuitBreaker::default()),
            engine_load: RwLock::new(None),
            cut_drain: tokio::sync::Notify::new(),
        }
    }

    /// Keep the load monitor's latest report, shown until `ttl` after `polled_at`.
    pub fn set_engine_load(&self, report: WorkerLoadResponse, polled_at: Instant, ttl: Duration) {
        let json = serde_json::to_string(&report).unwrap_or_else(|_| "null".into());
        let load = EngineLoad {
            report,
            json: json.into_boxed_str(),
            polled_at,
            expires_at: polled_at + ttl,
        };
        *self.engine_load.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(load));
    }

    /// The load monitor's latest report, unless it has grown too old.
    pub fn engine_load(&self) -> Option<Arc<EngineLoad>> {
        self.engine_load
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|load| Instant::now() < load.expires_at)
            .cloned()
    }

    fn cell(&self) -> std::sync::RwLockReadGuard<'_, SpecCell> {
        self.spec.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn spec(&self) -> Arc<WorkerSpec> {
        self.cell().spec.clone()
    }

    /// Replace the spec; returns the new revision.
    pub fn set_spec(&self, spec: WorkerSpec) -> u64 {
        let cell = SpecCell::new(&self.id, spec, &self.breaker_defaults);
        *self.spec.write().unwrap_or_else(|p| p.into_inner()) = cell;
        self.revision.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Append this worker's [`WorkerInfo`] JSON to `out`, byte-compatible with serde's
    /// rendering of `self.info(job_status)` but reusing the cached start of it.
    pub fn write_info_json(&self, out: &mut Vec<u8>, job_status: Option<&JobStatus>) {
        use std::io::Write as _;
        let head = self.cell().json_head.clone();
        let status = self.status();
        out.extend_from_slice(head.as_bytes());
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            ",\"is_healthy\":{},\"status\":\"{}\",\"load\":{},\"circuit_breaker\":\"{}\"",
            status == WorkerStatus::Ready,
            status.as_str(),
            self.load(),
            self.breaker_state().as_str(),
        );
        if let Some(job) = job_status {
            out.extend_from_slice(b",\"job_status\":");
            let _ = serde_json::to_writer(&mut *out, job);
        }
        if let Some(load) = self.engine_load() {
            out.extend_from_slice(b",\"engine_load\":");
            out.extend_from_slice(load.json.as_bytes());
        }
        out.push(b'}');
    }

    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        self.spec().url.clone()
    }

    pub fn status(&self) -> WorkerStatus {
        status_from_u8(self.status.load(Ordering::Acquire))
    }

    pub fn set_status(&self, status: WorkerStatus) {
        self.status.store(status_to_u8(status), Ordering::Release);
    }

    /// Healthy: ready and not draining (a cordoned worker can be ready).
    pub fn is_ready(&self) -> bool {
        self.status() == WorkerStatus::Ready
    }

    /// Cordoned (`disabled`): given no new traffic.
    pub fn is_disabled(&self) -> bool {
        self.cell().spec.disabled
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut CircuitBreaker, &BreakerConfig) -> R) -> R {
        let config = self.cell().breaker;
        let mut breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut breaker, &config)
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.with_breaker(|b, c| b.state(c, std::time::Instant::now()))
    }

    /// Whether the circuit breaker lets a request through.
    pub fn breaker_allows(&self) -> bool {
        self.with_breaker(|b, c| b.allows(c, std::time::Instant::now()))
    }

    /// Record a proxied request's outcome; returns the state afterwards.
    pub fn record_outcome(&self, success: bool) -> BreakerState {
        self.with_breaker(|b, c| {
            let now = std::time::Instant::now();
            b.record(c, success, now);
            b.state(c, now)
        })
    }

    pub fn load(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn info(&self, job_status: Option<JobStatus>) -> WorkerInfo {
        let spec = self.spec();
        let status = self.status();
        WorkerInfo {
            id: self.id.clone(),
            model_id: spec.primary_model().map(str::to_string),
            spec,
            is_healthy: status == WorkerStatus::Ready,
            status: Some(status),
            load: self.load(),
            circuit_breaker: Some(self.breaker_state().as_str().to_string()),
            job_status,
            engine_load: self.engine_load().map(|load| Box::new(load.report.clone())),
        }
    }
}

#[derive(Default)]
struct Inner {
    /// Registered workers by id; UUIDv7 ids keep this in registration order.
    workers: BTreeMap<String, Arc<Worker>>,
    /// Reserved id per URL (registered or not).
    id_by_url: HashMap<String, String>,
    url_by_id: HashMap<String, String>,
}

/// Thread-safe registry. Reads are cheap and never wait on I/O.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The id for `url`, reserving a new UUIDv7 if the URL has none. Idempotent per URL.
    pub fn reserve_id_for_url(&self, url: &str) -> String {
        if let Some(id) = self.read().id_by_url.get(url) {
            return id.clone();
        }
        let mut inner = self.write();
        if let Some(id) = inner.id_by_url.get(url) {
            return id.clone();
        }
        let id = uuid::Uuid::now_v7().to_string();
        inner.id_by_url.insert(url.to_string(), id.clone());
        inner.url_by_id.insert(id.clone(), url.to_string());
        id
    }

    /// Reserve a specific id for a URL (restoring from the store).
    pub fn reserve(&self, id: &str, url: &str) {
        let mut inner = self.write();
        inner.id_by_url.insert(url.to_string(), id.to_string());
        inner.url_by_id.insert(id.to_string(), url.to_string());
    }

    /// Forget a reservation that never became a worker.
    pub fn release(&self, id: &str) {
        let mut inner = self.write();
        if inner.workers.contains_key(id) {
            return;
        }
        if let Some(url) = inner.url_by_id.remove(id) {
            inner.id_by_url.remove(&url);
        }
    }

    pub fn reserved_url(&self, id: &str) -> Option<String> {
        self.read().url_by_id.get(id).cloned()
    }

    pub fn reserved_ids(&self) -> Vec<String> {
        self.read().url_by_id.keys().cloned().collect()
    }

    pub fn insert(&self, worker: Arc<Worker>) {
        let url = worker.url();
        let mut inner = self.write();
        inner.id_by_url.insert(url.clone(), worker.id.clone());
        inner.url_by_id.insert(worker.id.clone(), url);
        inner.workers.insert(worker.id.clone(), worker);
    }

    /// Remove a worker and its reservation.
    pub fn remove(&self, id: &str) -> Option<Arc<Worker>> {
        let mut inner = self.write();
        let worker = inner.workers.remove(id);
        if let Some(url) = inner.url_by_id.remove(id) {
            inner.id_by_url.remove(&url);
        }
        worker
    }

    pub fn get(&self, id: &str) -> Option<Arc<Worker>> {
        self.read().workers.get(id).cloned()
    }

    pub fn is_registered(&self, id: &str) -> bool {
        self.read().workers.contains_key(id)
    }

    /// Every registered worker, in registration order.
    pub fn all(&self) -> Vec<Arc<Worker>> {
        self.read().workers.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_defaults_belong_to_the_gateway_that_made_the_worker() {
        let strict = BreakerConfig {
            failure_threshold: 2,
            ..BreakerConfig::default()
        };
        let spec = || WorkerSpec::new("http://w:1");
        let gateway_a =
            Worker::with_breaker_defaults("a".into(), spec(), WorkerStatus::Ready, strict);
        let gateway_b = Worker::new("b".into(), spec(), WorkerStatus::Ready);
        for _ in 0..2 {
            gateway_a.record_outcome(false);
            gateway_b.record_outcome(false);
        }
        assert_eq!(gateway_a.breaker_state(), BreakerState::Open);
        assert_eq!(gateway_b.breaker_state(), BreakerState::Closed);
        // A new spec keeps the gateway's defaults under its own overrides.
        let mut lenient = spec();
        lenient.resilience.cb_success_threshold = Some(1);
        gateway_a.set_spec(lenient);
        assert_eq!(gateway_a.cell().breaker.failure_threshold, 2);
        assert_eq!(gateway_a.cell().breaker.success_threshold, 1);
    }

    #[test]
    fn reservation_is_idempotent_per_url() {
        let registry = Registry::default();
        let a = registry.reserve_id_for_url("http://a:1");
        assert_eq!(a, registry.reserve_id_for_url("http://a:1"));
        assert_ne!(a, registry.reserve_id_for_url("http://b:1"));
        assert!(!registry.is_registered(&a));
        registry.release(&a);
        assert_ne!(a, registry.reserve_id_for_url("http://a:1"));
    }

    #[test]
    fn insert_list_remove() {
        let registry = Registry::default();
        let id = registry.reserve_id_for_url("http://a:1");
        registry.insert(Arc::new(Worker::new(
            id.clone(),
            WorkerSpec::new("http://a:1"),
            WorkerStatus::Ready,
        )));
        assert_eq!(registry.all().len(), 1);
        let info = registry.get(&id).unwrap().info(None);
        assert!(info.is_healthy);
        assert!(registry.remove(&id).is_some());
        assert!(registry.reserved_url(&id).is_none());
        assert!(registry.is_empty());
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use smg_sdk::{JobKind, JobState, ModelCard};

    #[test]
    fn fast_json_matches_serde() {
        let mut spec = WorkerSpec::new("http://a:1");
        spec.labels.insert("k\"ey".into(), "v\nal".into());
        spec.api_key = Some("secret".into());
        let job = JobStatus {
            job_type: JobKind::RemoveWorker.as_str().into(),
            worker_url: "http://a:1".into(),
            status: JobState::Processing,
            message: None,
            timestamp: 1,
        };
        for (i, (spec, job)) in [(spec.clone(), None), (spec, Some(job))]
            .into_iter()
            .enumerate()
        {
            let worker = Worker::new("id-1".into(), spec, WorkerStatus::NotReady);
            if i == 1 {
                let report = WorkerLoadResponse {
                    timestamp: "t".into(),
                    dp_rank_count: 1,
                    loads: vec![smg_sdk::SchedulerLoadSnapshot::default()],
                    ..Default::default()
                };
                worker.set_engine_load(report, Instant::now(), Duration::from_secs(60));
            }
            let mut out = Vec::new();
            worker.write_info_json(&mut out, job.as_ref());
            let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
            let slow = serde_json::to_value(worker.info(job)).unwrap();
            assert_eq!(fast, slow);
            assert!(!String::from_utf8(out).unwrap().contains("secret"));
        }
        let mut with_model = WorkerSpec::new("http://b:1");
        with_model.models.push(ModelCard::new("m"));
        let worker = Worker::new("id-2".into(), with_model, WorkerStatus::Ready);
        worker.set_spec((*worker.spec()).clone());
        let mut out = Vec::new();
        worker.write_info_json(&mut out, None);
        let fast: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(fast, serde_json::to_value(worker.info(None)).unwrap());
    }
}
