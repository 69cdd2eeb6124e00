//! [`rate_limit_window`] and [`rate_limit_window_per`]: one provider rate-limit window read from
//! response headers, for [`Connector::rate_hint`](crate::Connector::rate_hint).
//!
//! Headers are external data: a missing, non-numeric, negative or otherwise malformed value
//! makes the window `None` (a malformed limit only drops the limit), so a provider's odd header
//! never panics and never fails the call; the call simply goes without that hint.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::rate_limit::RateWindow;

/// How a provider writes when its window resets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetFormat {
    /// The instant of the reset, in seconds since the Unix epoch (`1717171717`). A reset in the
    /// past means the window already started over.
    EpochSeconds,
    /// Seconds from now until the reset (`30`, or `0.5`).
    Seconds,
    /// Milliseconds from now until the reset (`30000`).
    Millis,
}

/// One window from the headers named `limit`, `remaining` and `reset` (names are
/// case-insensitive), with `reset` written as `format`; `now` is the time the response arrived
/// (`SystemTime::now()`, fixed in tests), used for [`ResetFormat::EpochSeconds`].
///
/// `None` when `remaining` or `reset` is missing or malformed (not a non-negative number); a
/// missing or malformed `limit` leaves only the limit out. A reset further than
/// [`RateWindow::MAX_RESET`] (a day) is cut to it.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use http::{HeaderMap, HeaderValue};
/// use switchboard::toolkit::{rate_limit_window, ResetFormat};
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let mut h = HeaderMap::new();
/// h.insert("x-ratelimit-limit", HeaderValue::from_static("1000"));
/// h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
/// h.insert("x-ratelimit-reset", HeaderValue::from_static("1700000600"));
/// let w = rate_limit_window(
///     &h, "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
///     ResetFormat::EpochSeconds, now,
/// ).unwrap();
/// assert_eq!((w.limit(), w.remaining(), w.resets_in()), (Some(1000), 0, Duration::from_secs(600)));
/// ```
pub fn rate_limit_window(
    headers: &HeaderMap,
    limit: &str,
    remaining: &str,
    reset: &str,
    format: ResetFormat,
    now: SystemTime,
) -> Option<RateWindow> {
    let left = integer(headers, remaining)?;
    let raw = decimal(headers, reset)?;
    let resets_in = match format {
        ResetFormat::EpochSeconds => {
            match Duration::try_from_secs_f64(raw)
                .ok()
                .and_then(|d| UNIX_EPOCH.checked_add(d))
            {
                Some(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
                // Beyond what the clock can hold: absurd, so as far as a window may reach.
                None => RateWindow::MAX_RESET,
            }
        }
        ResetFormat::Seconds => seconds(raw),
        ResetFormat::Millis => seconds(raw / 1000.0),
    };
    Some(with_limit(RateWindow::new(left, resets_in), headers, limit))
}

/// One window from the headers named `limit` and `remaining`, for a provider that sends no
/// reset but documents the window's length (a 30 s burst, a 10 s interval): `period` is taken
/// as the time until it resets, which is the longest it can be.
///
/// `None` when `remaining` is missing or malformed; a missing or malformed `limit` leaves only
/// the limit out.
pub fn rate_limit_window_per(
    headers: &HeaderMap,
    limit: &str,
    remaining: &str,
    period: Duration,
) -> Option<RateWindow> {
    let left = integer(headers, remaining)?;
    Some(with_limit(RateWindow::new(left, period), headers, limit))
}

fn with_limit(w: RateWindow, headers: &HeaderMap, limit: &str) -> RateWindow {
    match integer(headers, limit) {
        Some(l) => w.with_limit(l),
        None => w,
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    Some(headers.get(name)?.to_str().ok()?.trim())
}

/// A non-negative whole number.
fn integer(headers: &HeaderMap, name: &str) -> Option<u64> {
    text(headers, name)?.parse().ok()
}

/// A non-negative, finite number (a whole one or with a fraction).
fn decimal(headers: &HeaderMap, name: &str) -> Option<f64> {
    let s = text(headers, name)?;
    // `f64::from_str` also takes `inf`, `NaN` and exponents; a reset is plain digits.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `secs` as a duration, absurdly large ones as [`RateWindow::MAX_RESET`].
fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(RateWindow::MAX_RESET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NOW: u64 = 1_700_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn window(h: &HeaderMap, format: ResetFormat) -> Option<RateWindow> {
        rate_limit_window(h, "X-Limit", "X-Remaining", "X-Reset", format, now())
    }

    #[test]
    fn reads_epoch_seconds_and_both_delta_forms() {
        let epoch = headers(&[
            ("x-limit", "1000"),
            ("x-remaining", "0"),
            ("x-reset", &(NOW + 90).to_string()),
        ]);
        let w = window(&epoch, ResetFormat::EpochSeconds).unwrap();
        assert_eq!(w.limit(), Some(1000));
        assert_eq!(w.remaining(), 0);
        assert_eq!(w.resets_in(), Duration::from_secs(90));
        assert!(w.is_exhausted());

        let secs = headers(&[("x-remaining", " 7 "), ("x-reset", "1.5")]);
        let w = window(&secs, ResetFormat::Seconds).unwrap();
        assert_eq!(
            (w.limit(), w.remaining(), w.resets_in()),
            (None, 7, Duration::from_millis(1500))
        );

        let millis = headers(&[("x-remaining", "0"), ("x-reset", "2500")]);
        let w = window(&millis, ResetFormat::Millis).unwrap();
        assert_eq!(w.resets_in(), Duration::from_millis(2500));
    }

    #[test]
    fn a_reset_in_the_past_has_already_happened() {
        let h = headers(&[("x-remaining", "0"), ("x-reset", &(NOW - 5).to_string())]);
        let w = window(&h, ResetFormat::EpochSeconds).unwrap();
        assert_eq!(w.resets_in(), Duration::ZERO);
        assert!(!w.is_exhausted());
    }

    #[test]
    fn absurd_resets_are_cut_to_a_day() {
        for (value, format) in [
            ("99999999999999999999999", ResetFormat::EpochSeconds),
            ("1700000000000", ResetFormat::EpochSeconds),
            ("1700000000", ResetFormat::Seconds),
            ("99999999999999999999999999999999", ResetFormat::Millis),
        ] {
            let h = headers(&[("x-remaining", "0"), ("x-reset", value)]);
            let w = window(&h, format).unwrap();
            assert_eq!(w.resets_in(), RateWindow::MAX_RESET, "{value}");
        }
    }

    #[test]
    fn malformed_headers_are_ignored() {
        for (remaining, reset) in [
            ("-1", "30"),
            ("abc", "30"),
            ("", "30"),
            ("1.5", "30"),
            ("0", "-30"),
            ("0", "soon"),
            ("0", "inf"),
            ("0", "NaN"),
            ("0", "1e3"),
            ("0", ""),
            ("0", "1.2.3"),
        ] {
            let h = headers(&[("x-remaining", remaining), ("x-reset", reset)]);
            assert_eq!(
                window(&h, ResetFormat::Seconds),
                None,
                "{remaining:?} {reset:?}"
            );
        }
        assert_eq!(window(&HeaderMap::new(), ResetFormat::Seconds), None);
        let no_reset = headers(&[("x-remaining", "0")]);
        assert_eq!(window(&no_reset, ResetFormat::Seconds), None);
        // Bytes that are not text are malformed too.
        let mut binary = headers(&[("x-reset", "30")]);
        binary.insert("x-remaining", HeaderValue::from_bytes(b"\xff0").unwrap());
        assert_eq!(window(&binary, ResetFormat::Seconds), None);
        // A bad limit drops only the limit.
        let bad_limit = headers(&[("x-limit", "lots"), ("x-remaining", "3"), ("x-reset", "9")]);
        let w = window(&bad_limit, ResetFormat::Seconds).unwrap();
        assert_eq!((w.limit(), w.remaining()), (None, 3));
    }

    #[test]
    fn a_window_without_a_reset_header_lasts_its_period() {
        let h = headers(&[("x-burst-limit", "30"), ("x-burst-remaining", "0")]);
        let w = rate_limit_window_per(
            &h,
            "X-Burst-Limit",
            "X-Burst-Remaining",
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            (w.limit(), w.remaining(), w.resets_in()),
            (Some(30), 0, Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_window_per(&h, "X-Burst-Limit", "X-Other", Duration::from_secs(30)),
            None
        );
    }
}
