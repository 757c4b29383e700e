//! Background pollers, one tokio task per source, and the one-shot gather of `--once`.
//!
//! Each poller is single-flight (one request at a time), waits `interval` between polls (up to
//! four intervals after consecutive failures), can be woken early by its [`Notify`] (the `r`
//! key), and stamps every result with the wall-clock time.
//!
//! - `/get_loads`, `/readiness` and `/v1/models` are snapshots: they go through `watch`
//!   channels, so a slow UI only ever sees the newest one (older ones are dropped).
//! - `/workers` is diffed into [`WorkerEvent`]s, which cannot be dropped; they go through a
//!   bounded `mpsc` channel, and a full channel pauses the poller (backpressure) instead of
//!   growing memory.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use smg_sdk::{Client, ModelList, WorkerEvent, WorkerInfo};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::{Event, Polled, Source, SourceError, Stamped};

/// Capacity of the worker-event channel (in poll batches).
const WORKER_CHANNEL: usize = 16;

/// The running pollers. Dropping this stops them.
#[derive(Debug)]
pub struct Pollers {
    handles: Vec<JoinHandle<()>>,
    refresh: Vec<Arc<Notify>>,
}

impl Pollers {
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
    /// Worker diff batches (`Event::Workers`).
    pub workers: mpsc::Receiver<Event>,
    /// Newest `Event::Loads`.
    pub loads: watch::Receiver<Option<Event>>,
    /// Newest `Event::Readiness`.
    pub readiness: watch::Receiver<Option<Event>>,
    /// Newest `Event::Models`.
    pub models: watch::Receiver<Option<Event>>,
}

/// How long one poll may take before it counts as a failure: three intervals, within 5–30 s.
pub fn poll_timeout(interval: Duration) -> Duration {
    interval
        .saturating_mul(3)
        .clamp(Duration::from_secs(5), Duration::from_secs(30))
}

/// Start one poller per source.
pub fn spawn(client: &Client, interval: Duration) -> (Pollers, Receivers) {
    let timeout = poll_timeout(interval);
    let mut handles = Vec::new();
    let mut refresh = Vec::new();

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

    let mut snapshot = |poll: PollFn| {
        let (tx, rx) = watch::channel(None);
        let notify = Arc::new(Notify::new());
        handles.push(tokio::spawn(snapshot_task(
            poll,
            interval,
            notify.clone(),
            tx,
        )));
        refresh.push(notify);
        rx
    };
    let c = client.clone();
    let loads = snapshot(Box::new(move || {
        let c = c.clone();
        Box::pin(async move { Event::Loads(fetch(Source::Loads, timeout, c.get_loads()).await) })
    }));
    let c = client.clone();
    let readiness = snapshot(Box::new(move || {
        let c = c.clone();
        Box::pin(
            async move { Event::Readiness(fetch(Source::Readiness, timeout, c.readiness()).await) },
        )
    }));
    let c = client.clone();
    let models = snapshot(Box::new(move || {
        let c = c.clone();
        Box::pin(async move { Event::Models(fetch_models(&c, timeout).await) })
    }));

    (
        Pollers { handles, refresh },
        Receivers {
            workers: wrx,
            loads,
            readiness,
            models,
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
    let value = match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(SourceError::from_sdk(&e)),
        Err(_) => Err(SourceError::timed_out(source.route())),
    };
    Stamped::new(SystemTime::now(), value)
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

async fn pause(interval: Duration, failures: u32, refresh: &Notify) {
    let delay = interval.saturating_mul(1 << failures.min(2));
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = refresh.notified() => {}
    }
}

async fn snapshot_task(
    mut poll: PollFn,
    interval: Duration,
    refresh: Arc<Notify>,
    tx: watch::Sender<Option<Event>>,
) {
    let mut failures = 0u32;
    loop {
        let event = poll().await;
        let failed = match &event {
            Event::Loads(p) => p.value.is_err(),
            Event::Readiness(p) => p.value.is_err(),
            Event::Models(p) => p.value.is_err(),
            _ => false,
        };
        failures = if failed {
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

async fn workers_task(
    client: Client,
    interval: Duration,
    timeout: Duration,
    refresh: Arc<Notify>,
    tx: mpsc::Sender<Event>,
) {
    let mut known = None;
    let mut failures = 0u32;
    loop {
        let api = client.workers();
        let polled = fetch(Source::Workers, timeout, api.list()).await;
        let value = match polled.value {
            Ok(list) => {
                failures = 0;
                Ok(diff_workers(&mut known, list.workers))
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                Err(e)
            }
        };
        if tx
            .send(Event::Workers(Stamped::new(polled.at, value)))
            .await
            .is_err()
        {
            return;
        }
        pause(interval, failures, &refresh).await;
    }
}

/// Diff a fresh worker list against the previous one (`None` before the first poll), with
/// the semantics of [`Client::watch_workers`]: `Added` for new ids (every worker the first
/// time), `Changed` for any difference, `Removed` (sorted by id) for ids that vanished.
pub fn diff_workers(
    known: &mut Option<HashMap<String, WorkerInfo>>,
    workers: Vec<WorkerInfo>,
) -> Vec<WorkerEvent> {
    let mut old = known.take();
    let mut now = HashMap::with_capacity(workers.len());
    let mut events = Vec::new();
    for worker in workers {
        match old.as_mut().and_then(|o| o.remove(&worker.id)) {
            None => events.push(WorkerEvent::Added(worker.clone())),
            Some(prev) if prev != worker => events.push(WorkerEvent::Changed {
                old: prev,
                new: worker.clone(),
            }),
            Some(_) => {}
        }
        now.insert(worker.id.clone(), worker);
    }
    if let Some(gone) = old {
        let mut gone: Vec<WorkerInfo> = gone.into_values().collect();
        gone.sort_by(|a, b| a.id.cmp(&b.id));
        events.extend(gone.into_iter().map(WorkerEvent::Removed));
    }
    *known = Some(now);
    events
}

/// One poll of every source, concurrently, each within `timeout` (for `--once`).
pub async fn gather_once(client: &Client, timeout: Duration) -> Vec<Event> {
    let workers_api = client.workers();
    let (workers, loads, readiness, models) = tokio::join!(
        fetch(Source::Workers, timeout, workers_api.list()),
        fetch(Source::Loads, timeout, client.get_loads()),
        fetch(Source::Readiness, timeout, client.readiness()),
        fetch_models(client, timeout),
    );
    let workers = Stamped::new(
        workers.at,
        workers
            .value
            .map(|list| diff_workers(&mut None, list.workers)),
    );
    // Workers first: the loads snapshot samples the ready count.
    vec![
        Event::Workers(workers),
        Event::Readiness(readiness),
        Event::Models(models),
        Event::Loads(loads),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn diff_reports_added_changed_removed() {
        let mut known = None;
        let a = fixtures::worker(0);
        let b = fixtures::worker(1);
        let ev = diff_workers(&mut known, vec![a.clone(), b.clone()]);
        assert_eq!(ev.len(), 2);
        assert!(ev.iter().all(|e| matches!(e, WorkerEvent::Added(_))));
        assert!(diff_workers(&mut known, vec![a.clone(), b.clone()]).is_empty());
        let mut a2 = a.clone();
        a2.load = 9;
        let ev = diff_workers(&mut known, vec![a2]);
        assert!(matches!(&ev[0], WorkerEvent::Changed { new, .. } if new.load == 9));
        assert!(matches!(&ev[1], WorkerEvent::Removed(w) if w.id == b.id));
    }

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
    }

    #[tokio::test]
    async fn unreachable_gateway_fails_every_source() {
        // Port 9 (discard) on localhost is closed: connection refused.
        let client = Client::builder("http://127.0.0.1:9")
            .max_retries(0)
            .build()
            .unwrap();
        let events = gather_once(&client, Duration::from_secs(5)).await;
        let mut app = crate::app::App::new("http://127.0.0.1:9", SystemTime::now());
        for e in events {
            app.update(e);
        }
        assert_eq!(app.failing_sources().len(), 4);
        assert!(app.unreachable());
    }
}
