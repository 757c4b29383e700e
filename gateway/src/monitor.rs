//! The load monitor: one background task per gateway polls every HTTP worker's engine load
//! (the same per-worker fetch as `/get_loads`, [`Fanout::fetch_load`]) every
//! `--load-poll-interval-secs`, at most `--load-poll-concurrency` workers at once and each
//! within `--load-timeout-secs`. Each report is kept on its worker, so `GET /loads` and the
//! `engine_load` of `GET /workers` are served from memory and never contact a worker.
//!
//! A report stays shown for three poll intervals (plus the poll timeout) after it arrived: one
//! missed poll does not blank a dashboard, a worker that stopped answering drops out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use smg_sdk::{
    ConnectionMode, GATEWAY_LOADS_VERSION_PREFIX, LoadAggregate, LoadsSnapshot, RankLoad,
};
use tokio_util::sync::CancellationToken;

use crate::config::GatewayConfig;
use crate::loads::{Fanout, fan_out};
use crate::upstream::WorkerHttp;
use crate::workers::{Registry, Worker};

/// `version` of this gateway's snapshots: `smg-gateway-<crate version>` (upstream SMG says
/// `smg-<version>`).
pub fn snapshot_version() -> String {
    format!(
        "{GATEWAY_LOADS_VERSION_PREFIX}{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// How long a report is shown after it arrived.
fn report_ttl(config: &GatewayConfig) -> Duration {
    Duration::from_secs(
        config
            .load_poll_interval_secs
            .saturating_mul(3)
            .saturating_add(config.load_timeout_secs),
    )
}

/// Start the monitor, unless `--load-poll-interval-secs` is 0. It stops when `stop` is
/// cancelled.
pub fn spawn(
    registry: Arc<Registry>,
    http: WorkerHttp,
    config: Arc<GatewayConfig>,
    stop: CancellationToken,
) {
    if config.load_poll_interval_secs == 0 {
        tracing::info!("load monitor off (--load-poll-interval-secs 0): GET /loads is empty");
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(config.load_poll_interval_secs));
        // A round slower than the interval is followed by a full interval, not a burst.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = poll_once(&registry, &http, &config) => {}
            }
        }
    });
}

/// Poll every HTTP worker once and keep what each one reported. A worker that does not answer
/// keeps its previous report until that grows too old.
pub async fn poll_once(registry: &Registry, http: &WorkerHttp, config: &GatewayConfig) {
    let fanout = Fanout { http, config };
    let timeout = Duration::from_secs(config.load_timeout_secs);
    let ttl = report_ttl(config);
    let workers: Vec<Arc<Worker>> = registry
        .all()
        .into_iter()
        .filter(|w| w.spec().connection_mode == ConnectionMode::Http)
        .collect();
    fan_out(workers, config.load_poll_concurrency, |worker| {
        let fanout = &fanout;
        async move {
            let spec = worker.spec();
            match fanout.fetch_load(&spec, timeout).await {
                Ok(report) => worker.set_engine_load(report, Instant::now(), ttl),
                Err(error) => tracing::debug!(worker = %spec.url, %error, "load poll failed"),
            }
        }
    })
    .await;
}

/// `GET /loads[?model=ID]`: the last report of every worker (serving `model`, when given; a
/// wildcard worker serves every model), one entry per DP rank, with the report's age.
pub fn snapshot(registry: &Registry, model: Option<&str>) -> LoadsSnapshot {
    let now = Instant::now();
    let mut loads = Vec::new();
    for worker in registry.all() {
        let spec = worker.spec();
        if model.is_some_and(|m| !spec.serves(m)) {
            continue;
        }
        let Some(load) = worker.engine_load() else {
            continue;
        };
        let age_ms = u64::try_from(now.saturating_duration_since(load.polled_at).as_millis())
            .unwrap_or(u64::MAX);
        loads.extend(load.report.loads.iter().map(|rank| RankLoad {
            worker: spec.url.clone(),
            worker_type: spec.worker_type,
            snapshot: rank.clone(),
            age_ms: Some(age_ms),
        }));
    }
    LoadsSnapshot {
        timestamp: chrono::Utc::now().to_rfc3339(),
        version: snapshot_version(),
        dp_rank_count: i32::try_from(loads.len()).unwrap_or(i32::MAX),
        aggregate: LoadAggregate::of(loads.iter().map(|l| &l.snapshot)),
        loads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smg_sdk::{ModelCard, SchedulerLoadSnapshot, WorkerLoadResponse, WorkerSpec, WorkerStatus};

    fn report(running: i32, ranks: usize) -> WorkerLoadResponse {
        WorkerLoadResponse {
            timestamp: "t".into(),
            dp_rank_count: i32::try_from(ranks).unwrap(),
            loads: (0..ranks)
                .map(|r| SchedulerLoadSnapshot {
                    dp_rank: i32::try_from(r).unwrap(),
                    num_running_reqs: running,
                    num_total_reqs: running,
                    token_usage: 0.5,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn worker(registry: &Registry, url: &str, model: Option<&str>) -> Arc<Worker> {
        let mut spec = WorkerSpec::new(url);
        spec.models.extend(model.map(ModelCard::new));
        let id = registry.reserve_id_for_url(url);
        let worker = Arc::new(Worker::new(id, spec, WorkerStatus::Ready));
        registry.insert(worker.clone());
        worker
    }

    #[test]
    fn snapshot_has_one_entry_per_rank_with_ages_and_a_model_filter() {
        let registry = Registry::default();
        let ttl = Duration::from_secs(60);
        let a = worker(&registry, "http://a:1", Some("m1"));
        let b = worker(&registry, "http://b:1", Some("m2"));
        let _silent = worker(&registry, "http://c:1", Some("m1"));
        let wildcard = worker(&registry, "http://d:1", None);
        a.set_engine_load(
            report(2, 2),
            Instant::now() - Duration::from_millis(1500),
            ttl,
        );
        b.set_engine_load(report(3, 1), Instant::now(), ttl);
        wildcard.set_engine_load(report(1, 1), Instant::now(), ttl);

        let all = snapshot(&registry, None);
        assert!(all.version.starts_with(GATEWAY_LOADS_VERSION_PREFIX));
        assert_eq!(all.dp_rank_count, 4);
        let urls: Vec<&str> = all.loads.iter().map(|l| l.worker.as_str()).collect();
        assert_eq!(
            urls,
            ["http://a:1", "http://a:1", "http://b:1", "http://d:1"]
        );
        assert!(all.loads[0].age_ms.unwrap() >= 1500);
        assert!(all.loads[2].age_ms.unwrap() < 1500);
        assert_eq!(all.aggregate.total_running_reqs, 2 + 2 + 3 + 1);
        assert!((all.aggregate.avg_token_usage - 0.5).abs() < 1e-9);

        let m1 = snapshot(&registry, Some("m1"));
        let urls: Vec<&str> = m1.loads.iter().map(|l| l.worker.as_str()).collect();
        assert_eq!(urls, ["http://a:1", "http://a:1", "http://d:1"]);
        let none = snapshot(&registry, Some("unknown-model"));
        // Only the wildcard worker serves a model nobody names.
        assert_eq!(none.loads.len(), 1);
    }

    #[test]
    fn an_old_report_is_dropped() {
        let registry = Registry::default();
        let a = worker(&registry, "http://a:1", None);
        a.set_engine_load(
            report(1, 1),
            Instant::now() - Duration::from_secs(10),
            Duration::from_secs(5),
        );
        assert!(a.engine_load().is_none());
        assert!(snapshot(&registry, None).loads.is_empty());
        assert!(a.info(None).engine_load.is_none());
    }
}
