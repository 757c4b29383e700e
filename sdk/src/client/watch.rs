//! The worker watch: a single-flight poller of `GET /workers` that yields diffs, a
//! [`WorkerEvent::Synced`] marker after every successful poll, and can be woken early.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::Notify;

use super::Client;
use crate::error::Result;
use crate::types::WorkerInfo;

/// Smallest poll interval a watch uses.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One item of a worker watch ([`Workers::watch`](super::Workers::watch),
/// [`Workers::watch_with_refresh`](super::Workers::watch_with_refresh)).
///
/// Each successful poll yields its changes (`Added`, `Changed`, `Removed`) and then exactly one
/// `Synced`, even when nothing changed: a consumer can treat `Synced` as "the list is now
/// complete and fresh" (e.g. to draw an empty fleet, or to stamp the data's age).
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerEvent {
    /// A worker appeared (every worker on the first poll).
    Added(WorkerInfo),
    /// Some field of a worker changed (status, load, labels, job status, …).
    Changed {
        /// As it was.
        old: WorkerInfo,
        /// As it is now.
        new: WorkerInfo,
    },
    /// A worker disappeared; its last known state.
    Removed(WorkerInfo),
    /// A poll succeeded and every change it found has been yielded before this marker.
    Synced {
        /// Number of workers in that poll's list.
        total: usize,
    },
}

impl WorkerEvent {
    /// The worker's id; `None` for [`Synced`](Self::Synced).
    pub fn id(&self) -> Option<&str> {
        self.worker().map(|w| w.id.as_str())
    }

    /// The worker as it is now (for `Removed`, as it was last seen); `None` for
    /// [`Synced`](Self::Synced).
    pub fn worker(&self) -> Option<&WorkerInfo> {
        match self {
            Self::Added(w) | Self::Removed(w) => Some(w),
            Self::Changed { new, .. } => Some(new),
            Self::Synced { .. } => None,
        }
    }

    /// True for the end-of-poll marker [`Synced`](Self::Synced).
    pub fn is_synced(&self) -> bool {
        matches!(self, Self::Synced { .. })
    }
}

struct WatchState {
    client: Client,
    interval: Duration,
    /// Wakes the watch for an immediate poll.
    refresh: Option<Arc<Notify>>,
    /// Workers by id as of the last successful poll; `None` before the first one.
    known: Option<HashMap<String, WorkerInfo>>,
    /// Events computed but not yet yielded.
    pending: VecDeque<Result<WorkerEvent>>,
    /// Consecutive failed polls.
    failures: u32,
    started: bool,
}

impl WatchState {
    /// Delay before the next poll: none at first, the interval normally, and doubling after
    /// failures up to four intervals.
    fn next_delay(&self) -> Duration {
        if !self.started {
            Duration::ZERO
        } else if self.failures == 0 {
            self.interval
        } else {
            let factor = 1u32 << self.failures.min(2);
            self.interval.saturating_mul(factor)
        }
    }

    /// Sleep `delay`, or less when the refresh handle is notified.
    async fn pause(&self, delay: Duration) {
        let sleep = tokio::time::sleep(delay);
        match &self.refresh {
            Some(refresh) => {
                let woken = refresh.notified();
                futures::pin_mut!(sleep, woken);
                futures::future::select(sleep, woken).await;
            }
            None => sleep.await,
        }
    }

    async fn poll_once(&mut self) {
        let delay = self.next_delay();
        if !delay.is_zero() {
            self.pause(delay).await;
        }
        self.started = true;
        match self.client.workers().list().await {
            Ok(list) => {
                self.failures = 0;
                self.apply(list.workers);
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.pending.push_back(Err(e));
            }
        }
    }

    fn apply(&mut self, workers: Vec<WorkerInfo>) {
        let total = workers.len();
        let mut old = self.known.take();
        let mut now = HashMap::with_capacity(workers.len());
        for worker in workers {
            let event = match old.as_mut().and_then(|o| o.remove(&worker.id)) {
                None => Some(WorkerEvent::Added(worker.clone())),
                Some(prev) if prev != worker => Some(WorkerEvent::Changed {
                    old: prev,
                    new: worker.clone(),
                }),
                Some(_) => None,
            };
            if let Some(event) = event {
                self.pending.push_back(Ok(event));
            }
            now.insert(worker.id.clone(), worker);
        }
        if let Some(gone) = old {
            let mut gone: Vec<WorkerInfo> = gone.into_values().collect();
            gone.sort_by(|a, b| a.id.cmp(&b.id));
            self.pending
                .extend(gone.into_iter().map(|w| Ok(WorkerEvent::Removed(w))));
        }
        self.known = Some(now);
        self.pending.push_back(Ok(WorkerEvent::Synced { total }));
    }
}

pub(super) fn watch_workers(
    client: Client,
    interval: Duration,
    refresh: Option<Arc<Notify>>,
) -> impl Stream<Item = Result<WorkerEvent>> + Send + 'static {
    let state = WatchState {
        client,
        interval: interval.max(MIN_INTERVAL),
        refresh,
        known: None,
        pending: VecDeque::new(),
        failures: 0,
        started: false,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.pending.pop_front() {
                return Some((item, state));
            }
            state.poll_once().await;
        }
    })
}
