//! Requests per second and error rate per worker, from the gateway's own counter
//! `smg_requests_total{route,model,worker,status}` on its Prometheus endpoint: the delta
//! between two scrapes over the time between them.
//!
//! An error is a request whose `status` is a 5xx code, `error` (no answer from the worker) or
//! `stream_error` (the stream broke after the status was sent). A counter that went down (the
//! gateway restarted) counts from zero.

use std::collections::HashMap;
use std::time::Duration;

/// The counter scraped.
pub use smg_sdk::metric_names::REQUESTS_TOTAL;
use smg_sdk::metric_names::labels;

/// Requests and errors counted so far (counter values, summed over routes and models).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Every request.
    pub total: f64,
    /// Requests that failed ([`is_error_status`]).
    pub errors: f64,
}

/// One scrape: the counters per worker URL (the `worker` label).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficSample {
    /// Counters by worker URL.
    pub workers: HashMap<String, Counts>,
}

impl TrafficSample {
    /// Read `smg_requests_total` from Prometheus text; every other metric is ignored.
    pub fn parse(text: &str) -> Self {
        let mut workers: HashMap<String, Counts> = HashMap::new();
        for sample in smg_sdk::prometheus::parse(text) {
            if sample.name != REQUESTS_TOTAL || !sample.value.is_finite() {
                continue;
            }
            let worker = sample.label(labels::WORKER).unwrap_or("").to_string();
            let error = sample.label(labels::STATUS).is_some_and(is_error_status);
            let counts = workers.entry(worker).or_default();
            counts.total += sample.value;
            if error {
                counts.errors += sample.value;
            }
        }
        Self { workers }
    }
}

/// True for a failed request's `status` label: `5xx`, `error` or `stream_error`.
pub fn is_error_status(status: &str) -> bool {
    match status {
        "error" | "stream_error" => true,
        s => s.len() == 3 && s.starts_with('5') && s.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Traffic over the window between two scrapes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests per second.
    pub req_per_sec: f64,
    /// Share of those requests that failed; `None` when there were none.
    pub err_rate: Option<f64>,
}

/// `(requests, errors)` between two counter readings; a reset counts from zero.
pub fn delta(prev: Counts, now: Counts) -> (f64, f64) {
    if now.total < prev.total || now.errors < prev.errors {
        (now.total, now.errors)
    } else {
        (now.total - prev.total, now.errors - prev.errors)
    }
}

impl Rate {
    /// The rate of `requests` (of which `errors` failed) over `elapsed`; `None` for an empty
    /// window.
    pub fn over(requests: f64, errors: f64, elapsed: Duration) -> Option<Self> {
        let secs = elapsed.as_secs_f64();
        if secs <= 0.0 {
            return None;
        }
        Some(Self {
            req_per_sec: requests / secs,
            err_rate: (requests > 0.0).then(|| (errors / requests).clamp(0.0, 1.0)),
        })
    }
}

/// Per-worker and fleet rates between `prev` and `now`, taken `elapsed` apart. Workers absent
/// from `now` had no requests at all (the gateway creates a worker's series on its first
/// request), so they are left out; look them up as zero.
pub fn rates(
    prev: &TrafficSample,
    now: &TrafficSample,
    elapsed: Duration,
) -> Option<(HashMap<String, Rate>, Rate)> {
    if elapsed.is_zero() {
        return None;
    }
    let mut workers = HashMap::with_capacity(now.workers.len());
    let (mut requests, mut errors) = (0.0, 0.0);
    for (url, counts) in &now.workers {
        let before = prev.workers.get(url).copied().unwrap_or_default();
        let (r, e) = delta(before, *counts);
        requests += r;
        errors += e;
        if let Some(rate) = Rate::over(r, e, elapsed) {
            workers.insert(url.clone(), rate);
        }
    }
    let fleet = Rate::over(requests, errors, elapsed)?;
    Some((workers, fleet))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP smg_requests_total Proxied requests
# TYPE smg_requests_total counter
smg_requests_total{route=\"/v1/chat/completions\",model=\"m\",worker=\"http://a:1\",status=\"200\"} 90
smg_requests_total{route=\"/generate\",model=\"m\",worker=\"http://a:1\",status=\"503\"} 6
smg_requests_total{route=\"/generate\",model=\"m\",worker=\"http://a:1\",status=\"error\"} 3
smg_requests_total{route=\"/generate\",model=\"m\",worker=\"http://a:1\",status=\"stream_error\"} 1
smg_requests_total{route=\"/generate\",model=\"m\",worker=\"http://b:1\",status=\"404\"} 10
smg_request_duration_seconds_count{route=\"/generate\",model=\"m\",worker=\"http://a:1\"} 100
";

    #[test]
    fn parses_totals_and_errors_per_worker() {
        let s = TrafficSample::parse(TEXT);
        assert_eq!(s.workers.len(), 2);
        assert_eq!(
            s.workers["http://a:1"],
            Counts {
                total: 100.0,
                errors: 10.0
            }
        );
        assert_eq!(s.workers["http://b:1"].errors, 0.0);
        assert!(TrafficSample::parse("garbage\n").workers.is_empty());
    }

    #[test]
    fn error_statuses() {
        for s in ["500", "503", "599", "error", "stream_error"] {
            assert!(is_error_status(s), "{s}");
        }
        for s in ["200", "404", "429", "5xx", "50", ""] {
            assert!(!is_error_status(s), "{s}");
        }
    }

    #[test]
    fn rates_between_scrapes_and_across_a_reset() {
        let prev = TrafficSample::parse(TEXT);
        let mut now = prev.clone();
        now.workers.insert(
            "http://a:1".into(),
            Counts {
                total: 120.0,
                errors: 15.0,
            },
        );
        let (workers, fleet) = rates(&prev, &now, Duration::from_secs(2)).unwrap();
        assert_eq!(workers["http://a:1"].req_per_sec, 10.0);
        assert_eq!(workers["http://a:1"].err_rate, Some(0.25));
        assert_eq!(workers["http://b:1"].req_per_sec, 0.0);
        assert_eq!(workers["http://b:1"].err_rate, None);
        assert_eq!(fleet.req_per_sec, 10.0);
        assert_eq!(fleet.err_rate, Some(0.25));

        // The gateway restarted: counters start again from zero.
        let mut restarted = TrafficSample::default();
        restarted.workers.insert(
            "http://a:1".into(),
            Counts {
                total: 4.0,
                errors: 0.0,
            },
        );
        let (workers, _) = rates(&now, &restarted, Duration::from_secs(1)).unwrap();
        assert_eq!(workers["http://a:1"].req_per_sec, 4.0);
        assert!(rates(&prev, &now, Duration::ZERO).is_none());
    }
}
