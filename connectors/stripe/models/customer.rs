//! The customer object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{id_type, null_default, HasId, Metadata};

id_type!(
    /// A customer id (`cus_...`).
    CustomerId
);

/// A Stripe customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Customer {
    /// The id.
    pub id: CustomerId,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name or business name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free-form description.
    #[serde(default)]
    pub description: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Balance in the smallest currency unit (negative: credit).
    #[serde(default)]
    pub balance: Option<i64>,
    /// Default currency (ISO code, lower case).
    #[serde(default)]
    pub currency: Option<String>,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Whether it lives in live mode.
    #[serde(default)]
    pub livemode: bool,
    /// `true` when the customer was deleted (a retrieve of a deleted customer says so).
    #[serde(default)]
    pub deleted: bool,
    /// Your key-value pairs.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HasId for Customer {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}
