//! The payment intent object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{id_type, null_default, Customer, Expandable, HasId, Metadata};

id_type!(
    /// A payment intent id (`pi_...`).
    PaymentIntentId
);

/// A payment intent's status. Stripe may add statuses: those parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentIntentStatus {
    /// Needs a payment method.
    RequiresPaymentMethod,
    /// Needs confirming.
    RequiresConfirmation,
    /// Needs the customer (3-D Secure, redirect).
    RequiresAction,
    /// Being processed.
    Processing,
    /// Authorized; capture it.
    RequiresCapture,
    /// Canceled.
    Canceled,
    /// Paid.
    Succeeded,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

/// A Stripe payment intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentIntent {
    /// The id.
    pub id: PaymentIntentId,
    /// Amount in the smallest currency unit.
    pub amount: i64,
    /// Amount received so far.
    #[serde(default)]
    pub amount_received: Option<i64>,
    /// Amount that can still be captured.
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    /// ISO currency code, lower case.
    pub currency: String,
    /// The status.
    pub status: PaymentIntentStatus,
    /// The customer, as an id or expanded.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// The payment method id (or object when expanded).
    #[serde(default)]
    pub payment_method: Option<Expandable<Value>>,
    /// `automatic` or `manual` capture.
    #[serde(default)]
    pub capture_method: Option<String>,
    /// Why it was canceled, when it was.
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    /// The latest charge id (or object when expanded).
    #[serde(default)]
    pub latest_charge: Option<Expandable<Value>>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Whether it lives in live mode.
    #[serde(default)]
    pub livemode: bool,
    /// Your key-value pairs.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Every field not named above (`client_secret`, `next_action`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HasId for PaymentIntent {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}

impl HasId for Value {
    fn object_id(&self) -> &str {
        self.get("id").and_then(Value::as_str).unwrap_or_default()
    }
}
