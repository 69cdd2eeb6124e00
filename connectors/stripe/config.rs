//! [`StripeConfig`]: one tenant's Stripe settings, as the `stripe` template's JSON Schema
//! describes them (a test holds the two to each other).

use std::fmt;

use serde::Deserialize;

use crate::templates::ConnectionConfig;
use crate::{Error, SecretString};

/// One tenant's Stripe config: what [`StripeIntegration::bind`](crate::templates::Integration::bind) reads from the
/// connection's validated config (plain fields and sealed secrets).
///
/// `Debug` never prints a secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StripeConfig {
    /// The secret key (`sk_...`) or restricted key (`rk_...`).
    pub secret_key: SecretString,
    /// The webhook endpoint's signing secret (`whsec_...`).
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
    /// The endpoint's previous signing secret, also accepted while rolling it.
    #[serde(default)]
    pub webhook_secret_previous: Option<SecretString>,
    /// The `Stripe-Version` to pin (default [`super::DEFAULT_API_VERSION`]).
    #[serde(default)]
    pub api_version: Option<String>,
    /// A Connect account (`acct_...`) every call acts on.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The API base URL (default [`super::DEFAULT_BASE_URL`]).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The webhook endpoint activation registered (`we_...`), deleted on disconnect.
    #[serde(default)]
    pub webhook_endpoint_id: Option<String>,
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("StripeConfig")
            .field("secret_key", &"[redacted]")
            .field("webhook_secret", &set(&self.webhook_secret))
            .field(
                "webhook_secret_previous",
                &set(&self.webhook_secret_previous),
            )
            .field("api_version", &self.api_version)
            .field("account_id", &self.account_id)
            .field("base_url", &self.base_url)
            .field("webhook_endpoint_id", &self.webhook_endpoint_id)
            .finish()
    }
}

impl StripeConfig {
    /// The typed config of a validated `stripe` connection config.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the JSON pointer at
    /// fault (never its value).
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, Error> {
        crate::toolkit::typed_config(config)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::templates::Integration;
    use crate::ExposeSecret;

    #[test]
    fn the_schema_and_the_type_name_the_same_fields_and_requirements() {
        let integration = super::super::StripeIntegration::new();
        let schema = integration.template().config_schema();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = crate::toolkit::config_fields::<StripeConfig>().to_vec();
        properties.sort_unstable();
        fields.sort_unstable();
        assert_eq!(properties, fields);
        // The schema's required fields are the ones the type cannot go without.
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["secret_key"]);
        let none = ConnectionConfig::new(json!({}), BTreeMap::new());
        let err = StripeConfig::from_config(&none).unwrap_err();
        assert!(err.to_string().contains("secret_key"), "{err}");
        let mut secrets = BTreeMap::new();
        secrets.insert("secret_key".to_string(), SecretString::from("sk_test_x"));
        assert!(StripeConfig::from_config(&ConnectionConfig::new(json!({}), secrets)).is_ok());
        // Every secret field of the template is a secret in the type.
        assert_eq!(
            integration.template().secret_fields(),
            ["secret_key", "webhook_secret", "webhook_secret_previous"]
        );
    }

    #[test]
    fn debug_redacts_every_secret() {
        let mut secrets = BTreeMap::new();
        secrets.insert(
            "secret_key".to_string(),
            SecretString::from("sk_test_CANARY1"),
        );
        secrets.insert(
            "webhook_secret".to_string(),
            SecretString::from("whsec_CANARY2"),
        );
        let c = StripeConfig::from_config(&ConnectionConfig::new(
            json!({"account_id": "acct_1"}),
            secrets,
        ))
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("CANARY"), "{d}");
        assert!(d.contains("acct_1"), "{d}");
        assert_eq!(c.secret_key.expose_secret(), "sk_test_CANARY1");
    }
}
