//! [`StripeConnector`]: what the core needs to know about Stripe. The API version pin and the
//! Connect account go out as default headers; the retry classifier encodes the official SDKs'
//! rules.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method};

use crate::connector::{AttemptOutcome, Connector, RetryDecision};
use crate::ConfigError;

use super::error::error_code;
use super::DEFAULT_API_VERSION;

/// The Stripe connector: name `"stripe"`, `Idempotency-Key` on every POST, `Stripe-Version`
/// (and `Stripe-Account` when set) on every request, Stripe's retry rules.
///
/// Cheap to clone.
///
/// ```
/// use switchboard::stripe::StripeConnector;
/// let connector = StripeConnector::builder()
///     .api_version("2023-08-16")
///     .account("acct_1032D82eZvKYlo2C")
///     .build()?;
/// # Ok::<(), switchboard::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct StripeConnector {
    inner: Arc<Inner>,
}

struct Inner {
    api_version: String,
    account: Option<String>,
    headers: HeaderMap,
}

impl fmt::Debug for StripeConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeConnector")
            .field("api_version", &self.inner.api_version)
            .field("account", &self.inner.account)
            .finish()
    }
}

impl Default for StripeConnector {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`StripeConnector`]; every setting is checked in [`StripeConnectorBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct StripeConnectorBuilder {
    api_version: String,
    account: Option<String>,
}

impl StripeConnectorBuilder {
    /// The `Stripe-Version` sent on every request (default [`DEFAULT_API_VERSION`], the version
    /// the models and the contract tests were written against).
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// A Connect account (`acct_...`) every request acts on, sent as `Stripe-Account`. A
    /// client ([`super::StripeClient::with_account`]) or a call may override it.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `stripe.api_version` or `stripe.account` when a value is empty
    /// or not a valid header value.
    pub fn build(self) -> Result<StripeConnector, ConfigError> {
        let mut headers = HeaderMap::new();
        let version = HeaderValue::from_str(self.api_version.trim())
            .ok()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConfigError::new("stripe.api_version", "must be a non-empty header value")
            })?;
        headers.insert("stripe-version", version);
        if let Some(acct) = &self.account {
            let v = HeaderValue::from_str(acct.trim())
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    ConfigError::new("stripe.account", "must be a non-empty header value")
                })?;
            headers.insert("stripe-account", v);
        }
        Ok(StripeConnector {
            inner: Arc::new(Inner {
                api_version: self.api_version.trim().to_string(),
                account: self.account.map(|a| a.trim().to_string()),
                headers,
            }),
        })
    }
}

impl StripeConnector {
    /// A connector pinned to [`DEFAULT_API_VERSION`], without a Connect account.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default API version is a valid header value")
    }

    /// A builder with the defaults.
    pub fn builder() -> StripeConnectorBuilder {
        StripeConnectorBuilder {
            api_version: DEFAULT_API_VERSION.to_string(),
            account: None,
        }
    }

    /// The pinned API version.
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// The connector-wide Connect account, if any.
    pub fn account(&self) -> Option<&str> {
        self.inner.account.as_deref()
    }
}

impl Connector for StripeConnector {
    fn name(&self) -> &str {
        "stripe"
    }

    /// Lets [`super::StripeClient::from_connection`] check the connection is Stripe's by type.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    /// The official SDKs' rules (stripe-node, stripe-python, stripe-go `shouldRetry`):
    ///
    /// 1. `Stripe-Should-Retry: true` → retry, `false` → never; it overrides the rest.
    /// 2. 409 (conflict, e.g. a concurrent request with the same key) → retry.
    /// 3. 429 → retry only for error code `lock_timeout`; any other 429 is a rate limit the
    ///    SDKs do not retry → never.
    /// 4. ≥ 500 → retry for GET, HEAD and DELETE (no side effects). For a POST we answer "no
    ///    opinion", so the core's side-effect gate decides: it retries 500/502/503/504 only when
    ///    the call carries an idempotency key (every typed call does). Answering "retry" there
    ///    would assert that Stripe did not act on the request, which a 500 does not say.
    ///
    /// Transport failures get "no opinion": the core's rules and gate already match the SDKs.
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        let AttemptOutcome::Response {
            method,
            status,
            headers,
            body,
        } = attempt
        else {
            return RetryDecision::NoOpinion;
        };
        match headers
            .get("stripe-should-retry")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
        {
            Some(v) if v.eq_ignore_ascii_case("true") => {
                return RetryDecision::Retry { after: None }
            }
            Some(v) if v.eq_ignore_ascii_case("false") => return RetryDecision::Never,
            _ => {}
        }
        match status.as_u16() {
            409 => RetryDecision::Retry { after: None },
            429 if error_code(body).as_deref() == Some("lock_timeout") => {
                RetryDecision::Retry { after: None }
            }
            429 => RetryDecision::Never,
            s if s >= 500 => {
                if matches!(**method, Method::GET | Method::HEAD | Method::DELETE) {
                    RetryDecision::Retry { after: None }
                } else {
                    RetryDecision::NoOpinion
                }
            }
            _ => RetryDecision::NoOpinion,
        }
    }

    /// Stripe honours `Idempotency-Key` (24 h), so a keyed POST is safe to retry.
    fn idempotency_header(&self) -> Option<&str> {
        Some("Idempotency-Key")
    }

    /// A per-request `Stripe-Version` changes the shape of the answer (`Stripe-Account`, the
    /// other header that does, is in the core list).
    fn cache_vary_headers(&self) -> &[&str] {
        &["Stripe-Version"]
    }

    fn default_headers(&self) -> HeaderMap {
        self.inner.headers.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;

    fn classify(
        method: Method,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> RetryDecision {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let body = Bytes::from(body.to_string());
        StripeConnector::new().classify_retry(&AttemptOutcome::Response {
            method: &method,
            status: StatusCode::from_u16(status).unwrap(),
            headers: &h,
            body: &body,
        })
    }

    #[test]
    fn classifies_like_the_official_sdks() {
        let retry = RetryDecision::Retry { after: None };
        let lock = r#"{"error":{"type":"invalid_request_error","code":"lock_timeout"}}"#;
        let rate = r#"{"error":{"type":"invalid_request_error","code":"rate_limit"}}"#;
        assert_eq!(
            classify(Method::POST, 400, &[("stripe-should-retry", "true")], ""),
            retry
        );
        assert_eq!(
            classify(Method::GET, 503, &[("stripe-should-retry", "false")], ""),
            RetryDecision::Never
        );
        assert_eq!(classify(Method::POST, 409, &[], ""), retry);
        assert_eq!(classify(Method::POST, 429, &[], lock), retry);
        assert_eq!(classify(Method::POST, 429, &[], rate), RetryDecision::Never);
        assert_eq!(
            classify(Method::POST, 429, &[], "not json"),
            RetryDecision::Never
        );
        assert_eq!(classify(Method::GET, 500, &[], ""), retry);
        assert_eq!(
            classify(Method::POST, 500, &[], ""),
            RetryDecision::NoOpinion
        );
        assert_eq!(
            classify(Method::POST, 402, &[], ""),
            RetryDecision::NoOpinion
        );
    }

    #[test]
    fn builder_rejects_bad_header_values() {
        assert_eq!(
            StripeConnector::builder()
                .api_version("")
                .build()
                .unwrap_err()
                .setting,
            "stripe.api_version"
        );
        assert_eq!(
            StripeConnector::builder()
                .account("a\nb")
                .build()
                .unwrap_err()
                .setting,
            "stripe.account"
        );
        let c = StripeConnector::builder()
            .account("acct_1")
            .build()
            .unwrap();
        let h = c.default_headers();
        assert_eq!(h["stripe-version"], DEFAULT_API_VERSION);
        assert_eq!(h["stripe-account"], "acct_1");
    }
}
