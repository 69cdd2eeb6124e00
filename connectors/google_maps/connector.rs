//! [`GoogleMapsConnector`]: what the core needs to know about the Google Maps web services.
//! Their failures arrive with HTTP 200 and a `status` in the body; the connector restates
//! each as the HTTP status it stands for, so the pipeline retries, caches and reports them as
//! it does every provider's. The API key travels in the `key` query parameter, which the core
//! always treats as secret.

use std::borrow::Cow;
use std::num::NonZeroU32;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::MapsStatus;
use crate::connector::{BodyFailure, Connector};
use crate::rate_limit::Quota;

/// Requests a second a connection may send by default: the client-side pace the issue's
/// seeds asked for, well under Google's per-project limits (3,000 a minute for Geocoding).
pub const DEFAULT_QUERIES_PER_SECOND: u32 = 50;

/// The Google Maps connector: name `"google_maps"`, no idempotency header (every call is a
/// GET), failures read from the body's `status`, a default pace of
/// [`DEFAULT_QUERIES_PER_SECOND`] per connection.
///
/// Retries follow Google's guidance (and its own client libraries, which retry
/// `OVER_QUERY_LIMIT` with exponential backoff inside a 60 s budget): `OVER_QUERY_LIMIT` (a
/// stand-in 429) and `UNKNOWN_ERROR` (a stand-in 500) are retried with backoff until the
/// call's deadline or the attempts run out; `OVER_DAILY_LIMIT`, `REQUEST_DENIED` (stand-in
/// 403), `INVALID_REQUEST` and the `MAX_*` statuses (400) and `NOT_FOUND` (404) never are.
/// `ZERO_RESULTS` is a success with no results.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GoogleMapsConnector;

impl GoogleMapsConnector {
    /// The connector.
    pub fn new() -> Self {
        GoogleMapsConnector
    }
}

/// The top-level `status` of an answer; every other field is skipped without being kept.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

/// The top-level status of a JSON answer, when it has one.
pub(crate) fn body_status(body: &[u8]) -> Option<MapsStatus> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
    envelope.status.map(|s| MapsStatus::parse(&s))
}

impl Connector for GoogleMapsConnector {
    fn name(&self) -> &str {
        "google_maps"
    }

    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// Restates a failure `status` as the HTTP status it stands for
    /// ([`MapsStatus::http_equivalent`]). A body that is not JSON (a photo) or has no
    /// `status` is no failure.
    fn failure_in_body(
        &self,
        _status: StatusCode,
        _headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<BodyFailure> {
        let status = body_status(body)?;
        let stand_in = status.http_equivalent()?;
        // The word goes into error messages and logs: keep an unknown one short and plain.
        let word: String = status
            .as_str()
            .chars()
            .take(48)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        Some(BodyFailure::new(stand_in, word))
    }

    fn default_quotas(&self) -> Vec<(&'static str, Quota)> {
        let qps = NonZeroU32::new(DEFAULT_QUERIES_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        vec![("default", Quota::per_second(qps))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(body: &str) -> Option<BodyFailure> {
        GoogleMapsConnector::new().failure_in_body(
            StatusCode::OK,
            &HeaderMap::new(),
            &Bytes::from(body.to_string()),
        )
    }

    #[test]
    fn reads_the_status_of_the_body_and_restates_failures() {
        assert_eq!(failure(r#"{"results":[],"status":"OK"}"#), None);
        assert_eq!(failure(r#"{"results":[],"status":"ZERO_RESULTS"}"#), None);
        let f = failure(r#"{"error_message":"slow down","status":"OVER_QUERY_LIMIT"}"#).unwrap();
        assert_eq!(f.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(f.code, "OVER_QUERY_LIMIT");
        assert_eq!(
            failure(r#"{"status":"REQUEST_DENIED"}"#).unwrap().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            failure(r#"{"status":"OVER_DAILY_LIMIT"}"#).unwrap().status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            failure(r#"{"status":"INVALID_REQUEST"}"#).unwrap().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            failure(r#"{"status":"NOT_FOUND"}"#).unwrap().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            failure(r#"{"status":"UNKNOWN_ERROR"}"#).unwrap().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn element_statuses_and_non_json_bodies_are_not_failures() {
        // A matrix whose elements failed is still a successful answer.
        assert_eq!(
            failure(r#"{"rows":[{"elements":[{"status":"NOT_FOUND"}]}],"status":"OK"}"#),
            None
        );
        assert_eq!(failure("\u{89}PNG..."), None);
        assert_eq!(failure(r#"{"results":[]}"#), None);
        assert_eq!(failure(r#"{"status":42}"#), None);
    }

    #[test]
    fn an_unknown_status_is_a_plain_short_word() {
        let f = failure(&format!(r#"{{"status":"NEW <b>{}"}}"#, "X".repeat(100))).unwrap();
        assert_eq!(f.status, StatusCode::BAD_REQUEST);
        assert_eq!(f.code.len(), 48);
        assert!(f.code.starts_with("NEW??b?X"));
    }
}
