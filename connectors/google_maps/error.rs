//! [`GoogleMapsError`]: the error of every typed Google Maps call. It keeps the core [`Error`]
//! and adds the answer's `status` and `error_message` (which Google sends with HTTP 200).

use std::fmt;

use serde::Deserialize;

use super::MapsStatus;
use crate::{DecodeError, Error, ProviderError};

/// The fields of a failed answer we read.
#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    status: Option<MapsStatus>,
    #[serde(default)]
    error_message: Option<String>,
}

/// The error of a typed Google Maps call.
///
/// [`GoogleMapsError::maps_status`] is the answer's `status` (`REQUEST_DENIED`); the core error's
/// HTTP status ([`ProviderError::status`]) is the one that status stands for
/// ([`MapsStatus::http_equivalent`]: `OVER_QUERY_LIMIT` 429, `REQUEST_DENIED` and
/// `OVER_DAILY_LIMIT` 403, `NOT_FOUND` 404, `INVALID_REQUEST` 400, `UNKNOWN_ERROR` 500), so
/// [`ProviderError::kind`], [`ProviderError::is_retryable`] and the connection's lifecycle
/// treat it as they treat every provider's. Google's `error_message` is kept as sent.
#[derive(Clone)]
pub struct GoogleMapsError {
    core: Error,
    status: Option<MapsStatus>,
    error_message: Option<String>,
}

impl GoogleMapsError {
    /// Wraps a core error, reading Google's `status` and `error_message` from its body.
    pub fn from_core(core: Error) -> Self {
        let body = core
            .body()
            .and_then(|b| serde_json::from_slice::<Body>(b).ok())
            .unwrap_or_default();
        GoogleMapsError {
            core,
            status: body.status,
            error_message: body.error_message,
        }
    }

    /// The answer's `status`, when Google answered with one.
    pub fn maps_status(&self) -> Option<&MapsStatus> {
        self.status.as_ref()
    }

    /// Google's `error_message`, as sent.
    pub fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    /// Whether Google asked to slow down (`OVER_QUERY_LIMIT`, after the retries the call's
    /// deadline allowed), as opposed to a daily quota or a refused key.
    pub fn is_over_query_limit(&self) -> bool {
        self.status == Some(MapsStatus::OverQueryLimit)
    }
}

impl ProviderError for GoogleMapsError {
    fn core(&self) -> &Error {
        &self.core
    }
}

impl From<Error> for GoogleMapsError {
    fn from(e: Error) -> Self {
        GoogleMapsError::from_core(e)
    }
}

impl From<DecodeError> for GoogleMapsError {
    fn from(e: DecodeError) -> Self {
        GoogleMapsError::from_core(e.into())
    }
}

impl fmt::Display for GoogleMapsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)?;
        if let Some(m) = &self.error_message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GoogleMapsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleMapsError")
            .field("core", &self.core)
            .field("status", &self.status)
            .field("error_message", &self.error_message)
            .finish()
    }
}

impl std::error::Error for GoogleMapsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_error_without_a_google_body_has_no_status() {
        let e = GoogleMapsError::from(Error::new(ErrorKind::Timeout, "slow"));
        assert_eq!(e.maps_status(), None);
        assert_eq!(e.error_message(), None);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("slow"));
    }
}
