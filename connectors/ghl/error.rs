//! [`GhlError`]: the error of every typed GoHighLevel call. It keeps the core [`Error`] and
//! adds the fields of GoHighLevel's error body (`{"statusCode", "message", "error"}`, where
//! `message` is a string or, for validation failures, a list of strings).

use std::fmt;

use serde::Deserialize;

use crate::{DecodeError, Error, ProviderError};

/// `message` as GoHighLevel sends it: one string, or one per failed field (422).
#[derive(Deserialize)]
#[serde(untagged)]
enum Message {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    error: Option<String>,
}

/// The error of a typed GoHighLevel call.
///
/// [`GhlError::messages`] holds GoHighLevel's `message` (one entry, or one per field a 422
/// rejected) and [`GhlError::error_name`] its `error` (`"Unprocessable Entity"`); kind, status,
/// retry-after and the rest come from the core error ([`ProviderError`]).
#[derive(Clone)]
pub struct GhlError {
    core: Error,
    messages: Vec<String>,
    error: Option<String>,
}

impl GhlError {
    /// Wraps a core error, reading GoHighLevel's error body from it when there is one.
    pub fn from_core(core: Error) -> Self {
        let body = core
            .body()
            .and_then(|b| serde_json::from_slice::<Body>(b).ok())
            .unwrap_or_default();
        let messages = match body.message {
            Some(Message::One(m)) => vec![m],
            Some(Message::Many(m)) => m,
            None => Vec::new(),
        };
        GhlError {
            core,
            messages,
            error: body.error,
        }
    }

    /// GoHighLevel's `message`: one entry, or one per field a validation failure names.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// GoHighLevel's `error` (`"Unauthorized"`, `"Unprocessable Entity"`).
    pub fn error_name(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

impl ProviderError for GhlError {
    fn core(&self) -> &Error {
        &self.core
    }
}

impl From<Error> for GhlError {
    fn from(e: Error) -> Self {
        GhlError::from_core(e)
    }
}

impl From<DecodeError> for GhlError {
    fn from(e: DecodeError) -> Self {
        GhlError::from_core(e.into())
    }
}

impl From<GhlError> for Error {
    fn from(e: GhlError) -> Self {
        e.core
    }
}

impl fmt::Display for GhlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)?;
        if !self.messages.is_empty() {
            write!(f, ": {}", self.messages.join("; "))?;
        }
        Ok(())
    }
}

impl fmt::Debug for GhlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlError")
            .field("core", &self.core)
            .field("messages", &self.messages)
            .field("error", &self.error)
            .finish()
    }
}

impl std::error::Error for GhlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn a_body_that_is_not_ghls_leaves_the_fields_empty() {
        let e = GhlError::from(Error::new(ErrorKind::Timeout, "slow"));
        assert!(e.messages().is_empty());
        assert_eq!(e.error_name(), None);
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
