//! Progress of the background jobs behind the 202s. A job's status is keyed by worker URL;
//! success clears it, failure stays visible for the retention period (decision D3). A
//! *lasting* failure (a worker this gateway cannot talk to) stays until the worker goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smg_sdk::{JobKind, JobState, JobStatus};

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A tracked status, when it was set, and whether the sweep may expire it.
type Entry = (JobStatus, Instant, bool);

pub struct JobTracker {
    statuses: Mutex<HashMap<String, Entry>>,
    retention: Duration,
}

impl JobTracker {
    pub fn new(retention: Duration) -> Self {
        Self {
            statuses: Mutex::new(HashMap::new()),
            retention,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.statuses.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(
        &self,
        url: &str,
        kind: JobKind,
        status: JobState,
        message: Option<String>,
        lasting: bool,
    ) {
        let job = JobStatus {
            job_type: kind.as_str().to_string(),
            worker_url: url.to_string(),
            status,
            message,
            timestamp: unix_now(),
        };
        self.lock()
            .insert(url.to_string(), (job, Instant::now(), lasting));
    }

    pub fn set(&self, url: &str, kind: JobKind, status: JobState, message: Option<String>) {
        self.insert(url, kind, status, message, false);
    }

    /// Move a running job of `kind` on; false (and nothing changed) when the URL's status
    /// now belongs to another job, or the job has failed or gone.
    pub fn update_if_current(
        &self,
        url: &str,
        kind: JobKind,
        status: JobState,
        message: Option<String>,
    ) -> bool {
        let mut statuses = self.lock();
        match statuses.get_mut(url) {
            Some((job, at, _)) if job.is_running(kind) => {
                job.status = status;
                job.message = message;
                job.timestamp = unix_now();
                *at = Instant::now();
                true
            }
            _ => false,
        }
    }

    pub fn fail(&self, url: &str, kind: JobKind, message: impl Into<String>) {
        self.set(url, kind, JobState::Failed, Some(message.into()));
    }

    /// A failure the sweep never expires; only [`clear`](Self::clear) or a later job's
    /// status replaces it.
    pub fn fail_lasting(&self, url: &str, kind: JobKind, message: impl Into<String>) {
        self.insert(url, kind, JobState::Failed, Some(message.into()), true);
    }

    pub fn get(&self, url: &str) -> Option<JobStatus> {
        self.lock().get(url).map(|(job, _, _)| job.clone())
    }

    pub fn clear(&self, url: &str) {
        self.lock().remove(url);
    }

    /// Drop finished (failed) statuses older than the retention period, except lasting ones.
    pub fn sweep(&self) {
        let retention = self.retention;
        self.lock().retain(|_, (job, at, lasting)| {
            *lasting || job.status != JobState::Failed || at.elapsed() < retention
        });
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD_WORKER: JobKind = JobKind::AddWorker;
    const REMOVE_WORKER: JobKind = JobKind::RemoveWorker;
    const RETIRE_WORKER: JobKind = JobKind::RetireWorker;

    #[test]
    fn failed_status_expires_after_retention_but_running_does_not() {
        let tracker = JobTracker::new(Duration::from_millis(0));
        tracker.fail("http://a", ADD_WORKER, "boom");
        tracker.set("http://b", ADD_WORKER, JobState::Processing, None);
        tracker.fail_lasting("grpc://c", ADD_WORKER, "unsupported");
        assert_eq!(
            tracker.get("http://a").unwrap().message.as_deref(),
            Some("boom")
        );
        tracker.sweep();
        assert!(tracker.get("http://a").is_none());
        assert!(tracker.get("http://b").is_some());
        assert!(tracker.get("grpc://c").is_some());
    }

    #[test]
    fn a_job_moves_on_only_while_it_owns_the_url() {
        let tracker = JobTracker::new(Duration::from_secs(300));
        tracker.set("http://a", RETIRE_WORKER, JobState::Pending, None);
        assert!(tracker.update_if_current(
            "http://a",
            RETIRE_WORKER,
            JobState::Processing,
            Some("draining".into())
        ));
        assert_eq!(
            tracker.get("http://a").unwrap().message.as_deref(),
            Some("draining")
        );
        tracker.set("http://a", REMOVE_WORKER, JobState::Pending, None);
        assert!(!tracker.update_if_current("http://a", RETIRE_WORKER, JobState::Processing, None));
        assert_eq!(tracker.get("http://a").unwrap().kind(), Some(REMOVE_WORKER));
        assert!(!tracker.update_if_current("http://b", RETIRE_WORKER, JobState::Processing, None));
    }

    #[test]
    fn failure_survives_sweep_within_retention() {
        let tracker = JobTracker::new(Duration::from_secs(300));
        tracker.fail("http://a", REMOVE_WORKER, "x");
        tracker.sweep();
        assert_eq!(tracker.get("http://a").unwrap().status, JobState::Failed);
        tracker.clear("http://a");
        assert!(tracker.is_empty());
    }
}
