//! [`Quota`]: how many calls per period, with what burst. One type for every limiter backend.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::ConfigError;

/// A rate: `max` calls per `period`, with a burst of up to `burst` calls at once.
///
/// Limiters implement it as GCRA: one call every `period / max`, with `burst` calls of slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    max: NonZeroU32,
    period: Duration,
    burst: NonZeroU32,
}

impl Quota {
    /// `max` calls per `period`, all of which may come at once.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `quota.period` if the period is zero or too short to divide.
    pub fn new(max: NonZeroU32, period: Duration) -> Result<Self, ConfigError> {
        if period.is_zero() {
            return Err(ConfigError::new(
                "quota.period",
                "must be greater than zero",
            ));
        }
        if (period / max.get()).is_zero() {
            return Err(ConfigError::new(
                "quota.period",
                "too short for the number of calls (under 1 ns per call)",
            ));
        }
        Ok(Quota {
            max,
            period,
            burst: max,
        })
    }

    /// `max` calls per second.
    pub fn per_second(max: NonZeroU32) -> Self {
        Quota {
            max,
            period: Duration::from_secs(1),
            burst: max,
        }
    }

    /// `max` calls per minute.
    pub fn per_minute(max: NonZeroU32) -> Self {
        Quota {
            max,
            period: Duration::from_secs(60),
            burst: max,
        }
    }

    /// Caps how many calls may go at once (default: `max`).
    #[must_use]
    pub fn allow_burst(mut self, burst: NonZeroU32) -> Self {
        self.burst = burst;
        self
    }

    /// Calls per period.
    pub fn max(&self) -> NonZeroU32 {
        self.max
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The burst.
    pub fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// The time between two calls at the steady rate (GCRA's emission interval).
    pub fn interval(&self) -> Duration {
        self.period / self.max.get()
    }

    pub(crate) fn to_governor(self) -> governor::Quota {
        // `interval()` is non-zero by construction (checked in `new`, >= 1 s / u32::MAX otherwise).
        governor::Quota::with_period(self.interval())
            .unwrap_or_else(|| governor::Quota::per_second(self.max))
            .allow_burst(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_period() {
        let e = Quota::new(NonZeroU32::new(5).unwrap(), Duration::ZERO).unwrap_err();
        assert_eq!(e.setting, "quota.period");
    }

    #[test]
    fn interval_is_period_over_max() {
        let q = Quota::new(NonZeroU32::new(100).unwrap(), Duration::from_secs(10)).unwrap();
        assert_eq!(q.interval(), Duration::from_millis(100));
    }
}
