//! Fan-outs to every worker: engine loads (`/get_loads`), KV-cache flush (`/flush_cache`)
//! and engine metrics (`/engine_metrics`). Each is bounded in concurrency and each worker
//! has one timeout for everything asked of it, so one slow worker never delays the answer
//! past it. (`/flush_cache` and `/metrics` are one request each, which the HTTP client's
//! per-request timeout bounds from connect to the last body byte.)

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use smg_sdk::{
    ConnectionMode, FlushCacheResponse, FlushFailure, GetLoadsResponse, ProfileOptions,
    ProfileResponse, RuntimeType, SchedulerLoadSnapshot, WorkerLoad, WorkerLoadResponse,
    WorkerSpec,
};

use crate::config::GatewayConfig;
use crate::upstream::{CallError, WorkerHttp};
use crate::workers::Worker;
use crate::workers::url::base_url;

/// Run `f` over `items` with at most `limit` in flight, keeping input order.
pub async fn fan_out<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R>,
{
    futures::stream::iter(items.into_iter().map(f))
        .buffered(limit.max(1))
        .collect()
        .await
}

const LOADS_PATH: &str = "/v1/loads?include=core,disagg,queues,memory";

pub struct Fanout<'a> {
    pub http: &'a WorkerHttp,
    pub config: &'a GatewayConfig,
}

impl Fanout<'_> {
    /// `GET /get_loads`: one entry per registered worker; `load: -1` without `details` for a
    /// worker that did not answer in time.
    pub async fn get_loads(&self, workers: Vec<Arc<Worker>>) -> GetLoadsResponse {
        let timeout = Duration::from_secs(self.config.load_timeout_secs);
        let workers = fan_out(
            workers,
            self.config.fanout_concurrency,
            |worker| async move {
                let spec = worker.spec();
                match self.fetch_load(&spec, timeout).await {
                    Ok(details) => WorkerLoad {
                        worker: spec.url.clone(),
                        load: details.total_used_tokens(),
                        details: Some(details),
                    },
                    Err(error) => {
                        tracing::debug!(worker = %spec.url, %error, "load fetch failed");
                        WorkerLoad {
                            worker: spec.url.clone(),
                            load: -1,
                            details: None,
                        }
                    }
                }
            },
        )
        .await;
        GetLoadsResponse { workers }
    }

    /// One worker's load report. `timeout` bounds the whole fetch, including the SGLang
    /// fallback from `/v1/loads` to `/metrics`.
    pub async fn fetch_load(
        &self,
        spec: &WorkerSpec,
        timeout: Duration,
    ) -> Result<WorkerLoadResponse, CallError> {
        tokio::time::timeout(timeout, self.fetch_load_unbounded(spec, timeout))
            .await
            .unwrap_or(Err(CallError::Timeout(timeout)))
    }

    async fn fetch_load_unbounded(
        &self,
        spec: &WorkerSpec,
        timeout: Duration,
    ) -> Result<WorkerLoadResponse, CallError> {
        let report = match spec.runtime_type {
            RuntimeType::Vllm => {
                let text = self.http.get_text(spec, "/metrics", timeout).await?;
                load_from_metrics(&text, MetricsDialect::Vllm)?
            }
            RuntimeType::Sglang => match self.fetch_v1_loads(spec, timeout).await {
                Ok(report) => report,
                Err(CallError::Timeout(t)) => return Err(CallError::Timeout(t)),
                Err(_) => {
                    let text = self.http.get_text(spec, "/metrics", timeout).await?;
                    load_from_metrics(&text, MetricsDialect::Sglang)?
                }
            },
            _ => self.fetch_v1_loads(spec, timeout).await?,
        };
        if report.loads.is_empty() {
            return Err(CallError::Body("worker reported no load snapshots".into()));
        }
        Ok(report)
    }

    async fn fetch_v1_loads(
        &self,
        spec: &WorkerSpec,
        timeout: Duration,
    ) -> Result<WorkerLoadResponse, CallError> {
        self.http.get_json(spec, LOADS_PATH, timeout).await
    }

    /// `POST /flush_cache` on every worker.
    pub async fn flush_cache(&self, workers: Vec<Arc<Worker>>) -> FlushCacheResponse {
        let timeout = Duration::from_secs(self.config.flush_timeout_secs);
        let specs: Vec<Arc<WorkerSpec>> = workers.iter().map(|w| w.spec()).collect();
        let total_workers = specs.len();
        let count = |mode| specs.iter().filter(|s| s.connection_mode == mode).count();
        let (http_count, grpc_count, zmq_count) = (
            count(ConnectionMode::Http),
            count(ConnectionMode::Grpc),
            count(ConnectionMode::Zmq),
        );
        let targets: Vec<_> = specs
            .into_iter()
            .filter(|s| s.connection_mode != ConnectionMode::Zmq)
            .collect();
        let results = fan_out(targets, self.config.fanout_concurrency, |spec| async move {
            let result = self
                .http
                .call(&spec, reqwest::Method::POST, "/flush_cache", timeout)
                .await;
            (spec.url.clone(), result)
        })
        .await;
        let (successful, failed) = split_results(results, "flush_cache");
        let skipped = if zmq_count > 0 {
            format!(" ({zmq_count} ZMQ workers skipped: no cache-flush RPC)")
        } else {
            String::new()
        };
        let workers_flushed = successful.len();
        if failed.is_empty() {
            let message = if total_workers == 0 {
                "No workers available for cache flush".to_string()
            } else {
                format!("Successfully flushed cache on all {workers_flushed} workers{skipped}")
            };
            FlushCacheResponse {
                status: "success".into(),
                message,
                workers_flushed,
                total_http_workers: http_count,
                total_grpc_workers: grpc_count,
                total_zmq_workers_skipped: zmq_count,
                total_workers,
                successful: None,
                failed: None,
            }
        } else {
            FlushCacheResponse {
                status: "partial_success".into(),
                message: format!(
                    "Cache flush: {} succeeded, {} failed{skipped}",
                    workers_flushed,
                    failed.len()
                ),
                workers_flushed,
                total_http_workers: http_count,
                total_grpc_workers: grpc_count,
                total_zmq_workers_skipped: zmq_count,
                total_workers,
                successful: Some(successful),
                failed: Some(failed),
            }
        }
    }

    /// `POST /start_profile` (`start`: the options forwarded to each worker) or
    /// `POST /stop_profile` (`start: None`) on every worker, or on the one whose URL is `url`.
    /// `total_workers == 0` means nothing matched (404).
    pub async fn profile(
        &self,
        workers: Vec<Arc<Worker>>,
        url: Option<&str>,
        start: Option<&ProfileOptions>,
    ) -> ProfileResponse {
        let timeout = Duration::from_secs(self.config.profile_timeout_secs);
        let targets: Vec<Arc<WorkerSpec>> = workers
            .iter()
            .map(|w| w.spec())
            .filter(|s| url.is_none_or(|u| s.url == u))
            .collect();
        let (op, verb) = match start {
            Some(_) => ("start_profile", "started"),
            None => ("stop_profile", "stopped"),
        };
        let total_workers = targets.len();
        if total_workers == 0 {
            return ProfileResponse {
                status: "error".into(),
                message: match url {
                    Some(u) => format!("No worker matching url '{u}'"),
                    None => "No workers available for profiling".into(),
                },
                workers_profiled: 0,
                total_workers: 0,
                successful: None,
                failed: None,
            };
        }
        let path = format!("/{op}");
        let results = fan_out(targets, self.config.fanout_concurrency, |spec| {
            let path = &path;
            async move {
                let result = match start {
                    Some(options) => self.http.post_json(&spec, path, options, timeout).await,
                    None => {
                        self.http
                            .call(&spec, reqwest::Method::POST, path, timeout)
                            .await
                    }
                };
                (spec.url.clone(), result)
            }
        })
        .await;
        let (successful, failed) = split_results(results, op);
        let workers_profiled = successful.len();
        if failed.is_empty() {
            ProfileResponse {
                status: "success".into(),
                message: format!("Successfully {verb} profiling on all {workers_profiled} workers"),
                workers_profiled,
                total_workers,
                successful: None,
                failed: None,
            }
        } else {
            ProfileResponse {
                status: "partial_success".into(),
                message: format!(
                    "Profiling {verb} on {workers_profiled} of {total_workers} workers, {} failed",
                    failed.len()
                ),
                workers_profiled,
                total_workers,
                successful: Some(successful),
                failed: Some(failed),
            }
        }
    }

    /// `GET /engine_metrics`: every distinct worker's `/metrics`, each sample labelled
    /// with `worker_addr`. `Err` says why nothing could be collected.
    pub async fn engine_metrics(&self, workers: Vec<Arc<Worker>>) -> Result<String, String> {
        let timeout = Duration::from_secs(self.config.load_timeout_secs);
        let mut seen = HashSet::new();
        let specs: Vec<Arc<WorkerSpec>> = workers
            .iter()
            .map(|w| w.spec())
            .filter(|s| seen.insert(base_url(&s.url).to_string()))
            .collect();
        if specs.is_empty() {
            return Err("No available workers".into());
        }
        let scraped = fan_out(specs, self.config.fanout_concurrency, |spec| async move {
            let text = self.http.get_text(&spec, "/metrics", timeout).await;
            (spec.url.clone(), text)
        })
        .await;
        let mut out = String::new();
        let mut described = HashSet::new();
        let mut any = false;
        for (url, text) in scraped {
            match text {
                Ok(text) => {
                    any = true;
                    label_samples(&text, &url, &mut described, &mut out);
                }
                Err(e) => tracing::debug!(worker = %url, error = %e, "metrics scrape failed"),
            }
        }
        if any {
            Ok(out)
        } else {
            Err("All backend requests failed".into())
        }
    }
}

/// The URLs that answered, and the failures (`<op> failed for worker <url>: <why>`).
fn split_results<T>(
    results: Vec<(String, Result<T, CallError>)>,
    op: &str,
) -> (Vec<String>, Vec<FlushFailure>) {
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for (url, result) in results {
        match result {
            Ok(_) => successful.push(url),
            Err(e) => failed.push(FlushFailure {
                error: format!("{op} failed for worker {url}: {e}"),
                worker: url,
            }),
        }
    }
    (successful, failed)
}

/// Append `text`'s samples to `out` with a `worker_addr` label; each HELP/TYPE once.
fn label_samples(text: &str, worker: &str, described: &mut HashSet<String>, out: &mut String) {
    let addr = worker.replace('\\', "\\\\").replace('"', "\\\"");
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            if described.insert(line.to_string()) {
                out.push_str(line);
                out.push('\n');
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        out.push_str(name);
        if let Some(labels) = rest.strip_prefix('{') {
            out.push_str(&format!("{{worker_addr=\"{addr}\","));
            out.push_str(labels);
        } else {
            out.push_str(&format!("{{worker_addr=\"{addr}\"}}"));
            out.push_str(rest);
        }
        out.push('\n');
    }
}

#[derive(Clone, Copy)]
pub enum MetricsDialect {
    Vllm,
    Sglang,
}

/// Turn an engine's Prometheus text into a load report (fallback path; ratio-only data
/// yields `load: -1` as upstream does).
pub fn load_from_metrics(
    text: &str,
    dialect: MetricsDialect,
) -> Result<WorkerLoadResponse, CallError> {
    // Normalise `sglang_x` to `sglang:x`.
    let sums: BTreeMap<String, f64> = smg_sdk::prometheus::sums(text)
        .into_iter()
        .map(|(name, v)| (name.replacen("sglang_", "sglang:", 1), v))
        .collect();
    let get = |name: &str| sums.get(name).copied();
    let int = |v: Option<f64>| v.map(|v| v.round() as i32).unwrap_or(0);
    let snapshot = match dialect {
        MetricsDialect::Vllm => {
            let usage = get("vllm:kv_cache_usage_perc")
                .or_else(|| get("vllm:gpu_cache_usage_perc"))
                .ok_or_else(|| CallError::Body("no vllm:kv_cache_usage_perc metric".into()))?;
            let hits = get("vllm:prefix_cache_hits_total").unwrap_or(0.0);
            let queries = get("vllm:prefix_cache_queries_total").unwrap_or(0.0);
            let running = int(get("vllm:num_requests_running"));
            let waiting = int(get("vllm:num_requests_waiting"));
            SchedulerLoadSnapshot {
                num_running_reqs: running,
                num_waiting_reqs: waiting,
                num_total_reqs: running + waiting,
                token_usage: usage,
                cache_hit_rate: if queries > 0.0 { hits / queries } else { 0.0 },
                ..Default::default()
            }
        }
        MetricsDialect::Sglang => {
            let usage = get("sglang:token_usage")
                .ok_or_else(|| CallError::Body("no sglang:token_usage metric".into()))?;
            let running = int(get("sglang:num_running_reqs"));
            let waiting = int(get("sglang:num_queue_reqs"));
            SchedulerLoadSnapshot {
                num_running_reqs: running,
                num_waiting_reqs: waiting,
                num_total_reqs: running + waiting,
                num_used_tokens: int(get("sglang:num_used_tokens")),
                max_total_num_tokens: int(get("sglang:max_total_num_tokens")),
                token_usage: usage,
                gen_throughput: get("sglang:gen_throughput").unwrap_or(0.0),
                cache_hit_rate: get("sglang:cache_hit_rate").unwrap_or(0.0),
                ..Default::default()
            }
        }
    };
    Ok(WorkerLoadResponse {
        timestamp: chrono::Utc::now().to_rfc3339(),
        version: String::new(),
        dp_rank_count: 1,
        loads: vec![snapshot],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vllm_metrics_become_a_ratio_only_report() {
        let text = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"m\"} 3\n\
                    vllm:num_requests_waiting{model_name=\"m\"} 1\nvllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n\
                    vllm:prefix_cache_hits_total{model_name=\"m\"} 30\nvllm:prefix_cache_queries_total{model_name=\"m\"} 120\n";
        let report = load_from_metrics(text, MetricsDialect::Vllm).unwrap();
        let s = &report.loads[0];
        assert_eq!((s.num_running_reqs, s.num_waiting_reqs), (3, 1));
        assert_eq!(s.cache_hit_rate, 0.25);
        assert_eq!(report.total_used_tokens(), -1);
    }

    #[test]
    fn sglang_metrics_need_token_usage() {
        assert!(load_from_metrics("sglang:num_running_reqs 1\n", MetricsDialect::Sglang).is_err());
        let report = load_from_metrics(
            "sglang_token_usage 0.5\nsglang:num_used_tokens 100\nsglang:max_total_num_tokens 200\n",
            MetricsDialect::Sglang,
        )
        .unwrap();
        assert_eq!(report.total_used_tokens(), 100);
    }

    #[test]
    fn samples_get_worker_addr_and_help_once() {
        let mut out = String::new();
        let mut seen = HashSet::new();
        label_samples(
            "# HELP a A\na 1\nb{x=\"y\"} 2\n",
            "http://w:1",
            &mut seen,
            &mut out,
        );
        label_samples("# HELP a A\na 3\n", "http://w:2", &mut seen, &mut out);
        assert_eq!(
            out,
            "# HELP a A\na{worker_addr=\"http://w:1\"} 1\nb{worker_addr=\"http://w:1\",x=\"y\"} 2\na{worker_addr=\"http://w:2\"} 3\n"
        );
    }

    /// The SGLang fallback (`/v1/loads` fails, then `/metrics`) shares one timeout: each call
    /// alone fits in it, both together do not.
    #[tokio::test]
    async fn one_timeout_bounds_the_metrics_fallback() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        let delay = Duration::from_millis(600);
        Mock::given(path("/v1/loads"))
            .respond_with(ResponseTemplate::new(500).set_delay(delay))
            .mount(&server)
            .await;
        Mock::given(path("/metrics"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_string("sglang:token_usage 0.5\n")
                    .set_delay(delay),
            )
            .mount(&server)
            .await;
        let http = WorkerHttp::new().unwrap();
        let config = GatewayConfig::default();
        let fanout = Fanout {
            http: &http,
            config: &config,
        };
        let mut spec = WorkerSpec::new(server.uri());
        spec.runtime_type = RuntimeType::Sglang;
        let timeout = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let result = fanout.fetch_load(&spec, timeout).await;
        assert!(matches!(result, Err(CallError::Timeout(_))), "{result:?}");
        // Generous: the bound is the timeout, not the sum of the two calls.
        assert!(started.elapsed() < Duration::from_secs(10));
        // With time for both, the fallback answers.
        let report = fanout
            .fetch_load(&spec, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(report.loads[0].token_usage, 0.5);
    }

    #[tokio::test]
    async fn fan_out_keeps_order_and_bounds() {
        let out = fan_out((0..50).collect(), 4, |i| async move { i * 2 }).await;
        assert_eq!(out, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    }
}
