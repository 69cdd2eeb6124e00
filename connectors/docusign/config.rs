//! [`DocuSignConfig`]: one tenant's DocuSign settings, as the `docusign` template's JSON Schema
//! describes them (a test holds the two to each other).

use std::fmt;

use serde::Deserialize;

use super::auth::{DocuSignEnvironment, DocuSignGrant};
use crate::templates::ConnectionConfig;
use crate::{Error, SecretString};

/// One tenant's DocuSign config: what [`DocuSignIntegration::bind`](crate::templates::Integration::bind) reads from the
/// connection's validated config (plain fields and sealed secrets).
///
/// `Debug` never prints a secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DocuSignConfig {
    /// The app's integration key (its OAuth client id; the JWT `iss`).
    pub integration_key: String,
    /// How the connection gets tokens (default [`DocuSignGrant::Jwt`]).
    #[serde(default)]
    pub grant: DocuSignGrant,
    /// The user the JWT grant acts as (the JWT `sub`, a GUID). Required for the JWT grant.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The app's RSA private key, PEM. Required for the JWT grant.
    #[serde(default)]
    pub private_key: Option<SecretString>,
    /// The app's secret key. Required for the authorization-code grant (refreshes).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// The redirect URI registered for the app: where consent (and the code flow) return.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Demo (developer) or production accounts (default demo).
    #[serde(default)]
    pub environment: DocuSignEnvironment,
    /// The authentication host, overriding `environment` (for tests and private clouds).
    #[serde(default)]
    pub auth_base_url: Option<String>,
    /// The account to act on; the user's default account when absent (filled in when the
    /// connection is first tested).
    #[serde(default)]
    pub account_id: Option<String>,
    /// The account's API host (`https://demo.docusign.net`) from `/oauth/userinfo`, filled in
    /// when the connection is first tested; never configured by hand in production.
    #[serde(default)]
    pub base_uri: Option<String>,
    /// The Connect HMAC key webhooks are verified with.
    #[serde(default)]
    pub connect_hmac_key: Option<SecretString>,
    /// A second Connect HMAC key, also accepted (while rotating keys).
    #[serde(default)]
    pub connect_hmac_key_previous: Option<SecretString>,
    /// The shortest time between two status reads of one envelope from DocuSign, in seconds
    /// (default 900, DocuSign's polling rule); reads in between are answered from a cache.
    #[serde(default)]
    pub status_poll_interval_secs: Option<u64>,
}

impl fmt::Debug for DocuSignConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<SecretString>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("DocuSignConfig")
            .field("integration_key", &self.integration_key)
            .field("grant", &self.grant)
            .field("user_id", &self.user_id)
            .field("private_key", &set(&self.private_key))
            .field("client_secret", &set(&self.client_secret))
            .field("redirect_uri", &self.redirect_uri)
            .field("environment", &self.environment)
            .field("auth_base_url", &self.auth_base_url)
            .field("account_id", &self.account_id)
            .field("base_uri", &self.base_uri)
            .field("connect_hmac_key", &set(&self.connect_hmac_key))
            .field(
                "connect_hmac_key_previous",
                &set(&self.connect_hmac_key_previous),
            )
            .field("status_poll_interval_secs", &self.status_poll_interval_secs)
            .finish()
    }
}

impl DocuSignConfig {
    /// The typed config of a validated `docusign` connection config.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the JSON pointer at
    /// fault (never its value).
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, Error> {
        crate::toolkit::typed_config(config)
    }

    /// The authentication host: `auth_base_url`, or the environment's.
    pub fn auth_base_url(&self) -> &str {
        self.auth_base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .unwrap_or(self.environment.auth_base_url())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::templates::Integration;

    #[test]
    fn the_schema_and_the_type_name_the_same_fields_and_requirements() {
        let integration = super::super::DocuSignIntegration::new();
        let schema = integration.template().config_schema();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = crate::toolkit::config_fields::<DocuSignConfig>().to_vec();
        properties.sort_unstable();
        fields.sort_unstable();
        assert_eq!(properties, fields);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["integration_key"]);
        let none = ConnectionConfig::new(json!({}), BTreeMap::new());
        let err = DocuSignConfig::from_config(&none).unwrap_err();
        assert!(err.to_string().contains("integration_key"), "{err}");
        assert_eq!(
            integration.template().secret_fields(),
            [
                "client_secret",
                "connect_hmac_key",
                "connect_hmac_key_previous",
                "private_key"
            ]
        );
    }

    #[test]
    fn debug_redacts_every_secret() {
        let mut secrets = BTreeMap::new();
        for field in [
            "private_key",
            "client_secret",
            "connect_hmac_key",
            "connect_hmac_key_previous",
        ] {
            secrets.insert(
                field.to_string(),
                SecretString::from(format!("CANARY-{field}")),
            );
        }
        let c = DocuSignConfig::from_config(&ConnectionConfig::new(
            json!({"integration_key": "ik-1", "user_id": "u-1"}),
            secrets,
        ))
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("CANARY"), "{d}");
        assert!(d.contains("ik-1") && d.contains("u-1"), "{d}");
    }
}
