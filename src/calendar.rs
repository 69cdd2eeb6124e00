//! Instants as calendar dates, for the connectors that write them into requests (GoHighLevel's
//! RFC 3339 filters and bodies, RETS's DMQL).
//!
//! `SystemTime` spans about ±292,000 years, chrono's `DateTime` about ±262,000, and chrono's
//! `From<SystemTime>` panics outside its range. An instant from outside the process (a sync
//! cursor read back from a database row, a host's input) must never panic, so it is clamped
//! to the nearest date chrono can write: every such date is far beyond any provider's data,
//! so a filter from or until it selects the same records.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// `at` in UTC, clamped to chrono's range.
pub(crate) fn utc(at: SystemTime) -> DateTime<Utc> {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs())
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, after.subsec_nanos()))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        Err(before) => {
            let before = before.duration();
            // Whole seconds toward the past, then the nanoseconds forward from there.
            let (secs, nanos) = match before.subsec_nanos() {
                0 => (before.as_secs(), 0),
                n => (before.as_secs().saturating_add(1), 1_000_000_000 - n),
            };
            i64::try_from(secs)
                .ok()
                .and_then(|secs| DateTime::from_timestamp(-secs, nanos))
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_instant_in_range_converts_exactly_on_both_sides_of_the_epoch() {
        let at = UNIX_EPOCH + Duration::from_millis(1_625_203_106_704);
        assert_eq!(utc(at), DateTime::<Utc>::from(at));
        let before = UNIX_EPOCH - Duration::new(86_400, 250_000_000);
        assert_eq!(utc(before), DateTime::<Utc>::from(before));
        assert_eq!(utc(before).timestamp(), -86_401);
        assert_eq!(utc(before).timestamp_subsec_nanos(), 750_000_000);
        let whole = UNIX_EPOCH - Duration::from_secs(60);
        assert_eq!(utc(whole), DateTime::<Utc>::from(whole));
    }

    #[test]
    fn an_instant_beyond_chronos_range_is_clamped_not_a_panic() {
        // About 146,000 years from 1970 either way is inside chrono's range; 4.6e12 s (about
        // 146 million years) is outside it but inside `SystemTime`'s.
        let far = Duration::from_secs(1 << 52);
        let (Some(future), Some(past)) = (UNIX_EPOCH.checked_add(far), UNIX_EPOCH.checked_sub(far))
        else {
            return;
        };
        assert_eq!(utc(future), DateTime::<Utc>::MAX_UTC);
        assert_eq!(utc(past), DateTime::<Utc>::MIN_UTC);
    }
}
