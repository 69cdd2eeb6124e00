//! Inbound webhook verification: the [`WebhookVerifier`] trait, its typed error, and a
//! generic HMAC-SHA256 verifier for providers that sign the raw body into one header.
//!
//! Verifiers take the raw bytes exactly as received, never a parsed body: the most common
//! webhook bug in the field is a body parser that re-serialized the bytes before the check.

#[cfg(feature = "axum")]
pub mod axum;
pub mod dedup;
mod hmac_body;
pub(crate) mod public_base;
pub mod router;
mod standard;

pub use hmac_body::{
    HmacBodyVerifier, HmacBodyVerifierBuilder, SignatureEncoding, DEFAULT_SIGNATURE_HEADER,
};
pub use standard::{StandardWebhooks, StandardWebhooksBuilder};

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

/// The default tolerance between a webhook's signed timestamp and our clock, in both
/// directions: five minutes, as in Stripe's and Svix's SDKs. Every verifier of a timestamped
/// scheme starts with it ([`StandardWebhooks`], Stripe's `StripeVerifier`).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

use http::HeaderMap;

/// What a verifier is given: the raw body, the headers and, where the scheme signs it, the
/// public URL the sender posted to.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct WebhookRequest<'a> {
    /// The body, byte for byte as received.
    pub body: &'a [u8],
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The public URL the sender used, for schemes that sign it (Twilio).
    pub url: Option<&'a url::Url>,
}

impl<'a> WebhookRequest<'a> {
    /// A request with a body and headers and no URL.
    pub fn new(body: &'a [u8], headers: &'a HeaderMap) -> Self {
        WebhookRequest {
            body,
            headers,
            url: None,
        }
    }

    /// Adds the public URL.
    #[must_use]
    pub fn with_url(mut self, url: &'a url::Url) -> Self {
        self.url = Some(url);
        self
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Verified {
    /// The sender's event or message id, when the scheme carries one (used to de-duplicate).
    pub event_id: Option<String>,
    /// The signed timestamp, when the scheme carries one.
    pub timestamp: Option<SystemTime>,
}

/// Why a webhook was rejected. Names the header at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent.
    #[error("missing header `{header}`")]
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },
    /// A header is present but malformed.
    #[error("malformed header `{header}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The signed timestamp is outside the tolerance window.
    #[error(
        "timestamp in `{header}` is {skew_secs} s outside the tolerance of {tolerance_secs} s"
    )]
    TimestampOutsideTolerance {
        /// The header holding the timestamp.
        header: &'static str,
        /// How far outside, in seconds (negative: in the future).
        skew_secs: i64,
        /// The configured tolerance.
        tolerance_secs: u64,
    },
    /// No signature in the header matched any active secret.
    #[error("no signature in `{header}` matched{hint}")]
    NoSignatureMatched {
        /// The header holding the signatures.
        header: &'static str,
        /// A hint where one can be given (for example that the body looks re-serialized).
        hint: String,
    },
    /// The verifier has no usable secret; it fails closed.
    #[error("no webhook secret is configured")]
    SecretMissing,
}

/// Checks that an inbound webhook really comes from the provider. Pure computation, so sync.
pub trait WebhookVerifier: Send + Sync + Debug {
    /// Verifies `request`.
    ///
    /// # Errors
    /// A [`WebhookError`] naming the header at fault.
    fn verify(&self, request: &WebhookRequest<'_>) -> Result<Verified, WebhookError>;
}

/// A hint for a failed match: a body that starts with pretty-printed JSON was probably parsed
/// and re-serialized by a framework before it reached the verifier.
pub(crate) fn reserialized_hint(body: &[u8]) -> String {
    let looks_pretty = body.starts_with(b"{\n")
        || body.starts_with(b"{\r\n")
        || body.windows(3).any(|w| w == b",\n ");
    if looks_pretty {
        " (the body looks re-serialized; verify the raw bytes as received)".to_string()
    } else {
        String::new()
    }
}

/// Checks a signed timestamp against the clock, both ways (a timestamp from the future is as
/// suspect as an old one): the one tolerance rule every timestamped scheme here shares.
///
/// # Errors
/// [`WebhookError::TimestampOutsideTolerance`] naming `header`, with the skew (negative: in
/// the future).
pub fn check_timestamp(
    header: &'static str,
    signed_secs: i128,
    now_secs: i128,
    tolerance: std::time::Duration,
) -> Result<(), WebhookError> {
    let skew = now_secs - signed_secs;
    if skew.unsigned_abs() > u128::from(tolerance.as_secs()) {
        return Err(WebhookError::TimestampOutsideTolerance {
            header,
            skew_secs: i64::try_from(skew).unwrap_or(if skew > 0 { i64::MAX } else { i64::MIN }),
            tolerance_secs: tolerance.as_secs(),
        });
    }
    Ok(())
}

#[cfg(test)]
fn _obj_safe(_: std::sync::Arc<dyn WebhookVerifier>) {}
