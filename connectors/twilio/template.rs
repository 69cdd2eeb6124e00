//! [`TwilioIntegration`]: the `twilio` template (config as JSON Schema) and its `bind`.

use std::sync::Arc;

use serde_json::json;

use super::config::TwilioConfig;
use super::connector::TwilioConnector;
use crate::templates::{ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate};
use crate::toolkit::typed_config;
use crate::webhook::WebhookVerifier;
use crate::{Connection, Error};

/// The Twilio integration: template `twilio`, bound to the shared [`TwilioConnector`] with a
/// tenant's Basic auth and account settings.
///
/// Config ([`TwilioConfig`], field for field): `account_sid` (required), then either `auth_token` or `api_key_sid` +
/// `api_key_secret` (secrets are `format: password`, so the vault seals them), optional
/// `subaccount_sid`, `messaging_service_sid`, `from_number`, `webhook_auth_token` (secret: the
/// auth token Twilio signs webhooks with, for configs that call the API with an API key), and
/// `base_url` / `lookups_base_url` for tests and mocks.
///
/// Webhooks are verified per connection with that connection's `webhook_auth_token`, else its
/// `auth_token` ([`Integration::webhook_verifier`]); the URL checked is the public URL the
/// webhook router builds (see `WebhookRouterBuilder::public_base_url`).
///
/// Build the typed client over the bound connection with
/// [`crate::twilio::TwilioClient::from_connection`].
#[derive(Debug, Clone)]
pub struct TwilioIntegration {
    template: IntegrationTemplate,
}

impl Default for TwilioIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl TwilioIntegration {
    /// The integration.
    ///
    /// # Panics
    /// Never: the schema is a constant that compiles (a unit test proves it).
    pub fn new() -> Self {
        // Every SID field says in words what its pattern asks, for the form's error message.
        let sid = |prefix: &str, title: &str| {
            json!({
                "type": "string",
                "title": title,
                "pattern": format!("^{prefix}[0-9a-fA-F]{{32}}$"),
                "x-error-message": {
                    "pattern": format!("must start with {prefix} followed by 32 hexadecimal characters")
                }
            })
        };
        let schema = json!({
            "type": "object",
            "required": ["account_sid"],
            "properties": {
                "account_sid": sid("AC", "Account SID"),
                "auth_token": {"type": "string", "title": "Auth token", "format": "password", "minLength": 1},
                "api_key_sid": sid("SK", "API key SID"),
                "api_key_secret": {"type": "string", "title": "API key secret", "format": "password", "minLength": 1},
                "subaccount_sid": sid("AC", "Subaccount SID (calls are scoped to it)"),
                "messaging_service_sid": sid("MG", "Messaging Service SID"),
                "from_number": {"type": "string", "title": "Default sender (E.164, short code or whatsapp:+1...)", "minLength": 1},
                "webhook_auth_token": {"type": "string", "title": "Auth token webhooks are signed with (when calling with an API key)", "format": "password", "minLength": 1},
                "base_url": {"type": "string", "title": "API base URL (tests)", "format": "uri"},
                "lookups_base_url": {"type": "string", "title": "Lookups base URL (tests)", "format": "uri"}
            },
            "oneOf": [
                {"required": ["auth_token"], "not": {"anyOf": [{"required": ["api_key_sid"]}, {"required": ["api_key_secret"]}]}},
                {"required": ["api_key_sid", "api_key_secret"], "not": {"required": ["auth_token"]}}
            ],
            "additionalProperties": false,
            "x-error-message": {
                "oneOf": "give either an auth token or an API key and secret (not both)"
            }
        });
        let template = IntegrationTemplate::builder("twilio")
            .display_name("Twilio")
            .category("messaging")
            .api_version("2010-04-01")
            .webhooks(true)
            .setup_instructions(
                "1. In the Twilio Console, copy the **Account SID** and the **Auth token** \
                 (or create an API key and copy its SID and secret).\n\
                 2. Optionally enter a **Messaging Service SID** or a default sender number.\n\
                 3. To work in a subaccount, enter its SID: calls are made for it while \
                 authenticating as the parent.\n\
                 4. Point status callbacks at your webhook URL; requests are verified with \
                 `X-Twilio-Signature`.",
            )
            .config_schema(schema)
            // Tenant-supplied endpoints must be https and public unless the host allows them.
            .endpoint_url_field("base_url")
            .endpoint_url_field("lookups_base_url")
            .build()
            .unwrap_or_else(|e| unreachable!("the twilio template schema compiles: {e}"));
        TwilioIntegration { template }
    }
}

#[async_trait::async_trait]
impl Integration for TwilioIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// Fetches the account the connection is scoped to (`GET /2010-04-01/Accounts/{sid}.json`).
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        super::client::check(connection).await
    }

    /// Reads the config as a [`TwilioConfig`]; the credentials become the Basic authenticator
    /// and the account SID, scope, default sender and Lookups host the connection's
    /// [`super::TwilioSettings`]. The connector is the shared [`TwilioConnector`].
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let connector = TwilioConnector::new();
        let resolved = typed_config::<TwilioConfig>(config)?.resolve(&connector)?;
        Ok(IntegrationBinding::new(
            Arc::new(connector),
            resolved.base_url,
            Some(Arc::new(resolved.auth)),
        )
        .with_settings(resolved.settings))
    }

    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let verifier = typed_config::<TwilioConfig>(config)?.webhook_verifier()?;
        Ok(Arc::new(verifier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn template_accepts_a_token_or_a_key_and_never_both() {
        let i = TwilioIntegration::new();
        let t = i.template();
        assert_eq!(t.name(), "twilio");
        let mut secrets = t.secret_fields().to_vec();
        secrets.sort();
        assert_eq!(
            secrets,
            ["api_key_secret", "auth_token", "webhook_auth_token"]
        );
        assert!(t
            .validate(&json!({"account_sid": AC, "auth_token": "x"}))
            .is_ok());
        let key = format!("SK{}", "b".repeat(32));
        assert!(t
            .validate(&json!({"account_sid": AC, "api_key_sid": key, "api_key_secret": "y"}))
            .is_ok());
        assert!(t
            .validate(&json!({"account_sid": AC, "auth_token": "x", "api_key_sid": key, "api_key_secret": "y"}))
            .is_err());
        assert!(t.validate(&json!({"account_sid": AC})).is_err());
        assert!(t
            .validate(&json!({"account_sid": "AC123", "auth_token": "x"}))
            .is_err());
        assert!(
            t.validate(&json!({"account_sid": AC, "api_key_sid": key}))
                .is_err(),
            "a key without its secret"
        );
    }

    #[test]
    fn validation_messages_read_as_words_a_form_can_show() {
        let t = TwilioIntegration::new();
        let t = t.template();
        let messages = |config: serde_json::Value| {
            let err = t.validate(&config).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("CANARY"), "a value was echoed: {text}");
            assert!(
                !text.contains("Single") && !text.contains("kind:"),
                "{text}"
            );
            err.issues
                .into_iter()
                .map(|i| (i.pointer, i.message))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            messages(json!({"account_sid": "AC-CANARY", "auth_token": "x"})),
            [(
                "/account_sid".to_string(),
                "Account SID must start with AC followed by 32 hexadecimal characters".to_string()
            )]
        );
        let both = messages(json!({"account_sid": AC, "auth_token": "CANARY-t",
            "api_key_sid": format!("SK{}", "b".repeat(32)), "api_key_secret": "CANARY-s"}));
        assert_eq!(
            both,
            [(
                String::new(),
                "give either an auth token or an API key and secret (not both)".to_string()
            )]
        );
        let none = messages(json!({"account_sid": AC}));
        assert_eq!(
            none[0].1,
            "give either an auth token or an API key and secret (not both)"
        );
        let missing = messages(json!({"auth_token": "CANARY-t", "from_number": ""}));
        assert!(
            missing.contains(&(
                "/account_sid".to_string(),
                "Account SID is required".to_string()
            )),
            "{missing:?}"
        );
        assert!(
            missing
                .iter()
                .any(|(p, m)| p == "/from_number" && m.ends_with("must not be empty")),
            "{missing:?}"
        );
        let typed = messages(json!({"account_sid": 42, "auth_token": "x"}));
        assert_eq!(typed[0].1, "Account SID must be a string", "{typed:?}");
    }

    #[test]
    fn bind_scopes_to_the_subaccount_and_keeps_the_token_out_of_debug() {
        use crate::twilio::TwilioSettings;

        let i = TwilioIntegration::new();
        let sub = format!("AC{}", "c".repeat(32));
        let config = i
            .template()
            .split(&json!({"account_sid": AC, "auth_token": "CANARY-tok", "subaccount_sid": sub}))
            .unwrap();
        let binding = i.bind(&config).unwrap();
        assert_eq!(binding.base_url, "https://api.twilio.com");
        let text = format!("{binding:?}");
        assert!(!text.contains("CANARY"), "{text}");
        let settings = binding
            .settings
            .as_ref()
            .and_then(|s| s.downcast_ref::<TwilioSettings>())
            .expect("the binding carries Twilio settings");
        assert_eq!(settings.scope().as_str(), sub);
        assert_eq!(settings.account_sid().as_str(), AC);
        assert!(binding
            .connector
            .as_any()
            .is_some_and(|a| a.is::<TwilioConnector>()));
    }

    #[test]
    fn the_schema_and_twilio_config_name_the_same_fields() {
        let i = TwilioIntegration::new();
        let mut schema: Vec<&str> = i.template().config_schema()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = crate::toolkit::config_fields::<TwilioConfig>().to_vec();
        schema.sort_unstable();
        fields.sort_unstable();
        assert_eq!(schema, fields);
        // Every secret of the schema is a secret of the type: a full config binds with each
        // secret coming back from the sealed side.
        let key = format!("SK{}", "b".repeat(32));
        for full in [
            json!({"account_sid": AC, "auth_token": "t", "subaccount_sid": AC,
                "messaging_service_sid": format!("MG{}", "e".repeat(32)), "from_number": "+1",
                "webhook_auth_token": "w", "base_url": "https://a.example",
                "lookups_base_url": "https://l.example"}),
            json!({"account_sid": AC, "api_key_sid": key, "api_key_secret": "s"}),
        ] {
            let config = i.template().split(&full).unwrap();
            let typed: TwilioConfig = typed_config(&config).unwrap();
            assert!(typed.auth_token.is_some() || typed.api_key_secret.is_some());
            i.bind(&config).unwrap();
        }
    }

    #[test]
    fn a_config_the_schema_would_refuse_is_refused_by_bind_with_its_pointer() {
        // Stored before a schema change, or handed over by a host: bind checks it again.
        let i = TwilioIntegration::new();
        let mut secrets = std::collections::BTreeMap::new();
        secrets.insert("auth_token".to_string(), "CANARY-tok".into());
        for (plain, pointer) in [
            (json!({"account_sid": "AC-CANARY"}), "/account_sid"),
            (json!({"account_sid": AC, "region": "CANARY"}), "/region"),
            (json!({"account_sid": AC, "from_number": 7}), "/from_number"),
            (json!({}), "/account_sid"),
        ] {
            let config = ConnectionConfig::new(plain, secrets.clone());
            let err = i.bind(&config).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{err}");
            let text = format!("{err} {err:?}");
            // A missing field is named in the message (`toolkit::typed_config` points at its
            // parent); every other one by its pointer.
            let field = pointer.trim_start_matches('/');
            assert!(text.contains(field), "{pointer}: {text}");
            assert!(!text.contains("CANARY"), "{text}");
        }
    }

    #[test]
    fn webhook_verifier_uses_this_connection_token_and_fails_closed_without_one() {
        use crate::twilio::TwilioSigner;
        use crate::webhook::WebhookRequest;

        let i = TwilioIntegration::new();
        let key = format!("SK{}", "b".repeat(32));
        let keyed = |extra: serde_json::Value| {
            let mut c = json!({"account_sid": AC, "api_key_sid": key, "api_key_secret": "y"});
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            i.template().split(&c).unwrap()
        };
        let err = i.webhook_verifier(&keyed(json!({}))).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config, "{err}");
        let verifier = i
            .webhook_verifier(&keyed(json!({"webhook_auth_token": "CANARY-hook"})))
            .unwrap();
        assert!(!format!("{verifier:?}").contains("CANARY"));
        let url = url::Url::parse("https://hooks.example.test/webhooks/twilio/tok").unwrap();
        let params = [("CallSid", "CA1")];
        let mut headers = http::HeaderMap::new();
        let sig = TwilioSigner::new("CANARY-hook").sign_form(url.as_str(), &params);
        headers.insert("x-twilio-signature", sig.parse().unwrap());
        let request = WebhookRequest::new(b"CallSid=CA1", &headers).with_url(&url);
        assert!(verifier.verify(&request).is_ok());
        let other = i
            .webhook_verifier(
                &i.template()
                    .split(&json!({"account_sid": AC, "auth_token": "another-token"}))
                    .unwrap(),
            )
            .unwrap();
        assert!(other.verify(&request).is_err());
    }
}
