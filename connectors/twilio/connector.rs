//! [`TwilioConnector`]: what the core needs to know about Twilio (name, retry rules, no
//! idempotency header, `check`), plus the account settings every Twilio call needs: the
//! account SID in the path, the subaccount a connection is scoped to, and the Lookups host.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;

use super::error::{error_code, CODE_TOO_MANY_REQUESTS};
use super::models::{is_sid, AccountSid, ApiKeySid};
use super::{DEFAULT_BASE_URL, DEFAULT_LOOKUPS_BASE_URL};
use crate::auth::{Authenticator, BasicAuth};
use crate::{AttemptOutcome, ConfigError, Connector, RetryDecision};

/// The Twilio connector. Cheap to clone.
///
/// ```
/// use switchboard::twilio::TwilioConnector;
/// let connector = TwilioConnector::builder()
///     .account_sid("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
///     .auth_token("your-auth-token")
///     .build()?;
/// # Ok::<_, switchboard::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TwilioConnector {
    inner: Arc<Inner>,
}

struct Inner {
    account_sid: AccountSid,
    scope: AccountSid,
    auth: Arc<BasicAuth>,
    key_sid: Option<ApiKeySid>,
    base_url: String,
    lookups_base_url: String,
    default_from: Option<String>,
    messaging_service_sid: Option<String>,
}

impl fmt::Debug for TwilioConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("TwilioConnector")
            .field("account_sid", &i.account_sid)
            .field("scope", &i.scope)
            .field("api_key_sid", &i.key_sid)
            .field("credentials", &"[redacted]")
            .field("base_url", &i.base_url)
            .field("lookups_base_url", &i.lookups_base_url)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TwilioConnector`]; everything is checked in [`TwilioConnectorBuilder::build`].
#[must_use]
#[derive(Default)]
pub struct TwilioConnectorBuilder {
    account_sid: Option<String>,
    auth_token: Option<SecretString>,
    api_key: Option<(String, SecretString)>,
    subaccount_sid: Option<String>,
    base_url: Option<String>,
    lookups_base_url: Option<String>,
    default_from: Option<String>,
    messaging_service_sid: Option<String>,
}

impl fmt::Debug for TwilioConnectorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConnectorBuilder")
            .field("account_sid", &self.account_sid)
            .field("subaccount_sid", &self.subaccount_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioConnectorBuilder {
    /// The account SID (`AC…`, required). It is in every API path, also with an API key.
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = Some(sid.into());
        self
    }

    /// Authenticates with the account's auth token.
    pub fn auth_token(mut self, token: impl Into<SecretString>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// Authenticates with an API key (`SK…`) and its secret instead of the auth token.
    pub fn api_key(mut self, key_sid: impl Into<String>, secret: impl Into<SecretString>) -> Self {
        self.api_key = Some((key_sid.into(), secret.into()));
        self
    }

    /// Scopes every call to a subaccount (`AC…`) while authenticating as the parent.
    pub fn subaccount_sid(mut self, sid: impl Into<String>) -> Self {
        self.subaccount_sid = Some(sid.into());
        self
    }

    /// The API base URL (default [`DEFAULT_BASE_URL`]; for tests and mocks).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The Lookups base URL (default [`DEFAULT_LOOKUPS_BASE_URL`]; for tests and mocks).
    pub fn lookups_base_url(mut self, url: impl Into<String>) -> Self {
        self.lookups_base_url = Some(url.into());
        self
    }

    /// The sender used when a message names neither `From` nor a Messaging Service.
    pub fn default_from(mut self, from: impl Into<String>) -> Self {
        self.default_from = Some(from.into());
        self
    }

    /// The Messaging Service used when a message names neither `From` nor a service.
    pub fn messaging_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.messaging_service_sid = Some(sid.into());
        self
    }

    /// Checks the settings and builds the connector.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first missing or malformed setting (never its value).
    pub fn build(self) -> Result<TwilioConnector, ConfigError> {
        let account = self
            .account_sid
            .ok_or_else(|| ConfigError::new("twilio.account_sid", "is required"))?;
        if !is_sid(&account, "AC") {
            return Err(ConfigError::new(
                "twilio.account_sid",
                "must be `AC` followed by 32 hexadecimal digits",
            ));
        }
        let scope = match self.subaccount_sid {
            Some(s) if !is_sid(&s, "AC") => {
                return Err(ConfigError::new(
                    "twilio.subaccount_sid",
                    "must be `AC` followed by 32 hexadecimal digits",
                ))
            }
            Some(s) => AccountSid::new(s),
            None => AccountSid::new(account.clone()),
        };
        let (auth, key_sid) = match (self.auth_token, self.api_key) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "twilio.credentials",
                    "give either an auth token or an API key, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    "twilio.credentials",
                    "an auth token or an API key and secret is required",
                ))
            }
            (Some(token), None) => {
                if secrecy::ExposeSecret::expose_secret(&token).is_empty() {
                    return Err(ConfigError::new("twilio.auth_token", "must not be empty"));
                }
                (BasicAuth::new(account.clone(), token), None)
            }
            (None, Some((sid, secret))) => {
                if !is_sid(&sid, "SK") {
                    return Err(ConfigError::new(
                        "twilio.api_key_sid",
                        "must be `SK` followed by 32 hexadecimal digits",
                    ));
                }
                if secrecy::ExposeSecret::expose_secret(&secret).is_empty() {
                    return Err(ConfigError::new(
                        "twilio.api_key_secret",
                        "must not be empty",
                    ));
                }
                (
                    BasicAuth::new(sid.clone(), secret),
                    Some(ApiKeySid::new(sid)),
                )
            }
        };
        let base_url = check_url("twilio.base_url", self.base_url, DEFAULT_BASE_URL)?;
        let lookups_base_url = check_url(
            "twilio.lookups_base_url",
            self.lookups_base_url,
            DEFAULT_LOOKUPS_BASE_URL,
        )?;
        Ok(TwilioConnector {
            inner: Arc::new(Inner {
                account_sid: AccountSid::new(account),
                scope,
                auth: Arc::new(auth),
                key_sid,
                base_url,
                lookups_base_url,
                default_from: self.default_from.filter(|s| !s.is_empty()),
                messaging_service_sid: self.messaging_service_sid.filter(|s| !s.is_empty()),
            }),
        })
    }
}

fn check_url(
    setting: &'static str,
    given: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let raw = given.unwrap_or_else(|| default.to_string());
    let url = url::Url::parse(&raw).map_err(|_| ConfigError::new(setting, "is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::new(setting, "must be an http or https URL"));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

impl TwilioConnector {
    /// A builder.
    pub fn builder() -> TwilioConnectorBuilder {
        TwilioConnectorBuilder::default()
    }

    /// The account SID the credentials belong to.
    pub fn account_sid(&self) -> &AccountSid {
        &self.inner.account_sid
    }

    /// The account calls are made for: the subaccount when one is set, else the account.
    pub fn scope(&self) -> &AccountSid {
        &self.inner.scope
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The Lookups base URL.
    pub fn lookups_base_url(&self) -> &str {
        &self.inner.lookups_base_url
    }

    /// The default sender, if configured.
    pub fn default_from(&self) -> Option<&str> {
        self.inner.default_from.as_deref()
    }

    /// The default Messaging Service, if configured.
    pub fn messaging_service_sid(&self) -> Option<&str> {
        self.inner.messaging_service_sid.as_deref()
    }

    /// The Basic authenticator for these credentials (for building connections).
    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        self.inner.auth.clone()
    }

    /// `/2010-04-01/Accounts/{scope}`, the prefix of every v2010 path.
    pub(crate) fn account_path(&self) -> String {
        format!("/2010-04-01/Accounts/{}", self.inner.scope)
    }
}

impl Connector for TwilioConnector {
    fn name(&self) -> &str {
        "twilio"
    }

    /// Twilio's published rules: a 429 / error 20429 ("Too Many Requests") was not processed
    /// and is always safe to retry, even for a Messages POST, which has no idempotency key.
    /// Everything else is left to the core's defaults, whose side-effect gate keeps an unkeyed
    /// POST from being retried once its bytes may have reached Twilio (a reset after the
    /// write, a 500), and retries a refused connection, which sent nothing.
    fn classify_retry(&self, attempt: &AttemptOutcome<'_>) -> RetryDecision {
        match attempt {
            AttemptOutcome::Response { status, body, .. }
                if status.as_u16() == 429 || error_code(body) == Some(CODE_TOO_MANY_REQUESTS) =>
            {
                RetryDecision::Retry { after: None }
            }
            _ => RetryDecision::NoOpinion,
        }
    }

    /// Twilio has no idempotency keys; without a header the core sends none and its gate
    /// treats every POST as unkeyed.
    fn idempotency_header(&self) -> Option<&str> {
        None
    }

    fn as_any(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(self)
    }
}
