//! [`StripeError`]: the error of every typed Stripe call. It keeps the core [`Error`] and adds
//! the fields of Stripe's error body (`{"error": {"type", "code", "decline_code", "param",
//! "message"}}`) and the `Request-Id` response header.

use std::fmt;

use serde::Deserialize;

use crate::{DecodeError, Error, ProviderError};

/// Stripe's `error.type`. New types may appear; they are kept in [`StripeErrorType::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StripeErrorType {
    /// `api_error`: a problem on Stripe's side.
    ApiError,
    /// `card_error`: the card cannot be charged; see the decline code.
    CardError,
    /// `idempotency_error`: a key was reused with different parameters.
    IdempotencyError,
    /// `invalid_request_error`: the request has invalid parameters.
    InvalidRequestError,
    /// A type this version does not know, as sent.
    Other(String),
}

impl StripeErrorType {
    fn parse(s: &str) -> Self {
        match s {
            "api_error" => Self::ApiError,
            "card_error" => Self::CardError,
            "idempotency_error" => Self::IdempotencyError,
            "invalid_request_error" => Self::InvalidRequestError,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire name (`"card_error"`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::ApiError => "api_error",
            Self::CardError => "card_error",
            Self::IdempotencyError => "idempotency_error",
            Self::InvalidRequestError => "invalid_request_error",
            Self::Other(s) => s,
        }
    }
}

/// The fields of Stripe's error body we parse; every one is optional on the wire.
#[derive(Debug, Deserialize, Default)]
struct Body {
    #[serde(default)]
    error: Option<ApiError>,
}

#[derive(Debug, Deserialize, Default)]
struct ApiError {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    doc_url: Option<String>,
}

/// The error of a typed Stripe call.
///
/// Answers the core error's questions through [`ProviderError`] (`kind()`, `status()`,
/// `is_retryable()`, `retry_after()`, `may_have_been_sent()`, `idempotency_key()`; the core
/// error itself is `core()` and `source()`), and exposes what Stripe said: [`StripeError::error_type`], [`StripeError::code`],
/// [`StripeError::decline_code`], [`StripeError::param`], [`StripeError::message`] and
/// [`StripeError::request_id`]. A body that is not Stripe's error format leaves those `None`.
/// Nothing here ever holds an API key: Stripe masks keys in its messages, and we redact any
/// `sk_`/`rk_`/`whsec_` token a message might still carry.
#[derive(Clone)]
pub struct StripeError {
    core: Error,
    // Boxed so `Result<T, StripeError>` stays small (two words).
    d: Box<Details>,
}

#[derive(Clone)]
struct Details {
    error_type: Option<StripeErrorType>,
    code: Option<String>,
    decline_code: Option<String>,
    param: Option<String>,
    message: Option<String>,
    doc_url: Option<String>,
    request_id: Option<String>,
}

impl StripeError {
    /// Wraps a core error, parsing Stripe's error body and `Request-Id` when present.
    pub fn from_core(core: Error) -> Self {
        let api = core
            .body()
            .and_then(|b| serde_json::from_slice::<Body>(b).ok())
            .and_then(|b| b.error)
            .unwrap_or_default();
        let request_id = core
            .headers()
            .and_then(|h| h.get("request-id"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        StripeError {
            d: Box::new(Details {
                error_type: api.kind.as_deref().map(StripeErrorType::parse),
                code: api.code,
                decline_code: api.decline_code,
                param: api.param,
                message: api.message.map(|m| redact_keys(&m)),
                doc_url: api.doc_url,
                request_id,
            }),
            core,
        }
    }

    /// Stripe's `error.type`.
    pub fn error_type(&self) -> Option<&StripeErrorType> {
        self.d.error_type.as_ref()
    }

    /// Stripe's `error.code` (`"resource_missing"`, `"lock_timeout"`, ...).
    pub fn code(&self) -> Option<&str> {
        self.d.code.as_deref()
    }

    /// Stripe's `error.decline_code` for card errors (`"insufficient_funds"`).
    pub fn decline_code(&self) -> Option<&str> {
        self.d.decline_code.as_deref()
    }

    /// The parameter at fault (`error.param`).
    pub fn param(&self) -> Option<&str> {
        self.d.param.as_deref()
    }

    /// Stripe's human-readable message, with any key-like token redacted.
    pub fn message(&self) -> Option<&str> {
        self.d.message.as_deref()
    }

    /// A link to Stripe's documentation of the error code.
    pub fn doc_url(&self) -> Option<&str> {
        self.d.doc_url.as_deref()
    }

    /// The `Request-Id` Stripe answered with (quote it to Stripe support).
    pub fn request_id(&self) -> Option<&str> {
        self.d.request_id.as_deref()
    }
}

impl ProviderError for StripeError {
    fn core(&self) -> &Error {
        &self.core
    }
}

impl From<Error> for StripeError {
    fn from(e: Error) -> Self {
        StripeError::from_core(e)
    }
}

impl From<DecodeError> for StripeError {
    fn from(e: DecodeError) -> Self {
        StripeError::from_core(e.into())
    }
}

impl fmt::Display for StripeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.core, f)?;
        if let Some(t) = &self.d.error_type {
            write!(f, ": {}", t.as_str())?;
        }
        if let Some(c) = &self.d.code {
            write!(f, " ({c})")?;
        }
        if let Some(m) = &self.d.message {
            write!(f, ": {m}")?;
        }
        if let Some(r) = &self.d.request_id {
            write!(f, " [request {r}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for StripeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeError")
            .field("core", &self.core)
            .field("error_type", &self.d.error_type)
            .field("code", &self.d.code)
            .field("decline_code", &self.d.decline_code)
            .field("param", &self.d.param)
            .field("message", &self.d.message)
            .field("request_id", &self.d.request_id)
            .finish()
    }
}

impl std::error::Error for StripeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.core)
    }
}

/// `error.code` of a Stripe error body, for the retry classifier. Borrowing, no panic.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Env {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        code: Option<String>,
    }
    serde_json::from_slice::<Env>(body).ok()?.error.code
}

/// Replaces tokens that look like Stripe secrets (`sk_...`, `rk_...`, `whsec_...`) by
/// `[redacted]`. Stripe masks keys itself (`sk_test_****1234`); this guards against a proxy or
/// a future message that does not.
fn redact_keys(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(pos) = ["sk_", "rk_", "whsec_"]
        .iter()
        .filter_map(|p| rest.find(p))
        .min()
    {
        let starts_word = pos == 0
            || !rest[..pos]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let end = rest[pos..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | ',' | ';' | ')'))
            .map_or(rest.len(), |e| pos + e);
        out.push_str(&rest[..pos]);
        let token = &rest[pos..end];
        // A masked key (Stripe's `sk_test_****1234`) is safe and useful to show.
        if starts_word && !token.contains("****") {
            out.push_str("[redacted]");
        } else {
            out.push_str(token);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_unmasked_keys_only() {
        assert_eq!(
            redact_keys("Invalid API Key provided: sk_test_abc123"),
            "Invalid API Key provided: [redacted]"
        );
        assert_eq!(
            redact_keys("Invalid API Key provided: sk_test_****1234"),
            "Invalid API Key provided: sk_test_****1234"
        );
        assert_eq!(
            redact_keys("'rk_live_x' and whsec_y."),
            "'[redacted]' and [redacted]"
        );
        assert_eq!(redact_keys("task_id risk_score"), "task_id risk_score");
    }

    #[test]
    fn error_code_never_panics_on_odd_bodies() {
        for b in [
            "",
            "null",
            "[]",
            "{\"error\":1}",
            "{\"error\":{\"code\":5}}",
            "\u{0}",
        ] {
            assert_eq!(error_code(b.as_bytes()), None, "{b:?}");
        }
        assert_eq!(
            error_code(br#"{"error":{"code":"lock_timeout"}}"#).as_deref(),
            Some("lock_timeout")
        );
    }
}
