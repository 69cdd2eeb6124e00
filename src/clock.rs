//! Instants a duration ahead, without overflow.
//!
//! A host may write "forever" as `Duration::MAX` (a call's deadline, a breaker's cooldown, a
//! de-duplication TTL, a lock's wait), and `Instant + Duration` panics when the sum does not
//! fit. Every instant made from a configured or received duration is made here instead, and
//! one that only decides whether a wait ends past a deadline compares this one with it.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// About thirty years: later than any process, lease or retry will live to see, and small
/// enough to add to any instant a clock gives today.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// `t + d`, or about thirty years from now when that overflows.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(far_future)
}

/// About thirty years from now.
fn far_future() -> Instant {
    Instant::now() + FAR
}

/// `t + d` on the wall clock, or about thirty years from now when that overflows.
pub(crate) fn later_wall(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or_else(|| SystemTime::now() + FAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sum_that_fits_is_exact_and_one_that_overflows_is_far_ahead() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let far = later(now, Duration::MAX);
        assert!(far >= now + Duration::from_secs(29 * 365 * 24 * 60 * 60));

        let wall = SystemTime::now();
        assert_eq!(
            later_wall(wall, Duration::from_secs(5)),
            wall + Duration::from_secs(5)
        );
        assert!(later_wall(wall, Duration::MAX) > wall + Duration::from_secs(29 * 365 * 86_400));
    }
}
