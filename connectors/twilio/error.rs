//! [`TwilioError`]: the error of every typed Twilio call. It keeps the core [`Error`] (its
//! kind, status, retry advice, answered through [`ProviderError`]) and adds the fields of Twilio's error body
//! (`{"code": 21211, "message": "...", "more_info": "...", "status": 400}`).

use std::fmt;

use serde::Deserialize;

use crate::{Error, ProviderError};

/// Twilio error 20429, "Too Many Requests": the request was not processed.
pub const CODE_TOO_MANY_REQUESTS: u32 = 20429;

/// The error of a typed Twilio call.
#[derive(Clone)]
pub struct TwilioError {
    core: Error,
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

/// Twilio's numeric `code` from an error body, if the body is Twilio's error JSON.
pub(crate) fn error_code(body: &[u8]) -> Option<u32> {
    let b: Body = serde_json::from_slice(body).ok()?;
    code_of(b.code?)
}

/// A code Twilio gives as a number or as a string of digits.
fn code_of(code: serde_json::Value) -> Option<u32> {
    match code {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl TwilioError {
    /// Twilio's error code (`21211` invalid `To`, `20429` too many requests, ...), when the
    /// response body carried one.
    pub fn code(&self) -> Option<u32> {
        self.code
    }

    /// Twilio's error message, when the response body carried one.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The documentation link Twilio gave (`https://www.twilio.com/docs/errors/21211`).
    pub fn more_info(&self) -> Option<&str> {
        self.more_info.as_deref()
    }
}

/// `kind`, `status`, `is_retryable`, `retry_after`, `may_have_been_sent` and
/// `idempotency_key` (always `None`: Twilio has no idempotency keys) come with the trait.
impl ProviderError for TwilioError {
    fn core(&self) -> &Error {
        &self.core
    }
}

impl From<Error> for TwilioError {
    fn from(core: Error) -> Self {
        // A body that does not parse leaves the fields `None`; it never changes the error.
        let parsed = core
            .body()
            .filter(|_| core.status().is_some())
            .and_then(|b| serde_json::from_slice::<Body>(b).ok());
        let (code, message, more_info) = match parsed {
            Some(b) => (b.code.and_then(code_of), b.message, b.more_info),
            None => (None, None, None),
        };
        TwilioError {
            core,
            code,
            message,
            more_info,
        }
    }
}

impl fmt::Display for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)?;
        match (self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, ": Twilio error {c}: {m}"),
            (Some(c), None) => write!(f, ": Twilio error {c}"),
            (None, Some(m)) => write!(f, ": {m}"),
            (None, None) => Ok(()),
        }
    }
}

impl fmt::Debug for TwilioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioError")
            .field("core", &self.core)
            .field("code", &self.code)
            .field("message", &self.message)
            .field("more_info", &self.more_info)
            .finish()
    }
}

impl std::error::Error for TwilioError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

impl From<crate::DecodeError> for TwilioError {
    fn from(e: crate::DecodeError) -> Self {
        TwilioError::from(Error::from(e))
    }
}

impl From<crate::ConfigError> for TwilioError {
    fn from(e: crate::ConfigError) -> Self {
        TwilioError::from(Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_codes_given_as_numbers_or_strings() {
        assert_eq!(
            error_code(br#"{"code": 20429, "message": "Too Many Requests"}"#),
            Some(20429)
        );
        assert_eq!(error_code(br#"{"code": "21211"}"#), Some(21211));
        assert_eq!(error_code(b"<html>"), None);
    }
}
