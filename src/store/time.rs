//! Times as stored: Unix milliseconds in an `i64`, the one conversion every backend uses
//! (the SQL stores' columns, the Redis de-duplication store's expiries), and Unix microseconds
//! where a millisecond is too coarse (the sync store's cursor marks, which order records).
#![cfg_attr(not(feature = "sqlite"), allow(dead_code))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind};

/// Milliseconds since the Unix epoch, rounded down (negative before 1970); `None` when they
/// do not fit in an `i64`.
fn checked_millis(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).ok(),
        Err(before) => {
            let d = before.duration();
            let up = u128::from(d.subsec_nanos() % 1_000_000 != 0);
            i64::try_from(d.as_millis() + up).ok().map(|ms| -ms)
        }
    }
}

/// Milliseconds since the Unix epoch, rounded down, saturating at the ends of `i64`: for the
/// times a store compares (now, a due time, an expiry), where ±292 million years is "never".
pub(crate) fn millis(t: SystemTime) -> i64 {
    checked_millis(t).unwrap_or(if t < UNIX_EPOCH { i64::MIN } else { i64::MAX })
}

/// Now, in Unix milliseconds.
pub(crate) fn now_millis() -> i64 {
    millis(SystemTime::now())
}

/// `d` in whole milliseconds, at least 1 (a zero expiry would mean "never" or "error" to
/// some backends), saturating.
pub(crate) fn millis_at_least_one(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A record's time as Unix milliseconds, rounded down (negative before 1970); an error naming
/// `field` when it does not fit, since a record's time is stored exactly or not at all.
pub(crate) fn to_millis(t: Option<SystemTime>, field: &str) -> Result<Option<i64>, Error> {
    let Some(t) = t else { return Ok(None) };
    checked_millis(t).map(Some).ok_or_else(|| {
        Error::new(
            ErrorKind::Store,
            format!("`{field}` is too far from 1970 to store in milliseconds"),
        )
    })
}

/// The time `ms` milliseconds after the Unix epoch, if this platform can hold it.
pub(crate) fn from_millis(ms: i64) -> Option<SystemTime> {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// Microseconds since the Unix epoch, rounded down (toward the past, also before 1970);
/// `None` when they do not fit in an `i64` (about ±292,000 years).
fn checked_micros(t: SystemTime) -> Option<i64> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).ok(),
        Err(before) => {
            let d = before.duration();
            let up = u128::from(d.subsec_nanos() % 1_000 != 0);
            i64::try_from(d.as_micros() + up).ok().map(|us| -us)
        }
    }
}

/// A time as Unix microseconds, rounded down (toward the past, so a cursor read back never
/// sorts after the one saved); an error naming `field` when it does not fit.
pub(crate) fn to_micros(t: SystemTime, field: &str) -> Result<i64, Error> {
    checked_micros(t).ok_or_else(|| {
        Error::new(
            ErrorKind::Store,
            format!("`{field}` is too far from 1970 to store in microseconds"),
        )
    })
}

/// The time `us` microseconds after the Unix epoch, if this platform can hold it.
pub(crate) fn from_micros(us: i64) -> Option<SystemTime> {
    let d = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_millis_round_down_and_round_trip() {
        let at = |ms: i64| from_millis(ms).unwrap();
        for ms in [
            0,
            1,
            1_700_000_000_123,
            -1,
            -1_500,
            i64::from(i32::MAX) * 1000,
        ] {
            assert_eq!(to_millis(Some(at(ms)), "t").unwrap(), Some(ms), "{ms}");
        }
        let sub_ms = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_999);
        assert_eq!(
            to_millis(Some(sub_ms), "t").unwrap(),
            Some(1_700_000_000_123)
        );
        let before = UNIX_EPOCH - Duration::from_micros(1_500);
        assert_eq!(to_millis(Some(before), "t").unwrap(), Some(-2));
        assert_eq!(to_millis(None, "t").unwrap(), None);
    }

    #[test]
    fn saturating_millis_and_the_one_millisecond_floor() {
        assert_eq!(millis(UNIX_EPOCH + Duration::from_millis(1_500)), 1_500);
        assert_eq!(millis(UNIX_EPOCH - Duration::from_micros(1_500)), -2);
        assert_eq!(millis_at_least_one(Duration::ZERO), 1);
        assert_eq!(millis_at_least_one(Duration::from_micros(2_999)), 2);
        assert_eq!(millis_at_least_one(Duration::MAX), i64::MAX);
    }

    #[test]
    fn store_micros_round_down_toward_the_past_and_round_trip() {
        for us in [
            0,
            1,
            1_700_000_000_123_456,
            -1,
            -1_500,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let t = from_micros(us).unwrap();
            assert_eq!(to_micros(t, "t").unwrap(), us, "{us}");
        }
        let sub = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(to_micros(sub, "t").unwrap(), 1_700_000_000_123_456);
        let before = UNIX_EPOCH - Duration::from_nanos(1_500);
        assert_eq!(to_micros(before, "t").unwrap(), -2);
        assert!(from_micros(to_micros(before, "t").unwrap()).unwrap() <= before);
    }
}
