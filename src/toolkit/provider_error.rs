//! [`ProviderError`]: what every connector's error (`StripeError`, `TwilioError`, ...) answers,
//! written once instead of forwarded by hand in each connector.

use std::time::Duration;

use http::StatusCode;

use crate::{Error, ErrorKind};

/// A connector's error: it keeps the core [`Error`] of the call and adds what the provider
/// said. Implement [`ProviderError::core`]; the predicates come with the trait and answer
/// from the core error.
///
/// ```
/// use switchboard::{Error, ErrorKind, ProviderError};
///
/// #[derive(Debug)]
/// struct AcmeError {
///     core: Error,
///     code: Option<String>,
/// }
///
/// impl ProviderError for AcmeError {
///     fn core(&self) -> &Error {
///         &self.core
///     }
/// }
///
/// let err = AcmeError { core: Error::new(ErrorKind::Timeout, "slow"), code: None };
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// assert!(err.is_retryable());
/// assert_eq!(err.status(), None);
/// ```
pub trait ProviderError {
    /// The core error of the call (also the error's `source()` by convention).
    fn core(&self) -> &Error;

    /// The kind of failure ([`Error::kind`]).
    fn kind(&self) -> ErrorKind {
        self.core().kind()
    }

    /// The HTTP status, if the provider answered ([`Error::status`]).
    fn status(&self) -> Option<StatusCode> {
        self.core().status()
    }

    /// Whether trying again later may succeed without a duplicate side effect
    /// ([`Error::is_retryable`]).
    fn is_retryable(&self) -> bool {
        self.core().is_retryable()
    }

    /// How long to wait before trying again, when known ([`Error::retry_after`]).
    fn retry_after(&self) -> Option<Duration> {
        self.core().retry_after()
    }

    /// Whether the request may have reached the provider ([`Error::may_have_been_sent`]).
    fn may_have_been_sent(&self) -> bool {
        self.core().may_have_been_sent()
    }

    /// The idempotency key every attempt carried; retry an unknown outcome only with it
    /// ([`Error::idempotency_key`]).
    fn idempotency_key(&self) -> Option<&str> {
        self.core().idempotency_key()
    }
}

impl ProviderError for Error {
    fn core(&self) -> &Error {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Wrapped(Error);

    impl ProviderError for Wrapped {
        fn core(&self) -> &Error {
            &self.0
        }
    }

    #[test]
    fn predicates_answer_from_the_core_error() {
        let w = Wrapped(Error::new(ErrorKind::Config, "bad"));
        assert_eq!(w.kind(), ErrorKind::Config);
        assert!(!w.is_retryable());
        assert!(!w.may_have_been_sent());
        assert_eq!(w.retry_after(), None);
        assert_eq!(w.idempotency_key(), None);
        let w = Wrapped(Error::new(ErrorKind::Connect, "refused"));
        assert!(w.is_retryable());
    }

    #[test]
    fn is_object_safe() {
        fn _f(_: &dyn ProviderError) {}
    }
}
