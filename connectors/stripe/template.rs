//! [`StripeIntegration`]: the `stripe` template (config as JSON Schema) and its binding to a
//! [`StripeConnector`] with bearer auth.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::{
    CreateWebhookEndpoint, StripeClient, StripeConfig, StripeConnector, StripeVerifier,
    WebhookEndpointId, DEFAULT_API_VERSION, DEFAULT_BASE_URL,
};
use crate::auth::BearerToken;
use crate::templates::{
    ActivationContext, ConfigChanges, ConnectionConfig, Integration, IntegrationBinding,
    IntegrationTemplate, WebhookRouting,
};
use crate::webhook::WebhookVerifier;
use crate::{ConfigError, Connection, Error, ErrorKind, ProviderError};

/// The Stripe integration: template name `stripe`.
///
/// Config fields: `secret_key` (required, secret, `sk_...` or restricted `rk_...`),
/// `webhook_secret` (optional, secret, `whsec_...`), `webhook_secret_previous` (optional,
/// secret: the endpoint's previous secret, also accepted while rolling it),
/// `webhook_endpoint_id` (optional, `we_...`: the endpoint activation created), `api_version`
/// (default [`DEFAULT_API_VERSION`]), `account_id` (optional Connect account) and `base_url`
/// (default [`DEFAULT_BASE_URL`]).
///
/// Activation ([`Integration::activate`]): when the host serves webhooks
/// (`Connections::with_webhook_base_url`) and the connection has neither a `webhook_secret`
/// nor a `webhook_endpoint_id` (nor an `account_id`: Connect events come to the platform's
/// one endpoint), a successful test creates a webhook endpoint for the connection's own URL
/// (`POST /v1/webhook_endpoints`, events [`Self::webhook_events`], metadata naming the tenant
/// and connection, so a leftover can be traced) and keeps its `id` as `webhook_endpoint_id`
/// and its signing `secret`, sealed, as `webhook_secret`: the router verifies that
/// connection's webhooks with it. Disconnecting or deleting the connection deletes that
/// endpoint (one already gone counts as deleted) and clears both fields.
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
    webhook_events: Vec<String>,
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
                 2. Webhooks: if this app registers them for you, leave the signing secret \
                 empty; otherwise add an endpoint under **Developers → Webhooks** and copy its \
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
                    "webhook_endpoint_id": {
                        "type": "string",
                        "title": "Webhook endpoint (registered on activation)",
                        "pattern": "^we_[A-Za-z0-9_]+$",
                        "x-error-message": {"pattern": "must start with we_ followed by letters, digits and underscores"}
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
        StripeIntegration {
            template,
            webhook_events: vec!["*".to_string()],
        }
    }

    /// The event types the webhook endpoints made by activation subscribe to (default `["*"]`,
    /// every event).
    #[must_use]
    pub fn with_webhook_events<I, S>(mut self, events: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.webhook_events = events.into_iter().map(Into::into).collect();
        self
    }

    /// The event types activation subscribes endpoints to.
    pub fn webhook_events(&self) -> &[String] {
        &self.webhook_events
    }
}

#[async_trait]
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

    async fn activate(&self, ctx: &ActivationContext<'_>) -> Result<ConfigChanges, Error> {
        let config = ctx.config();
        let Some(url) = ctx.webhook_url() else {
            return Ok(ConfigChanges::new());
        };
        // Registered already, verified with a secret the tenant gave, or a Connect account
        // (the platform's one endpoint receives its events): nothing to do.
        if config.str("webhook_endpoint_id").is_some()
            || config.secret("webhook_secret").is_some()
            || config.str("account_id").is_some()
        {
            return Ok(ConfigChanges::new());
        }
        let client = StripeClient::from_connection(ctx.connection()?.clone())
            .map_err(|e| e.core().clone())?;
        let params = CreateWebhookEndpoint::new()
            .url(url)
            .enabled_events(self.webhook_events.clone())
            .description(format!(
                "switchboard: tenant {}, connection {}",
                ctx.tenant(),
                ctx.connection_id()
            ))
            .metadata("switchboard_tenant", ctx.tenant().as_str())
            .metadata("switchboard_connection", ctx.connection_id().as_str());
        let endpoint = client
            .webhook_endpoints()
            .create(params)
            .await
            .map_err(|e| e.core().clone())?;
        let Some(secret) = endpoint.secret else {
            // Unusable without its secret: removed again rather than left behind.
            let removed = client.webhook_endpoints().delete(&endpoint.id).await;
            return Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "Stripe created webhook endpoint `{}` without a signing secret; {}",
                    endpoint.id,
                    match removed {
                        Ok(_) => "it was deleted again".to_string(),
                        Err(e) => format!("deleting it again failed too: {}", e.core()),
                    }
                ),
            ));
        };
        Ok(ConfigChanges::new()
            .set("webhook_endpoint_id", endpoint.id.as_str())
            .set_secret("webhook_secret", secret))
    }

    async fn deactivate(&self, ctx: &ActivationContext<'_>) -> Result<ConfigChanges, Error> {
        let Some(id) = ctx.config().str("webhook_endpoint_id") else {
            return Ok(ConfigChanges::new());
        };
        let connection = ctx.connection().map_err(|e| {
            Error::new(
                e.kind(),
                format!("cannot delete Stripe webhook endpoint `{id}`: {e}"),
            )
        })?;
        let client =
            StripeClient::from_connection(connection.clone()).map_err(|e| e.core().clone())?;
        match client
            .webhook_endpoints()
            .delete(&WebhookEndpointId::new(id))
            .await
        {
            Ok(_) => {}
            // Deleted already (by hand, or by an earlier try whose answer was lost).
            Err(e) if e.status() == Some(http::StatusCode::NOT_FOUND) => {}
            // The error's URL names the endpoint (`/v1/webhook_endpoints/we_...`).
            Err(e) => return Err(e.core().clone()),
        }
        Ok(ConfigChanges::new()
            .remove("webhook_endpoint_id")
            .remove("webhook_secret")
            .remove("webhook_secret_previous"))
    }
}
