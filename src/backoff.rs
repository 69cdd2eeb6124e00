//! The one backoff every loop that waits uses: the pipeline's retry layer, the outbound
//! webhook sender, the OAuth token client and the health monitor.
//!
//! It answers one question, *after this many attempts and this `Retry-After`, do we try again
//! and after how long?*, as a pure function of the attempt number. That is why it is not an
//! iterator like `backon`'s or `backoff`'s: the outbound queue keeps the attempt count in its
//! database row and asks again on another worker, possibly in another process, so the delay must
//! not depend on state kept in memory between attempts. Randomness comes in as a number in
//! `[0, 1]` ([`Backoff::next_with`]) so tests pin it; the clock only enters through
//! [`parse_retry_after`]'s `now`.
//!
//! This module sits at the bottom of the crate and imports nothing from it.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// Where the un-jittered delays come from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Steps {
    /// `base * 2^(retry - 1)`, never more than `max`.
    Exponential {
        /// The delay before the first retry.
        base: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// Fixed delays, one per retry; past the end the last one repeats.
    Schedule(Vec<Duration>),
}

/// The range a jittered delay is drawn from, as factors of the un-jittered delay `d`: a delay
/// is uniform in `[d * low, d * high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Jitter {
    low: f64,
    high: f64,
}

impl Jitter {
    /// `[0, d]` ("full jitter"): spreads retries the most, may retry at once.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) const FULL: Jitter = Jitter {
        low: 0.0,
        high: 1.0,
    };
    /// `[d/2, d]` ("equal jitter"): always some wait, never in lock-step.
    pub(crate) const EQUAL: Jitter = Jitter {
        low: 0.5,
        high: 1.0,
    };

    /// `[d * (1 - share), d * (1 + share)]`; `share` is clamped to `[0, 1]`.
    pub(crate) fn around(share: f64) -> Jitter {
        let s = clamp_share(share);
        Jitter {
            low: 1.0 - s,
            high: 1.0 + s,
        }
    }

    /// `[d * (1 - share), d]`: shortened by up to `share`, never longer than the step.
    pub(crate) fn below(share: f64) -> Jitter {
        Jitter {
            low: 1.0 - clamp_share(share),
            high: 1.0,
        }
    }
}

/// `d * factor`, saturating: `Duration::mul_f64` panics when rounding takes a huge delay (a
/// cap of `Duration::MAX`) past the largest `Duration`.
pub(crate) fn scale(d: Duration, factor: f64) -> Duration {
    if factor.is_nan() || factor <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

fn clamp_share(share: f64) -> f64 {
    if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// How a server's `Retry-After` combines with the backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// The server's delay replaces the backoff (`Retry-After: 0` retries at once).
    Replaces,
    /// The longer of the server's delay and the backoff.
    AtLeast,
}

/// What happens when a server asks for longer than the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverCap {
    /// Stop retrying and hand the server's delay to the caller (a call must not sleep for an
    /// hour inside a request).
    GiveUp,
    /// Wait the cap instead (a queue that will come back anyway).
    Clamp,
}

/// The answer of [`Backoff::next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Try again after this long.
    Retry(Duration),
    /// Do not try again: the attempts are spent, or the server asked for longer than the cap
    /// (then `retry_after` carries the server's delay, for the caller).
    GiveUp {
        /// The server's delay, when it was the reason to stop.
        retry_after: Option<Duration>,
    },
}

/// Exponential (or scheduled) backoff with jitter, a cap, a number of attempts, and a rule for
/// the server's `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backoff {
    steps: Steps,
    jitter: Jitter,
    max_attempts: u32,
    retry_after: RetryAfter,
    retry_after_cap: Duration,
    over_cap: OverCap,
}

impl Backoff {
    /// `base * 2^(retry - 1)` capped at `max`, equal jitter, unlimited attempts, `Retry-After`
    /// at least the backoff and given up on beyond `max`.
    pub(crate) fn exponential(base: Duration, max: Duration) -> Self {
        Backoff::with_steps(Steps::Exponential { base, max }, max)
    }

    /// One delay per retry from `schedule` (the last repeats), `schedule.len() + 1` attempts,
    /// `Retry-After` at least the step and clamped to the largest step.
    pub(crate) fn schedule(schedule: Vec<Duration>) -> Self {
        let largest = schedule.iter().max().copied().unwrap_or_default();
        let attempts = u32::try_from(schedule.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1);
        Backoff::with_steps(Steps::Schedule(schedule), largest)
            .max_attempts(attempts)
            .over_cap(OverCap::Clamp)
    }

    fn with_steps(steps: Steps, cap: Duration) -> Self {
        Backoff {
            steps,
            jitter: Jitter::EQUAL,
            max_attempts: u32::MAX,
            retry_after: RetryAfter::AtLeast,
            retry_after_cap: cap,
            over_cap: OverCap::GiveUp,
        }
    }

    #[must_use]
    pub(crate) fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Attempts in all, the first included.
    #[must_use]
    pub(crate) fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    #[must_use]
    pub(crate) fn retry_after(mut self, rule: RetryAfter, cap: Duration) -> Self {
        self.retry_after = rule;
        self.retry_after_cap = cap;
        self
    }

    #[must_use]
    pub(crate) fn over_cap(mut self, over_cap: OverCap) -> Self {
        self.over_cap = over_cap;
        self
    }

    /// The un-jittered delay before retry number `retry` (1 for the first retry).
    fn step(&self, retry: u32) -> Duration {
        match &self.steps {
            Steps::Exponential { base, max } => {
                let exp = retry.saturating_sub(1).min(31);
                base.checked_mul(1u32 << exp).unwrap_or(*max).min(*max)
            }
            Steps::Schedule(s) => {
                let idx = (retry as usize)
                    .saturating_sub(1)
                    .min(s.len().saturating_sub(1));
                s.get(idx).copied().unwrap_or_default()
            }
        }
    }

    /// The bounds of the jittered delay before retry number `retry`.
    pub(crate) fn bounds(&self, retry: u32) -> (Duration, Duration) {
        let d = self.step(retry);
        (scale(d, self.jitter.low), scale(d, self.jitter.high))
    }

    /// The delay before retry number `retry`, with `unit` in `[0, 1]` picking the point in
    /// [`Self::bounds`] (0 the shortest, 1 the longest).
    pub(crate) fn delay_with(&self, retry: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (lo, hi) = self.bounds(retry);
        lo.saturating_add(scale(hi - lo, unit))
    }

    /// A random delay before retry number `retry`, within [`Self::bounds`].
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, fastrand::f64())
    }

    /// Whether and when to try again after `attempts` attempts (1 after the first one failed),
    /// given the server's `retry_after`.
    pub(crate) fn next(&self, attempts: u32, retry_after: Option<Duration>) -> Wait {
        self.next_with(attempts, retry_after, fastrand::f64())
    }

    /// [`Self::next`] with the random point `unit` in `[0, 1]` given (for tests).
    pub(crate) fn next_with(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Wait {
        if attempts >= self.max_attempts {
            return Wait::GiveUp { retry_after: None };
        }
        let retry_after = match retry_after {
            Some(ra) if ra > self.retry_after_cap => match self.over_cap {
                OverCap::GiveUp => {
                    return Wait::GiveUp {
                        retry_after: Some(ra),
                    }
                }
                OverCap::Clamp => Some(self.retry_after_cap),
            },
            other => other,
        };
        let wait = match (retry_after, self.retry_after) {
            (Some(ra), RetryAfter::Replaces) => ra,
            (Some(ra), RetryAfter::AtLeast) => ra.max(self.delay_with(attempts, unit)),
            (None, _) => self.delay_with(attempts, unit),
        };
        Wait::Retry(wait)
    }
}

/// Reads `Retry-After` (delta-seconds or an HTTP-date) and returns the delay from `now`.
/// A date in the past means "now". Malformed values are ignored.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let raw = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(f) = raw.parse::<f64>() {
        // Some providers send fractional seconds; negative or absurd values are ignored.
        return (0.0..1e9).contains(&f).then(|| Duration::from_secs_f64(f));
    }
    let when = httpdate::parse_http_date(raw).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn exponential_steps_double_and_stop_at_the_cap() {
        let b = Backoff::exponential(MS(100), MS(1000)).jitter(Jitter::FULL);
        assert_eq!(b.bounds(1), (MS(0), MS(100)));
        assert_eq!(b.bounds(2), (MS(0), MS(200)));
        assert_eq!(b.bounds(4), (MS(0), MS(800)));
        assert_eq!(b.bounds(5), (MS(0), MS(1000)));
        assert_eq!(b.bounds(u32::MAX), (MS(0), MS(1000)));
        // An overflowing multiplication is the cap, and a cap of `Duration::MAX` jitters
        // without panicking.
        let huge = Backoff::exponential(Duration::MAX / 2, Duration::MAX);
        assert_eq!(huge.bounds(40).1, Duration::MAX);
        assert!(huge.delay(40) >= Duration::MAX / 4);
    }

    #[test]
    fn jitter_stays_within_its_range_and_the_ends_are_reached() {
        for (jitter, lo, hi) in [
            (Jitter::FULL, MS(0), MS(400)),
            (Jitter::EQUAL, MS(200), MS(400)),
            (Jitter::around(0.25), MS(300), MS(500)),
            (Jitter::below(0.5), MS(200), MS(400)),
        ] {
            let b = Backoff::exponential(MS(100), MS(10_000)).jitter(jitter);
            assert_eq!(b.bounds(3), (lo, hi), "{jitter:?}");
            assert_eq!(b.delay_with(3, 0.0), lo);
            assert_eq!(b.delay_with(3, 1.0), hi);
            // Out-of-range randomness is clamped, never a delay outside the bounds.
            assert_eq!(b.delay_with(3, -4.0), lo);
            assert_eq!(b.delay_with(3, f64::NAN), lo);
            assert_eq!(b.delay_with(3, 7.0), hi);
            for _ in 0..10_000 {
                let d = b.delay(3);
                assert!(
                    d >= lo && d <= hi,
                    "{jitter:?}: {d:?} not in {lo:?}..={hi:?}"
                );
            }
        }
    }

    #[test]
    fn attempts_are_counted_from_the_first() {
        let b = Backoff::exponential(MS(100), MS(1000)).max_attempts(3);
        assert!(matches!(b.next_with(1, None, 0.0), Wait::Retry(_)));
        assert!(matches!(b.next_with(2, None, 0.0), Wait::Retry(_)));
        assert_eq!(
            b.next_with(3, None, 0.0),
            Wait::GiveUp { retry_after: None }
        );
        // Spent attempts win over a server asking to come back.
        assert_eq!(
            b.next_with(3, Some(MS(1)), 0.0),
            Wait::GiveUp { retry_after: None }
        );
        let once = Backoff::exponential(MS(100), MS(1000)).max_attempts(1);
        assert_eq!(
            once.next_with(1, None, 1.0),
            Wait::GiveUp { retry_after: None }
        );
    }

    #[test]
    fn retry_after_replaces_or_lengthens_the_backoff_up_to_the_cap() {
        let replaces = Backoff::exponential(MS(100), MS(1000))
            .retry_after(RetryAfter::Replaces, Duration::from_secs(60));
        assert_eq!(replaces.next_with(1, Some(MS(0)), 1.0), Wait::Retry(MS(0)));
        assert_eq!(
            replaces.next_with(1, Some(Duration::from_secs(7)), 1.0),
            Wait::Retry(Duration::from_secs(7))
        );
        assert_eq!(
            replaces.next_with(1, Some(Duration::from_secs(61)), 1.0),
            Wait::GiveUp {
                retry_after: Some(Duration::from_secs(61))
            }
        );
        // Exactly the cap is still slept.
        assert_eq!(
            replaces.next_with(1, Some(Duration::from_secs(60)), 1.0),
            Wait::Retry(Duration::from_secs(60))
        );

        let at_least = Backoff::exponential(MS(100), MS(1000));
        assert_eq!(
            at_least.next_with(1, Some(MS(0)), 1.0),
            Wait::Retry(MS(100))
        );
        assert_eq!(
            at_least.next_with(1, Some(MS(700)), 1.0),
            Wait::Retry(MS(700))
        );
        assert_eq!(
            at_least.next_with(1, Some(MS(1001)), 1.0),
            Wait::GiveUp {
                retry_after: Some(MS(1001))
            }
        );

        let clamped = Backoff::schedule(vec![MS(10), MS(50)]);
        assert_eq!(
            clamped.next_with(1, Some(Duration::from_secs(3600)), 0.5),
            Wait::Retry(MS(50))
        );
    }

    #[test]
    fn a_schedule_repeats_its_last_step_and_counts_one_more_attempt_than_steps() {
        let b = Backoff::schedule(vec![MS(10), MS(20), MS(30)]).jitter(Jitter::around(0.0));
        assert_eq!(b.next_with(1, None, 0.3), Wait::Retry(MS(10)));
        assert_eq!(b.next_with(3, None, 0.3), Wait::Retry(MS(30)));
        assert_eq!(b.bounds(9), (MS(30), MS(30)));
        assert_eq!(
            b.next_with(4, None, 0.3),
            Wait::GiveUp { retry_after: None }
        );
        // An empty schedule is one attempt and no retry.
        let none = Backoff::schedule(Vec::new());
        assert_eq!(
            none.next_with(1, None, 0.3),
            Wait::GiveUp { retry_after: None }
        );
    }

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(http::header::RETRY_AFTER, v.parse().unwrap());
        m
    }

    #[test]
    fn parses_seconds_dates_and_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(&h("0"), now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(&h("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(parse_retry_after(&h("1.5"), now), Some(MS(1500)));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&h(&date), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&h(&past), now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(&h("soon"), now), None);
        assert_eq!(parse_retry_after(&h("-3"), now), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
    }
}
