//! RFC 3339 date-times (the body's `timestamp`) to instants, without a date-time crate: the
//! verifier needs only this one direction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `now` as whole seconds since the Unix epoch (negative before it).
pub(super) fn unix_secs(now: SystemTime) -> i128 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::from(d.as_secs()),
        Err(e) => -i128::from(e.duration().as_secs()),
    }
}

/// The instant `secs` + `nanos` after the Unix epoch.
pub(super) fn system_time(secs: i64, nanos: u32) -> Option<SystemTime> {
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nanos)))
}

/// Seconds since the Unix epoch and nanoseconds of an RFC 3339 date-time:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (also `t` or a space for `T`, `z` for `Z`, and
/// `±HHMM`). `None` for anything else, an impossible date or time, or no offset (a local
/// time names no instant).
pub(super) fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            // Digits past the ninth are below a nanosecond: read, not kept.
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_secs = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    let two = |x: u8, y: u8| {
                        (x.is_ascii_digit() && y.is_ascii_digit())
                            .then(|| i64::from(x - b'0') * 10 + i64::from(y - b'0'))
                    };
                    (two(*h1, *h2)?, two(*m1, *m2)?)
                }
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some((secs, nanos))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2025-01-28T14:35:00Z"),
            Some((1_738_074_900, 0))
        );
        assert_eq!(
            parse_rfc3339("2025-02-10T08:26:05.961Z"),
            Some((1_739_175_965, 961_000_000))
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Some((951_782_400, 0))
        );
        assert_eq!(
            parse_rfc3339("2100-02-28T23:59:59Z"),
            Some((4_107_542_399, 0))
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some((-1, 0)));
    }

    #[test]
    fn applies_offsets_and_accepts_the_rfc_spellings() {
        let utc = parse_rfc3339("2023-09-25T10:30:00Z");
        for same in [
            "2023-09-25T16:00:00+05:30",
            "2023-09-25T16:00:00+0530",
            "2023-09-25T05:30:00-05:00",
            "2023-09-25t10:30:00z",
            "2023-09-25 10:30:00+00:00",
            "2023-09-25T10:30:00.000Z",
        ] {
            assert_eq!(parse_rfc3339(same).map(|t| t.0), utc.map(|t| t.0), "{same}");
        }
        // Fractions: up to nanoseconds kept, more digits read and dropped.
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.5Z"),
            Some((0, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("1970-01-01T00:00:00.1234567891Z"),
            Some((0, 123_456_789))
        );
    }

    #[test]
    fn refuses_what_names_no_instant() {
        for bad in [
            "",
            "2025-01-28",
            "2025-01-28T14:35:00",  // no offset: a local time
            "2025-01-28T14:35Z",    // no seconds
            "2025-13-01T00:00:00Z", // month 13
            "2025-02-29T00:00:00Z", // not a leap year
            "1900-02-29T00:00:00Z", // not a leap year either
            "2025-04-31T00:00:00Z", // April has 30 days
            "2025-01-00T00:00:00Z",
            "2025-01-28T24:00:00Z",
            "2025-01-28T14:60:00Z",
            "2025-01-28T14:35:00.Z", // a dot without digits
            "2025-01-28T14:35:00+5:30",
            "2025-01-28T14:35:00+24:00",
            "2025-01-28T14:35:00Z ",
            "2025-01-28T14:35:00ZZ",
            "+2025-01-28T14:35:00Z",
            "2025-01-28T14:35:00\u{00e9}",
            "２０２５-01-28T14:35:00Z", // full-width digits: bytes, not ASCII digits
            "1738074900",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn days_match_a_day_by_day_count() {
        let mut days = 0;
        for year in 1970..2200 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(
                        days_from_civil(year, month, day),
                        days,
                        "{year}-{month}-{day}"
                    );
                    days += 1;
                }
            }
        }
    }

    #[test]
    fn converts_to_system_time_on_both_sides_of_the_epoch() {
        assert_eq!(system_time(1, 5), Some(UNIX_EPOCH + Duration::new(1, 5)));
        assert_eq!(
            system_time(-1, 500_000_000),
            UNIX_EPOCH.checked_sub(Duration::from_millis(500))
        );
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(1500)), 1);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(7)), -7);
    }
}
