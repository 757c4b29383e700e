//! Prometheus metrics of the gateway itself, served on a separate listener
//! (`--prometheus-port`, `GET /metrics`). Label values are bounded: routes are the fixed
//! route table, models are the models workers serve (never a client-chosen string), and
//! workers are registered URLs.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use smg_sdk::metric_names::{self as names, labels};

use crate::workers::Registry as WorkerRegistry;

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    in_flight: IntGaugeVec,
    pub retries: IntCounterVec,
    breaker_state: IntGaugeVec,
    worker_healthy: IntGaugeVec,
    worker_load: IntGaugeVec,
    engine_requests: IntGaugeVec,
    engine_token_usage: GaugeVec,
    job_queue_depth: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                names::REQUESTS_TOTAL,
                "Proxied requests by route, model, worker and status",
            ),
            &[labels::ROUTE, labels::MODEL, labels::WORKER, labels::STATUS],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                names::REQUEST_DURATION_SECONDS,
                "Time from receiving a proxied request to the end of its response",
            )
            .buckets(vec![
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                120.0,
            ]),
            &[labels::ROUTE, labels::MODEL, labels::WORKER],
        )?;
        let in_flight = IntGaugeVec::new(
            Opts::new(
                names::REQUESTS_IN_FLIGHT,
                "Proxied requests in flight per worker",
            ),
            &[labels::WORKER],
        )?;
        let retries = IntCounterVec::new(
            Opts::new(
                names::RETRIES_TOTAL,
                "Retries of proxied requests, by the worker that failed",
            ),
            &[labels::ROUTE, labels::WORKER],
        )?;
        let breaker_state = IntGaugeVec::new(
            Opts::new(
                names::CIRCUIT_BREAKER_STATE,
                "Circuit breaker per worker: 0 closed, 1 open, 2 half-open",
            ),
            &[labels::WORKER],
        )?;
        let worker_healthy = IntGaugeVec::new(
            Opts::new(names::WORKER_HEALTHY, "1 when the worker is ready, else 0"),
            &[labels::WORKER, labels::STATUS],
        )?;
        let worker_load = IntGaugeVec::new(
            Opts::new(
                names::WORKER_LOAD,
                "Requests in flight through the gateway per worker",
            ),
            &[labels::WORKER],
        )?;
        let engine_requests = IntGaugeVec::new(
            Opts::new(
                names::WORKER_ENGINE_REQUESTS,
                "Requests the worker's engine reports, summed over its DP ranks (load monitor)",
            ),
            &[labels::WORKER, labels::STATE],
        )?;
        let engine_token_usage = GaugeVec::new(
            Opts::new(
                names::WORKER_ENGINE_TOKEN_USAGE,
                "KV-cache usage the worker's engine reports, mean over its DP ranks, 0..1 (load monitor)",
            ),
            &[labels::WORKER],
        )?;
        let job_queue_depth =
            IntGauge::new(names::JOB_QUEUE_DEPTH, "Worker jobs queued or running")?;
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(retries.clone()),
            Box::new(breaker_state.clone()),
            Box::new(worker_healthy.clone()),
            Box::new(worker_load.clone()),
            Box::new(engine_requests.clone()),
            Box::new(engine_token_usage.clone()),
            Box::new(job_queue_depth.clone()),
        ] {
            registry.register(c)?;
        }
        Ok(Self {
            registry,
            requests,
            duration,
            in_flight,
            retries,
            breaker_state,
            worker_healthy,
            worker_load,
            engine_requests,
            engine_token_usage,
            job_queue_depth,
        })
    }

    /// Refresh the per-worker gauges from the registry and render the text format.
    pub fn render(&self, workers: &WorkerRegistry, job_queue_depth: usize) -> String {
        self.breaker_state.reset();
        self.worker_healthy.reset();
        self.worker_load.reset();
        self.in_flight.reset();
        self.engine_requests.reset();
        self.engine_token_usage.reset();
        for worker in workers.all() {
            let url = worker.url();
            self.breaker_state
                .with_label_values(&[url.as_str()])
                .set(worker.breaker_state().gauge());
            let status = worker.status();
            self.worker_healthy
                .with_label_values(&[url.as_str(), status.as_str()])
                .set(i64::from(worker.is_ready()));
            // The worker's own in-flight count, read at scrape time rather than kept twice
            // on the request path.
            let load = i64::try_from(worker.load()).unwrap_or(i64::MAX);
            self.worker_load
                .with_label_values(&[url.as_str()])
                .set(load);
            self.in_flight.with_label_values(&[url.as_str()]).set(load);
            if let Some(engine) = worker.engine_load() {
                let ranks = &engine.report.loads;
                let agg = smg_sdk::LoadAggregate::of(ranks);
                for (state, n) in [
                    ("running", agg.total_running_reqs),
                    ("waiting", agg.total_waiting_reqs),
                ] {
                    self.engine_requests
                        .with_label_values(&[url.as_str(), state])
                        .set(n);
                }
                self.engine_token_usage
                    .with_label_values(&[url.as_str()])
                    .set(agg.avg_token_usage);
            }
        }
        self.job_queue_depth
            .set(i64::try_from(job_queue_depth).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
