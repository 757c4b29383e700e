//! The workers API (`/workers`), with helpers that wait for the background jobs behind its
//! 202 answers.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use reqwest::Method;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{ApiRequest, Client, RouteKind, WorkerEvent};
use crate::error::{ApiError, Error, Result, Unsupported, UnsupportedKind};
use crate::types::{
    FlushCacheResponse, JobKind, JobState, JobStatus, RetireWorkerRequest, WorkerAccepted,
    WorkerCreated, WorkerInfo, WorkerListResponse, WorkerSpec, WorkerStatus, WorkerUpdateRequest,
};

/// Handle for the workers API; get one with [`Client::workers`].
#[derive(Debug, Clone, Copy)]
pub struct Workers<'a> {
    client: &'a Client,
}

impl<'a> Workers<'a> {
    pub(super) fn new(client: &'a Client) -> Self {
        Self { client }
    }

    fn worker_request(method: Method, id: &str) -> Result<ApiRequest> {
        Self::worker_action(method, id, None)
    }

    /// `/workers/{id}`, or `/workers/{id}/{action}`.
    fn worker_action(method: Method, id: &str, action: Option<&str>) -> Result<ApiRequest> {
        if id.trim().is_empty() {
            return Err(Error::InvalidInput("worker id must not be empty".into()));
        }
        let mut segments = vec!["workers".to_string(), id.to_string()];
        segments.extend(action.map(str::to_string));
        Ok(ApiRequest::from_segments(
            method,
            segments,
            RouteKind::Admin,
        ))
    }

    /// Register a worker (`POST /workers`). The answer is a 202: registration runs in the
    /// background; see [`create_and_wait`](Self::create_and_wait). The spec's `api_key` is sent.
    pub async fn create(&self, spec: &WorkerSpec) -> Result<WorkerCreated> {
        let req = ApiRequest::new(Method::POST, "/workers", RouteKind::Admin)
            .json(&spec.to_request_json())?;
        self.client.send_json(req).await
    }

    /// All registered workers (`GET /workers`).
    pub async fn list(&self) -> Result<WorkerListResponse> {
        let req = ApiRequest::new(Method::GET, "/workers", RouteKind::Admin);
        self.client.send_json(req).await
    }

    /// Workers serving `model` (by id or alias; wildcard workers always match)
    /// (`GET /workers?model=…`).
    pub async fn list_for_model(&self, model: &str) -> Result<WorkerListResponse> {
        let req = ApiRequest::new(Method::GET, "/workers", RouteKind::Admin).query("model", model);
        self.client.send_json(req).await
    }

    /// One worker (`GET /workers/{id}`). While registration is queued or running, or for a few
    /// minutes after it failed, this is the pending form with `job_status`.
    pub async fn get(&self, id: &str) -> Result<WorkerInfo> {
        self.client
            .send_json(Self::worker_request(Method::GET, id)?)
            .await
    }

    /// Partially update a worker (`PATCH /workers/{id}`): priority, cost, labels (merged),
    /// API key, health-check overrides, cordon flag. Never retried.
    pub async fn update(&self, id: &str, update: &WorkerUpdateRequest) -> Result<WorkerAccepted> {
        let req = Self::worker_request(Method::PATCH, id)?.json(&update.to_request_json())?;
        self.client.send_json(req).await
    }

    /// Replace a worker's whole spec (`PUT /workers/{id}`); the URL must stay the same.
    pub async fn replace(&self, id: &str, spec: &WorkerSpec) -> Result<WorkerAccepted> {
        let req = Self::worker_request(Method::PUT, id)?.json(&spec.to_request_json())?;
        self.client.send_json(req).await
    }

    /// Remove a worker (`DELETE /workers/{id}`): it drains, then disappears. See
    /// [`delete_and_wait`](Self::delete_and_wait).
    pub async fn delete(&self, id: &str) -> Result<WorkerAccepted> {
        self.client
            .send_json(Self::worker_request(Method::DELETE, id)?)
            .await
    }

    /// Cordon a worker (`PATCH /workers/{id}` with `{"disabled": true}`): it stays registered,
    /// health-checked and listed, but the gateway gives it no new requests. Persisted.
    pub async fn cordon(&self, id: &str) -> Result<WorkerAccepted> {
        self.set_disabled(id, true).await
    }

    /// Undo [`cordon`](Self::cordon) (`{"disabled": false}`); also cancels a retirement that is
    /// still draining.
    pub async fn uncordon(&self, id: &str) -> Result<WorkerAccepted> {
        self.set_disabled(id, false).await
    }

    async fn set_disabled(&self, id: &str, disabled: bool) -> Result<WorkerAccepted> {
        // Upstream SMG ignores PATCH fields it does not know: it would answer 202 to
        // `{"disabled": true}` and keep routing to the worker, so the cordon is refused here
        // rather than reported as done.
        let gateway = self.client.identity().await?;
        if gateway.is_upstream() {
            let route = format!("PATCH /workers/{id} {{\"disabled\": {disabled}}}");
            return Err(Error::Unsupported(Box::new(Unsupported {
                kind: UnsupportedKind::Route,
                answer: ApiError {
                    // Nothing was sent: this stands for "not implemented" by that gateway.
                    status: 501,
                    kind: None,
                    code: None,
                    message: format!("{gateway} ignores `disabled`; the request was not sent"),
                    request_id: None,
                    retry_after: None,
                    body: String::new(),
                },
                route,
                gateway: Some(gateway),
            })));
        }
        let update = WorkerUpdateRequest {
            disabled: Some(disabled),
            ..WorkerUpdateRequest::default()
        };
        self.update(id, &update).await
    }

    /// Remove a worker without the drain settle period (`DELETE /workers/{id}?force=true`).
    /// Requests already in flight to it still finish; a removal already settling ends at once.
    pub async fn force_delete(&self, id: &str) -> Result<WorkerAccepted> {
        let req = Self::worker_request(Method::DELETE, id)?.query("force", "true");
        self.client.send_json(req).await
    }

    /// Flush one worker's KV cache (`POST /workers/{id}/flush_cache`): the body of
    /// [`Client::flush_cache`] for that worker alone. Both 200 and 206 are `Ok`: check
    /// [`FlushCacheResponse::is_partial`].
    pub async fn flush_cache(&self, id: &str) -> Result<FlushCacheResponse> {
        let req = Self::worker_action(Method::POST, id, Some("flush_cache"))?;
        self.client.send_json(req).await
    }

    /// Retire a worker (`POST /workers/{id}/retire`, 202): one background job cordons it, waits
    /// until the gateway has no request in flight to it (at most `request.timeout_secs`), flushes
    /// its KV cache and removes it. Its progress is the worker's `job_status` (`RetireWorker`);
    /// see [`retire_and_wait`](Self::retire_and_wait). Not retried.
    pub async fn retire(&self, id: &str, request: &RetireWorkerRequest) -> Result<WorkerAccepted> {
        let req = Self::worker_action(Method::POST, id, Some("retire"))?.json(request)?;
        self.client.send_json(req).await
    }

    /// [`retire`](Self::retire), then [`wait_for_retirement`](Self::wait_for_retirement);
    /// `timeout` bounds both.
    pub async fn retire_and_wait(
        &self,
        id: &str,
        request: &RetireWorkerRequest,
        timeout: Duration,
        on_progress: impl FnMut(&JobStatus),
    ) -> Result<()> {
        let start = Instant::now();
        self.retire(id, request).await?;
        let remaining = timeout.saturating_sub(start.elapsed());
        self.wait_for_retirement(id, remaining, on_progress).await
    }

    /// Poll `GET /workers/{id}` until a retirement has removed the worker (404 → `Ok`).
    ///
    /// `on_progress` is called with the job status each time its step (`message`) changes.
    /// A failed `RetireWorker` (or `RemoveWorker`) job → [`Error::JobFailed`] with the gateway's
    /// message; a drain that ran out of time starts with
    /// [`RETIRE_DRAIN_TIMED_OUT`](crate::types::RETIRE_DRAIN_TIMED_OUT) (the worker stays
    /// registered and cordoned). `timeout` elapsed → [`Error::WaitTimeout`].
    pub async fn wait_for_retirement(
        &self,
        id: &str,
        timeout: Duration,
        mut on_progress: impl FnMut(&JobStatus),
    ) -> Result<()> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut last_status = None;
        let mut last_step: Option<(String, Option<String>)> = None;
        loop {
            match tokio::time::timeout_at(deadline, self.get(id)).await {
                Err(_elapsed) => break,
                Ok(Err(e)) if e.is_not_found() => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(info)) => {
                    last_status = info.status;
                    if let Some(job) = info.job_status.as_ref().filter(|j| {
                        matches!(
                            j.kind(),
                            Some(JobKind::RetireWorker | JobKind::RemoveWorker)
                        )
                    }) {
                        if job.status == JobState::Failed {
                            return Err(Error::JobFailed {
                                id: id.to_string(),
                                message: job.message.clone().unwrap_or_else(|| {
                                    format!("{} job failed without a message", job.job_type)
                                }),
                            });
                        }
                        let step = Some((job.job_type.clone(), job.message.clone()));
                        if step != last_step {
                            on_progress(job);
                            last_step = step;
                        }
                    }
                }
            }
            if !self.sleep_until_next_poll(deadline).await {
                break;
            }
        }
        Err(Error::WaitTimeout {
            id: id.to_string(),
            last_status,
            waited: start.elapsed(),
        })
    }

    /// Poll `GET /workers/{id}` until the worker is `ready`.
    ///
    /// - `ready` → `Ok(info)`;
    /// - a failed job (`job_status.status == failed`) → [`Error::JobFailed`] with the job's
    ///   message; status `failed` → [`Error::JobFailed`] too;
    /// - 404 before the worker was first seen → keep polling (the registry may not have it
    ///   yet); 404 after it was seen → [`Error::JobFailed`] (it was removed);
    /// - `timeout` elapsed → [`Error::WaitTimeout`] with the last status seen.
    ///
    /// Polls every [`ClientBuilder::poll_interval`](super::ClientBuilder::poll_interval)
    /// (250 ms by default); each poll is cut off at the deadline.
    pub async fn wait_for_worker(&self, id: &str, timeout: Duration) -> Result<WorkerInfo> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut seen = false;
        let mut last_status = None;
        loop {
            match tokio::time::timeout_at(deadline, self.get(id)).await {
                Err(_elapsed) => break,
                Ok(Ok(info)) => {
                    seen = true;
                    last_status = info.status;
                    if let Some(job) = &info.job_status
                        && job.status == JobState::Failed
                    {
                        return Err(Error::JobFailed {
                            id: id.to_string(),
                            message: job.message.clone().unwrap_or_else(|| {
                                format!("{} job failed without a message", job.job_type)
                            }),
                        });
                    }
                    match info.status {
                        Some(WorkerStatus::Ready) => return Ok(info),
                        Some(WorkerStatus::Failed) => {
                            return Err(Error::JobFailed {
                                id: id.to_string(),
                                message: "worker status is failed: it did not pass its health \
                                          checks"
                                    .into(),
                            });
                        }
                        _ => {}
                    }
                }
                Ok(Err(e)) if e.is_not_found() => {
                    if seen {
                        return Err(Error::JobFailed {
                            id: id.to_string(),
                            message: "the worker was removed while waiting for it to become \
                                      ready (404 after it had been seen)"
                                .into(),
                        });
                    }
                }
                Ok(Err(e)) => return Err(e),
            }
            if !self.sleep_until_next_poll(deadline).await {
                break;
            }
        }
        Err(Error::WaitTimeout {
            id: id.to_string(),
            last_status,
            waited: start.elapsed(),
        })
    }

    /// [`create`](Self::create), then [`wait_for_worker`](Self::wait_for_worker) on the new id;
    /// `timeout` bounds both.
    pub async fn create_and_wait(
        &self,
        spec: &WorkerSpec,
        timeout: Duration,
    ) -> Result<WorkerInfo> {
        let start = Instant::now();
        let created = self.create(spec).await?;
        let remaining = timeout.saturating_sub(start.elapsed());
        self.wait_for_worker(&created.worker_id, remaining).await
    }

    /// [`delete`](Self::delete), then [`wait_for_removal`](Self::wait_for_removal); `timeout`
    /// bounds both. Returns the 202 body of the `DELETE`.
    ///
    /// A failed removal job → [`Error::JobFailed`]; `timeout` elapsed →
    /// [`Error::WaitTimeout`] with the last status seen (typically `draining`).
    pub async fn delete_and_wait(&self, id: &str, timeout: Duration) -> Result<WorkerAccepted> {
        let start = Instant::now();
        let accepted = self.delete(id).await?;
        let remaining = timeout.saturating_sub(start.elapsed());
        self.wait_for_removal(id, remaining).await?;
        Ok(accepted)
    }

    /// Poll `GET /workers/{id}` until it answers 404: the wait after a
    /// [`delete`](Self::delete) or [`force_delete`](Self::force_delete).
    ///
    /// A failed removal job → [`Error::JobFailed`]; `timeout` elapsed →
    /// [`Error::WaitTimeout`] with the last status seen (typically `draining`).
    pub async fn wait_for_removal(&self, id: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut last_status = None;
        loop {
            match tokio::time::timeout_at(deadline, self.get(id)).await {
                Err(_elapsed) => break,
                Ok(Err(e)) if e.is_not_found() => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(info)) => {
                    last_status = info.status;
                    if let Some(job) = &info.job_status
                        && job.status == JobState::Failed
                        && job.kind() == Some(JobKind::RemoveWorker)
                    {
                        return Err(Error::JobFailed {
                            id: id.to_string(),
                            message: job.message.clone().unwrap_or_else(|| {
                                "RemoveWorker job failed without a message".into()
                            }),
                        });
                    }
                }
            }
            if !self.sleep_until_next_poll(deadline).await {
                break;
            }
        }
        Err(Error::WaitTimeout {
            id: id.to_string(),
            last_status,
            waited: start.elapsed(),
        })
    }

    /// Watch the worker list: poll `GET /workers` every `interval` and yield what changed.
    ///
    /// The first successful poll yields [`WorkerEvent::Added`] for every worker; later polls
    /// yield `Added`, `Changed` and `Removed` by worker id. Every successful poll ends with one
    /// [`WorkerEvent::Synced`] (after that poll's changes, also when nothing changed), so a
    /// consumer knows the list is complete and fresh. A failed poll yields one `Err` and the
    /// watch goes on, backing off up to four intervals; the stream never ends by itself. One
    /// request is in flight at a time, and nothing is fetched while the stream is not polled.
    ///
    /// To poll before the interval is up, use [`watch_with_refresh`](Self::watch_with_refresh).
    pub fn watch(
        &self,
        interval: Duration,
    ) -> impl Stream<Item = Result<WorkerEvent>> + Send + 'static {
        super::watch::watch_workers(self.client.clone(), interval, None)
    }

    /// [`watch`](Self::watch), plus a way to poll now: `refresh.notify_one()` cuts the current
    /// wait short (the interval, or a failure backoff) and the next poll starts at once. A
    /// notification that arrives while a poll is in flight is kept, so that poll is followed
    /// by another one right away (use `notify_one`, not `notify_waiters`, which only wakes a
    /// watch that is waiting at that moment). Polls stay single-flight.
    ///
    /// ```no_run
    /// # async fn demo(client: smg_sdk::Client) {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use smg_sdk::WorkerEvent;
    ///
    /// let refresh = Arc::new(tokio::sync::Notify::new());
    /// let workers = client.workers();
    /// let mut watch = Box::pin(workers.watch_with_refresh(Duration::from_secs(30), refresh.clone()));
    /// // Elsewhere, e.g. on a key press:
    /// refresh.notify_one();
    /// while let Some(item) = watch.next().await {
    ///     match item {
    ///         Ok(WorkerEvent::Synced { total }) => println!("{total} workers, up to date"),
    ///         Ok(change) => println!("{change:?}"),
    ///         Err(e) => eprintln!("poll failed: {e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn watch_with_refresh(
        &self,
        interval: Duration,
        refresh: Arc<Notify>,
    ) -> impl Stream<Item = Result<WorkerEvent>> + Send + 'static {
        super::watch::watch_workers(self.client.clone(), interval, Some(refresh))
    }

    /// Sleep one poll interval, or until the deadline. False when the deadline has passed.
    async fn sleep_until_next_poll(&self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wake = (now + self.client.poll_interval()).min(deadline);
        tokio::time::sleep_until(wake).await;
        true
    }
}

impl Client {
    /// Same as [`Workers::watch`]: a stream of worker list changes, polled every `interval`
    /// (each successful poll ends with [`WorkerEvent::Synced`]). See
    /// [`Workers::watch_with_refresh`] to poll on demand.
    pub fn watch_workers(
        &self,
        interval: Duration,
    ) -> impl Stream<Item = Result<WorkerEvent>> + Send + 'static {
        super::watch::watch_workers(self.clone(), interval, None)
    }
}
