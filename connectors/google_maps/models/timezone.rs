//! The Time Zone answer. Unlike the other web services it spells its fields in camelCase,
//! `errorMessage` included.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de as helpers;
use super::status::MapsStatus;

/// The answer of `GET /maps/api/timezone/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimeZoneResponse {
    /// The daylight-saving offset in seconds at the asked time (`dstOffset`; 0 outside DST).
    #[serde(
        rename = "dstOffset",
        default,
        deserialize_with = "helpers::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub dst_offset: Option<i64>,
    /// The offset from UTC in seconds without daylight saving (`rawOffset`).
    #[serde(
        rename = "rawOffset",
        default,
        deserialize_with = "helpers::opt_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_offset: Option<i64>,
    /// The IANA zone id (`timeZoneId`, `"America/Los_Angeles"`).
    #[serde(
        rename = "timeZoneId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_zone_id: Option<String>,
    /// The zone's long name in the answer's language (`timeZoneName`, `"Pacific Standard
    /// Time"`).
    #[serde(
        rename = "timeZoneName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_zone_name: Option<String>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says (`errorMessage`; `error_message` is read too).
    #[serde(
        rename = "errorMessage",
        alias = "error_message",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_message: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl TimeZoneResponse {
    /// The offset from UTC at the asked time, daylight saving included (`rawOffset +
    /// dstOffset`), in seconds; `None` unless both are given (or if the sum overflows).
    pub fn utc_offset_secs(&self) -> Option<i64> {
        self.raw_offset?.checked_add(self.dst_offset?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_offsets_and_adds_them() {
        let v = json!({
            "dstOffset": 3600, "rawOffset": -28800, "status": "OK",
            "timeZoneId": "America/Los_Angeles", "timeZoneName": "Pacific Daylight Time"
        });
        let t: TimeZoneResponse = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(t.utc_offset_secs(), Some(-25200));
        assert_eq!(t.time_zone_id.as_deref(), Some("America/Los_Angeles"));
        assert_eq!(serde_json::to_value(&t).unwrap(), v);
        // Older answers wrote the offsets as floats.
        let t: TimeZoneResponse =
            serde_json::from_str(r#"{"dstOffset": 0.0, "rawOffset": 19800.0, "status": "OK"}"#)
                .unwrap();
        assert_eq!(t.utc_offset_secs(), Some(19800));
    }

    #[test]
    fn error_answers_carry_the_message_in_either_spelling() {
        let t: TimeZoneResponse = serde_json::from_str(
            r#"{"errorMessage": "The provided API key is invalid.", "status": "REQUEST_DENIED"}"#,
        )
        .unwrap();
        assert_eq!(t.status, MapsStatus::RequestDenied);
        assert_eq!(
            t.error_message.as_deref(),
            Some("The provided API key is invalid.")
        );
        assert_eq!(t.utc_offset_secs(), None);
        let t: TimeZoneResponse =
            serde_json::from_str(r#"{"error_message": "x", "status": "INVALID_REQUEST"}"#).unwrap();
        assert_eq!(t.error_message.as_deref(), Some("x"));
    }

    #[test]
    fn unknown_fields_are_kept_and_bad_offsets_are_errors() {
        let t: TimeZoneResponse =
            serde_json::from_str(r#"{"status": "OK", "dstOffset": 0, "rawOffset": 0, "x": 1}"#)
                .unwrap();
        assert_eq!(t.extra["x"], 1);
        assert_eq!(t.utc_offset_secs(), Some(0));
        let e = serde_json::from_str::<TimeZoneResponse>(r#"{"status": "OK", "rawOffset": 1.5}"#)
            .unwrap_err();
        assert!(e.to_string().contains("an integer for `offset`"), "{e}");
        let big = TimeZoneResponse {
            raw_offset: Some(i64::MAX),
            ..serde_json::from_str(r#"{"status": "OK", "dstOffset": 1}"#).unwrap()
        };
        assert_eq!(big.utc_offset_secs(), None);
    }
}
