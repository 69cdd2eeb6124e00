//! [`GhlConnector`]: what the core needs to know about GoHighLevel (the LeadConnector API):
//! its name, the `Version` header every call carries, its retry rules, its published quota and
//! its `X-RateLimit-*` headers. Nothing of a tenant (no token, no location) lives here.

use std::num::NonZeroU32;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, StatusCode};

use crate::connector::{AttemptOutcome, Connector, RetryDecision};
use crate::rate_limit::{Quota, RateHint};
use crate::toolkit::rate_limit_window_per;

/// The `Version` header of every call but the calendars' and conversations': `2021-07-28`.
pub const API_VERSION: &str = "2021-07-28";
/// The `Version` header the calendars and conversations APIs require: `2021-04-15` (their
/// specs accept no other).
pub const CALENDARS_API_VERSION: &str = "2021-04-15";
/// GoHighLevel's burst limit: 100 requests per 10 seconds per app and location.
pub const BURST_LIMIT: u32 = 100;
/// The burst window: 10 seconds.
pub const BURST_WINDOW: Duration = Duration::from_secs(10);
/// GoHighLevel's daily limit: 200,000 requests per day per app and location.
pub const DAILY_LIMIT: u32 = 200_000;
/// How long a spent daily window holds the connection's calls back. GoHighLevel sends no reset
/// for its daily window, and a day is the longest it can be; blocking a location for a whole
/// day on one reading would be worse than one refused call an hour, so the limiter probes
/// again after an hour.
pub const DAILY_RECHECK: Duration = Duration::from_secs(3600);

/// The GoHighLevel connector: name `"ghl"`, the `Version` header, GoHighLevel's retry rules
/// and rate limits.
///
/// GoHighLevel has no idempotency key, so a write that may have reached it is never resent
/// (the core's side-effect gate); a 429 was refused before it was acted on and is retried
/// after `Retry-After`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GhlConnector {
    version: HeaderValue,
}

impl Default for GhlConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl GhlConnector {
    /// The connector, sending `Version: 2021-07-28` ([`API_VERSION`]).
    pub fn new() -> Self {
        GhlConnector {
            version: HeaderValue::from_static(API_VERSION),
        }
    }

    /// The connector sending `version` as the default `Version` header (a template's
    /// `apiVersion`). Calendar calls always send [`CALENDARS_API_VERSION`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `ghl.apiVersion` when `version`
    /// is not a valid header value.
    pub fn with_api_version(version: &str) -> Result<Self, crate::Error> {
        let version = HeaderValue::from_str(version.trim()).map_err(|_| {
            crate::Error::config("ghl.apiVersion", "is not a valid `Version` header value")
        })?;
        Ok(GhlConnector { version })
    }

    /// The default `Version` header value.
    pub fn api_version(&self) -> &str {
        self.version.to_str().unwrap_or(API_VERSION)
    }

    /// GoHighLevel's burst quota, [`BURST_LIMIT`] requests per [`BURST_WINDOW`], counted per
    /// tenant and connection (a connection is one location of one app). The switchboard's
    /// limiter adopts it when a connection is built ([`Connector::default_quotas`]) unless the
    /// host set the `("ghl", "default")` quota itself; with the Redis limiter it holds across
    /// replicas. The daily limit is enforced from GoHighLevel's own headers
    /// ([`Connector::rate_hint`]).
    pub fn default_quota() -> Quota {
        Quota::new(
            NonZeroU32::new(BURST_LIMIT).unwrap_or(NonZeroU32::MIN),
            BURST_WINDOW,
        )
        .map(|q| q.allow_burst(NonZeroU32::new(BURST_LIMIT).unwrap_or(NonZeroU32::MIN)))
        .unwrap_or_else(|_| Quota::per_second(NonZeroU32::MIN))
    }
}

impl Connector for GhlConnector {
    fn name(&self) -> &str {
        "ghl"
    }

    /// Lets [`super::GhlClient::from_connection`] check the connection is GoHighLevel's.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// `Version` on every call (a call's own `Version`, the calendars', wins).
    fn default_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("Version", self.version.clone());
        h
    }

    /// 1. 429 (burst or daily limit) → retry after `Retry-After`: refused before it was acted
    ///    on.
    /// 2. ≥ 500 → retry for GET and HEAD; for writes "no opinion", so the core's gate decides
    ///    (without an idempotency key a write that may have landed is not resent).
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        let AttemptOutcome::Response { method, status, .. } = attempt else {
            return RetryDecision::NoOpinion;
        };
        match status.as_u16() {
            429 => RetryDecision::Retry { after: None },
            s if s >= 500 && matches!(**method, Method::GET | Method::HEAD) => {
                RetryDecision::Retry { after: None }
            }
            _ => RetryDecision::NoOpinion,
        }
    }

    /// The burst quota in the `"default"` bucket ([`GhlConnector::default_quota`]).
    fn default_quotas(&self) -> Vec<(&'static str, Quota)> {
        vec![("default", Self::default_quota())]
    }

    /// GoHighLevel's two windows: the burst one (`X-RateLimit-Max`, `X-RateLimit-Remaining`,
    /// over `X-RateLimit-Interval-Milliseconds`, 10 s when absent) and the daily one
    /// (`X-RateLimit-Limit-Daily`, `X-RateLimit-Daily-Remaining`, re-checked after
    /// [`DAILY_RECHECK`]). While either is spent, the connection's calls wait or fail as rate
    /// limited, on every replica sharing the limiter.
    fn rate_hint(&self, _status: StatusCode, headers: &HeaderMap) -> Option<RateHint> {
        let interval = headers
            .get("X-RateLimit-Interval-Milliseconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(BURST_WINDOW, |ms| {
                Duration::from_millis(ms).min(DAILY_RECHECK)
            });
        let burst = rate_limit_window_per(
            headers,
            "X-RateLimit-Max",
            "X-RateLimit-Remaining",
            interval,
        );
        let daily = rate_limit_window_per(
            headers,
            "X-RateLimit-Limit-Daily",
            "X-RateLimit-Daily-Remaining",
            DAILY_RECHECK,
        );
        RateHint::from_windows(burst.into_iter().chain(daily))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_call_carries_the_version_and_a_template_may_change_it() {
        let h = GhlConnector::new().default_headers();
        assert_eq!(h.get("version").unwrap(), API_VERSION);
        let c = GhlConnector::with_api_version("2021-04-15").unwrap();
        assert_eq!(c.default_headers().get("version").unwrap(), "2021-04-15");
        let err = GhlConnector::with_api_version("bad\nvalue").unwrap_err();
        assert!(err.to_string().contains("ghl.apiVersion"), "{err}");
    }

    #[test]
    fn the_burst_and_daily_headers_make_two_windows() {
        let h = headers(&[
            ("x-ratelimit-max", "100"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-interval-milliseconds", "10000"),
            ("x-ratelimit-limit-daily", "200000"),
            ("x-ratelimit-daily-remaining", "199000"),
        ]);
        let hint = GhlConnector::new().rate_hint(StatusCode::OK, &h).unwrap();
        assert_eq!(hint.windows().len(), 2);
        assert_eq!(hint.exhausted_for(), Some(Duration::from_secs(10)));
        let daily = &hint.windows()[1];
        assert_eq!((daily.limit(), daily.remaining()), (Some(200_000), 199_000));

        let spent_day = headers(&[
            ("x-ratelimit-limit-daily", "200000"),
            ("x-ratelimit-daily-remaining", "0"),
        ]);
        let hint = GhlConnector::new()
            .rate_hint(StatusCode::TOO_MANY_REQUESTS, &spent_day)
            .unwrap();
        assert_eq!(hint.exhausted_for(), Some(DAILY_RECHECK));
        assert!(GhlConnector::new()
            .rate_hint(StatusCode::OK, &HeaderMap::new())
            .is_none());
    }

    #[test]
    fn the_default_quota_grants_a_hundred_calls_per_ten_seconds_per_connection() {
        use crate::rate_limit::{InMemoryRateLimiter, RateDecision, RateKey};
        let limiter =
            InMemoryRateLimiter::new().with_quota("ghl", "default", GhlConnector::default_quota());
        let key = |tenant: &str| RateKey::new(tenant.into(), "loc".into(), "ghl", "default");
        for _ in 0..BURST_LIMIT {
            assert_eq!(
                limiter.check(&key("a"), NonZeroU32::MIN),
                RateDecision::Granted
            );
        }
        assert!(matches!(
            limiter.check(&key("a"), NonZeroU32::MIN),
            RateDecision::RetryAfter(_)
        ));
        // Another tenant's connection with the same id has its own quota.
        assert_eq!(
            limiter.check(&key("b"), NonZeroU32::MIN),
            RateDecision::Granted
        );
    }

    #[test]
    fn a_429_is_retried_and_a_failed_write_is_left_to_the_gate() {
        let c = GhlConnector::new();
        let h = HeaderMap::new();
        let body = bytes::Bytes::new();
        let at = |method: Method, status: u16| {
            c.classify_retry(&AttemptOutcome::Response {
                method: &method,
                status: StatusCode::from_u16(status).unwrap(),
                headers: &h,
                body: &body,
            })
        };
        assert_eq!(at(Method::POST, 429), RetryDecision::Retry { after: None });
        assert_eq!(at(Method::GET, 502), RetryDecision::Retry { after: None });
        assert_eq!(at(Method::POST, 502), RetryDecision::NoOpinion);
        assert_eq!(at(Method::GET, 400), RetryDecision::NoOpinion);
    }
}
