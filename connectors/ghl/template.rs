//! [`GhlIntegration`]: the `ghl` template (the seed platform's fields, as JSON Schema), its
//! binding to a [`GhlConnector`] with a Private Integration Token or the connection's OAuth
//! grant, the check (the location's name and the API version), webhook routing by
//! `locationId` and the verifier of GoHighLevel's signatures.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::config::GhlAuth;
use super::{GhlClient, GhlConfig, GhlConnector, GhlError, GhlVerifier, API_VERSION};
use crate::auth::BearerToken;
use crate::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, WebhookRouting,
};
use crate::tokens::{ClientAuth, OAuthClient, TokenGrant};
use crate::webhook::WebhookVerifier;
use crate::{Connection, Error, ExposeSecret, ProviderError};

/// Where a marketplace app's users choose the location to install it on.
pub const AUTHORIZE_URL: &str = "https://marketplace.gohighlevel.com/oauth/chooselocation";

/// The scopes the authorization URL asks for: what the connector's calls need (contacts,
/// locations, calendars and their events, opportunities, conversations and messages).
pub const OAUTH_SCOPES: &[&str] = &[
    "contacts.readonly",
    "contacts.write",
    "locations.readonly",
    "calendars.readonly",
    "calendars.write",
    "calendars/events.readonly",
    "calendars/events.write",
    "opportunities.readonly",
    "opportunities.write",
    "conversations.readonly",
    "conversations/message.write",
];

/// Grants kept per distinct app settings: building one makes an HTTP client.
const GRANT_CACHE_CAPACITY: u64 = 10_000;

/// The GoHighLevel integration: template name `ghl`.
///
/// Config fields (the seed platform's): `apiKey` (secret: a Private Integration Token),
/// `locationId` (required: the location, and the webhook routing key), `calendarId` (the
/// calendar bookings go to), `webhookUrl` (where the app's webhooks are sent, for the record),
/// `apiVersion` (the `Version` header, default `2021-07-28`), `baseUrl` (default
/// `https://services.leadconnectorhq.com`), `clientId` and `clientSecret` (secret: a
/// marketplace app).
///
/// With `apiKey` every call carries it as a bearer token. With `clientId` and `clientSecret`
/// the binding carries the connection's OAuth grant: the host runs the code flow
/// ([`GhlIntegration::oauth_client`]) and stores the token with
/// [`TokenManager::store_token`](crate::tokens::TokenManager::store_token); the token
/// manager then renews it. GoHighLevel's refresh tokens are single use: a refresh is made once
/// across replicas (the manager's refresh lock) and never resent once it may have reached
/// GoHighLevel, so two replicas never spend the same refresh token.
///
/// Webhooks: GoHighLevel posts every location's events to the app's one URL, so the route is
/// payload-routed by `locationId` ([`WebhookRoute::payload_routed`](crate::webhook::router::WebhookRoute::payload_routed));
/// events are verified with GoHighLevel's public keys ([`GhlVerifier`]), configurable with
/// [`GhlIntegration::with_verifier`].
#[derive(Debug, Clone)]
pub struct GhlIntegration {
    template: IntegrationTemplate,
    verifier: Arc<GhlVerifier>,
    grants: moka::sync::Cache<[u8; 32], Arc<dyn TokenGrant>>,
}

impl Default for GhlIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl GhlIntegration {
    /// The integration with its template and GoHighLevel's published webhook keys.
    pub fn new() -> Self {
        #[allow(clippy::expect_used)]
        let template = IntegrationTemplate::builder("ghl")
            .display_name("GoHighLevel")
            .category("crm")
            .api_version(API_VERSION)
            .webhooks(true)
            .setup_instructions(
                "1. Private Integration: in the sub-account, Settings → Private Integrations, \
                 create a token with the contacts, calendars, opportunities, conversations and \
                 locations scopes, and paste it as the API key.\n\
                 2. Or a marketplace app: paste its client id and secret, then connect the \
                 location through the app's install link.\n\
                 3. Copy the location id (Settings → Business Profile) and, for bookings, the \
                 calendar id.",
            )
            .config_schema(json!({
                "type": "object",
                "required": ["locationId"],
                "additionalProperties": false,
                "properties": {
                    "apiKey": {"type": "string", "title": "API Key", "format": "password", "minLength": 1},
                    "locationId": {"type": "string", "title": "Location ID", "minLength": 3},
                    "calendarId": {"type": "string", "title": "Calendar ID", "minLength": 1},
                    "webhookUrl": {"type": "string", "title": "Webhook URL", "pattern": "^https?://", "x-error-message": {"pattern": "must be an http or https URL"}},
                    "apiVersion": {"type": "string", "title": "API Version", "default": API_VERSION, "minLength": 1},
                    "baseUrl": {"type": "string", "title": "Base URL", "default": super::DEFAULT_BASE_URL, "pattern": "^https?://", "x-error-message": {"pattern": "must be an http or https URL"}},
                    "clientId": {"type": "string", "title": "Client ID", "minLength": 1},
                    "clientSecret": {"type": "string", "title": "Client Secret", "format": "password", "minLength": 1}
                }
            }))
            .endpoint_url_field("baseUrl")
            .build()
            .expect("the GoHighLevel template is valid");
        GhlIntegration {
            template,
            verifier: Arc::new(GhlVerifier::published()),
            grants: moka::sync::Cache::builder()
                .max_capacity(GRANT_CACHE_CAPACITY)
                .build(),
        }
    }

    /// The same integration verifying webhooks with `verifier` (other keys, the RSA fallback
    /// turned off).
    #[must_use]
    pub fn with_verifier(mut self, verifier: GhlVerifier) -> Self {
        self.verifier = Arc::new(verifier);
        self
    }

    /// The OAuth client of a marketplace app's connection config: a host runs the code flow
    /// with it ([`OAuthClient::authorize_url`], [`OAuthClient::exchange_code`]) and stores the
    /// token with [`TokenManager::store_token`](crate::tokens::TokenManager::store_token).
    /// The authorization URL asks for [`OAUTH_SCOPES`] (the app must have them); token
    /// requests send `user_type=Location`; refresh tokens rotate.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the config has no app credentials.
    pub fn oauth_client(config: &ConnectionConfig) -> Result<OAuthClient, Error> {
        oauth_client(&GhlConfig::from_config(config)?)
    }

    fn grant(&self, config: &GhlConfig) -> Result<Arc<dyn TokenGrant>, Error> {
        self.grants
            .try_get_with(grant_fingerprint(config), || {
                oauth_client(config).map(|c| Arc::new(c) as Arc<dyn TokenGrant>)
            })
            .map_err(|e| (*e).clone())
    }
}

fn oauth_client(config: &GhlConfig) -> Result<OAuthClient, Error> {
    let (Some(id), Some(secret)) = (&config.client_id, &config.client_secret) else {
        return Err(Error::config(
            "ghl.clientId",
            "clientId and clientSecret are required for a marketplace app",
        ));
    };
    OAuthClient::builder()
        .client_id(id.as_str())
        .client_secret(secret.clone())
        .auth_url(AUTHORIZE_URL)
        .token_url(format!("{}/oauth/token", config.base_url()))
        .scopes(OAUTH_SCOPES.iter().copied())
        .client_auth(ClientAuth::RequestBody)
        .token_param("user_type", "Location")
        .rotates_refresh_tokens(true)
        .build()
}

/// A digest of the app settings, secret included: the grant cache's key. Holds no secret.
fn grant_fingerprint(config: &GhlConfig) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    part(config.client_id.as_deref().unwrap_or(""));
    part(
        config
            .client_secret
            .as_ref()
            .map_or("", |s| s.expose_secret()),
    );
    part(config.base_url());
    h.finalize().into()
}

fn core(e: GhlError) -> Error {
    e.core().clone()
}

#[async_trait]
impl Integration for GhlIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// `GET /locations/{locationId}` ([`GhlClient::check`]).
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        let client = GhlClient::from_connection(connection.clone()).map_err(core)?;
        client.check().await.map(|_| ()).map_err(core)
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let config = GhlConfig::from_config(config)?;
        let connector = match config.api_version.as_deref() {
            Some(v) if !v.trim().is_empty() => GhlConnector::with_api_version(v)?,
            _ => GhlConnector::new(),
        };
        let base_url = config.base_url().to_string();
        let settings = config.settings();
        Ok(match config.auth()? {
            GhlAuth::PrivateToken => {
                let token = config.api_key.clone().ok_or_else(|| {
                    Error::config("ghl.apiKey", "is required for a Private Integration")
                })?;
                IntegrationBinding::new(
                    Arc::new(connector),
                    base_url,
                    Some(Arc::new(BearerToken::new(token))),
                )
                .with_settings(settings)
            }
            GhlAuth::OAuth => IntegrationBinding::new(Arc::new(connector), base_url, None)
                .with_token_grant(self.grant(&config)?)
                .with_settings(settings),
        })
    }

    /// GoHighLevel's signatures checked with its public keys (the same for every location:
    /// GoHighLevel signs every app's events with one key), bound to the connection's
    /// `locationId`: an event for another location is refused even when its signature is
    /// good, whether it arrives on the payload-routed URL (where the router already picked the
    /// connection by `locationId`) or on this connection's own URL.
    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let config = GhlConfig::from_config(config)?;
        Ok(Arc::new(
            self.verifier.bound_to_location(&config.location_id),
        ))
    }

    /// `locationId` in the config and in every event's body.
    fn webhook_routing(&self) -> Option<WebhookRouting> {
        Some(WebhookRouting::new("locationId", "locationId"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_describes_the_config_type() {
        let t = GhlIntegration::new();
        let schema = t.template().config_schema();
        let mut props: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        props.sort_unstable();
        let mut fields = crate::toolkit::config_fields::<GhlConfig>().to_vec();
        fields.sort_unstable();
        assert_eq!(props, fields);
        assert_eq!(schema["required"], json!(["locationId"]));
        let mut secrets = t.template().secret_fields().to_vec();
        secrets.sort();
        assert_eq!(secrets, ["apiKey", "clientSecret"]);
    }

    #[test]
    fn bind_needs_a_token_or_an_app() {
        use std::collections::BTreeMap;
        let t = GhlIntegration::new();
        let config = ConnectionConfig::new(json!({"locationId": "loc_1"}), BTreeMap::new());
        let err = t.bind(&config).unwrap_err();
        assert!(err.to_string().contains("ghl.apiKey"), "{err}");
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "clientSecret".to_string(),
            crate::SecretString::from("CANARY-s"),
        );
        let config =
            ConnectionConfig::new(json!({"locationId": "loc_1", "clientId": "app"}), secrets);
        let binding = t.bind(&config).unwrap();
        assert!(!format!("{binding:?}").contains("CANARY"));
        let url = GhlIntegration::oauth_client(&config)
            .unwrap()
            .authorize_url()
            .unwrap()
            .url()
            .to_string();
        assert!(url.starts_with(AUTHORIZE_URL), "{url}");
        assert!(
            url.contains("contacts.readonly") && url.contains("client_id=app"),
            "{url}"
        );
        assert!(!url.contains("CANARY"), "{url}");
    }
}
