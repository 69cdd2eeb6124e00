//! The breaker's state machine and rolling window. Time is `tokio::time::Instant`, so tests
//! drive it with `tokio::time::pause` and `advance`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::ConfigError;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub(crate) failure_ratio: f64,
    pub(crate) min_calls: u32,
    pub(crate) window: Duration,
    pub(crate) cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_ratio: 0.5,
            min_calls: 20,
            window: Duration::from_secs(30),
            cooldown: Duration::from_secs(5),
        }
    }
}

impl BreakerConfig {
    /// The share of failed calls (0.0 to 1.0) that opens the breaker. Default 0.5.
    #[must_use]
    pub fn failure_ratio(mut self, r: f64) -> Self {
        self.failure_ratio = r;
        self
    }

    /// How many calls the window must hold before the ratio counts. Default 20.
    #[must_use]
    pub fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = n;
        self
    }

    /// The rolling window over which calls are counted. Default 30 s.
    #[must_use]
    pub fn window(mut self, d: Duration) -> Self {
        self.window = d;
        self
    }

    /// How long the breaker stays open before letting one probe through. Default 5 s.
    /// `Duration::MAX` keeps it open (for about thirty years).
    #[must_use]
    pub fn cooldown(mut self, d: Duration) -> Self {
        self.cooldown = d;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            return Err(ConfigError::new(
                "breaker.failure_ratio",
                "must be in (0.0, 1.0]",
            ));
        }
        if self.min_calls == 0 {
            return Err(ConfigError::new("breaker.min_calls", "must be at least 1"));
        }
        if self.window < Duration::from_millis(BUCKETS as u64) {
            return Err(ConfigError::new("breaker.window", "must be at least 10 ms"));
        }
        if self.cooldown.is_zero() {
            return Err(ConfigError::new(
                "breaker.cooldown",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through; outcomes are counted.
    Closed,
    /// Calls fail fast until the cool-down ends.
    Open,
    /// One probe is allowed through; its outcome closes or re-opens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// The state as a metric or log label: `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => crate::observe::BREAKER_CLOSED,
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }

    /// 0 closed, 1 half-open, 2 open: a number for a host's own state gauge.
    pub fn as_gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Success,
    Failure,
    Ignored,
}

#[derive(Debug)]
enum Mode {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Window {
    // (calls, failures) per bucket of `window / BUCKETS`.
    buckets: [(u32, u32); BUCKETS],
    current: usize,
    current_start: Instant,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            buckets: [(0, 0); BUCKETS],
            current: 0,
            current_start: now,
        }
    }

    fn advance(&mut self, now: Instant, width: Duration) {
        let mut steps = 0;
        while now.duration_since(self.current_start) >= width && steps <= BUCKETS {
            self.current = (self.current + 1) % BUCKETS;
            self.buckets[self.current] = (0, 0);
            self.current_start += width;
            steps += 1;
        }
        if steps > BUCKETS {
            // Idle for longer than the window: everything is stale.
            self.buckets = [(0, 0); BUCKETS];
            self.current_start = now;
        }
    }

    fn totals(&self) -> (u32, u32) {
        self.buckets
            .iter()
            .fold((0, 0), |(c, f), (bc, bf)| (c + bc, f + bf))
    }
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    window: Window,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Leave to make one call; must be finished with its outcome. Dropping it unfinished (the
/// caller gave up) frees the probe slot without judging the provider.
pub(crate) struct Permit<'b> {
    /// Borrowed: the call's context, which owns the breaker, outlives its permit.
    breaker: &'b Breaker,
    probe: bool,
    finished: bool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breaker {
            inner: Mutex::new(Inner {
                mode: Mode::Closed,
                window: Window::new(Instant::now()),
            }),
            config,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update below is a few field writes; a poisoned lock holds a consistent state.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.lock().mode {
            Mode::Closed => BreakerState::Closed,
            Mode::Open { until } if Instant::now() >= until => BreakerState::HalfOpen,
            Mode::Open { .. } => BreakerState::Open,
            Mode::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A permit, or how long until the breaker will let a probe through.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Duration> {
        let mut g = self.lock();
        let probe = match g.mode {
            Mode::Closed => false,
            // The clock is read only here: a closed breaker (every call but a few) needs none.
            Mode::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                g.mode = Mode::HalfOpen { probing: true };
                true
            }
            Mode::HalfOpen { probing: false } => {
                g.mode = Mode::HalfOpen { probing: true };
                true
            }
            Mode::HalfOpen { probing: true } => return Err(self.config.cooldown),
        };
        Ok(Permit {
            breaker: self,
            probe,
            finished: false,
        })
    }
}

impl Permit<'_> {
    /// Whether this permit is the half-open probe (so the breaker was not closed before it).
    pub(crate) fn is_probe(&self) -> bool {
        self.probe
    }

    /// Records the call's outcome; returns the new state when it changed.
    pub(crate) fn finish(mut self, outcome: Outcome) -> Option<BreakerState> {
        self.finished = true;
        let b = self.breaker;
        let now = Instant::now();
        let mut g = b.lock();
        if self.probe {
            return match outcome {
                Outcome::Success => {
                    g.mode = Mode::Closed;
                    g.window = Window::new(now);
                    Some(BreakerState::Closed)
                }
                Outcome::Failure => {
                    g.mode = Mode::Open {
                        until: crate::clock::later(now, b.config.cooldown),
                    };
                    Some(BreakerState::Open)
                }
                Outcome::Ignored => {
                    g.mode = Mode::HalfOpen { probing: false };
                    None
                }
            };
        }
        if !matches!(g.mode, Mode::Closed) {
            // Finished after another call already opened the breaker: already judged.
            return None;
        }
        let width = b.config.window / BUCKETS as u32;
        g.window.advance(now, width);
        let cur = g.window.current;
        match outcome {
            Outcome::Success => g.window.buckets[cur].0 += 1,
            Outcome::Failure => {
                g.window.buckets[cur].0 += 1;
                g.window.buckets[cur].1 += 1;
            }
            Outcome::Ignored => return None,
        }
        let (calls, failures) = g.window.totals();
        let tripped = calls >= b.config.min_calls
            && f64::from(failures) >= b.config.failure_ratio * f64::from(calls);
        if tripped {
            g.mode = Mode::Open {
                until: crate::clock::later(now, b.config.cooldown),
            };
            return Some(BreakerState::Open);
        }
        None
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.finished {
            let mut g = self.breaker.lock();
            if matches!(g.mode, Mode::HalfOpen { probing: true }) {
                g.mode = Mode::HalfOpen { probing: false };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn state_labels_are_the_ones_observe_counts_by() {
        assert_eq!(
            BreakerState::Closed.as_str(),
            crate::observe::BREAKER_CLOSED
        );
        assert_eq!(BreakerState::Open.as_str(), "open");
        assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    }

    fn breaker() -> Arc<Breaker> {
        Arc::new(Breaker::new(BreakerConfig::default()))
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_half_failures_over_twenty_calls_not_before() {
        let b = breaker();
        for i in 0..19 {
            let o = if i % 2 == 0 {
                Outcome::Failure
            } else {
                Outcome::Success
            };
            assert_eq!(b.admit().unwrap().finish(o), None, "call {i}");
        }
        // 20th call: 10 failures of 20.
        assert_eq!(
            b.admit().unwrap().finish(Outcome::Success),
            Some(BreakerState::Open)
        );
        assert!(b.admit().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_exactly_one_probe_and_closes_on_success() {
        let b = breaker();
        for _ in 0..20 {
            let _ = b.admit().unwrap().finish(Outcome::Failure);
        }
        assert_eq!(b.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = b.admit().unwrap();
        assert!(b.admit().is_err(), "a second probe must wait");
        assert_eq!(probe.finish(Outcome::Success), Some(BreakerState::Closed));
        assert!(b.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_probe_frees_the_slot_and_failed_probe_reopens() {
        let b = breaker();
        for _ in 0..20 {
            let _ = b.admit().unwrap().finish(Outcome::Failure);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(b.admit().unwrap());
        let probe = b.admit().expect("slot freed");
        assert_eq!(probe.finish(Outcome::Failure), Some(BreakerState::Open));
        assert!(b.admit().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn old_failures_leave_the_window() {
        let b = breaker();
        for _ in 0..15 {
            let _ = b.admit().unwrap().finish(Outcome::Failure);
        }
        tokio::time::advance(Duration::from_secs(31)).await;
        for _ in 0..10 {
            assert_eq!(b.admit().unwrap().finish(Outcome::Success), None);
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }
}
