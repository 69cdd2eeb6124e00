//! [`DocuSignError`]: the error of every typed DocuSign call. It keeps the core [`Error`] and
//! adds DocuSign's `errorCode` and `message` (and the OAuth `error` of the authentication
//! host), and says when a 400 is one of DocuSign's polling or per-envelope limits.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::{DecodeError, Error, ErrorKind, ProviderError};

/// The fields of DocuSign's error bodies we parse: the eSignature API's
/// `{"errorCode", "message"}` and the authentication host's `{"error", "error_description"}`.
#[derive(Debug, Deserialize, Default)]
struct Body {
    #[serde(rename = "errorCode", default)]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// The error of a typed DocuSign call.
///
/// Answers the core error's questions through [`ProviderError`]; exposes DocuSign's
/// [`DocuSignError::error_code`] and [`DocuSignError::message`]. A 400 whose `errorCode` is a
/// polling or per-envelope limit (`*_POLLING_LIMIT_EXCEEDED`,
/// `*_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED`, compared without case) is a rate limit:
/// [`ProviderError::kind`] answers [`ErrorKind::RateLimited`] and
/// [`DocuSignError::is_rate_limited`] `true`, never a validation error.
/// `USER_AUTHENTICATION_FAILED` and `consent_required` are
/// [`DocuSignError::needs_consent`].
#[derive(Clone)]
pub struct DocuSignError {
    core: Error,
    d: Box<Details>,
}

#[derive(Clone, Default)]
struct Details {
    error_code: Option<String>,
    message: Option<String>,
}

/// Whether `code` is one of DocuSign's polling or per-envelope call limits.
pub(crate) fn is_limit_code(code: &str) -> bool {
    let upper = code.to_ascii_uppercase();
    upper.ends_with("_POLLING_LIMIT_EXCEEDED")
        || upper.ends_with("_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED")
        || upper == "HOURLY_APIINVOCATION_LIMIT_EXCEEDED"
        || upper == "BURST_APIINVOCATION_LIMIT_EXCEEDED"
}

/// Whether a failure with DocuSign code `code` (or OAuth `error`) and core message `message`
/// says the user's consent is missing or their authentication failed: `consent_required` (the
/// token endpoint, which may only show in the message) or `USER_AUTHENTICATION_FAILED`.
pub(crate) fn is_consent_failure(code: Option<&str>, message: &str) -> bool {
    code.is_some_and(|c| {
        c.eq_ignore_ascii_case("consent_required")
            || c.eq_ignore_ascii_case("USER_AUTHENTICATION_FAILED")
    }) || message.contains("consent_required")
}

/// The `errorCode` (or OAuth `error`) of a DocuSign error body, if it has one.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let b = serde_json::from_slice::<Body>(body).ok()?;
    b.error_code.or(b.error)
}

impl DocuSignError {
    /// Wraps a core error, parsing DocuSign's error body when present.
    pub fn from_core(core: Error) -> Self {
        let body = core
            .body()
            .and_then(|b| serde_json::from_slice::<Body>(b).ok())
            .unwrap_or_default();
        DocuSignError {
            d: Box::new(Details {
                error_code: body.error_code.or(body.error),
                message: body.message.or(body.error_description),
            }),
            core,
        }
    }

    /// DocuSign's `errorCode` (`"ENVELOPE_DOES_NOT_EXIST"`), or the authentication host's
    /// OAuth `error` (`"consent_required"`).
    pub fn error_code(&self) -> Option<&str> {
        self.d.error_code.as_deref()
    }

    /// DocuSign's message.
    pub fn message(&self) -> Option<&str> {
        self.d.message.as_deref()
    }

    /// Whether this is one of DocuSign's call limits: a 429, or a 400 with a polling or
    /// per-envelope limit `errorCode`.
    pub fn is_rate_limited(&self) -> bool {
        self.core.kind() == ErrorKind::RateLimited
            || self.core.status() == Some(http::StatusCode::TOO_MANY_REQUESTS)
            || self.d.error_code.as_deref().is_some_and(is_limit_code)
    }

    /// Whether the user must (again) grant the app consent: `consent_required`, or
    /// `USER_AUTHENTICATION_FAILED`. The connection's error message then carries the consent
    /// URL ([`super::consent_url`]).
    pub fn needs_consent(&self) -> bool {
        is_consent_failure(self.d.error_code.as_deref(), &self.core.to_string())
    }
}

impl ProviderError for DocuSignError {
    fn core(&self) -> &Error {
        &self.core
    }

    fn kind(&self) -> ErrorKind {
        if self.is_rate_limited() {
            ErrorKind::RateLimited
        } else {
            self.core.kind()
        }
    }

    /// The core's delay, or for a limit `errorCode` the time until DocuSign's hourly window
    /// resets (`X-RateLimit-*`, read as the connector's rate hint reads it), when it said.
    fn retry_after(&self) -> Option<Duration> {
        self.core.retry_after().or_else(|| {
            if !self.is_rate_limited() {
                return None;
            }
            super::connector::hourly_window(self.core.headers()?).map(|w| w.resets_in())
        })
    }
}

impl From<Error> for DocuSignError {
    fn from(e: Error) -> Self {
        DocuSignError::from_core(e)
    }
}

impl From<DecodeError> for DocuSignError {
    fn from(e: DecodeError) -> Self {
        DocuSignError::from_core(e.into())
    }
}

impl fmt::Display for DocuSignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)?;
        if let Some(c) = &self.d.error_code {
            write!(f, " ({c})")?;
        }
        if let Some(m) = &self.d.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DocuSignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignError")
            .field("core", &self.core)
            .field("error_code", &self.d.error_code)
            .field("message", &self.d.message)
            .finish()
    }
}

impl std::error::Error for DocuSignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_codes_match_without_case() {
        assert!(is_limit_code("ENVELOPE_STATUS_POLLING_LIMIT_EXCEEDED"));
        assert!(is_limit_code("envelope_status_polling_limit_exceeded"));
        assert!(is_limit_code(
            "MAX_DOCUMENT_APIINVOCATION_ENVELOPE_LIMIT_EXCEEDED"
        ));
        assert!(is_limit_code("hourly_apiinvocation_limit_exceeded"));
        assert!(!is_limit_code("INVALID_REQUEST_BODY"));
        assert!(!is_limit_code("POLLING_LIMIT"));
    }

    #[test]
    fn a_body_that_is_not_docusigns_leaves_the_fields_empty() {
        assert_eq!(error_code(b"<html>"), None);
        assert_eq!(
            error_code(br#"{"errorCode":"ENVELOPE_DOES_NOT_EXIST","message":"x"}"#).as_deref(),
            Some("ENVELOPE_DOES_NOT_EXIST")
        );
        assert_eq!(
            error_code(br#"{"error":"consent_required"}"#).as_deref(),
            Some("consent_required")
        );
    }
}
