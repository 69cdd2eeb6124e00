//! The webhook endpoint object. Its `secret` (sent once, on creation) is a
//! [`SecretString`]: it never shows in `Debug`.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{id_type, null_default, HasId, Metadata};

id_type!(
    /// A webhook endpoint id (`we_...`).
    WebhookEndpointId
);

/// A Stripe webhook endpoint.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct WebhookEndpoint {
    /// The id.
    pub id: WebhookEndpointId,
    /// Where Stripe posts events.
    #[serde(default)]
    pub url: Option<String>,
    /// The event types sent (`["*"]` for all).
    #[serde(default, deserialize_with = "null_default")]
    pub enabled_events: Vec<String>,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub status: Option<String>,
    /// The API version events are rendered with.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The signing secret (`whsec_...`), present only in the create response.
    #[serde(default, deserialize_with = "secret")]
    pub secret: Option<SecretString>,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Your key-value pairs.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(SecretString::from))
}

impl HasId for WebhookEndpoint {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}
