//! [`DocuSignIntegration`]: the `docusign` template (config as JSON Schema), its binding to a
//! [`DocuSignConnector`] with the connection's token grant, the check (userinfo, then the
//! account), the activation that stores the account's id and API host, and the connection's
//! Connect webhook verifier.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::auth::{consent_url, grant_fingerprint, grant_of, oauth_client};
use super::client::DocuSignSettings;
use super::error::{error_code, is_consent_failure};
use super::models::{AccountId, UserInfo, UserInfoAccount};
use super::{
    DocuSignClient, DocuSignConfig, DocuSignConnector, DocuSignError, DocuSignVerifier, API_VERSION,
};
use crate::templates::{
    ActivationContext, ConfigChanges, ConnectionConfig, Integration, IntegrationBinding,
    IntegrationTemplate,
};
use crate::tokens::{OAuthClient, TokenGrant};
use crate::webhook::WebhookVerifier;
use crate::{ConfigError, Connection, Error, ProviderError};

/// Grants kept per distinct grant settings: building one makes an HTTP client.
const GRANT_CACHE_CAPACITY: u64 = 10_000;

/// The DocuSign integration: template name `docusign`.
///
/// Config fields: `integration_key` (required), `grant` (`jwt`, the default, or
/// `authorization_code`), `user_id` and `private_key` (secret, PEM) for the JWT grant,
/// `client_secret` (secret) for the authorization-code grant, `redirect_uri` (the consent
/// URL's and the code flow's), `environment` (`demo`, the default, or `production`),
/// `auth_base_url` (overrides the environment's host), `account_id` (default: the user's
/// default account), `base_uri` (the account's API host, filled in by activation),
/// `connect_hmac_key` and `connect_hmac_key_previous` (secret: Connect's HMAC keys) and
/// `status_poll_interval_secs`.
///
/// Tokens come from the connection service's token manager
/// ([`Connections::with_tokens`](crate::connections::Connections::with_tokens)): the
/// binding carries the connection's grant, so each connection's token is kept and renewed on
/// its own (one new JWT token shortly before the hour is up, minted once across replicas).
/// When the user has not consented, the token request fails with `consent_required` and the
/// connection moves to `error` with a "grant consent" message holding the consent URL (with
/// `redirect_uri` set).
///
/// The check asks `/oauth/userinfo` for the user's accounts, picks `account_id` (or the
/// default account), and reads that account from its own API host. Activation (after a
/// successful check) stores the account's id and `base_uri`, so calls go to the account's API
/// host, never a hard-coded one; a later check notices an account that moved.
///
/// Connect webhooks: each connection's are verified with that connection's
/// `connect_hmac_key` (and `connect_hmac_key_previous` while rotating) only
/// ([`Integration::webhook_verifier`], a [`DocuSignVerifier`]); once the connection's
/// `account_id` is known, only events whose `data.accountId` is that account pass, so a key that
/// signs several accounts' events (a partner's) cannot carry one account's events into another
/// tenant's connection.
#[derive(Debug, Clone)]
pub struct DocuSignIntegration {
    template: IntegrationTemplate,
    grants: moka::sync::Cache<[u8; 32], Arc<dyn TokenGrant>>,
}

impl Default for DocuSignIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl DocuSignIntegration {
    /// The integration with its template.
    pub fn new() -> Self {
        let template = IntegrationTemplate::builder("docusign")
            .display_name("DocuSign eSignature")
            .category("esignature")
            .api_version(API_VERSION)
            .webhooks(true)
            .setup_instructions(
                "1. In DocuSign's Apps and Keys page, add an app (integration key). For the JWT \
                 grant, generate an RSA key pair and paste the private key; copy your user id \
                 (API Username). Add a redirect URI.\n\
                 2. Grant consent once by opening the consent URL (shown in the connection's \
                 error until it is granted).\n\
                 3. Webhooks: in Connect, add an HMAC key and paste it here.",
            )
            .config_schema(json!({
                "type": "object",
                "required": ["integration_key"],
                "additionalProperties": false,
                "properties": {
                    "integration_key": {"type": "string", "title": "Integration key", "minLength": 1},
                    "grant": {"type": "string", "title": "Grant", "enum": ["jwt", "authorization_code"], "default": "jwt"},
                    "user_id": {"type": "string", "title": "User id (JWT subject)", "minLength": 1},
                    "private_key": {
                        "type": "string", "title": "RSA private key (PEM)", "format": "password",
                        "pattern": "^-----BEGIN (RSA )?PRIVATE KEY-----",
                        "x-error-message": {"pattern": "must be a PEM private key starting with -----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----"}
                    },
                    "client_secret": {"type": "string", "title": "Secret key", "format": "password", "minLength": 1},
                    "redirect_uri": {"type": "string", "title": "Redirect URI", "pattern": "^https?://", "x-error-message": {"pattern": "must be an http or https URL"}},
                    "environment": {"type": "string", "title": "Environment", "enum": ["demo", "production"], "default": "demo"},
                    "auth_base_url": {"type": "string", "title": "Authentication host", "pattern": "^https?://", "x-error-message": {"pattern": "must be an http or https URL"}},
                    "account_id": {"type": "string", "title": "Account id (default: the user's default account)", "minLength": 1},
                    "base_uri": {"type": "string", "title": "Account API host (looked up)", "pattern": "^https?://", "x-error-message": {"pattern": "must be an http or https URL"}},
                    "connect_hmac_key": {"type": "string", "title": "Connect HMAC key", "format": "password", "minLength": 1},
                    "connect_hmac_key_previous": {"type": "string", "title": "Previous Connect HMAC key (while rotating)", "format": "password", "minLength": 1},
                    "status_poll_interval_secs": {"type": "integer", "title": "Least seconds between status reads of one envelope", "minimum": 0, "default": 900}
                }
            }))
            // Tenant-supplied hosts must be https and public unless the host allows them.
            .endpoint_url_field("auth_base_url")
            .endpoint_url_field("base_uri")
            .build()
            .expect("the DocuSign template is valid");
        DocuSignIntegration {
            template,
            grants: moka::sync::Cache::builder()
                .max_capacity(GRANT_CACHE_CAPACITY)
                .build(),
        }
    }

    /// The OAuth client of an authorization-code connection's config: a host runs the code
    /// flow with it ([`OAuthClient::authorize_url`], [`OAuthClient::exchange_code`]) and stores
    /// the token with [`TokenManager::store_token`](crate::tokens::TokenManager::store_token).
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the config is not a valid
    /// authorization-code config.
    pub fn oauth_client(config: &ConnectionConfig) -> Result<OAuthClient, Error> {
        oauth_client(&DocuSignConfig::from_config(config)?)
    }

    fn grant(&self, config: &DocuSignConfig) -> Result<Arc<dyn TokenGrant>, Error> {
        self.grants
            .try_get_with(grant_fingerprint(config), || grant_of(config))
            .map_err(|e| (*e).clone())
    }
}

/// The account of `info` the config names, or the default one.
fn pick_account<'i>(
    info: &'i UserInfo,
    chosen: Option<&str>,
) -> Result<&'i UserInfoAccount, Error> {
    info.account(chosen).ok_or_else(|| match chosen {
        Some(id) => Error::config(
            "docusign.account_id",
            format!("`{id}` is not one of the user's accounts"),
        ),
        None => Error::config(
            "docusign.account_id",
            "the user has no default account: choose one",
        ),
    })
}

/// The "grant consent" advice for a failure that says the user's consent is missing or their
/// authentication failed (`consent_required`, `USER_AUTHENTICATION_FAILED`), with the consent
/// URL when the config has a redirect URI. `None` for other failures, and when the message
/// already carries the advice (the JWT grant's own `consent_required` error).
fn consent_advice(consent: Option<&str>, e: &Error) -> Option<String> {
    let text = e.to_string();
    if text.contains("grant consent") {
        return None;
    }
    let code = e.body().and_then(|b| error_code(b));
    is_consent_failure(code.as_deref(), &text).then(|| match consent {
        Some(url) => format!("grant consent: the user must open {url} once"),
        None => "grant consent: the user must consent to the app once (set redirect_uri to get the consent URL)".to_string(),
    })
}

fn core(e: DocuSignError) -> Error {
    e.core().clone()
}

#[async_trait]
impl Integration for DocuSignIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// `GET {auth}/oauth/userinfo`, then `GET /restapi/v2.1/accounts/{id}` on the account's
    /// own API host.
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        let client = DocuSignClient::from_connection(connection.clone()).map_err(core)?;
        let info = client.user_info().await.map_err(core)?;
        let chosen = client.account_id().map(AccountId::as_str);
        let account = pick_account(&info, chosen)?;
        let api = connection.derive_with_base_url(account.base_uri.trim_end_matches('/'))?;
        DocuSignClient::from_connection(api)
            .map_err(core)?
            .with_account(account.account_id.as_str())
            .with_api_ready()
            .account()
            .await
            .map(|_| ())
            .map_err(core)
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let config = DocuSignConfig::from_config(config)?;
        let grant = self.grant(&config)?;
        let base_uri = config
            .base_uri
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .filter(|u| !u.is_empty());
        let settings = DocuSignSettings {
            account_id: config.account_id.clone().map(AccountId::new),
            api_ready: base_uri.is_some(),
            auth_base_url: config.auth_base_url().to_string(),
            status_poll_interval: config
                .status_poll_interval_secs
                .map_or(super::DEFAULT_STATUS_POLL_INTERVAL, Duration::from_secs),
        };
        let base_url = base_uri.unwrap_or(config.auth_base_url()).to_string();
        let consent = config
            .redirect_uri
            .as_deref()
            .and_then(|r| consent_url(config.auth_base_url(), &config.integration_key, r).ok());
        Ok(
            IntegrationBinding::new(Arc::new(DocuSignConnector::new()), base_url, None)
                .with_token_grant(grant)
                .with_settings(settings)
                .with_error_hint(Arc::new(move |e: &Error| {
                    consent_advice(consent.as_deref(), e)
                })),
        )
    }

    /// The connection's Connect verifier: its `connect_hmac_key` and, while rotating,
    /// `connect_hmac_key_previous`, bound to its `account_id` once that is known.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming
    /// `docusign.connect_hmac_key` when the connection has no Connect HMAC key: its webhooks
    /// are then refused (fail closed).
    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let config = DocuSignConfig::from_config(config)?;
        let Some(key) = config.connect_hmac_key else {
            return Err(ConfigError::new(
                "docusign.connect_hmac_key",
                "is required to verify this connection's Connect webhooks",
            )
            .into());
        };
        let mut builder = DocuSignVerifier::builder().key(key);
        if let Some(previous) = config.connect_hmac_key_previous {
            builder = builder.key(previous);
        }
        if let Some(account) = config.account_id.filter(|a| !a.trim().is_empty()) {
            builder = builder.account_id(account);
        }
        Ok(Arc::new(builder.build()?))
    }

    /// Stores the account's id and `base_uri` (from `/oauth/userinfo`) when they are not
    /// stored yet or changed; idempotent.
    async fn activate(&self, ctx: &ActivationContext<'_>) -> Result<ConfigChanges, Error> {
        let config = DocuSignConfig::from_config(ctx.config())?;
        let client = DocuSignClient::from_connection(ctx.connection()?.clone()).map_err(core)?;
        let info = client.user_info().await.map_err(core)?;
        let account = pick_account(&info, config.account_id.as_deref())?;
        let base_uri = account.base_uri.trim_end_matches('/');
        let mut changes = ConfigChanges::new();
        if config.account_id.as_deref() != Some(account.account_id.as_str()) {
            changes = changes.set("account_id", account.account_id.as_str());
        }
        if config.base_uri.as_deref().map(|u| u.trim_end_matches('/')) != Some(base_uri) {
            changes = changes.set("base_uri", base_uri);
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn consent_advice_names_the_url_only_for_consent_failures() {
        let url = Some("https://account-d.docusign.com/oauth/auth?x=1");
        let other = Error::new(ErrorKind::Status, "provider answered 400");
        assert_eq!(consent_advice(url, &other), None);
        let consent = Error::auth("the provider refused the token request (`consent_required`)");
        assert_eq!(
            consent_advice(url, &consent).as_deref(),
            Some("grant consent: the user must open https://account-d.docusign.com/oauth/auth?x=1 once")
        );
        // The JWT grant's own message already holds the advice: not repeated.
        let advised = Error::auth("… (`consent_required`): grant consent: the user must open …");
        assert_eq!(consent_advice(url, &advised), None);
        // Without a redirect URI there is no URL to give, but the advice still says what to do.
        assert!(consent_advice(None, &consent)
            .unwrap()
            .contains("set redirect_uri"));
    }

    #[test]
    fn webhook_verifier_uses_this_connections_keys_and_account() {
        use crate::webhook::{WebhookError, WebhookRequest};
        use std::collections::BTreeMap;

        let integration = DocuSignIntegration::new();
        let config = |plain: serde_json::Value, keys: &[(&str, &str)]| {
            let secrets = keys
                .iter()
                .map(|(k, v)| (k.to_string(), crate::SecretString::from(v.to_string())))
                .collect::<BTreeMap<_, _>>();
            ConnectionConfig::new(plain, secrets)
        };
        let err = integration
            .webhook_verifier(&config(json!({"integration_key": "ik"}), &[]))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains("docusign.connect_hmac_key"),
            "{err}"
        );

        let keys = [
            ("connect_hmac_key", "CANARY-current"),
            ("connect_hmac_key_previous", "CANARY-previous"),
        ];
        let verifier = integration
            .webhook_verifier(&config(json!({"integration_key": "ik"}), &keys))
            .unwrap();
        assert!(!format!("{verifier:?}").contains("CANARY"));
        let body = br#"{"event":"envelope-sent","generatedDateTime":"t","data":{"accountId":"acct-1","envelopeId":"e"}}"#;
        let signed_by = |key: &str| {
            let mut h = http::HeaderMap::new();
            let sig = DocuSignVerifier::new(key.to_string()).sign(body).unwrap();
            h.insert(super::super::SIGNATURE_HEADER, sig.parse().unwrap());
            h
        };
        for key in ["CANARY-current", "CANARY-previous"] {
            let h = signed_by(key);
            assert!(verifier.verify(&WebhookRequest::new(body, &h)).is_ok());
        }
        let h = signed_by("another-connections-key");
        assert!(matches!(
            verifier.verify(&WebhookRequest::new(body, &h)),
            Err(WebhookError::NoSignatureMatched { .. })
        ));

        // Once the account is known, another account's event does not pass, even when signed
        // with this connection's key.
        let h = signed_by("CANARY-current");
        let own = integration
            .webhook_verifier(&config(
                json!({"integration_key": "ik", "account_id": "acct-1"}),
                &keys,
            ))
            .unwrap();
        assert!(own.verify(&WebhookRequest::new(body, &h)).is_ok());
        let other = integration
            .webhook_verifier(&config(
                json!({"integration_key": "ik", "account_id": "acct-2"}),
                &keys,
            ))
            .unwrap();
        assert!(other.verify(&WebhookRequest::new(body, &h)).is_err());
    }

    #[test]
    fn bind_refuses_a_jwt_config_without_its_user_or_a_usable_key() {
        use std::collections::BTreeMap;
        let integration = DocuSignIntegration::new();
        let config = ConnectionConfig::new(json!({"integration_key": "ik"}), BTreeMap::new());
        let err = integration.bind(&config).unwrap_err();
        assert!(err.to_string().contains("docusign.user_id"), "{err}");
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "private_key".to_string(),
            crate::SecretString::from(
                "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
            ),
        );
        let config =
            ConnectionConfig::new(json!({"integration_key": "ik", "user_id": "u"}), secrets);
        let err = integration.bind(&config).unwrap_err();
        assert!(err.to_string().contains("docusign.private_key"), "{err}");
        assert!(!err.to_string().contains("not a key"), "{err}");
    }
}
