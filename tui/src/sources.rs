//! Background pollers, one tokio task per source, and the one-shot gather of `--once`.
//!
//! Each poller is single-flight (one request at a time), waits `interval` between polls (up to
//! four intervals after consecutive failures), can be woken early by its [`Notify`] (the `r`
//! key), and stamps every result with the wall-clock time.
//!
//! - `/workers` is the SDK's worker watch ([`smg_sdk::Workers::watch_with_refresh`]): its
//!   changes are batched up to each poll's [`WorkerEvent::Synced`] marker and sent through a
//!   bounded `mpsc` channel (they cannot be dropped; a full channel pauses the watch instead of
//!   growing memory).
//! - Every other source is a snapshot: the loads (`/loads`, the load monitor's cached
//!   snapshot, so one cheap call per refresh however many dashboards poll; `/get_loads` on a
//!   gateway without it), `/readiness`, `/v1/models`, `/v1/tokenizers`, `/wasm`,
//!   `/admin/whoami` (every 15 intervals, 10–60 s) and the gateway's Prometheus endpoint.
//!   Snapshots go through `watch` channels, so a slow UI only ever sees the newest one.
//!
//! A route the gateway does not offer (upstream SMG has no `/admin/whoami`; WASM without
//! `--enable-wasm`) is a state of that source, not an error.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use smg_sdk::{
    ApiKeyList, ApiRequest, AuditLogResponse, AuditQuery, Client, JobState, Method, ModelList,
    RouteKind, TokenizerInfo, UnsupportedKind, WorkerEvent,
};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::{
    Event, LOADS_FANOUT_ROUTE, LOADS_SNAPSHOT_ROUTE, LoadsPoll, Offered, Polled, Source,
    SourceError, Stamped, WasmState, Whoami,
};
use crate::traffic::TrafficSample;

/// Capacity of the worker-event channel (in poll batches).
const WORKER_CHANNEL: usize = 16;
/// Port of the gateway's Prometheus listener unless `--metrics-url` says otherwise.
pub const DEFAULT_METRICS_PORT: u16 = 29000;

/// The running pollers. Dropping this stops them.
#[derive(Debug)]
pub struct Pollers {
    handles: Vec<JoinHandle<()>>,
    refresh: Vec<Arc<Notify>>,
    /// The sources polled only while a view shows them, with their on/off switch.
    on_demand: Vec<(Source, Arc<AtomicBool>, Arc<Notify>)>,
}

impl Pollers {
    /// Poll the on-demand sources in `wanted` (starting at once when one was off) and pause
    /// the others: keys and the audit log are only asked for while their views are shown, so
    /// a dashboard left on the fleet does not fill the audit log with refused reads.
    pub fn demand(&self, wanted: &[Source]) {
        for (source, on, notify) in &self.on_demand {
            let want = wanted.contains(source);
            if on.swap(want, Ordering::Relaxed) != want && want {
                notify.notify_one();
            }
        }
    }

    /// Wake every poller for an immediate poll (a poll already in flight is followed by
    /// another one right after it).
    pub fn refresh(&self) {
        for n in &self.refresh {
            n.notify_one();
        }
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// The receiving ends, for the UI loop.
#[derive(Debug)]
pub struct Receivers {
    /// Worker change batches (`Event::Workers`).
    pub workers: mpsc::Receiver<Event>,
    /// The newest event of every snapshot source (all but `/workers`), in spawn order.
    pub snapshots: Vec<(Source, watch::Receiver<Option<Event>>)>,
}

impl Receivers {
    /// The receiver of `source`'s snapshots.
    pub fn snapshot(&mut self, source: Source) -> Option<&mut watch::Receiver<Option<Event>>> {
        self.snapshots
            .iter_mut()
            .find(|(s, _)| *s == source)
            .map(|(_, rx)| rx)
    }
}

/// The next new snapshot of any source (`None` when one just closed: ask again). Waits
/// forever when every poller has stopped.
pub async fn next_snapshot(
    snapshots: &mut [(Source, watch::Receiver<Option<Event>>)],
) -> Option<Event> {
    let live: Vec<_> = snapshots
        .iter_mut()
        .filter(|(_, rx)| rx.has_changed().is_ok())
        .map(|(_, rx)| {
            Box::pin(async move {
                rx.changed().await.ok()?;
                rx.borrow_and_update().clone()
            })
        })
        .collect();
    if live.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(live).await.0
}

/// How long one poll may take before it counts as a failure: three intervals, within 5–30 s.
pub fn poll_timeout(interval: Duration) -> Duration {
    interval
        .saturating_mul(3)
        .clamp(Duration::from_secs(5), Duration::from_secs(30))
}

/// How often `/admin/whoami` is asked: fifteen intervals, within 10–60 s (and on `r`).
pub fn whoami_interval(interval: Duration) -> Duration {
    interval
        .saturating_mul(15)
        .clamp(Duration::from_secs(10), Duration::from_secs(60))
}

/// The gateway's Prometheus URL by default: the gateway's host, port 29000, `/metrics`.
pub fn default_metrics_url(client: &Client) -> String {
    let mut url = client.base_url().clone();
    // The metrics listener speaks plain HTTP.
    let _ = url.set_scheme("http");
    let _ = url.set_port(Some(DEFAULT_METRICS_PORT));
    url.set_path("/metrics");
    url.to_string()
}

/// A client for the Prometheus endpoint at `url`: no retries, short timeouts, no credentials.
pub fn metrics_client(url: &str, interval: Duration) -> smg_sdk::Result<Client> {
    Client::builder(url)
        .user_agent(format!("smg-tui/{}", env!("CARGO_PKG_VERSION")))
        .max_retries(0)
        .connect_timeout(Duration::from_secs(2))
        .request_timeout(poll_timeout(interval))
        .build()
}

/// Start one poller per source; `metrics` is the client of the gateway's Prometheus endpoint
/// ([`metrics_client`]).
pub fn spawn(client: &Client, metrics: &Client, interval: Duration) -> (Pollers, Receivers) {
    let timeout = poll_timeout(interval);
    let mut handles = Vec::new();
    let mut refresh = Vec::new();
    let mut on_demand = Vec::new();

    let (wtx, wrx) = mpsc::channel(WORKER_CHANNEL);
    let notify = Arc::new(Notify::new());
    handles.push(tokio::spawn(workers_task(
        client.clone(),
        interval,
        timeout,
        notify.clone(),
        wtx,
    )));
    refresh.push(notify);

    let mut gated = |every: Duration, poll: PollFn, gate: Option<Arc<AtomicBool>>| {
        let (tx, rx) = watch::channel(None);
        let notify = Arc::new(Notify::new());
        handles.push(tokio::spawn(snapshot_task(
            poll,
            every,
            notify.clone(),
            tx,
            gate,
        )));
        refresh.push(notify.clone());
        (rx, notify)
    };
    let c = client.clone();
    let no_snapshot = Arc::new(AtomicBool::new(false));
    let loads = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            let no_snapshot = no_snapshot.clone();
            Box::pin(async move { Event::Loads(fetch_loads(&c, timeout, &no_snapshot).await) })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let readiness = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move {
                Event::Readiness(fetch(Source::Readiness, timeout, c.readiness()).await)
            })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let models = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Models(fetch_models(&c, timeout).await) })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let tokenizers = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Tokenizers(fetch_tokenizers(&c, timeout).await) })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let wasm = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Wasm(fetch_wasm(&c, timeout).await) })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let whoami = gated(
        whoami_interval(interval),
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Whoami(fetch_whoami(&c, timeout).await) })
        }),
        None,
    )
    .0;
    let c = client.clone();
    let gate = Arc::new(AtomicBool::new(false));
    let (keys, notify) = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Keys(fetch_keys(&c, timeout).await) })
        }),
        Some(gate.clone()),
    );
    on_demand.push((Source::Keys, gate, notify));
    let c = client.clone();
    let gate = Arc::new(AtomicBool::new(false));
    let (audit, notify) = gated(
        interval,
        Box::new(move || {
            let c = c.clone();
            Box::pin(async move { Event::Audit(fetch_audit(&c, timeout).await) })
        }),
        Some(gate.clone()),
    );
    on_demand.push((Source::Audit, gate, notify));
    let m = metrics.clone();
    let metrics = gated(
        interval,
        Box::new(move || {
            let m = m.clone();
            Box::pin(async move { Event::Metrics(fetch_metrics(&m, timeout).await) })
        }),
        None,
    )
    .0;

    (
        Pollers {
            handles,
            refresh,
            on_demand,
        },
        Receivers {
            workers: wrx,
            snapshots: vec![
                (Source::Loads, loads),
                (Source::Readiness, readiness),
                (Source::Models, models),
                (Source::Tokenizers, tokenizers),
                (Source::Wasm, wasm),
                (Source::Whoami, whoami),
                (Source::Metrics, metrics),
                (Source::Keys, keys),
                (Source::Audit, audit),
            ],
        },
    )
}

type PollFn =
    Box<dyn FnMut() -> std::pin::Pin<Box<dyn Future<Output = Event> + Send>> + Send + 'static>;

/// Run `fut` with a deadline and stamp the result.
pub async fn fetch<T>(
    source: Source,
    timeout: Duration,
    fut: impl Future<Output = smg_sdk::Result<T>>,
) -> Polled<T> {
    fetch_route(source.route(), timeout, fut).await
}

async fn fetch_route<T>(
    route: &str,
    timeout: Duration,
    fut: impl Future<Output = smg_sdk::Result<T>>,
) -> Polled<T> {
    let value = match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SourceError::from_sdk(&e)),
        Err(_) => Err(SourceError::timed_out(route)),
    };
    Stamped::new(SystemTime::now(), value)
}

/// The engine loads: `/loads` (the load monitor's snapshot, served from memory) while the
/// gateway offers it, else `/get_loads`; `no_snapshot` remembers that `/loads` is not offered.
pub async fn fetch_loads(
    client: &Client,
    timeout: Duration,
    no_snapshot: &AtomicBool,
) -> Polled<LoadsPoll> {
    let poll = |loads: smg_sdk::FleetLoads, route| LoadsPoll {
        loads,
        route,
        gateway: client.known_identity(),
    };
    if !no_snapshot.load(Ordering::Relaxed) {
        let snapshot = fetch_route(LOADS_SNAPSHOT_ROUTE, timeout, async {
            match client.loads_snapshot(None).await {
                Ok(s) => Ok(Some(poll(s.into(), LOADS_SNAPSHOT_ROUTE))),
                Err(e) if e.is_unsupported() => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await;
        match snapshot.value {
            Ok(Some(p)) => return Stamped::new(snapshot.at, Ok(p)),
            Ok(None) => no_snapshot.store(true, Ordering::Relaxed),
            Err(e) => return Stamped::new(snapshot.at, Err(e)),
        }
    }
    fetch_route(LOADS_FANOUT_ROUTE, timeout, async {
        Ok(poll(client.loads().await?, LOADS_FANOUT_ROUTE))
    })
    .await
}

/// `/v1/models`, where upstream's `503 No models available` means an empty list, not an
/// outage.
pub async fn fetch_models(client: &Client, timeout: Duration) -> Polled<ModelList> {
    let mut polled = fetch(Source::Models, timeout, client.models()).await;
    if let Err(e) = &polled.value
        && !e.unreachable
        && e.message.contains("503")
        && e.message.to_ascii_lowercase().contains("no models")
    {
        polled.value = Ok(ModelList {
            object: "list".into(),
            data: Vec::new(),
        });
    }
    polled
}

/// Most failed tokenizers whose reason is looked up with `…/status` per poll.
const MAX_STATUS_LOOKUPS: usize = 8;

/// `/v1/tokenizers`; a failed load listed without its reason gets it from `…/status`.
pub async fn fetch_tokenizers(client: &Client, timeout: Duration) -> Polled<Vec<TokenizerInfo>> {
    let fut = async {
        let api = client.tokenizers();
        let mut list = api.list().await?.tokenizers;
        let lookups = list
            .iter()
            .enumerate()
            .filter(|(_, t)| t.status == Some(JobState::Failed) && t.message.is_none())
            .take(MAX_STATUS_LOOKUPS)
            .map(|(i, t)| {
                let id = t.id.clone();
                async move { (i, api.status(&id).await) }
            })
            .collect::<Vec<_>>();
        for (i, status) in futures::future::join_all(lookups).await {
            if let (Ok(status), Some(t)) = (status, list.get_mut(i)) {
                t.message = Some(status.message);
            }
        }
        Ok(list)
    };
    fetch(Source::Tokenizers, timeout, fut).await
}

/// `/wasm`; a gateway without `--enable-wasm` says so (503 here, an empty 500 upstream).
pub async fn fetch_wasm(client: &Client, timeout: Duration) -> Polled<WasmState> {
    let fut = async {
        match client.wasm().list().await {
            Ok(list) => Ok(WasmState::Enabled(list)),
            Err(e) if e.unsupported().map(|u| u.kind) == Some(UnsupportedKind::WasmDisabled) => {
                Ok(WasmState::Disabled)
            }
            Err(e) => Err(e),
        }
    };
    fetch(Source::Wasm, timeout, fut).await
}

/// Most audit events the dashboard asks for (newest first).
pub const AUDIT_TAIL: usize = 200;

/// The SDK's `Error::Unsupported` for a route (not WASM disabled) as `NotOffered`.
fn offered<T>(result: smg_sdk::Result<T>) -> smg_sdk::Result<Offered<T>> {
    match result {
        Ok(v) => Ok(Offered::Yes(v)),
        Err(e) => match e.unsupported() {
            Some(u) if u.kind == UnsupportedKind::Route => Ok(Offered::NotOffered(u.to_string())),
            _ => Err(e),
        },
    }
}

/// `/admin/api-keys`, or `NotOffered` on a gateway without it (upstream SMG).
pub async fn fetch_keys(client: &Client, timeout: Duration) -> Polled<Offered<ApiKeyList>> {
    let fut = async { offered(client.keys().list().await) };
    fetch(Source::Keys, timeout, fut).await
}

/// The newest [`AUDIT_TAIL`] events of `/admin/audit`, or `NotOffered` on a gateway without
/// it (upstream SMG).
pub async fn fetch_audit(client: &Client, timeout: Duration) -> Polled<Offered<AuditLogResponse>> {
    let query = AuditQuery {
        limit: Some(AUDIT_TAIL),
        ..AuditQuery::default()
    };
    let fut = async { offered(client.audit(&query).await) };
    fetch(Source::Audit, timeout, fut).await
}

/// `/admin/whoami`: not offered by upstream SMG (or a `404`), `401`/`403` a refused token.
pub async fn fetch_whoami(client: &Client, timeout: Duration) -> Polled<Whoami> {
    let fut = async {
        match client.whoami().await {
            Ok(p) => Ok(Whoami::Principal(p)),
            Err(e) => match e.status() {
                Some(404) => Ok(Whoami::NotOffered(match e.unsupported() {
                    Some(u) => u
                        .gateway
                        .as_ref()
                        .map_or_else(|| "this gateway".to_string(), ToString::to_string),
                    None => "this gateway".to_string(),
                })),
                Some(status @ (401 | 403)) => Ok(Whoami::Refused {
                    status,
                    message: e.to_string(),
                }),
                _ => Err(e),
            },
        }
    };
    fetch(Source::Whoami, timeout, fut).await
}

/// One scrape of the gateway's Prometheus endpoint (`metrics` is [`metrics_client`]).
pub async fn fetch_metrics(metrics: &Client, timeout: Duration) -> Polled<TrafficSample> {
    let fut = async {
        let req = ApiRequest::from_segments(Method::GET, Vec::new(), RouteKind::Public);
        let text = metrics.send_text(req).await?;
        Ok(TrafficSample::parse(&text))
    };
    fetch(Source::Metrics, timeout, fut).await
}

async fn pause(interval: Duration, failures: u32, refresh: &Notify) {
    let delay = interval.saturating_mul(1 << failures.min(2));
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = refresh.notified() => {}
    }
}

/// True when `event` is a failed poll.
fn failed(event: &Event) -> bool {
    match event {
        Event::Loads(p) => p.value.is_err(),
        Event::Readiness(p) => p.value.is_err(),
        Event::Models(p) => p.value.is_err(),
        Event::Tokenizers(p) => p.value.is_err(),
        Event::Wasm(p) => p.value.is_err(),
        Event::Whoami(p) => p.value.is_err(),
        Event::Metrics(p) => p.value.is_err(),
        // A route the gateway does not offer is asked again less often, like a failure.
        Event::Keys(p) => !matches!(p.value, Ok(Offered::Yes(_))),
        Event::Audit(p) => !matches!(p.value, Ok(Offered::Yes(_))),
        _ => false,
    }
}

async fn snapshot_task(
    mut poll: PollFn,
    interval: Duration,
    refresh: Arc<Notify>,
    tx: watch::Sender<Option<Event>>,
    gate: Option<Arc<AtomicBool>>,
) {
    let mut failures = 0u32;
    loop {
        // An on-demand source sleeps while switched off; switching it on (or `r`) wakes it.
        while gate.as_ref().is_some_and(|g| !g.load(Ordering::Relaxed)) {
            refresh.notified().await;
        }
        let event = poll().await;
        failures = if failed(&event) {
            failures.saturating_add(1)
        } else {
            0
        };
        if tx.send(Some(event)).is_err() {
            return;
        }
        pause(interval, failures, &refresh).await;
    }
}

/// The SDK's worker watch, batched per poll. A watch that yields nothing for the longest
/// backoff plus `timeout` reports a timeout (and keeps waiting for the same poll).
async fn workers_task(
    client: Client,
    interval: Duration,
    timeout: Duration,
    refresh: Arc<Notify>,
    tx: mpsc::Sender<Event>,
) {
    let watchdog = interval.saturating_mul(4).saturating_add(timeout);
    let stream = client.workers().watch_with_refresh(interval, refresh);
    let mut stream = std::pin::pin!(stream);
    let mut batch = Vec::new();
    loop {
        let value = match tokio::time::timeout(watchdog, stream.next()).await {
            Ok(None) => return,
            Ok(Some(Ok(WorkerEvent::Synced { .. }))) => Ok(std::mem::take(&mut batch)),
            Ok(Some(Ok(change))) => {
                batch.push(change);
                continue;
            }
            Ok(Some(Err(e))) => Err(SourceError::from_sdk(&e)),
            Err(_) => Err(SourceError::timed_out(Source::Workers.route())),
        };
        let event = Event::Workers(Stamped::new(SystemTime::now(), value));
        if tx.send(event).await.is_err() {
            return;
        }
    }
}

/// One poll of `/workers` through the SDK's watch: every worker as `Added` (for `--once`).
pub async fn fetch_workers(client: &Client, timeout: Duration) -> Polled<Vec<WorkerEvent>> {
    let fut = async {
        let stream = client.workers().watch(Duration::from_secs(3600));
        let mut stream = std::pin::pin!(stream);
        let mut events = Vec::new();
        while let Some(item) = stream.next().await {
            match item? {
                WorkerEvent::Synced { .. } => break,
                change => events.push(change),
            }
        }
        Ok(events)
    };
    fetch(Source::Workers, timeout, fut).await
}

/// One poll of every source, concurrently, each within `timeout` (for `--once`).
pub async fn gather_once(client: &Client, metrics: &Client, timeout: Duration) -> Vec<Event> {
    let no_snapshot = AtomicBool::new(false);
    let (workers, loads, readiness, models, tokenizers, wasm, whoami, scrape) = tokio::join!(
        fetch_workers(client, timeout),
        fetch_loads(client, timeout, &no_snapshot),
        fetch(Source::Readiness, timeout, client.readiness()),
        fetch_models(client, timeout),
        fetch_tokenizers(client, timeout),
        fetch_wasm(client, timeout),
        fetch_whoami(client, timeout),
        fetch_metrics(metrics, timeout),
    );
    // Workers first: the loads snapshot samples the ready count.
    vec![
        Event::Workers(workers),
        Event::Readiness(readiness),
        Event::Models(models),
        Event::Loads(loads),
        Event::Tokenizers(tokenizers),
        Event::Wasm(wasm),
        Event::Whoami(whoami),
        Event::Metrics(scrape),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_grows_with_interval() {
        assert_eq!(poll_timeout(Duration::from_secs(1)), Duration::from_secs(5));
        assert_eq!(
            poll_timeout(Duration::from_secs(4)),
            Duration::from_secs(12)
        );
        assert_eq!(
            poll_timeout(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            whoami_interval(Duration::from_millis(200)),
            Duration::from_secs(10)
        );
        assert_eq!(
            whoami_interval(Duration::from_secs(2)),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn metrics_url_defaults_to_the_gateway_host_on_29000() {
        let c = Client::builder("https://smg.example:30000/prefix")
            .build()
            .unwrap();
        assert_eq!(default_metrics_url(&c), "http://smg.example:29000/metrics");
        let c = Client::builder("http://10.0.0.1").build().unwrap();
        assert_eq!(default_metrics_url(&c), "http://10.0.0.1:29000/metrics");
    }

    #[tokio::test]
    async fn unreachable_gateway_fails_every_core_source() {
        // A port that was just free: bound, then released, so connecting is refused (a fixed
        // port such as 9 may be open on some hosts).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::builder(&url).max_retries(0).build().unwrap();
        let metrics = metrics_client(&format!("{url}/metrics"), Duration::from_secs(1)).unwrap();
        let events = gather_once(&client, &metrics, Duration::from_secs(5)).await;
        let mut app = crate::app::App::new(&url, SystemTime::now());
        for e in events {
            app.update(e);
        }
        assert_eq!(app.failing_sources().len(), 4);
        assert!(app.unreachable());
        assert!(app.metrics_unavailable());
    }

    #[tokio::test]
    async fn keys_and_audit_are_polled_only_on_demand() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::builder(&url).max_retries(0).build().unwrap();
        let interval = Duration::from_millis(200);
        let metrics = metrics_client(&format!("{url}/metrics"), interval).unwrap();
        let (pollers, mut rx) = spawn(&client, &metrics, interval);
        // The always-on sources answer (with a connect error) within a few intervals...
        let readiness = rx.snapshot(Source::Readiness).unwrap();
        tokio::time::timeout(Duration::from_secs(5), readiness.changed())
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(interval * 3).await;
        // ... while keys and audit were never asked.
        assert!(rx.snapshot(Source::Keys).unwrap().borrow().is_none());
        assert!(rx.snapshot(Source::Audit).unwrap().borrow().is_none());
        pollers.demand(&[Source::Keys]);
        let event = tokio::time::timeout(Duration::from_secs(5), next_snapshot(&mut rx.snapshots))
            .await
            .unwrap();
        // Other sources keep answering; wait for the keys among them.
        let mut keys = matches!(event, Some(Event::Keys(_)));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !keys && tokio::time::Instant::now() < deadline {
            let next =
                tokio::time::timeout(Duration::from_secs(5), next_snapshot(&mut rx.snapshots));
            keys = matches!(next.await, Ok(Some(Event::Keys(_))));
        }
        assert!(keys, "the keys poller never answered");
        assert!(rx.snapshot(Source::Audit).unwrap().borrow().is_none());
    }
}
