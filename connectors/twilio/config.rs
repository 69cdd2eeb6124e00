//! [`TwilioConfig`]: one tenant's Twilio account, as the `twilio` template's JSON Schema
//! describes it, and [`TwilioSettings`], the part of it that is not secret and that the typed
//! client reads back from the connection.
//!
//! The secrets (auth token, API key secret) go only into the connection's Basic
//! authenticator; the account SID, subaccount, default sender and Lookups host go into the
//! connection's settings slot ([`Connection::settings`]). The connector holds neither.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::connector::TwilioConnector;
use super::models::{is_sid, AccountSid, ApiKeySid, MessagingServiceSid};
use super::TwilioVerifier;
use crate::auth::BasicAuth;
use crate::{Connection, ConnectionId, Error, ErrorKind, Switchboard, TenantId};

/// One tenant's Twilio config: the fields of the `twilio` template's JSON Schema, one for one
/// (a unit test holds the two together).
///
/// Made by the connection service from a stored config (through
/// [`crate::toolkit::typed_config`]), deserialized by a host from its own store, or built
/// here:
///
/// ```
/// use switchboard::twilio::{TwilioClient, TwilioConfig};
/// use switchboard::Switchboard;
///
/// let sb = Switchboard::builder().build()?;
/// let config = TwilioConfig::new("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "your-auth-token")
///     .from_number("+15017122661");
/// let connection = config.connection(&sb, "acme", "acme-sms")?;
/// let twilio = TwilioClient::from_connection(connection)?;
/// assert_eq!(twilio.settings().account_sid().as_str(), "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
///
/// Give either `auth_token`, or `api_key_sid` and `api_key_secret`. Secrets never reach
/// `Debug`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TwilioConfig {
    /// The account SID (`AC…`): in every API path, also when calling with an API key.
    pub account_sid: AccountSid,
    /// The account's auth token (Basic auth password; also what webhooks are signed with).
    pub auth_token: Option<SecretString>,
    /// An API key SID (`SK…`) to authenticate with instead of the auth token.
    pub api_key_sid: Option<ApiKeySid>,
    /// The API key's secret.
    pub api_key_secret: Option<SecretString>,
    /// A subaccount (`AC…`) every call is scoped to, authenticating as the parent.
    pub subaccount_sid: Option<AccountSid>,
    /// The Messaging Service used when a message names neither `From` nor a service.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// The sender used when a message names neither `From` nor a service.
    pub from_number: Option<String>,
    /// The auth token webhooks are signed with, for configs that call the API with an API key.
    pub webhook_auth_token: Option<SecretString>,
    /// The REST API base URL (default [`super::DEFAULT_BASE_URL`]; for tests and mocks).
    pub base_url: Option<String>,
    /// The Lookups base URL (default [`super::DEFAULT_LOOKUPS_BASE_URL`]; for tests and mocks).
    pub lookups_base_url: Option<String>,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &secret(&self.auth_token))
            .field("api_key_sid", &self.api_key_sid)
            .field("api_key_secret", &secret(&self.api_key_secret))
            .field("subaccount_sid", &self.subaccount_sid)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("from_number", &self.from_number)
            .field("webhook_auth_token", &secret(&self.webhook_auth_token))
            .field("base_url", &self.base_url)
            .field("lookups_base_url", &self.lookups_base_url)
            .finish()
    }
}

/// A field of a [`TwilioConfig`] that cannot work: its JSON pointer (`""` for the whole
/// config) and why, never its value. Reported as an [`ErrorKind::Config`] error worded as
/// `toolkit::typed_config` words its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) pointer: String,
    pub(crate) reason: String,
}

impl FieldError {
    fn new(pointer: &str, reason: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config at `{}`: {}", self.pointer, self.reason)
    }
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::new(ErrorKind::Config, e.to_string())
    }
}

/// What a valid config turns into: the authenticator (secrets), the settings (not secret) and
/// the API base URL.
pub(crate) struct Resolved {
    pub(crate) auth: BasicAuth,
    pub(crate) settings: TwilioSettings,
    pub(crate) base_url: String,
}

impl TwilioConfig {
    /// A config that authenticates with the account's auth token.
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<SecretString>) -> Self {
        TwilioConfig {
            auth_token: Some(auth_token.into()),
            ..Self::empty(account_sid.into())
        }
    }

    /// A config that authenticates with an API key (`SK…`) and its secret. Webhooks are still
    /// signed with the auth token: give it with [`Self::webhook_auth_token`] to verify them.
    pub fn with_api_key(
        account_sid: impl Into<String>,
        api_key_sid: impl Into<String>,
        api_key_secret: impl Into<SecretString>,
    ) -> Self {
        TwilioConfig {
            api_key_sid: Some(ApiKeySid::new(api_key_sid)),
            api_key_secret: Some(api_key_secret.into()),
            ..Self::empty(account_sid.into())
        }
    }

    fn empty(account_sid: String) -> Self {
        TwilioConfig {
            account_sid: AccountSid::new(account_sid),
            auth_token: None,
            api_key_sid: None,
            api_key_secret: None,
            subaccount_sid: None,
            messaging_service_sid: None,
            from_number: None,
            webhook_auth_token: None,
            base_url: None,
            lookups_base_url: None,
        }
    }

    /// Scopes every call to a subaccount (`AC…`) while authenticating as the parent.
    #[must_use]
    pub fn subaccount_sid(mut self, sid: impl Into<String>) -> Self {
        self.subaccount_sid = Some(AccountSid::new(sid));
        self
    }

    /// The Messaging Service used when a message names neither `From` nor a service.
    #[must_use]
    pub fn messaging_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.messaging_service_sid = Some(MessagingServiceSid::new(sid));
        self
    }

    /// The sender used when a message names neither `From` nor a Messaging Service.
    #[must_use]
    pub fn from_number(mut self, from: impl Into<String>) -> Self {
        self.from_number = Some(from.into());
        self
    }

    /// The auth token webhooks are signed with (when the API is called with an API key).
    #[must_use]
    pub fn webhook_auth_token(mut self, token: impl Into<SecretString>) -> Self {
        self.webhook_auth_token = Some(token.into());
        self
    }

    /// The REST API base URL (for tests and mocks).
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The Lookups base URL (for tests and mocks).
    #[must_use]
    pub fn lookups_base_url(mut self, url: impl Into<String>) -> Self {
        self.lookups_base_url = Some(url.into());
        self
    }

    /// A connection for `tenant`'s connection `id` made from this config: the way to use
    /// Twilio without the connection service. The connection service makes the same
    /// connection from a stored config through [`super::TwilioIntegration`]; in both cases
    /// [`super::TwilioClient::from_connection`] gives the typed client.
    ///
    /// The base URLs are the host's to trust here; configs typed in by tenants belong in the
    /// connection service, which checks them against the switchboard's endpoint policy.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Config`] error naming the JSON pointer of the field at fault
    /// (never its value).
    pub fn connection(
        &self,
        switchboard: &Switchboard,
        tenant: impl Into<TenantId>,
        id: impl Into<ConnectionId>,
    ) -> Result<Connection, Error> {
        let connector = TwilioConnector::new();
        let resolved = self.resolve(&connector)?;
        switchboard
            .connection(Arc::new(connector))
            .tenant(tenant)
            .id(id)
            .base_url(resolved.base_url)
            .auth(Arc::new(resolved.auth))
            .settings(resolved.settings)
            .build()
    }

    /// The verifier of this account's webhooks: Twilio signs them with the account's auth
    /// token (`webhook_auth_token`, else `auth_token`), never with an API key secret.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Config`] error naming `/webhook_auth_token` when the config has
    /// no auth token.
    pub fn webhook_verifier(&self) -> Result<TwilioVerifier, Error> {
        let token = self
            .webhook_auth_token
            .as_ref()
            .or(self.auth_token.as_ref())
            .ok_or_else(|| {
                FieldError::new(
                    "/webhook_auth_token",
                    "is required to verify webhooks when the config has no `auth_token`",
                )
            })?;
        Ok(TwilioVerifier::builder()
            .auth_token(token.clone())
            .build()?)
    }

    /// Checks every field and splits the config into what the connection needs.
    pub(crate) fn resolve(&self, connector: &TwilioConnector) -> Result<Resolved, FieldError> {
        const SID_SHAPE: &str = "must be `{}` followed by 32 hexadecimal digits";
        let sid = |pointer: &str, value: &str, prefix: &str| {
            if is_sid(value, prefix) {
                Ok(())
            } else {
                Err(FieldError::new(pointer, SID_SHAPE.replace("{}", prefix)))
            }
        };
        sid("/account_sid", self.account_sid.as_str(), "AC")?;
        if let Some(s) = &self.subaccount_sid {
            sid("/subaccount_sid", s.as_str(), "AC")?;
        }
        if let Some(s) = &self.messaging_service_sid {
            sid("/messaging_service_sid", s.as_str(), "MG")?;
        }
        let not_empty = |pointer: &str, s: &SecretString| {
            if s.expose_secret().is_empty() {
                Err(FieldError::new(pointer, "must not be empty"))
            } else {
                Ok(())
            }
        };
        let key = (&self.api_key_sid, &self.api_key_secret);
        let (auth, api_key_sid) = match (&self.auth_token, key) {
            (Some(_), (Some(_), _) | (_, Some(_))) => {
                return Err(FieldError::new(
                    "",
                    "give either an auth token or an API key and secret, not both",
                ))
            }
            (Some(token), (None, None)) => {
                not_empty("/auth_token", token)?;
                (
                    BasicAuth::new(self.account_sid.as_str(), token.clone()),
                    None,
                )
            }
            (None, (Some(key_sid), Some(secret))) => {
                sid("/api_key_sid", key_sid.as_str(), "SK")?;
                not_empty("/api_key_secret", secret)?;
                (
                    BasicAuth::new(key_sid.as_str(), secret.clone()),
                    Some(key_sid.clone()),
                )
            }
            (None, (Some(_), None)) => {
                return Err(FieldError::new(
                    "/api_key_secret",
                    "is required with `api_key_sid`",
                ))
            }
            (None, (None, Some(_))) => {
                return Err(FieldError::new(
                    "/api_key_sid",
                    "is required with `api_key_secret`",
                ))
            }
            (None, (None, None)) => {
                return Err(FieldError::new(
                    "",
                    "an auth token or an API key and secret is required",
                ))
            }
        };
        if let Some(t) = &self.webhook_auth_token {
            not_empty("/webhook_auth_token", t)?;
        }
        let base_url = check_url("/base_url", self.base_url.as_deref(), connector.base_url())?;
        let lookups_base_url = check_url(
            "/lookups_base_url",
            self.lookups_base_url.as_deref(),
            connector.lookups_base_url(),
        )?;
        let scope = self
            .subaccount_sid
            .clone()
            .unwrap_or_else(|| self.account_sid.clone());
        Ok(Resolved {
            auth,
            settings: TwilioSettings {
                account_path: format!("/2010-04-01/Accounts/{scope}"),
                account_sid: self.account_sid.clone(),
                scope,
                api_key_sid,
                default_from: self.from_number.clone().filter(|s| !s.is_empty()),
                messaging_service_sid: self.messaging_service_sid.clone(),
                lookups_base_url,
            },
            base_url,
        })
    }
}

fn check_url(pointer: &str, given: Option<&str>, default: &str) -> Result<String, FieldError> {
    let raw = given.unwrap_or(default);
    let url = url::Url::parse(raw).map_err(|_| FieldError::new(pointer, "is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(FieldError::new(pointer, "must be an http or https URL"));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

/// A Twilio connection's settings that are not secret: the account, the scope calls are made
/// for, the default sender and the Lookups host. Made from a [`TwilioConfig`] when a
/// connection is bound, kept in the connection ([`Connection::settings`]), read by
/// [`super::TwilioClient`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    account_sid: AccountSid,
    scope: AccountSid,
    account_path: String,
    api_key_sid: Option<ApiKeySid>,
    default_from: Option<String>,
    messaging_service_sid: Option<MessagingServiceSid>,
    lookups_base_url: String,
}

impl TwilioSettings {
    /// The account SID the credentials belong to.
    pub fn account_sid(&self) -> &AccountSid {
        &self.account_sid
    }

    /// The account calls are made for: the subaccount when one is set, else the account.
    pub fn scope(&self) -> &AccountSid {
        &self.scope
    }

    /// The API key the connection authenticates with, if not the auth token.
    pub fn api_key_sid(&self) -> Option<&ApiKeySid> {
        self.api_key_sid.as_ref()
    }

    /// The default sender, if configured.
    pub fn default_from(&self) -> Option<&str> {
        self.default_from.as_deref()
    }

    /// The default Messaging Service, if configured.
    pub fn messaging_service_sid(&self) -> Option<&MessagingServiceSid> {
        self.messaging_service_sid.as_ref()
    }

    /// The Lookups base URL.
    pub fn lookups_base_url(&self) -> &str {
        &self.lookups_base_url
    }

    /// `/2010-04-01/Accounts/{scope}`, the prefix of every v2010 path.
    pub(crate) fn account_path(&self) -> &str {
        &self.account_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn pointer(config: &TwilioConfig) -> String {
        match config.resolve(&TwilioConnector::new()) {
            Ok(_) => panic!("expected an error for {config:?}"),
            Err(e) => {
                assert!(!e.to_string().contains("CANARY"), "{e}");
                e.pointer
            }
        }
    }

    #[test]
    fn refuses_each_bad_field_by_its_pointer() {
        assert_eq!(
            pointer(&TwilioConfig::new("AC-CANARY", "t")),
            "/account_sid"
        );
        assert_eq!(pointer(&TwilioConfig::new(AC, "")), "/auth_token");
        assert_eq!(
            pointer(&TwilioConfig::new(AC, "t").subaccount_sid("AC1")),
            "/subaccount_sid"
        );
        assert_eq!(
            pointer(&TwilioConfig::new(AC, "t").messaging_service_sid("MG1")),
            "/messaging_service_sid"
        );
        assert_eq!(
            pointer(&TwilioConfig::with_api_key(AC, "SK-CANARY", "s")),
            "/api_key_sid"
        );
        assert_eq!(
            pointer(&TwilioConfig::with_api_key(AC, SK, "")),
            "/api_key_secret"
        );
        let mut both = TwilioConfig::new(AC, "CANARY-t");
        both.api_key_sid = Some(ApiKeySid::new(SK));
        assert_eq!(pointer(&both), "");
        let mut key_only = TwilioConfig::with_api_key(AC, SK, "s");
        key_only.api_key_secret = None;
        assert_eq!(pointer(&key_only), "/api_key_secret");
        let mut none = TwilioConfig::new(AC, "t");
        none.auth_token = None;
        assert_eq!(pointer(&none), "");
        assert_eq!(
            pointer(&TwilioConfig::new(AC, "t").base_url("ftp://CANARY")),
            "/base_url"
        );
        assert_eq!(
            pointer(&TwilioConfig::new(AC, "t").lookups_base_url("CANARY")),
            "/lookups_base_url"
        );
    }

    #[test]
    fn settings_scope_to_the_subaccount_and_authenticate_as_the_parent() {
        let sub = format!("AC{}", "c".repeat(32));
        let r = TwilioConfig::new(AC, "t")
            .subaccount_sid(&sub)
            .from_number("+15017122661")
            .resolve(&TwilioConnector::new())
            .unwrap();
        assert_eq!(r.settings.scope().as_str(), sub);
        assert_eq!(r.settings.account_sid().as_str(), AC);
        assert_eq!(
            r.settings.account_path(),
            format!("/2010-04-01/Accounts/{sub}")
        );
        assert_eq!(r.settings.default_from(), Some("+15017122661"));
        assert_eq!(
            r.settings.lookups_base_url(),
            super::super::DEFAULT_LOOKUPS_BASE_URL
        );
        assert_eq!(r.base_url, super::super::DEFAULT_BASE_URL);
    }

    #[test]
    fn debug_redacts_every_secret() {
        let mut c =
            TwilioConfig::with_api_key(AC, SK, "CANARY-secret").webhook_auth_token("CANARY-hook");
        c.auth_token = Some("CANARY-token".into());
        let text = format!("{c:?}");
        assert!(!text.contains("CANARY"), "{text}");
        assert!(text.contains(AC) && text.contains("[redacted]"), "{text}");
    }
}
