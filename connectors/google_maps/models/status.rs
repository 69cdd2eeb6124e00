//! [`MapsStatus`]: the `status` every Google Maps web-service answer carries (with HTTP 200,
//! whether the call worked or not), and what each value means for a caller.

use std::fmt;

use http::StatusCode;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The top-level `status` of a Google Maps answer (also a Distance Matrix element's status).
///
/// Values Google may add later are kept as [`MapsStatus::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapsStatus {
    /// `OK`: the answer holds at least one result.
    Ok,
    /// `ZERO_RESULTS`: the call worked and found nothing (an empty success).
    ZeroResults,
    /// `NOT_FOUND`: a place id, address or waypoint could not be found.
    NotFound,
    /// `INVALID_REQUEST`: a parameter is missing or malformed.
    InvalidRequest,
    /// `OVER_QUERY_LIMIT`: too many requests for now (per second, or the project's quota).
    OverQueryLimit,
    /// `OVER_DAILY_LIMIT`: the key is missing or invalid, billing is not enabled, or a
    /// self-imposed usage cap was exceeded.
    OverDailyLimit,
    /// `REQUEST_DENIED`: the key was refused (invalid, or the API is not enabled for it).
    RequestDenied,
    /// `UNKNOWN_ERROR`: a server error; the request may succeed if tried again.
    UnknownError,
    /// `MAX_WAYPOINTS_EXCEEDED` (Directions): more waypoints than allowed.
    MaxWaypointsExceeded,
    /// `MAX_ROUTE_LENGTH_EXCEEDED` (Directions): the route is too long to process.
    MaxRouteLengthExceeded,
    /// `MAX_ELEMENTS_EXCEEDED` (Distance Matrix): origins x destinations over the limit.
    MaxElementsExceeded,
    /// `MAX_DIMENSIONS_EXCEEDED` (Distance Matrix): too many origins or destinations.
    MaxDimensionsExceeded,
    /// A status this version does not know, kept as sent.
    Other(String),
}

impl MapsStatus {
    /// The status as Google spells it.
    pub fn as_str(&self) -> &str {
        match self {
            MapsStatus::Ok => "OK",
            MapsStatus::ZeroResults => "ZERO_RESULTS",
            MapsStatus::NotFound => "NOT_FOUND",
            MapsStatus::InvalidRequest => "INVALID_REQUEST",
            MapsStatus::OverQueryLimit => "OVER_QUERY_LIMIT",
            MapsStatus::OverDailyLimit => "OVER_DAILY_LIMIT",
            MapsStatus::RequestDenied => "REQUEST_DENIED",
            MapsStatus::UnknownError => "UNKNOWN_ERROR",
            MapsStatus::MaxWaypointsExceeded => "MAX_WAYPOINTS_EXCEEDED",
            MapsStatus::MaxRouteLengthExceeded => "MAX_ROUTE_LENGTH_EXCEEDED",
            MapsStatus::MaxElementsExceeded => "MAX_ELEMENTS_EXCEEDED",
            MapsStatus::MaxDimensionsExceeded => "MAX_DIMENSIONS_EXCEEDED",
            MapsStatus::Other(s) => s,
        }
    }

    /// The status spelled `s` (an unknown spelling is [`MapsStatus::Other`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "OK" => MapsStatus::Ok,
            "ZERO_RESULTS" => MapsStatus::ZeroResults,
            "NOT_FOUND" => MapsStatus::NotFound,
            "INVALID_REQUEST" => MapsStatus::InvalidRequest,
            "OVER_QUERY_LIMIT" => MapsStatus::OverQueryLimit,
            "OVER_DAILY_LIMIT" => MapsStatus::OverDailyLimit,
            "REQUEST_DENIED" => MapsStatus::RequestDenied,
            "UNKNOWN_ERROR" => MapsStatus::UnknownError,
            "MAX_WAYPOINTS_EXCEEDED" => MapsStatus::MaxWaypointsExceeded,
            "MAX_ROUTE_LENGTH_EXCEEDED" => MapsStatus::MaxRouteLengthExceeded,
            "MAX_ELEMENTS_EXCEEDED" => MapsStatus::MaxElementsExceeded,
            "MAX_DIMENSIONS_EXCEEDED" => MapsStatus::MaxDimensionsExceeded,
            other => MapsStatus::Other(other.to_string()),
        }
    }

    /// Whether the call worked: `OK` or `ZERO_RESULTS` (an empty success).
    pub fn is_success(&self) -> bool {
        matches!(self, MapsStatus::Ok | MapsStatus::ZeroResults)
    }

    /// The HTTP status a failure stands for, so the pipeline treats it as it treats the same
    /// failure from any provider: `OVER_QUERY_LIMIT` 429 (retried with backoff),
    /// `UNKNOWN_ERROR` 500 (retried), `REQUEST_DENIED` and `OVER_DAILY_LIMIT` 403 (the
    /// connection needs its key or billing fixed), `NOT_FOUND` 404, the rest 400. `None` for a
    /// success.
    pub fn http_equivalent(&self) -> Option<StatusCode> {
        Some(match self {
            MapsStatus::Ok | MapsStatus::ZeroResults => return None,
            MapsStatus::OverQueryLimit => StatusCode::TOO_MANY_REQUESTS,
            MapsStatus::UnknownError => StatusCode::INTERNAL_SERVER_ERROR,
            MapsStatus::RequestDenied | MapsStatus::OverDailyLimit => StatusCode::FORBIDDEN,
            MapsStatus::NotFound => StatusCode::NOT_FOUND,
            MapsStatus::InvalidRequest
            | MapsStatus::MaxWaypointsExceeded
            | MapsStatus::MaxRouteLengthExceeded
            | MapsStatus::MaxElementsExceeded
            | MapsStatus::MaxDimensionsExceeded
            | MapsStatus::Other(_) => StatusCode::BAD_REQUEST,
        })
    }
}

impl fmt::Display for MapsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MapsStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MapsStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MapsStatus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Google Maps status string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MapsStatus, E> {
                Ok(MapsStatus::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_status_round_trips_and_unknown_ones_are_kept() {
        for s in [
            "OK",
            "ZERO_RESULTS",
            "NOT_FOUND",
            "INVALID_REQUEST",
            "OVER_QUERY_LIMIT",
            "OVER_DAILY_LIMIT",
            "REQUEST_DENIED",
            "UNKNOWN_ERROR",
            "MAX_WAYPOINTS_EXCEEDED",
            "MAX_ROUTE_LENGTH_EXCEEDED",
            "MAX_ELEMENTS_EXCEEDED",
            "MAX_DIMENSIONS_EXCEEDED",
            "SOMETHING_NEW",
        ] {
            let parsed: MapsStatus = serde_json::from_str(&format!("\"{s}\"")).unwrap();
            assert_eq!(parsed.as_str(), s);
            assert_eq!(serde_json::to_string(&parsed).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(MapsStatus::parse("NEW"), MapsStatus::Other("NEW".into()));
    }

    #[test]
    fn only_ok_and_zero_results_are_successes() {
        assert!(MapsStatus::Ok.is_success() && MapsStatus::ZeroResults.is_success());
        assert_eq!(MapsStatus::ZeroResults.http_equivalent(), None);
        assert_eq!(
            MapsStatus::OverQueryLimit.http_equivalent(),
            Some(StatusCode::TOO_MANY_REQUESTS)
        );
        assert_eq!(
            MapsStatus::RequestDenied.http_equivalent(),
            Some(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            MapsStatus::NotFound.http_equivalent(),
            Some(StatusCode::NOT_FOUND)
        );
        assert_eq!(
            MapsStatus::Other("X".into()).http_equivalent(),
            Some(StatusCode::BAD_REQUEST)
        );
    }
}
