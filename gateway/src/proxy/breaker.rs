//! Per-worker circuit breaker: closed → open after `failure_threshold` failures within the
//! window; open workers are skipped until `timeout`; then half-open lets traffic probe it,
//! closing after `success_threshold` successes or re-opening on a failure.

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

/// Effective breaker settings of one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    pub disabled: bool,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub timeout: Duration,
    pub window: Duration,
}

impl BreakerConfig {
    pub fn from_spec(r: &ResilienceUpdate) -> Self {
        Self {
            disabled: r.disable_circuit_breaker.unwrap_or(false),
            failure_threshold: r.cb_failure_threshold.unwrap_or(5).max(1),
            success_threshold: r.cb_success_threshold.unwrap_or(2).max(1),
            timeout: Duration::from_secs(r.cb_timeout_secs.unwrap_or(30)),
            window: Duration::from_secs(r.cb_window_secs.unwrap_or(60).max(1)),
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
            (BreakerState::Closed, true) => {}
            (BreakerState::Closed, false) => {
                if now.duration_since(self.window_start) > config.window {
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
