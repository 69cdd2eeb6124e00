//! [`DocuSignConnector`]: what the core needs to know about DocuSign: its name and its retry
//! rules. Nothing of a tenant (no account, no token) lives here.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode};

use super::error::{error_code, is_limit_code};
use crate::connector::{AttemptOutcome, Connector, RetryDecision};
use std::num::NonZeroU32;

use crate::rate_limit::{Quota, RateHint, RateWindow};
use crate::toolkit::{rate_limit_window, rate_limit_window_per, ResetFormat};

/// DocuSign's burst window: `X-BurstLimit-*` counts calls per 30 seconds and sends no reset.
const BURST_WINDOW: Duration = Duration::from_secs(30);

/// The DocuSign eSignature connector: name `"docusign"`, DocuSign's retry rules.
///
/// DocuSign has no idempotency key, so a write that may have reached it is never resent (the
/// core's side-effect gate); a 429 was not acted on and is retried after `Retry-After`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DocuSignConnector;

/// DocuSign's hourly window from `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
/// `X-RateLimit-Reset` (epoch seconds): the rate hint's and the typed error's one reading.
pub(crate) fn hourly_window(headers: &HeaderMap) -> Option<RateWindow> {
    rate_limit_window(
        headers,
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        ResetFormat::EpochSeconds,
        SystemTime::now(),
    )
}

/// DocuSign's default API call limit per account: 1,000 calls per hour.
pub const DEFAULT_HOURLY_LIMIT: u32 = 1000;

impl DocuSignConnector {
    /// The connector.
    pub fn new() -> Self {
        DocuSignConnector
    }

    /// DocuSign's default hourly quota ([`DEFAULT_HOURLY_LIMIT`] calls per hour per account),
    /// counted per tenant and connection. The switchboard's limiter adopts it when a DocuSign
    /// connection is built ([`Connector::default_quotas`]) unless the host set the
    /// `("docusign", "default")` quota itself (an account with a raised limit). DocuSign's own
    /// `X-RateLimit-*` answers block the connection whatever the local quota.
    pub fn default_quota() -> Quota {
        // 1,000 calls over one hour is at least 3.6 s per call: always a valid quota.
        Quota::new(
            NonZeroU32::new(DEFAULT_HOURLY_LIMIT).unwrap_or(NonZeroU32::MIN),
            Duration::from_secs(3600),
        )
        .unwrap_or_else(|_| Quota::per_minute(NonZeroU32::MIN))
    }
}

impl Connector for DocuSignConnector {
    fn name(&self) -> &str {
        "docusign"
    }

    /// Lets [`super::DocuSignClient::from_connection`] check the connection is DocuSign's.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// 1. A 400 whose `errorCode` is a polling or per-envelope limit → never (retrying spends
    ///    the same limit; the caller gets a typed rate limit).
    /// 2. 429 (DocuSign's hourly or burst limit) → retry after `Retry-After`: the request was
    ///    refused before it was acted on.
    /// 3. ≥ 500 → retry for GET and HEAD; for writes "no opinion", so the core's gate decides
    ///    (without an idempotency key it does not resend a write that may have landed).
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        let AttemptOutcome::Response {
            method,
            status,
            body,
            ..
        } = attempt
        else {
            return RetryDecision::NoOpinion;
        };
        match status.as_u16() {
            400 if error_code(body).as_deref().is_some_and(is_limit_code) => RetryDecision::Never,
            429 => RetryDecision::Retry { after: None },
            s if s >= 500 && matches!(**method, Method::GET | Method::HEAD) => {
                RetryDecision::Retry { after: None }
            }
            _ => RetryDecision::NoOpinion,
        }
    }

    /// DocuSign's default: [`DEFAULT_HOURLY_LIMIT`] calls an hour per account, in the
    /// `"default"` bucket ([`DocuSignConnector::default_quota`]); a host's own quota for the
    /// bucket wins.
    fn default_quotas(&self) -> Vec<(&'static str, Quota)> {
        vec![("default", Self::default_quota())]
    }

    /// DocuSign's hourly window (`X-RateLimit-Limit`, `X-RateLimit-Remaining`,
    /// `X-RateLimit-Reset` in epoch seconds) and its burst window (`X-BurstLimit-Limit`,
    /// `X-BurstLimit-Remaining`, 30 s): when either is spent, the connection's calls wait (or
    /// fail as rate limited) until it resets, on every replica sharing the limiter.
    fn rate_hint(&self, _status: StatusCode, headers: &HeaderMap) -> Option<RateHint> {
        let hourly = hourly_window(headers);
        let burst = rate_limit_window_per(
            headers,
            "X-BurstLimit-Limit",
            "X-BurstLimit-Remaining",
            BURST_WINDOW,
        );
        RateHint::from_windows(hourly.into_iter().chain(burst))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_default_quota_grants_a_thousand_calls_an_hour_per_connection() {
        use crate::rate_limit::{InMemoryRateLimiter, RateDecision, RateKey};
        let limiter = InMemoryRateLimiter::new().with_quota(
            "docusign",
            "default",
            DocuSignConnector::default_quota(),
        );
        let key =
            |tenant: &str| RateKey::new(tenant.into(), "docusign".into(), "docusign", "default");
        for _ in 0..DEFAULT_HOURLY_LIMIT {
            assert_eq!(
                limiter.check(&key("a"), NonZeroU32::MIN),
                RateDecision::Granted
            );
        }
        assert!(matches!(
            limiter.check(&key("a"), NonZeroU32::MIN),
            RateDecision::RetryAfter(_)
        ));
        assert_eq!(
            limiter.check(&key("b"), NonZeroU32::MIN),
            RateDecision::Granted
        );
    }

    #[test]
    fn the_hourly_and_burst_headers_make_two_windows() {
        let reset = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600;
        let h = headers(&[
            ("x-ratelimit-limit", "1000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset.to_string()),
            ("x-burstlimit-limit", "500"),
            ("x-burstlimit-remaining", "499"),
        ]);
        let hint = DocuSignConnector::new()
            .rate_hint(StatusCode::OK, &h)
            .unwrap();
        assert_eq!(hint.windows().len(), 2);
        let spent = hint.exhausted_for().unwrap();
        assert!(spent > Duration::from_secs(590) && spent <= Duration::from_secs(600));
        let burst = &hint.windows()[1];
        assert_eq!((burst.limit(), burst.remaining()), (Some(500), 499));
        assert!(DocuSignConnector::new()
            .rate_hint(StatusCode::OK, &HeaderMap::new())
            .is_none());
    }

    #[test]
    fn a_polling_limit_400_is_never_retried_and_a_429_is() {
        let c = DocuSignConnector::new();
        let h = HeaderMap::new();
        let body = bytes::Bytes::from_static(
            br#"{"errorCode":"ENVELOPE_STATUS_POLLING_LIMIT_EXCEEDED","message":"x"}"#,
        );
        let get = Method::GET;
        let at = |status: u16, body: &bytes::Bytes| {
            c.classify_retry(&AttemptOutcome::Response {
                method: &get,
                status: StatusCode::from_u16(status).unwrap(),
                headers: &h,
                body,
            })
        };
        assert_eq!(at(400, &body), RetryDecision::Never);
        assert_eq!(
            at(429, &bytes::Bytes::new()),
            RetryDecision::Retry { after: None }
        );
        assert_eq!(
            at(503, &bytes::Bytes::new()),
            RetryDecision::Retry { after: None }
        );
        assert_eq!(at(400, &bytes::Bytes::new()), RetryDecision::NoOpinion);
    }
}
