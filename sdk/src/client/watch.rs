//! The worker watch: a single-flight poller of `GET /workers` that yields diffs.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::Stream;

use super::Client;
use crate::error::Result;
use crate::types::WorkerInfo;

/// Smallest poll interval a watch uses.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// A change in the worker list, from [`Workers::watch`](super::Workers::watch).
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
}

impl WorkerEvent {
    /// The worker's id.
    pub fn id(&self) -> &str {
        &self.worker().id
    }

    /// The worker as it is now (for `Removed`, as it was last seen).
    pub fn worker(&self) -> &WorkerInfo {
        match self {
            Self::Added(w) | Self::Removed(w) => w,
            Self::Changed { new, .. } => new,
        }
    }
}

struct WatchState {
    client: Client,
    interval: Duration,
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

    async fn poll_once(&mut self) {
        let delay = self.next_delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
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
    }
}

pub(super) fn watch_workers(
    client: Client,
    interval: Duration,
) -> impl Stream<Item = Result<WorkerEvent>> + Send + 'static {
    let state = WatchState {
        client,
        interval: interval.max(MIN_INTERVAL),
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
