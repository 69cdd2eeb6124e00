//! GoHighLevel's timestamps: RFC 3339 with milliseconds (`2021-07-02T05:18:26.704Z`).

use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// `text` as an instant, `None` when it is not an RFC 3339 timestamp.
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| SystemTime::from(t.with_timezone(&Utc)))
}

/// `at` as GoHighLevel writes it: UTC with milliseconds. An instant beyond the calendar's
/// range (a corrupt sync cursor) is written as its last (or first) date, never a panic.
pub(crate) fn format_time(at: SystemTime) -> String {
    crate::calendar::utc(at).to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn round_trips_ghl_timestamps() {
        let at = UNIX_EPOCH + Duration::from_millis(1_625_203_106_704);
        assert_eq!(format_time(at), "2021-07-02T05:18:26.704Z");
        assert_eq!(parse_time("2021-07-02T05:18:26.704Z"), Some(at));
        assert_eq!(
            parse_time("2021-07-02T07:18:26.704+02:00"),
            Some(at),
            "offsets are honoured"
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn an_instant_beyond_the_calendar_is_written_as_its_last_millisecond() {
        let far = UNIX_EPOCH + Duration::from_secs(1 << 52);
        assert_eq!(format_time(far), "+262142-12-31T23:59:59.999Z");
    }
}
