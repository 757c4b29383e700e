//! Per-worker circuit breaker, as upstream: closed → open after `failure_threshold`
//! *consecutive* failures (a success resets the count; so does a run of failures spread over
//! more than the window); open workers are skipped until `timeout`; then half-open lets
//! traffic probe it, closing after `success_threshold` successes or re-opening on a failure.

use std::time::{Duration, Instant};

use smg_sdk::ResilienceUpdate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Gauge value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
        }
    }
}

/// Breaker settings: the gateway-wide ones (`--cb-*` flags) or a worker's effective ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub disabled: bool,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub timeout: Duration,
    pub window: Duration,
}

/// Upstream's CLI defaults.
impl Default for BreakerConfig {
    fn default() -> Self {
        UPSTREAM_DEFAULTS
    }
}

const UPSTREAM_DEFAULTS: BreakerConfig = BreakerConfig {
    disabled: false,
    failure_threshold: 10,
    success_threshold: 3,
    timeout: Duration::from_secs(60),
    window: Duration::from_secs(120),
};

impl BreakerConfig {
    /// A worker's settings: its `resilience` overrides over the gateway-wide ones (`base`).
    pub fn resolve(base: &Self, r: &ResilienceUpdate) -> Self {
        Self {
            disabled: r.disable_circuit_breaker.unwrap_or(base.disabled),
            failure_threshold: r
                .cb_failure_threshold
                .unwrap_or(base.failure_threshold)
                .max(1),
            success_threshold: r
                .cb_success_threshold
                .unwrap_or(base.success_threshold)
                .max(1),
            timeout: r
                .cb_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(base.timeout),
            window: r
                .cb_window_secs
                .map(Duration::from_secs)
                .unwrap_or(base.window)
                .max(Duration::from_secs(1)),
        }
    }
}

#[derive(Debug)]
pub struct CircuitBreaker {
    state: BreakerState,
    failures: u32,
    window_start: Instant,
    opened_at: Instant,
    half_open_successes: u32,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        let now = Instant::now();
        Self {
            state: BreakerState::Closed,
            failures: 0,
            window_start: now,
            opened_at: now,
            half_open_successes: 0,
        }
    }
}

impl CircuitBreaker {
    /// Current state; an open breaker whose timeout passed reads as half-open.
    pub fn state(&mut self, config: &BreakerConfig, now: Instant) -> BreakerState {
        if config.disabled {
            return BreakerState::Closed;
        }
        if self.state == BreakerState::Open && now.duration_since(self.opened_at) >= config.timeout
        {
            self.state = BreakerState::HalfOpen;
            self.half_open_successes = 0;
        }
        self.state
    }

    /// Whether a request may go to this worker.
    pub fn allows(&mut self, config: &BreakerConfig, now: Instant) -> bool {
        self.state(config, now) != BreakerState::Open
    }

    pub fn record(&mut self, config: &BreakerConfig, success: bool, now: Instant) {
        if config.disabled {
            return;
        }
        match (self.state(config, now), success) {
            (BreakerState::HalfOpen, true) => {
                self.half_open_successes += 1;
                if self.half_open_successes >= config.success_threshold {
                    *self = Self::default();
                }
            }
            (BreakerState::HalfOpen, false) => self.open(now),
            // Only consecutive failures count.
            (BreakerState::Closed, true) => self.failures = 0,
            (BreakerState::Closed, false) => {
                if self.failures == 0 || now.duration_since(self.window_start) > config.window {
                    self.window_start = now;
                    self.failures = 0;
                }
                self.failures += 1;
                if self.failures >= config.failure_threshold {
                    self.open(now);
                }
            }
            (BreakerState::Open, _) => {}
        }
    }

    fn open(&mut self, now: Instant) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.failures = 0;
        self.half_open_successes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            disabled: false,
            failure_threshold: 3,
            success_threshold: 2,
            timeout: Duration::from_secs(10),
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn opens_after_threshold_then_half_opens_then_closes() {
        let c = config();
        let t0 = Instant::now();
        let mut b = CircuitBreaker::default();
        for _ in 0..2 {
            b.record(&c, false, t0);
        }
        assert!(b.allows(&c, t0));
        b.record(&c, false, t0);
        assert_eq!(b.state(&c, t0), BreakerState::Open);
        assert!(!b.allows(&c, t0 + Duration::from_secs(5)));
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.state(&c, later), BreakerState::HalfOpen);
        b.record(&c, true, later);
        assert_eq!(b.state(&c, later), BreakerState::HalfOpen);
        b.record(&c, true, later);
        assert_eq!(b.state(&c, later), BreakerState::Closed);
    }

    #[test]
    fn half_open_failure_reopens_and_old_failures_expire() {
        let c = config();
        let t0 = Instant::now();
        let mut b = CircuitBreaker::default();
        b.record(&c, false, t0);
        b.record(&c, false, t0);
        // Outside the window the count restarts.
        b.record(&c, false, t0 + Duration::from_secs(61));
        assert_eq!(
            b.state(&c, t0 + Duration::from_secs(61)),
            BreakerState::Closed
        );
        for _ in 0..3 {
            b.record(&c, false, t0 + Duration::from_secs(62));
        }
        let later = t0 + Duration::from_secs(73);
        assert_eq!(b.state(&c, later), BreakerState::HalfOpen);
        b.record(&c, false, later);
        assert_eq!(b.state(&c, later), BreakerState::Open);
    }

    #[test]
    fn a_success_between_failures_keeps_it_closed() {
        let c = config();
        let t0 = Instant::now();
        let mut b = CircuitBreaker::default();
        for _ in 0..20 {
            b.record(&c, false, t0);
            b.record(&c, false, t0);
            b.record(&c, true, t0);
        }
        assert_eq!(b.state(&c, t0), BreakerState::Closed);
        // Three in a row do open it.
        for _ in 0..3 {
            b.record(&c, false, t0);
        }
        assert_eq!(b.state(&c, t0), BreakerState::Open);
    }

    #[test]
    fn overrides_apply_over_the_gateway_defaults() {
        let base = BreakerConfig::default();
        assert_eq!(base.failure_threshold, 10);
        assert_eq!(base.success_threshold, 3);
        assert_eq!(base.timeout, Duration::from_secs(60));
        assert_eq!(base.window, Duration::from_secs(120));
        let r = ResilienceUpdate {
            cb_failure_threshold: Some(2),
            cb_timeout_secs: Some(5),
            ..Default::default()
        };
        let c = BreakerConfig::resolve(&base, &r);
        assert_eq!(c.failure_threshold, 2);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.success_threshold, 3);
        let off = BreakerConfig {
            disabled: true,
            ..base
        };
        assert!(BreakerConfig::resolve(&off, &ResilienceUpdate::default()).disabled);
        let back_on = ResilienceUpdate {
            disable_circuit_breaker: Some(false),
            ..Default::default()
        };
        assert!(!BreakerConfig::resolve(&off, &back_on).disabled);
    }

    #[test]
    fn disabled_breaker_never_opens() {
        let c = BreakerConfig {
            disabled: true,
            ..config()
        };
        let mut b = CircuitBreaker::default();
        for _ in 0..10 {
            b.record(&c, false, Instant::now());
        }
        assert!(b.allows(&c, Instant::now()));
    }
}
