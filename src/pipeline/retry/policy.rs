//! Retry settings of the pipeline, turned into the crate's one backoff (`src/backoff.rs`).

use std::time::Duration;

use http::StatusCode;

use crate::backoff::{Backoff, Jitter, OverCap, RetryAfter};
use crate::error::ConfigError;

/// How the retry layer behaves. Defaults: 3 attempts, 0.5 s base delay, 5 s cap, `Retry-After`
/// honoured up to 60 s, and a budget of 20% of calls over 10 s with a floor of 10 retries/s.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    pub(crate) max_attempts: u32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
    pub(crate) retry_after_cap: Duration,
    pub(crate) budget_percent: f32,
    pub(crate) budget_min_per_sec: u32,
    pub(crate) budget_ttl: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(5),
            retry_after_cap: Duration::from_secs(60),
            budget_percent: 0.2,
            budget_min_per_sec: 10,
            budget_ttl: Duration::from_secs(10),
        }
    }
}

impl RetryConfig {
    /// Attempts per call, the first included (1 turns retries off).
    #[must_use]
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The delay before the first retry; it doubles with each further retry.
    #[must_use]
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// The longest backoff delay.
    #[must_use]
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// The longest `Retry-After` that is slept; a longer one ends the call with a
    /// rate-limited error carrying the delay.
    #[must_use]
    pub fn retry_after_cap(mut self, d: Duration) -> Self {
        self.retry_after_cap = d;
        self
    }

    /// The retry budget: retries may add at most `percent` (0.0 to 1.0) of the calls seen over
    /// `ttl`, plus `min_per_sec` retries per second, per connection and host.
    #[must_use]
    pub fn budget(mut self, percent: f32, min_per_sec: u32, ttl: Duration) -> Self {
        self.budget_percent = percent;
        self.budget_min_per_sec = min_per_sec;
        self.budget_ttl = ttl;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        if self.max_attempts > 20 {
            return Err(ConfigError::new("retry.max_attempts", "must be at most 20"));
        }
        if self.base_delay.is_zero() {
            return Err(ConfigError::new(
                "retry.base_delay",
                "must be greater than zero",
            ));
        }
        if self.max_delay < self.base_delay {
            return Err(ConfigError::new(
                "retry.max_delay",
                "must not be less than retry.base_delay",
            ));
        }
        if !(0.0..=1000.0).contains(&self.budget_percent) || self.budget_percent.is_nan() {
            return Err(ConfigError::new(
                "retry.budget.percent",
                "must be between 0.0 and 1000.0",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&self.budget_ttl) {
            return Err(ConfigError::new(
                "retry.budget.ttl",
                "must be between 1 s and 60 s",
            ));
        }
        Ok(())
    }

    /// The bounds of the delay before retry number `retry` (1 for the first retry): the
    /// exponential delay `d = min(max_delay, base_delay * 2^(retry-1))`, jittered within
    /// `[d/2, d]` ("equal jitter": always some wait, never in lock-step).
    pub fn backoff_bounds(&self, retry: u32) -> (Duration, Duration) {
        self.to_backoff().bounds(retry)
    }

    /// A jittered delay before retry number `retry`, within [`Self::backoff_bounds`].
    pub fn backoff(&self, retry: u32) -> Duration {
        self.to_backoff().delay(retry)
    }

    /// The shared backoff with these settings: a server's `Retry-After` replaces the backoff
    /// (`0` retries at once) and one beyond `retry_after_cap` ends the call with the delay.
    pub(crate) fn to_backoff(&self) -> Backoff {
        Backoff::exponential(self.base_delay, self.max_delay)
            .jitter(Jitter::EQUAL)
            .max_attempts(self.max_attempts)
            .retry_after(RetryAfter::Replaces, self.retry_after_cap)
            .over_cap(OverCap::GiveUp)
    }
}

/// Statuses that are worth another attempt when nothing else is known.
pub(crate) fn is_transient_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hundred_thousand_backoff_samples_stay_in_bounds() {
        let c = RetryConfig::default();
        for retry in 1..=10u32 {
            let (lo, hi) = c.backoff_bounds(retry);
            assert!(hi <= c.max_delay);
            for _ in 0..10_000 {
                let d = c.backoff(retry);
                assert!(
                    d >= lo && d <= hi,
                    "retry {retry}: {d:?} not in {lo:?}..={hi:?}"
                );
            }
        }
        assert_eq!(
            c.backoff_bounds(1),
            (Duration::from_millis(250), Duration::from_millis(500))
        );
        assert_eq!(c.backoff_bounds(2).1, Duration::from_secs(1));
        assert_eq!(c.backoff_bounds(5).1, Duration::from_secs(5));
        assert_eq!(c.backoff_bounds(40).1, Duration::from_secs(5));
    }

    #[test]
    fn validation_names_the_setting() {
        let e = RetryConfig::default()
            .max_attempts(0)
            .validate()
            .unwrap_err();
        assert_eq!(e.setting, "retry.max_attempts");
        let e = RetryConfig::default()
            .max_delay(Duration::from_millis(1))
            .validate()
            .unwrap_err();
        assert_eq!(e.setting, "retry.max_delay");
    }
}
