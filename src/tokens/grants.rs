//! The grant trait and what every grant shares: how a token request fails ([`TokenError`]),
//! how it is retried (`TokenRetry`, with the grants), and how a token response is read
//! ([`parse_token_response`]).
//!
//! The grants themselves are behind features: `OAuthClient`
//! (feature `oauth`) and `JwtBearerGrant` (feature `jwt`). Every
//! token request they make goes through the same transport: no redirects are followed,
//! transient failures (connect errors, timeouts, 5xx, 429, 408) are retried with backoff
//! (`TokenRetry`, 3 attempts from 100 ms by default), and an OAuth error answer becomes a
//! typed [`TokenError`] — `invalid_grant` is [`TokenError::InvalidGrant`]. Provider error
//! descriptions are kept, cut to a sane length, with any secret the request carried removed.

use std::fmt;
#[cfg(any(feature = "oauth", feature = "jwt"))]
use std::num::NonZeroU32;
#[cfg(test)]
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::StatusCode;
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroize;

use super::Token;
#[cfg(any(feature = "oauth", feature = "jwt"))]
use crate::backoff::{Backoff, Jitter, OverCap, RetryAfter};
use crate::error::{Error, ErrorKind, ErrorParts};

/// Why a token request failed. Holds no secret: descriptions from the provider have every
/// secret the request carried removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `invalid_grant`: the refresh token, authorization code or assertion was rejected
    /// (expired, revoked, already used, or issued to another client). Retrying will not help;
    /// for a refresh token, the account must be reconnected.
    #[error("the provider rejected the grant (invalid_grant){}", describe(.description))]
    InvalidGrant {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// `invalid_client`: the client id or secret is wrong.
    #[error("the provider rejected the client credentials (invalid_client){}", describe(.description))]
    InvalidClient {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// Another OAuth error (`invalid_scope`, `unauthorized_client`, DocuSign's
    /// `consent_required`…), or a non-success status without an OAuth error body.
    #[error("the provider refused the token request (`{error}`){}", describe(.description))]
    Rejected {
        /// The OAuth `error` code (`unexpected_status` when the body had none).
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
        /// The HTTP status, when known.
        status: Option<StatusCode>,
    },
    /// The token endpoint could not be reached or failed transiently, on every attempt.
    #[error("token request failed after {attempts} attempt(s): {reason}")]
    Transient {
        /// The last HTTP status, if the endpoint answered.
        status: Option<StatusCode>,
        /// The endpoint's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
        /// What went wrong last.
        reason: String,
        /// Whether the last attempt may have reached the provider (a timeout, a reset after
        /// sending, a 5xx); `false` when the connect failed or the provider answered 429/408.
        reached: bool,
    },
    /// A request carrying a single-use token (an authorization code, or the refresh token of
    /// a provider that rotates them) may have reached the provider, but no usable answer came
    /// back (a timeout, a reset after sending, a 5xx). It was not resent: the token may be
    /// spent. For a code, start the authorization again; for a refresh token, the
    /// [`TokenManager`](super::TokenManager) checks whether another replica stored a new
    /// token, and otherwise the account must be reconnected.
    #[error("token request may have reached the provider after {attempts} attempt(s) but got no usable answer ({reason}); it carried a single-use token and was not resent")]
    OutcomeUnknown {
        /// The HTTP status, if the endpoint answered.
        status: Option<StatusCode>,
        /// Attempts made (the last one is the one whose outcome is unknown).
        attempts: u32,
        /// What went wrong.
        reason: String,
    },
    /// The endpoint answered success with something that is not a token response.
    #[error("the token response is not usable: {reason}")]
    InvalidResponse {
        /// What is wrong (a JSON path, never a value).
        reason: String,
    },
    /// A refresh was asked for but no refresh token is stored.
    #[error("no refresh token is stored for this connection; reconnect the account")]
    NoRefreshToken,
    /// The JWT assertion could not be built (for example an unusable private key).
    #[error("cannot build the JWT assertion: {reason}")]
    Assertion {
        /// Why.
        reason: String,
    },
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl TokenError {
    /// Whether the provider said `invalid_grant`.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, TokenError::InvalidGrant { .. })
    }

    /// Whether the failure was transient (trying again later may succeed).
    pub fn is_transient(&self) -> bool {
        matches!(self, TokenError::Transient { .. })
    }

    /// Whether a single-use token may have been spent without its answer arriving
    /// ([`TokenError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, TokenError::OutcomeUnknown { .. })
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        // A conversion carrying the token client's whole answer (status, delay, attempts), so
        // it fills the parts itself instead of going through one named constructor per field.
        let mut parts = match &e {
            TokenError::InvalidGrant { .. }
            | TokenError::InvalidClient { .. }
            | TokenError::NoRefreshToken => Error::auth(e.to_string()).into_parts(),
            TokenError::Rejected { status, .. } => {
                let mut p = Error::auth(e.to_string()).into_parts();
                p.status = *status;
                p
            }
            TokenError::Transient {
                status,
                retry_after,
                attempts,
                ..
            } => {
                let kind = if status.is_some() {
                    ErrorKind::Status
                } else {
                    ErrorKind::Transport
                };
                let mut p = ErrorParts::new(kind, e.to_string());
                p.status = *status;
                p.retry_after = *retry_after;
                p.attempts = *attempts;
                p.may_have_been_sent = true;
                // Asking for a token again is safe: at worst the provider issues another one.
                p.idempotent = true;
                p
            }
            TokenError::OutcomeUnknown {
                status, attempts, ..
            } => {
                // Sending the same single-use token again is what must not happen.
                let mut p = Error::outcome_unknown(e.to_string(), *status).into_parts();
                p.attempts = *attempts;
                p
            }
            TokenError::InvalidResponse { .. } => {
                Error::new(ErrorKind::Decode, e.to_string()).into_parts()
            }
            TokenError::Assertion { .. } => {
                Error::new(ErrorKind::Config, e.to_string()).into_parts()
            }
        };
        parts = parts.source(e);
        parts.build()
    }
}

/// Maps an OAuth error answer to a [`TokenError`], removing `secrets` from the description.
pub(super) fn from_oauth_error(
    error: &str,
    description: Option<&str>,
    status: Option<StatusCode>,
    secrets: &[&str],
) -> TokenError {
    let description = description.map(|d| sanitize(d, secrets));
    match error {
        "invalid_grant" => TokenError::InvalidGrant { description },
        "invalid_client" => TokenError::InvalidClient { description },
        other => TokenError::Rejected {
            error: sanitize(other, secrets),
            description,
            status,
        },
    }
}

/// Provider text: secrets the request carried removed, control characters dropped, at most
/// 300 characters.
pub(super) fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    let mut out: String = out.chars().filter(|c| !c.is_control()).collect();
    if let Some((i, _)) = out.char_indices().nth(300) {
        out.truncate(i);
        out.push('…');
    }
    out
}

/// Retries of one token request of the grants (`OAuthClient`, `JwtBearerGrant`); there is
/// nothing to configure without them (features `oauth`, `jwt`).
#[cfg(any(feature = "oauth", feature = "jwt"))]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenRetry {
    pub(crate) attempts: NonZeroU32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
}

#[cfg(any(feature = "oauth", feature = "jwt"))]
impl Default for TokenRetry {
    /// 3 attempts, 100 ms then 200 ms apart (with jitter), waits capped at 2 s.
    fn default() -> Self {
        TokenRetry {
            attempts: NonZeroU32::new(3).expect("3 is not zero"),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

#[cfg(any(feature = "oauth", feature = "jwt"))]
impl TokenRetry {
    /// `attempts` in all, the n-th wait `base_delay * 2^(n-1)` (between half and all of it).
    pub fn new(attempts: NonZeroU32, base_delay: Duration) -> Self {
        TokenRetry {
            attempts,
            base_delay,
            ..TokenRetry::default()
        }
    }

    /// The longest wait between attempts. A `Retry-After` longer than this ends the retries
    /// and is reported in the error.
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The crate's one backoff with these settings: equal jitter, a `Retry-After` lengthening
    /// the wait up to `max_delay` and ending the retries beyond it.
    pub(crate) fn to_backoff(&self) -> Backoff {
        Backoff::exponential(self.base_delay, self.max_delay)
            .jitter(Jitter::EQUAL)
            .max_attempts(self.attempts.get())
            .retry_after(RetryAfter::AtLeast, self.max_delay)
            .over_cap(OverCap::GiveUp)
    }
}

/// Obtains a new token for a connection: what the [`TokenManager`](super::TokenManager) calls
/// when the stored one is due.
#[async_trait]
pub trait TokenGrant: Send + Sync + fmt::Debug {
    /// A short name for logs and messages (`"refresh_token"`, `"client_credentials"`).
    fn grant_type(&self) -> &str;

    /// Whether this grant spends the stored refresh token (then an `invalid_grant` answer means
    /// the account must be reconnected, and the manager remembers that).
    fn uses_refresh_token(&self) -> bool {
        false
    }

    /// Whether the provider rotates refresh tokens: each refresh returns a new refresh token
    /// and the old one stops working (GoHighLevel, and many providers with reuse detection).
    /// Then a refresh is never resent once it may have reached the provider, and a refresh
    /// whose answer was lost ([`TokenError::OutcomeUnknown`]) ends with the connection needing
    /// a reconnect unless another replica stored a new token. `false` by default.
    fn rotates_refresh_tokens(&self) -> bool {
        false
    }

    /// A new token. `current` is the stored token, if there is one.
    ///
    /// # Errors
    /// A [`TokenError`]; [`TokenError::InvalidGrant`] when the provider rejected the grant.
    async fn renew(&self, current: Option<&Token>) -> Result<Token, TokenError>;
}

/// RFC 6749 §5.1 response, read by hand for the JWT bearer grant. Strings zeroed on drop.
#[derive(Deserialize)]
struct RawToken {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Drop for RawToken {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

/// Some providers send `expires_in` as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A token from the body of a successful OAuth token response (`access_token`, `expires_in`,
/// `refresh_token`, `scope`, the provider's other fields kept in [`Token::extra`]), for token
/// endpoints a grant does not model: GoHighLevel's agency-to-location exchange answers one.
///
/// # Errors
/// [`TokenError::InvalidResponse`] naming where the body breaks the OAuth shape (never a
/// token).
pub fn parse_token_response(body: &[u8]) -> Result<Token, TokenError> {
    parse_raw(StatusCode::OK, body, &[])
}

pub(super) fn parse_raw(
    status: StatusCode,
    body: &[u8],
    secrets: &[&str],
) -> Result<Token, TokenError> {
    if !status.is_success() {
        let err: RawError = serde_json::from_slice(body).map_err(|_| TokenError::Rejected {
            error: "unexpected_status".to_string(),
            description: None,
            status: Some(status),
        })?;
        return Err(from_oauth_error(
            &err.error,
            err.error_description.as_deref(),
            Some(status),
            secrets,
        ));
    }
    let mut raw: RawToken = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(body),
    )
    .map_err(|e| TokenError::InvalidResponse {
        reason: format!(
            "token response does not have the OAuth shape at `{}`",
            e.path()
        ),
    })?;
    let mut token = Token::new(SecretString::from(std::mem::take(&mut raw.access_token)))
        .with_token_type(raw.token_type.take().unwrap_or_else(|| "Bearer".into()))
        .with_extra(std::mem::take(&mut raw.extra));
    if let Some(rt) = raw.refresh_token.take() {
        token = token.with_refresh_token(SecretString::from(rt));
    }
    let expires_in = match raw.expires_in.take() {
        Some(NumberOrString::Number(n)) => Some(n),
        Some(NumberOrString::String(s)) => {
            Some(
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| TokenError::InvalidResponse {
                        reason: "token response has a non-numeric `expires_in`".to_string(),
                    })?,
            )
        }
        None => None,
    };
    if let Some(secs) = expires_in {
        token = token.with_expires_in(Duration::from_secs(secs));
    }
    if let Some(scope) = raw.scope.take() {
        token = token.with_scopes(scope.split_whitespace().map(str::to_string));
    }
    Ok(token)
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn TokenGrant>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_secrets_controls_and_length() {
        let s = sanitize("bad token CANARY-rt\nend", &["CANARY-rt"]);
        assert_eq!(s, "bad token [redacted]end");
        let long = "x".repeat(1000);
        assert_eq!(sanitize(&long, &[]).chars().count(), 301);
    }

    #[test]
    fn oauth_errors_map_to_typed_variants() {
        assert!(from_oauth_error("invalid_grant", None, None, &[]).is_invalid_grant());
        assert!(matches!(
            from_oauth_error("invalid_client", Some("x"), None, &[]),
            TokenError::InvalidClient { .. }
        ));
        assert!(matches!(
            from_oauth_error("consent_required", None, Some(StatusCode::BAD_REQUEST), &[]),
            TokenError::Rejected { .. }
        ));
    }

    #[test]
    fn invalid_grant_is_an_auth_error_that_is_not_retryable() {
        let e = Error::from(TokenError::InvalidGrant { description: None });
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(!e.is_retryable());
        assert!(super::super::token_error(&e).unwrap().is_invalid_grant());
        let e = Error::from(TokenError::Transient {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            retry_after: None,
            attempts: 3,
            reason: "x".into(),
            reached: true,
        });
        assert!(e.is_retryable());
        assert_eq!(e.attempts(), 3);
    }

    #[test]
    fn raw_token_expiry_out_of_range_is_clamped_or_typed() {
        let huge = format!(r#"{{"access_token":"a","expires_in":{}}}"#, u64::MAX);
        let t = parse_raw(StatusCode::OK, huge.as_bytes(), &[]).unwrap();
        let life = t
            .expires_at()
            .unwrap()
            .duration_since(t.issued_at().unwrap())
            .unwrap();
        assert_eq!(life, super::super::MAX_TOKEN_LIFETIME);
        let huge = format!(r#"{{"access_token":"a","expires_in":"{}"}}"#, u64::MAX);
        assert!(parse_raw(StatusCode::OK, huge.as_bytes(), &[]).is_ok());
        for bad in [
            r#"{"access_token":"a","expires_in":-5}"#,
            r#"{"access_token":"a","expires_in":"-5"}"#,
            r#"{"access_token":"a","expires_in":1e300}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":[1]}"#,
        ] {
            let e = parse_raw(StatusCode::OK, bad.as_bytes(), &[]).unwrap_err();
            assert!(
                matches!(e, TokenError::InvalidResponse { .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn raw_token_accepts_string_expiry_and_keeps_extras() {
        let t = parse_raw(
            StatusCode::OK,
            br#"{"access_token":"a","expires_in":"3600","scope":"x y","locationId":"L1"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(t.scopes(), ["x", "y"]);
        assert_eq!(t.extra()["locationId"], "L1");
        assert!(t.expires_at().is_some());
        let e = parse_raw(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"assertion CANARY-a bad"}"#,
            &["CANARY-a"],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("CANARY"), "{e}");
    }
}
