//! [`StripeIntegration`]: the `stripe` template (config as JSON Schema) and its binding to a
//! [`StripeConnector`] with bearer auth.

use std::sync::Arc;

use serde_json::json;

use super::{StripeConfig, StripeConnector, StripeVerifier, DEFAULT_API_VERSION, DEFAULT_BASE_URL};
use crate::auth::BearerToken;
use crate::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, WebhookRouting,
};
use crate::webhook::WebhookVerifier;
use crate::{ConfigError, Connection, Error};

/// The Stripe integration: template name `stripe`.
///
/// Config fields: `secret_key` (required, secret, `sk_...` or restricted `rk_...`),
/// `webhook_secret` (optional, secret, `whsec_...`), `webhook_secret_previous` (optional,
/// secret: the endpoint's previous secret, also accepted while rolling it), `api_version`
/// (default [`DEFAULT_API_VERSION`]), `account_id` (optional Connect account) and `base_url`
/// (default [`DEFAULT_BASE_URL`]).
///
/// Webhooks: each connection's events are verified with that connection's `webhook_secret`
/// (and `webhook_secret_previous`) only ([`Integration::webhook_verifier`]). Connect events
/// can also arrive on one shared URL: a payload-routed route finds the connection whose
/// `account_id` equals the event's `account` ([`Integration::webhook_routing`]); an
/// `account_id` can then belong to one `stripe` connection only, across every tenant, so the
/// host must check that a tenant really controls the account before storing it.
#[derive(Debug, Clone)]
pub struct StripeIntegration {
    template: IntegrationTemplate,
}

impl Default for StripeIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl StripeIntegration {
    /// The integration with its template.
    pub fn new() -> Self {
        let template = IntegrationTemplate::builder("stripe")
            .display_name("Stripe")
            .category("payments")
            .api_version(DEFAULT_API_VERSION)
            .webhooks(true)
            .setup_instructions(
                "1. In the Stripe Dashboard, open **Developers → API keys** and create a secret \
                 key (`sk_...`) or a restricted key (`rk_...`) with the permissions you need.\n\
                 2. For webhooks, add an endpoint under **Developers → Webhooks** and copy its \
                 signing secret (`whsec_...`).\n\
                 3. For Connect, give the connected account id (`acct_...`).",
            )
            .config_schema(json!({
                "type": "object",
                "required": ["secret_key"],
                "additionalProperties": false,
                "properties": {
                    "secret_key": {
                        "type": "string",
                        "title": "Secret key",
                        "format": "password",
                        "pattern": "^(sk|rk)_[A-Za-z0-9_]+$",
                        "x-error-message": {"pattern": "must start with sk_ (a secret key) or rk_ (a restricted key), followed by letters, digits and underscores"}
                    },
                    "webhook_secret": {
                        "type": "string",
                        "title": "Webhook signing secret",
                        "format": "password",
                        "pattern": "^whsec_",
                        "x-error-message": {"pattern": "must start with whsec_"}
                    },
                    "webhook_secret_previous": {
                        "type": "string",
                        "title": "Previous webhook signing secret (while rolling it)",
                        "format": "password",
                        "pattern": "^whsec_",
                        "x-error-message": {"pattern": "must start with whsec_"}
                    },
                    "api_version": {
                        "type": "string",
                        "title": "API version",
                        "default": DEFAULT_API_VERSION,
                        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}",
                        "x-error-message": {"pattern": "must start with a date such as 2024-06-20"}
                    },
                    "account_id": {
                        "type": "string",
                        "title": "Connected account (Connect)",
                        "pattern": "^acct_[A-Za-z0-9]+$",
                        "x-error-message": {"pattern": "must start with acct_ followed by letters and digits"}
                    },
                    "base_url": {
                        "type": "string",
                        "title": "API base URL",
                        "default": DEFAULT_BASE_URL,
                        "pattern": "^https?://",
                        "x-error-message": {"pattern": "must be an http or https URL"}
                    }
                }
            }))
            // A tenant's base URL must be https and public unless the host allows it.
            .endpoint_url_field("base_url")
            .build()
            .expect("the Stripe template is valid");
        StripeIntegration { template }
    }
}

#[async_trait::async_trait]
impl Integration for StripeIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// `GET /v1/balance`: the cheapest authenticated read, allowed for restricted keys too.
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        connection
            .get("/v1/balance")
            .endpoint("balance.retrieve")
            .send()
            .await
            .map(|_| ())
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let config = StripeConfig::from_config(config)?;
        let mut connector = StripeConnector::builder()
            .api_version(config.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION));
        if let Some(acct) = &config.account_id {
            connector = connector.account(acct.as_str());
        }
        let connector = connector.build()?;
        let base_url = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        if base_url.is_empty() {
            return Err(ConfigError::new("stripe.base_url", "must not be empty").into());
        }
        Ok(IntegrationBinding::new(
            Arc::new(connector),
            base_url,
            Some(Arc::new(BearerToken::new(config.secret_key))),
        ))
    }

    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let Some(current) = config.secret("webhook_secret") else {
            return Err(ConfigError::new(
                "stripe.webhook_secret",
                "is required to verify this connection's webhooks",
            )
            .into());
        };
        let mut builder = StripeVerifier::builder().secret(current.clone());
        if let Some(previous) = config.secret("webhook_secret_previous") {
            builder = builder.secret(previous.clone());
        }
        Ok(Arc::new(builder.build()))
    }

    fn webhook_routing(&self) -> Option<WebhookRouting> {
        Some(WebhookRouting::new("account_id", "account"))
    }
}
