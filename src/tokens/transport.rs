//! One POST to a token endpoint, classified: a transient failure (connect error, timeout,
//! 5xx, 429, 408) is an error the retry loop may try again; an OAuth error body or a token goes
//! back to the grant to parse. Also the retry loop itself, which never resends a request that
//! carried a single-use token (an authorization code, a rotating refresh token) once it may
//! have reached the provider.
//!
//! The client ignores proxy environment variables (`HTTPS_PROXY`, `ALL_PROXY`…) unless the
//! host opts in: a token request carries client secrets and refresh tokens, and a variable
//! set for some other tool must not route them through a proxy nobody chose for them.
//!
//! Nothing here sees a secret in a form it could print: request bodies are never logged, and
//! reqwest errors are stripped of their URL.

use std::future::Future;
#[cfg(feature = "oauth")]
use std::pin::Pin;
use std::time::Duration;

use http::StatusCode;

use super::grants::{TokenError, TokenRetry};
use crate::backoff::Wait;
use crate::redact::redact_uri;

/// Token responses are small; a larger body is not a token response.
const MAX_BODY: usize = 64 * 1024;

/// Why one POST did not produce a response for the grant to parse.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum HttpFailure {
    /// Worth trying again.
    #[error("{reason}")]
    Transient {
        status: Option<StatusCode>,
        retry_after: Option<Duration>,
        reason: String,
        /// Whether the request may have reached the provider (anything but a failed connect,
        /// a 429 or a 408, which say it was not processed).
        reached: bool,
    },
    /// A non-success status without an OAuth error body.
    #[error("token endpoint answered HTTP {}", status.as_u16())]
    Status { status: StatusCode },
    /// The request could not be built or the response not read.
    #[error("{reason}")]
    Invalid { reason: String },
}

impl From<HttpFailure> for TokenError {
    fn from(f: HttpFailure) -> Self {
        match f {
            HttpFailure::Transient {
                status,
                retry_after,
                reason,
                reached,
            } => TokenError::Transient {
                status,
                retry_after,
                attempts: 1,
                reason,
                reached,
            },
            HttpFailure::Status { status } => TokenError::Rejected {
                error: "unexpected_status".to_string(),
                description: None,
                status: Some(status),
            },
            HttpFailure::Invalid { reason } => TokenError::InvalidResponse { reason },
        }
    }
}

/// The HTTP client the grants share. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
}

impl Transport {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Transport { client }
    }

    /// A client that never follows redirects (a redirect would resend the form, secrets
    /// included, to wherever the `Location` points) and uses a proxy from the environment
    /// only when `env_proxy` is set (see the module documentation).
    pub(crate) fn default_client(env_proxy: bool) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10));
        if !env_proxy {
            builder = builder.no_proxy();
        }
        builder.build()
    }

    /// Sends `request` and classifies the answer. A 2xx response, or a 4xx carrying an OAuth
    /// error body, is returned for the caller to parse.
    pub(crate) async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpFailure> {
        let shown_url = redact_uri(request.uri(), &[]);
        let request = reqwest::Request::try_from(request).map_err(|e| HttpFailure::Invalid {
            reason: format!("cannot build the token request: {}", e.without_url()),
        })?;
        let mut response = self.client.execute(request).await.map_err(|e| {
            // Only a failed connect proves nothing was sent; a timeout or a reset may come
            // after the provider read the request and acted on it.
            let (kind, reached) = if e.is_connect() {
                ("cannot connect to the token endpoint", false)
            } else if e.is_timeout() {
                ("the token endpoint timed out", true)
            } else {
                ("the token request failed in flight", true)
            };
            tracing::debug!(url = %shown_url, error = %e.without_url(), "{kind}");
            HttpFailure::Transient {
                status: None,
                retry_after: None,
                reason: kind.to_string(),
                reached,
            }
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
        {
            tracing::debug!(url = %shown_url, status = status.as_u16(), "token endpoint failed transiently");
            return Err(HttpFailure::Transient {
                status: Some(status),
                retry_after,
                reason: format!("the token endpoint answered HTTP {}", status.as_u16()),
                // A 5xx may come from a provider that spent the token and then failed (or
                // from a gateway after the provider did); 429 and 408 say "not processed".
                reached: status.is_server_error(),
            });
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        return Err(HttpFailure::Invalid {
                            reason: format!(
                                "token endpoint response is larger than {MAX_BODY} bytes"
                            ),
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => {
                    return Err(HttpFailure::Transient {
                        status: Some(status),
                        retry_after: None,
                        reason: "the token response was cut off".to_string(),
                        reached: true,
                    })
                }
            }
        }
        if !status.is_success() && !is_oauth_error_body(&body) {
            return Err(HttpFailure::Status { status });
        }
        let mut builder = http::Response::builder().status(status);
        for (name, value) in response.headers() {
            builder = builder.header(name, value);
        }
        builder.body(body).map_err(|e| HttpFailure::Invalid {
            reason: format!("cannot read the token response: {e}"),
        })
    }
}

/// `{"error": "..."}`, the RFC 6749 §5.2 shape.
fn is_oauth_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("error").is_some_and(serde_json::Value::is_string))
}

/// The `oauth2` crate's view of the transport.
#[cfg(feature = "oauth")]
pub(crate) struct OAuth2Http<'a>(pub(crate) &'a Transport);

#[cfg(feature = "oauth")]
type SendFuture<'c> =
    Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpFailure>> + Send + 'c>>;

#[cfg(feature = "oauth")]
impl<'c> oauth2::AsyncHttpClient<'c> for OAuth2Http<'_> {
    type Error = HttpFailure;
    type Future = SendFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// Whether a request carries a token the provider accepts only once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Sending it twice is harmless (client credentials, an assertion, a refresh token of a
    /// provider that does not rotate them).
    Repeatable,
    /// An authorization code, or a refresh token of a provider that rotates them: once the
    /// request may have reached the provider it is never sent again.
    SingleUse,
}

/// Runs `attempt` until it succeeds, fails for good, or `retry.attempts` transient failures
/// happened. Waits `base * 2^n` (with jitter, capped) between attempts, or the provider's
/// `Retry-After` when it asks for longer; a `Retry-After` beyond the cap ends the retries.
/// With [`Use::SingleUse`], a transient failure that may have reached the provider ends the
/// loop with [`TokenError::OutcomeUnknown`] instead of a retry.
pub(crate) async fn with_retry<T, F, Fut>(
    retry: &TokenRetry,
    what: &str,
    usage: Use,
    mut attempt: F,
) -> Result<T, TokenError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TokenError>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(TokenError::Transient {
                status,
                reason,
                reached: true,
                ..
            }) if usage == Use::SingleUse => {
                tracing::warn!(
                    grant = what,
                    attempt = n,
                    status = status.map(|s| s.as_u16()),
                    "a token request with a single-use token may have reached the provider \
                     without an answer; not resending it"
                );
                return Err(TokenError::OutcomeUnknown {
                    status,
                    attempts: n,
                    reason,
                });
            }
            Err(TokenError::Transient {
                status,
                retry_after,
                reason,
                reached,
                ..
            }) => {
                let wait = match retry.to_backoff().next(n, retry_after) {
                    Wait::Retry(wait) => wait,
                    Wait::GiveUp { .. } => {
                        return Err(TokenError::Transient {
                            status,
                            retry_after,
                            attempts: n,
                            reason,
                            reached,
                        })
                    }
                };
                tracing::warn!(
                    grant = what,
                    attempt = n,
                    status = status.map(|s| s.as_u16()),
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "token request failed transiently; retrying"
                );
                tokio::time::sleep(wait).await;
                n += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = TokenRetry::new(NonZeroU32::new(5).unwrap(), Duration::from_millis(100))
            .max_delay(Duration::from_millis(300));
        let b = r.to_backoff();
        let ms = Duration::from_millis;
        assert_eq!(b.bounds(1), (ms(50), ms(100)));
        assert_eq!(b.bounds(2), (ms(100), ms(200)));
        assert_eq!(b.bounds(10), (ms(150), ms(300)));
        // A `Retry-After` lengthens the wait up to the cap and ends the retries beyond it.
        assert_eq!(b.next_with(1, Some(ms(250)), 1.0), Wait::Retry(ms(250)));
        assert_eq!(
            b.next_with(1, Some(ms(301)), 1.0),
            Wait::GiveUp {
                retry_after: Some(ms(301))
            }
        );
        assert_eq!(
            b.next_with(5, None, 1.0),
            Wait::GiveUp { retry_after: None }
        );
    }

    #[test]
    fn recognises_oauth_error_bodies() {
        assert!(is_oauth_error_body(br#"{"error":"invalid_grant"}"#));
        assert!(!is_oauth_error_body(b"<html>nope</html>"));
        assert!(!is_oauth_error_body(br#"{"message":"x"}"#));
    }
}
