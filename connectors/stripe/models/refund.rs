//! The refund object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{id_type, null_default, Expandable, HasId, Metadata, PaymentIntent};

id_type!(
    /// A refund id (`re_...`).
    RefundId
);

/// A refund's status. Stripe may add statuses: those parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefundStatus {
    /// Pending.
    Pending,
    /// Needs an action.
    RequiresAction,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Canceled.
    Canceled,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

/// A Stripe refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Refund {
    /// The id.
    pub id: RefundId,
    /// Amount refunded, smallest currency unit.
    pub amount: i64,
    /// ISO currency code, lower case.
    pub currency: String,
    /// The status.
    #[serde(default)]
    pub status: Option<RefundStatus>,
    /// The refunded charge (id, or object when expanded).
    #[serde(default)]
    pub charge: Option<Expandable<Value>>,
    /// The refunded payment intent (id, or object when expanded).
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// `duplicate`, `fraudulent`, `requested_by_customer`, ...
    #[serde(default)]
    pub reason: Option<String>,
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

impl HasId for Refund {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}
