//! The one error type every switchboard call returns, and the small per-layer errors it wraps.
//!
//! [`Error`] is opaque on purpose (like `reqwest::Error`): callers ask it questions through
//! predicates ([`Error::is_retryable`], [`Error::status`], [`Error::retry_after`],
//! [`Error::may_have_been_sent`]) instead of matching on variants that would break with every
//! release. It is cheap to clone, because coalesced cache misses hand one failure to many waiters.
//!
//! Nothing secret reaches an error: URLs are redacted before they are stored, and sources from
//! dependencies are kept only as `dyn Error` so that no dependency type leaks into the public API.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

/// The longest provider explanation [`Error::provider_message`] returns, in characters.
pub const PROVIDER_MESSAGE_MAX_CHARS: usize = 300;

/// A boxed error source, as kept inside [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of failure an [`Error`] is. New kinds may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A builder or request setting is invalid; see [`ConfigError`].
    Config,
    /// Credentials were missing or rejected before the request left the process.
    Auth,
    /// A rate limit (ours or the provider's) asks the caller to come back later.
    RateLimited,
    /// The circuit breaker for this connection and host is open; nothing was sent.
    CircuitOpen,
    /// One attempt took longer than its per-attempt timeout.
    Timeout,
    /// The whole call ran past its overall deadline.
    Deadline,
    /// The connection could not be established; nothing was sent.
    Connect,
    /// The connection failed while the request or response was in flight.
    Transport,
    /// A non-idempotent request may have reached the provider but its result is unknown.
    /// Retry it only with the same idempotency key ([`Error::idempotency_key`]).
    OutcomeUnknown,
    /// The provider answered with a non-success HTTP status.
    Status,
    /// The response body was larger than the configured cap.
    BodyTooLarge,
    /// The response body could not be decoded (not JSON, truncated, wrong shape).
    Decode,
    /// A credential, connection or other store failed.
    Store,
    /// A compare-and-swap write lost: the record changed since it was read. Re-read and retry.
    Conflict,
    /// A sealed credential could not be sealed or opened (tampered, wrong tenant, retired key).
    Vault,
    /// A connection's state does not allow what was asked (an illegal lifecycle transition).
    State,
    /// A config or template failed validation; see the listed JSON pointers.
    Validation,
    /// The record asked for does not exist (a connection, a credential, a webhook token).
    NotFound,
}

impl ErrorKind {
    /// A short, stable, lower-case name, used as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::CircuitOpen => "circuit_open",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Deadline => "deadline",
            ErrorKind::Connect => "connect",
            ErrorKind::Transport => "transport",
            ErrorKind::OutcomeUnknown => "outcome_unknown",
            ErrorKind::Status => "status",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::Decode => "decode",
            ErrorKind::Store => "store",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Vault => "vault",
            ErrorKind::State => "state",
            ErrorKind::Validation => "validation",
            ErrorKind::NotFound => "not_found",
        }
    }
}

/// The error returned by every switchboard call.
///
/// Cheap to clone. Its `Display` and `Debug` never contain a secret: URLs are redacted before
/// they are stored and bodies are never included.
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    connector: Option<Arc<str>>,
    url: Option<String>,
    status: Option<StatusCode>,
    retry_after: Option<Duration>,
    idempotency_key: Option<String>,
    attempts: u32,
    may_have_been_sent: bool,
    idempotent: bool,
    body: Option<bytes::Bytes>,
    headers: Option<http::HeaderMap>,
    source: Option<BoxError>,
}

impl Error {
    /// Starts an error of `kind` with a human-readable `message` (which must hold no secret).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::from_parts(ErrorParts::new(kind, message))
    }

    /// An invalid setting (`ErrorKind::Config`), naming the setting and never its value;
    /// the [`ConfigError`] is the source.
    pub fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Error::from(ConfigError::new(setting, reason))
    }

    /// A body that could not be decoded (`ErrorKind::Decode`), naming the place it failed (a
    /// JSON pointer) and never the content; the [`DecodeError`] is the source.
    pub fn decode(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::from(DecodeError::new(pointer, reason))
    }

    /// Credentials missing or refused before the request left (`ErrorKind::Auth`).
    pub fn auth(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Auth, message)
    }

    /// A store failed (`ErrorKind::Store`); add the backend's error with [`Error::with_source`].
    pub fn store(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Store, message)
    }

    /// A compare-and-swap write lost (`ErrorKind::Conflict`): re-read and retry.
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Conflict, message)
    }

    /// The record asked for does not exist (`ErrorKind::NotFound`).
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    /// A rate limit asks the caller to come back later (`ErrorKind::RateLimited`); nothing
    /// was sent.
    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        let mut p = ErrorParts::new(ErrorKind::RateLimited, message);
        p.retry_after = retry_after;
        p.build()
    }

    /// This error with `source` as its [`std::error::Error::source`] (replacing any).
    #[must_use]
    pub fn with_source(self, source: impl Into<BoxError>) -> Self {
        self.into_parts().source(source).build()
    }

    /// A sealed record could not be sealed or opened (`ErrorKind::Vault`).
    pub(crate) fn vault(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Vault, message)
    }

    /// An illegal lifecycle transition (`ErrorKind::State`).
    pub(crate) fn state(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::State, message)
    }

    /// A config or template failed validation (`ErrorKind::Validation`).
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Validation, message)
    }

    /// The connection could not be established (`ErrorKind::Connect`): nothing was sent.
    pub(crate) fn connect(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Connect, message)
    }

    /// The connection failed in flight (`ErrorKind::Transport`); `may_have_been_sent` says
    /// whether any of the request may have reached the provider.
    pub(crate) fn transport(message: impl Into<String>, may_have_been_sent: bool) -> Self {
        let mut p = ErrorParts::new(ErrorKind::Transport, message);
        p.may_have_been_sent = may_have_been_sent;
        p.build()
    }

    /// One attempt ran past its timeout (`ErrorKind::Timeout`). The request may have been
    /// written before the timer fired.
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        let mut p = ErrorParts::new(ErrorKind::Timeout, message);
        p.may_have_been_sent = true;
        p.build()
    }

    /// The call's overall deadline passed (`ErrorKind::Deadline`).
    pub(crate) fn deadline(message: impl Into<String>, may_have_been_sent: bool) -> Self {
        let mut p = ErrorParts::new(ErrorKind::Deadline, message);
        p.may_have_been_sent = may_have_been_sent;
        p.build()
    }

    /// The breaker for `host` is open (`ErrorKind::CircuitOpen`); nothing was sent.
    pub(crate) fn circuit_open(host: &str, retry_after: Duration) -> Self {
        let mut p = ErrorParts::new(
            ErrorKind::CircuitOpen,
            format!("circuit open for host {host}; failing fast"),
        );
        p.retry_after = Some(retry_after);
        p.build()
    }

    /// The response body passed the cap of `cap` bytes (`ErrorKind::BodyTooLarge`): the
    /// provider has answered, so the request was sent.
    pub(crate) fn body_too_large(cap: usize) -> Self {
        let mut p = ErrorParts::new(
            ErrorKind::BodyTooLarge,
            format!("response body is larger than the cap of {cap} bytes"),
        );
        p.may_have_been_sent = true;
        p.build()
    }

    /// The provider answered with a failure `status` (`ErrorKind::Status`, or
    /// `ErrorKind::RateLimited` for a 429), keeping the body and headers for connectors
    /// (Stripe's `Request-Id`).
    pub(crate) fn from_response(
        status: StatusCode,
        retry_after: Option<Duration>,
        body: bytes::Bytes,
        headers: http::HeaderMap,
    ) -> Self {
        let mut p = ErrorParts::new(
            if status == StatusCode::TOO_MANY_REQUESTS {
                ErrorKind::RateLimited
            } else {
                ErrorKind::Status
            },
            format!("provider answered {}", status.as_u16()),
        );
        p.status = Some(status);
        p.retry_after = retry_after;
        p.body = Some(body);
        p.headers = Some(headers);
        p.may_have_been_sent = true;
        p.build()
    }

    /// A request with side effects may have reached the provider without an answer
    /// (`ErrorKind::OutcomeUnknown`): retry it only with the same idempotency key.
    pub(crate) fn outcome_unknown(message: impl Into<String>, status: Option<StatusCode>) -> Self {
        let mut p = ErrorParts::new(ErrorKind::OutcomeUnknown, message);
        p.status = status;
        p.may_have_been_sent = true;
        p.build()
    }

    /// The same error naming the connector it happened in (kept when one is already named).
    pub(crate) fn with_connector(self, connector: Arc<str>) -> Self {
        let mut p = self.into_parts();
        if p.connector.is_none() {
            p.connector = Some(connector);
        }
        p.build()
    }

    pub(crate) fn from_parts(p: ErrorParts) -> Self {
        Error {
            inner: Arc::new(Inner {
                kind: p.kind,
                message: p.message,
                connector: p.connector,
                url: p.url,
                status: p.status,
                retry_after: p.retry_after,
                idempotency_key: p.idempotency_key,
                attempts: p.attempts,
                may_have_been_sent: p.may_have_been_sent,
                idempotent: p.idempotent,
                body: p.body,
                headers: p.headers,
                source: p.source,
            }),
        }
    }

    /// Turns this error back into parts so a layer can add context (attempts, key, connector).
    pub(crate) fn into_parts(self) -> ErrorParts {
        match Arc::try_unwrap(self.inner) {
            Ok(i) => ErrorParts {
                kind: i.kind,
                message: i.message,
                connector: i.connector,
                url: i.url,
                status: i.status,
                retry_after: i.retry_after,
                idempotency_key: i.idempotency_key,
                attempts: i.attempts,
                may_have_been_sent: i.may_have_been_sent,
                idempotent: i.idempotent,
                body: i.body,
                headers: i.headers,
                source: i.source,
            },
            // Shared (a coalesced cache miss): copy the fields, keep the source as a string chain.
            Err(shared) => ErrorParts {
                kind: shared.kind,
                message: shared.message.clone(),
                connector: shared.connector.clone(),
                url: shared.url.clone(),
                status: shared.status,
                retry_after: shared.retry_after,
                idempotency_key: shared.idempotency_key.clone(),
                attempts: shared.attempts,
                may_have_been_sent: shared.may_have_been_sent,
                idempotent: shared.idempotent,
                body: shared.body.clone(),
                headers: shared.headers.clone(),
                source: shared
                    .source
                    .as_ref()
                    .map(|s| Box::new(SharedSource(s.to_string())) as BoxError),
            },
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status the provider answered with, if it answered.
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// How long the caller should wait before trying again, when the provider or a local limit
    /// said so (a `Retry-After` beyond the configured cap ends up here instead of being slept).
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether the request may have reached the provider. `false` means it certainly did not
    /// (connection refused, breaker open, local rate limit, invalid settings).
    pub fn may_have_been_sent(&self) -> bool {
        self.inner.may_have_been_sent
    }

    /// The idempotency key the call carried on every attempt, if it had one. Retry an
    /// [`ErrorKind::OutcomeUnknown`] only with this key.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.inner.idempotency_key.as_deref()
    }

    /// How many attempts were made (0 if the call never reached the transport).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// The raw body of the provider's error response, for connectors that parse their
    /// provider's error format. It may hold personal data, so it is never printed.
    pub fn body(&self) -> Option<&bytes::Bytes> {
        self.inner.body.as_ref()
    }

    /// The provider's own explanation of this error, read from its JSON error body: Stripe's
    /// `error.message`, else a top-level `message` (Twilio and many others), else
    /// `error_description` (OAuth), `detail` (RFC 9457 problem details), `errors[0].message`,
    /// or a string `error`. Control characters become spaces and the text is cut to
    /// [`PROVIDER_MESSAGE_MAX_CHARS`] characters.
    ///
    /// `None` when the error has no body, the body is not JSON, or none of those fields is a
    /// non-empty string. A provider may echo request data, even a credential, in its message:
    /// remove the connection's secrets before storing or showing it (the connection lifecycle
    /// does, for `last_error`).
    pub fn provider_message(&self) -> Option<String> {
        let body = self.inner.body.as_ref()?;
        // Bodies are capped by the pipeline; this bound keeps a huge one from being parsed here.
        if body.len() > 64 * 1024 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let text = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str);
        let raw = [
            "/error/message",
            "/message",
            "/error_description",
            "/detail",
            "/errors/0/message",
            "/error",
        ]
        .iter()
        .filter_map(|p| text(p))
        .find(|m| !m.trim().is_empty())?;
        // Single spaces between words (control characters count as spaces), then bounded.
        let joined = raw
            .split(|c: char| c.is_whitespace() || c.is_control())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let mut bounded: String = joined.chars().take(PROVIDER_MESSAGE_MAX_CHARS).collect();
        if joined.chars().count() > PROVIDER_MESSAGE_MAX_CHARS {
            bounded.push('…');
        }
        Some(bounded)
    }

    /// This error's `Display` text followed by the provider's explanation
    /// ([`Error::provider_message`]) when there is one, e.g.
    /// `stripe: provider answered 401 (HTTP 401) [https://api.stripe.com/v1/balance]: Invalid
    /// API Key provided`. Unlike `Display` it may hold what the provider echoed: scrub secrets
    /// before storing it (the connection lifecycle records it, scrubbed, as `last_error`).
    pub fn describe(&self) -> String {
        match self.provider_message() {
            Some(m) => format!("{self}: {m}"),
            None => self.to_string(),
        }
    }

    /// The headers of the provider's error response, for connectors that read their provider's
    /// request id (`Request-Id`) or error hints from them. Like [`Error::body`], never printed.
    pub fn headers(&self) -> Option<&http::HeaderMap> {
        self.inner.headers.as_ref()
    }

    /// The connector that made the call, if known.
    pub fn connector(&self) -> Option<&str> {
        self.inner.connector.as_deref()
    }

    /// The request URL with secrets removed, if known.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// Whether trying the same call again later may succeed without creating a duplicate side
    /// effect. A non-idempotent request that may have been sent without an idempotency key is
    /// never retryable.
    pub fn is_retryable(&self) -> bool {
        let transient = match self.inner.kind {
            ErrorKind::RateLimited
            | ErrorKind::CircuitOpen
            | ErrorKind::Timeout
            | ErrorKind::Deadline
            | ErrorKind::Connect
            | ErrorKind::Transport
            | ErrorKind::OutcomeUnknown => true,
            ErrorKind::Status => self.inner.status.is_some_and(|s| {
                s.is_server_error()
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s == StatusCode::REQUEST_TIMEOUT
            }),
            _ => false,
        };
        let safe = !self.inner.may_have_been_sent
            || self.inner.idempotent
            || self.inner.idempotency_key.is_some();
        transient && safe
    }

    /// Whether an attempt or the whole call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout | ErrorKind::Deadline)
    }

    /// Whether a rate limit (local or the provider's) stopped the call.
    pub fn is_rate_limited(&self) -> bool {
        self.inner.kind == ErrorKind::RateLimited
    }

    /// Whether the circuit breaker refused the call.
    pub fn is_circuit_open(&self) -> bool {
        self.inner.kind == ErrorKind::CircuitOpen
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(c) = &i.connector {
            write!(f, "{c}: ")?;
        }
        f.write_str(&i.message)?;
        if let Some(s) = i.status {
            write!(f, " (HTTP {})", s.as_u16())?;
        }
        if let Some(u) = &i.url {
            write!(f, " [{u}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("message", &i.message);
        if let Some(c) = &i.connector {
            d.field("connector", c);
        }
        if let Some(u) = &i.url {
            d.field("url", u);
        }
        if let Some(s) = i.status {
            d.field("status", &s.as_u16());
        }
        if let Some(r) = i.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(k) = &i.idempotency_key {
            d.field("idempotency_key", k);
        }
        d.field("attempts", &i.attempts)
            .field("may_have_been_sent", &i.may_have_been_sent);
        if let Some(s) = &i.source {
            d.field("source", &format_args!("{s}"));
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn StdError + 'static))
    }
}

/// A source that was shared between several waiters and could only be kept as text.
#[derive(Debug)]
struct SharedSource(String);

impl fmt::Display for SharedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for SharedSource {}

/// The mutable form of an [`Error`], used by layers to add what they know.
#[derive(Debug)]
pub(crate) struct ErrorParts {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) connector: Option<Arc<str>>,
    pub(crate) url: Option<String>,
    pub(crate) status: Option<StatusCode>,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) attempts: u32,
    pub(crate) may_have_been_sent: bool,
    pub(crate) idempotent: bool,
    pub(crate) body: Option<bytes::Bytes>,
    pub(crate) headers: Option<http::HeaderMap>,
    pub(crate) source: Option<BoxError>,
}

impl ErrorParts {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ErrorParts {
            kind,
            message: message.into(),
            connector: None,
            url: None,
            status: None,
            retry_after: None,
            idempotency_key: None,
            attempts: 0,
            may_have_been_sent: false,
            idempotent: false,
            body: None,
            headers: None,
            source: None,
        }
    }

    pub(crate) fn source(mut self, s: impl Into<BoxError>) -> Self {
        self.source = Some(s.into());
        self
    }

    pub(crate) fn build(self) -> Error {
        Error::from_parts(self)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        ErrorParts::new(ErrorKind::Config, e.to_string())
            .source(e)
            .build()
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        ErrorParts::new(ErrorKind::Decode, e.to_string())
            .source(e)
            .build()
    }
}

/// An invalid setting, reported by a builder's `build()` or a request builder's `send()`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The setting at fault, as named by its builder method (e.g. `retry.max_attempts`).
    pub setting: &'static str,
    /// Why it is invalid.
    pub reason: String,
}

impl ConfigError {
    /// A setting that is invalid for `reason`.
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError {
            setting,
            reason: reason.into(),
        }
    }
}

/// A response body that could not be decoded into the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode response body at `{pointer}`: {reason}")]
#[non_exhaustive]
pub struct DecodeError {
    /// A JSON pointer to the value at fault (`""` for the whole document).
    pub pointer: String,
    /// What was wrong there (never the value itself).
    pub reason: String,
}

impl DecodeError {
    /// A decode failure at `pointer`.
    pub fn new(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError {
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unkeyed_post_that_may_have_been_sent_is_not_retryable() {
        let mut p = ErrorParts::new(ErrorKind::OutcomeUnknown, "reset after write");
        p.may_have_been_sent = true;
        assert!(!p.build().is_retryable());

        let mut p = ErrorParts::new(ErrorKind::OutcomeUnknown, "reset after write");
        p.may_have_been_sent = true;
        p.idempotency_key = Some("k".into());
        assert!(p.build().is_retryable());
    }

    #[test]
    fn status_errors_are_retryable_only_for_transient_codes() {
        let mk = |s: u16| {
            let mut p = ErrorParts::new(ErrorKind::Status, "x");
            p.status = StatusCode::from_u16(s).ok();
            p.idempotent = true;
            p.may_have_been_sent = true;
            p.build()
        };
        assert!(mk(503).is_retryable());
        assert!(mk(429).is_retryable());
        assert!(!mk(400).is_retryable());
        assert!(!mk(404).is_retryable());
    }

    #[test]
    fn provider_message_reads_the_common_shapes_and_is_bounded() {
        let with = |body: &str| {
            let mut p = ErrorParts::new(ErrorKind::Status, "provider answered 401");
            p.status = Some(StatusCode::UNAUTHORIZED);
            p.body = Some(bytes::Bytes::from(body.to_string()));
            p.build()
        };
        let stripe = with(
            r#"{"error":{"message":"Invalid API Key provided: sk_test_****1234","type":"invalid_request_error"}}"#,
        );
        assert_eq!(
            stripe.provider_message().as_deref(),
            Some("Invalid API Key provided: sk_test_****1234")
        );
        assert!(stripe
            .describe()
            .ends_with(": Invalid API Key provided: sk_test_****1234"));
        assert!(
            !stripe.to_string().contains("Invalid API Key"),
            "Display is unchanged"
        );
        let twilio = with(
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
        );
        assert_eq!(twilio.provider_message().as_deref(), Some("Authenticate"));
        let oauth =
            with(r#"{"error":"invalid_grant","error_description":"Token has been\nrevoked."}"#);
        assert_eq!(
            oauth.provider_message().as_deref(),
            Some("Token has been revoked.")
        );
        assert_eq!(
            with(r#"{"error":"unauthorized"}"#)
                .provider_message()
                .as_deref(),
            Some("unauthorized")
        );
        assert_eq!(with("<html>nope</html>").provider_message(), None);
        assert_eq!(with(r#"{"message":"  "}"#).provider_message(), None);
        let long = with(&format!(r#"{{"message":"{}"}}"#, "x".repeat(1000)));
        let m = long.provider_message().unwrap();
        assert_eq!(m.chars().count(), PROVIDER_MESSAGE_MAX_CHARS + 1);
        assert_eq!(Error::new(ErrorKind::Timeout, "slow").describe(), "slow");
    }

    #[test]
    fn shared_error_keeps_fields_when_split() {
        let e = Error::new(ErrorKind::Timeout, "slow");
        let e2 = e.clone();
        let parts = e2.into_parts();
        assert_eq!(parts.kind, ErrorKind::Timeout);
        assert_eq!(parts.message, "slow");
        drop(e);
    }
}
