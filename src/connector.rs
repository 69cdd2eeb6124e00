//! The [`Connector`] trait: what a provider integration tells the core about itself.
//!
//! A connector names itself, classifies its provider's failures for the retry layer (three
//! answers, as in smithy-rs: no opinion, retry, never), declares the query parameters that
//! carry secrets, its idempotency header and its default headers, and reads its provider's
//! rate-limit headers into a [`RateHint`].
//!
//! This is the bottom layer: it imports only `error` and the `rate_limit` value types (and
//! `http`, `bytes`), never the client or the pipeline, which build on it. Checking that a connection works needs a
//! [`Connection`](crate::Connection), so it is the integration's job
//! ([`Integration::check`](crate::templates::Integration::check)), not the connector's.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::error::Error;
use crate::rate_limit::RateHint;

/// A provider integration (Stripe, Twilio, or a host's own).
///
/// Implementations are shared as `Arc<dyn Connector>`.
pub trait Connector: Send + Sync + Debug {
    /// A short, stable, lower-case name (`"stripe"`), used in metrics, spans and keys.
    fn name(&self) -> &str;

    /// Classifies one attempt's outcome for the retry layer.
    ///
    /// Answer [`RetryDecision::NoOpinion`] to let the core's default rules decide. Answering
    /// [`RetryDecision::Retry`] asserts that the provider did **not** act on the request, so the
    /// retry layer then retries even a non-idempotent request without an idempotency key.
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        let _ = attempt;
        RetryDecision::NoOpinion
    }

    /// A failure the provider reports inside a successful HTTP answer (Google Maps answers
    /// `"status": "OVER_QUERY_LIMIT"` with HTTP 200). Return the HTTP status it stands for and
    /// the provider's word for it: the pipeline then handles the answer exactly as a response
    /// with that status. The classifier and the retry rules see it (a stand-in 429 is retried
    /// with backoff inside the call's deadline), the response cache never stores it, the
    /// breaker and the connection's lifecycle count it (a stand-in 403 moves the connection to
    /// `error`), and the call fails with an error whose [`Error::status`] is the stand-in,
    /// whose body is the provider's, and whose message names both statuses and the word.
    ///
    /// Asked only about a 2xx answer whose body was read in full (not a streamed one). The
    /// default, no failure, costs one call that returns at once.
    fn failure_in_body(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<BodyFailure> {
        let _ = (status, headers, body);
        None
    }

    /// Query parameter names that carry secrets in this provider's API, in addition to
    /// [`crate::redact::DEFAULT_SECRET_PARAMS`].
    fn secret_query_params(&self) -> &[&str] {
        &[]
    }

    /// The header that carries an idempotency key, if the provider supports one.
    ///
    /// The default is `None`: a provider that ignores an unknown key header would still act on
    /// every retried POST, so a connector opts in only when its provider honours keys (Stripe
    /// answers `Some("Idempotency-Key")`). Without a header, a call with side effects is
    /// retried only when nothing was sent or the classifier says the provider did not act.
    fn idempotency_header(&self) -> Option<&str> {
        None
    }

    /// Request headers, besides `Stripe-Account`, `Accept` and `Accept-Language`, whose value
    /// changes the provider's answer, so the response cache keys on them (default: none).
    /// Names must be valid header names; a connection of a connector naming an invalid one is
    /// refused when built.
    fn cache_vary_headers(&self) -> &[&str] {
        &[]
    }

    /// Headers sent on every request of every connection of this connector (for example
    /// `Stripe-Version`, or GoHighLevel's `Version`). Read once, when a connection is built; a
    /// header the caller sets on a request wins over the default of the same name.
    fn default_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }

    /// What the provider's rate-limit headers say about the connection's quota, read from every
    /// response the pipeline gets (a success or a failure such as a 429; a retried call's last
    /// answer). The rate limiter is told ([`crate::RateLimiter::observe`]) and, while a window
    /// is spent, refuses further calls of the same tenant's connection and bucket until it
    /// resets.
    ///
    /// Build windows with [`toolkit::rate_limit_window`](crate::toolkit::rate_limit_window) and
    /// return [`RateHint::from_windows`]; a missing or malformed header is no window, never an
    /// error. The default `None` (no hint) costs nothing.
    fn rate_hint(&self, status: StatusCode, headers: &HeaderMap) -> Option<RateHint> {
        let _ = (status, headers);
        None
    }

    /// The quotas the provider publishes, per bucket (`("default", 1,000 an hour)`): the
    /// switchboard's limiter adopts each one when a connection of this connector is built,
    /// unless the host configured that bucket itself
    /// ([`RateLimiter::adopt_default`](crate::RateLimiter::adopt_default)). Counted per tenant
    /// and connection like any quota. None by default.
    fn default_quotas(&self) -> Vec<(&'static str, crate::rate_limit::Quota)> {
        Vec::new()
    }

    /// The connector as [`Any`], so a connector's typed client can get its own settings back
    /// from a [`Connection`](crate::Connection) built by a template's `bind` (the connection only holds an
    /// `Arc<dyn Connector>`). Implement it as `Some(self)`; the default `None` opts out.
    ///
    /// ```ignore
    /// let twilio = connection.connector().as_any().and_then(|a| a.downcast_ref::<TwilioConnector>());
    /// ```
    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        None
    }
}

/// What [`Switchboard::connection`](crate::Switchboard::connection) accepts as a connector: a
/// connector by value (`sb.connection(StripeConnector::new())`), so a host never wraps it in
/// an `Arc` itself, or one already shared: an `Arc<C>` or the `Arc<dyn Connector>` an
/// integration's binding holds, taken as it is (no second allocation or indirection).
///
/// A conversion rather than `impl Connector for Arc<C>`: a forwarding impl would have to
/// repeat every method, and one added later with a default (as `as_any` was) would silently
/// answer the default for a shared connector.
pub trait IntoConnector {
    /// The connector, shared.
    fn into_connector(self) -> Arc<dyn Connector>;
}

impl<C: Connector + 'static> IntoConnector for C {
    fn into_connector(self) -> Arc<dyn Connector> {
        Arc::new(self)
    }
}

impl<C: Connector + 'static> IntoConnector for Arc<C> {
    fn into_connector(self) -> Arc<dyn Connector> {
        self
    }
}

impl IntoConnector for Arc<dyn Connector> {
    fn into_connector(self) -> Arc<dyn Connector> {
        self
    }
}

/// A failure found in a successful answer's body ([`Connector::failure_in_body`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyFailure {
    /// The HTTP status the failure stands for (429 for a rate limit, 403 for a refused key).
    pub status: StatusCode,
    /// The provider's word for it (`"OVER_QUERY_LIMIT"`), for the error message. Never a
    /// secret: it is logged.
    pub code: String,
}

impl BodyFailure {
    /// A failure standing for `status`, which the provider calls `code`.
    pub fn new(status: StatusCode, code: impl Into<String>) -> Self {
        BodyFailure {
            status,
            code: code.into(),
        }
    }
}

/// A connector's answer about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// The connector has no opinion; the core's default rules apply.
    NoOpinion,
    /// Retry, after at least `after` when given. The provider did not act on the request.
    Retry {
        /// The least delay the provider asked for.
        after: Option<Duration>,
    },
    /// Do not retry, whatever the default rules say.
    Never,
}

/// What one attempt produced, as shown to a classifier.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptOutcome<'a> {
    /// The provider answered.
    Response {
        /// The request's method.
        method: &'a Method,
        /// The response status.
        status: StatusCode,
        /// The response headers.
        headers: &'a HeaderMap,
        /// The buffered body (empty for a streamed success).
        body: &'a Bytes,
    },
    /// No response: the attempt failed in transport or timed out.
    Failure {
        /// The request's method.
        method: &'a Method,
        /// The failure.
        error: &'a Error,
    },
}

impl AttemptOutcome<'_> {
    /// The response status, if the provider answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AttemptOutcome::Response { status, .. } => Some(*status),
            AttemptOutcome::Failure { .. } => None,
        }
    }

    /// The response headers, if the provider answered.
    pub fn headers(&self) -> Option<&HeaderMap> {
        match self {
            AttemptOutcome::Response { headers, .. } => Some(headers),
            AttemptOutcome::Failure { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Plain;
    #[derive(Debug)]
    struct Typed(u8);

    impl Connector for Plain {
        fn name(&self) -> &str {
            "plain"
        }
    }

    impl Connector for Typed {
        fn name(&self) -> &str {
            "typed"
        }
        fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
            Some(self)
        }
    }

    #[test]
    fn into_connector_takes_a_value_an_arc_or_a_shared_dyn_without_rewrapping() {
        let shared: std::sync::Arc<dyn Connector> = std::sync::Arc::new(Typed(3));
        let same = shared.clone().into_connector();
        assert!(std::sync::Arc::ptr_eq(&shared, &same));
        let typed = std::sync::Arc::new(Typed(4));
        let from_arc = typed.clone().into_connector();
        assert_eq!(
            from_arc
                .as_any()
                .and_then(|a| a.downcast_ref::<Typed>())
                .map(|t| t.0),
            Some(4)
        );
        assert_eq!(std::sync::Arc::strong_count(&typed), 2);
        assert_eq!(Plain.into_connector().name(), "plain");
    }

    #[test]
    fn as_any_lets_a_client_recover_its_connector_and_defaults_to_none() {
        let typed: std::sync::Arc<dyn Connector> = std::sync::Arc::new(Typed(7));
        let back = typed.as_any().and_then(|a| a.downcast_ref::<Typed>());
        assert_eq!(back.map(|t| t.0), Some(7));
        assert!(typed
            .as_any()
            .and_then(|a| a.downcast_ref::<Plain>())
            .is_none());
        let plain: std::sync::Arc<dyn Connector> = std::sync::Arc::new(Plain);
        assert!(plain.as_any().is_none());
    }
}
