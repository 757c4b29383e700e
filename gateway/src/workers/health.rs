//! Periodic health checks and the worker state machine (upstream §4.8):
//! pending → ready after `success_threshold` consecutive successes; ready → not_ready after
//! `failure_threshold` consecutive failures; not_ready → ready after `success_threshold`
//! successes; not_ready → failed after 3×`failure_threshold` failures; pending → failed after
//! 10×`failure_threshold` probes without promotion. `failed` and `draining` are terminal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smg_sdk::{WorkerSpec, WorkerStatus};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use super::registry::{ProbeHistory, Worker};
use crate::config::GatewayConfig;
use crate::upstream::{CallError, WorkerHttp};

/// Probe a worker's health endpoint; any 2xx is healthy.
pub async fn probe(
    http: &WorkerHttp,
    spec: &WorkerSpec,
    endpoint: &str,
    timeout: Duration,
) -> Result<(), CallError> {
    if spec.health.disable_health_check == Some(true) {
        return Ok(());
    }
    http.call(spec, reqwest::Method::GET, endpoint, timeout)
        .await
        .map(|_| ())
}

/// Effective health settings of one worker: its overrides over the gateway's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    pub interval: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    pub disabled: bool,
}

impl HealthPolicy {
    pub fn for_worker(config: &GatewayConfig, spec: &WorkerSpec) -> Self {
        let h = &spec.health;
        Self {
            interval: Duration::from_secs(
                h.check_interval_secs
                    .unwrap_or(config.health_check_interval_secs)
                    .max(1),
            ),
            timeout: Duration::from_secs(
                h.timeout_secs.unwrap_or(config.health_check_timeout_secs),
            ),
            success_threshold: h
                .success_threshold
                .unwrap_or(config.health_success_threshold)
                .max(1),
            failure_threshold: h
                .failure_threshold
                .unwrap_or(config.health_failure_threshold)
                .max(1),
            disabled: h.disable_health_check.unwrap_or(false),
        }
    }
}

/// Apply one probe result; returns the new status.
pub fn transition(
    status: WorkerStatus,
    history: &mut ProbeHistory,
    policy: &HealthPolicy,
    healthy: bool,
    activate_on_first_success: bool,
) -> WorkerStatus {
    use WorkerStatus::*;
    if matches!(status, Failed | Draining) {
        return status;
    }
    if healthy {
        history.consecutive_failures = 0;
        history.consecutive_successes = history.consecutive_successes.saturating_add(1);
        history.last_error = None;
        let promoted = history.consecutive_successes >= policy.success_threshold
            || (status == Pending && activate_on_first_success);
        if promoted && matches!(status, Pending | NotReady) {
            history.probes_while_pending = 0;
            return Ready;
        }
        if status == Pending {
            history.probes_while_pending = history.probes_while_pending.saturating_add(1);
        }
        status
    } else {
        history.consecutive_successes = 0;
        history.consecutive_failures = history.consecutive_failures.saturating_add(1);
        let f = history.consecutive_failures;
        match status {
            Ready if f >= policy.failure_threshold => NotReady,
            NotReady if f >= policy.failure_threshold.saturating_mul(3) => Failed,
            Pending => {
                history.probes_while_pending = history.probes_while_pending.saturating_add(1);
                if history.probes_while_pending >= policy.failure_threshold.saturating_mul(10) {
                    Failed
                } else {
                    Pending
                }
            }
            other => other,
        }
    }
}

/// One background task per worker, with a global cap on probes in flight.
pub struct HealthChecker {
    http: WorkerHttp,
    config: Arc<GatewayConfig>,
    permits: Arc<Semaphore>,
    tasks: Mutex<HashMap<String, AbortHandle>>,
    /// Ids of workers that reached `failed`, for `--remove-unhealthy-workers`.
    failed_tx: mpsc::UnboundedSender<String>,
}

impl HealthChecker {
    pub fn new(
        http: WorkerHttp,
        config: Arc<GatewayConfig>,
        failed_tx: mpsc::UnboundedSender<String>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.health_check_concurrency.max(1)));
        Self {
            http,
            config,
            permits,
            tasks: Mutex::new(HashMap::new()),
            failed_tx,
        }
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start (or restart, picking up new settings) the health loop of a worker.
    /// `activate_on_first_success`: a restored worker becomes ready on its first good probe.
    pub fn watch(&self, worker: Arc<Worker>, probe_now: bool, activate_on_first_success: bool) {
        let id = worker.id.clone();
        let http = self.http.clone();
        let config = self.config.clone();
        let permits = self.permits.clone();
        let failed_tx = self.failed_tx.clone();
        let task = tokio::spawn(async move {
            let mut first = probe_now;
            loop {
                let spec = worker.spec();
                let policy = HealthPolicy::for_worker(&config, &spec);
                if !first {
                    tokio::time::sleep(policy.interval).await;
                }
                first = false;
                let status = worker.status();
                if matches!(status, WorkerStatus::Failed | WorkerStatus::Draining) {
                    break;
                }
                let result = {
                    let Ok(_permit) = permits.acquire().await else {
                        break;
                    };
                    probe(&http, &spec, &config.health_check_endpoint, policy.timeout).await
                };
                let new_status = {
                    let mut history = worker.probes.lock().unwrap_or_else(|p| p.into_inner());
                    let new = transition(
                        worker.status(),
                        &mut history,
                        &policy,
                        result.is_ok(),
                        activate_on_first_success,
                    );
                    if let Err(e) = &result {
                        history.last_error = Some(e.to_string());
                    }
                    new
                };
                // A concurrent DELETE may have started draining; never undo that.
                if worker.status() == WorkerStatus::Draining {
                    break;
                }
                if new_status != status {
                    tracing::info!(worker = %spec.url, from = %status, to = %new_status,
                        error = result.as_ref().err().map(|e| e.to_string()), "worker health changed");
                    worker.set_status(new_status);
                }
                if new_status == WorkerStatus::Failed {
                    let _ = failed_tx.send(worker.id.clone());
                    break;
                }
            }
        });
        if let Some(old) = self.tasks().insert(id, task.abort_handle()) {
            old.abort();
        }
    }

    pub fn unwatch(&self, id: &str) {
        if let Some(task) = self.tasks().remove(id) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WorkerStatus::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: 2,
            failure_threshold: 3,
            disabled: false,
        }
    }

    fn run(start: WorkerStatus, results: &[bool]) -> Vec<WorkerStatus> {
        let mut history = ProbeHistory::default();
        let mut status = start;
        results
            .iter()
            .map(|ok| {
                status = transition(status, &mut history, &policy(), *ok, false);
                status
            })
            .collect()
    }

    #[test]
    fn ready_goes_not_ready_after_threshold_and_back() {
        let s = run(Ready, &[false, false, false, true, true]);
        assert_eq!(s, vec![Ready, Ready, NotReady, NotReady, Ready]);
    }

    #[test]
    fn not_ready_fails_after_three_times_threshold() {
        let s = run(Ready, &[false; 9]);
        assert_eq!(s[2], NotReady);
        assert_eq!(s[8], Failed);
        assert_eq!(run(Failed, &[true, true, true]), vec![Failed; 3]);
    }

    #[test]
    fn pending_promotes_after_successes_or_fails_after_ten_times_threshold() {
        assert_eq!(run(Pending, &[true, true]), vec![Pending, Ready]);
        let s = run(Pending, &[false; 30]);
        assert_eq!(s[28], Pending);
        assert_eq!(s[29], Failed);
    }

    #[test]
    fn restored_worker_activates_on_first_success() {
        let mut history = ProbeHistory::default();
        assert_eq!(
            transition(Pending, &mut history, &policy(), true, true),
            Ready
        );
    }

    #[test]
    fn a_success_resets_the_failure_streak() {
        let s = run(Ready, &[false, false, true, false, false]);
        assert!(s.iter().all(|s| *s == Ready));
    }
}
