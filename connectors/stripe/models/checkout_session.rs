//! The checkout session object.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{id_type, null_default, Customer, Expandable, HasId, Metadata, PaymentIntent};

id_type!(
    /// A checkout session id (`cs_...`).
    CheckoutSessionId
);

/// A checkout session's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckoutSessionStatus {
    /// Open for payment.
    Open,
    /// Paid or set up.
    Complete,
    /// Expired.
    Expired,
    /// A status this version does not know.
    #[serde(other)]
    Unknown,
}

/// A checkout session's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckoutSessionMode {
    /// One payment.
    Payment,
    /// Saves a payment method.
    Setup,
    /// Starts a subscription.
    Subscription,
    /// A mode this version does not know.
    #[serde(other)]
    Unknown,
}

/// A Stripe Checkout session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckoutSession {
    /// The id.
    pub id: CheckoutSessionId,
    /// The mode.
    #[serde(default)]
    pub mode: Option<CheckoutSessionMode>,
    /// The status.
    #[serde(default)]
    pub status: Option<CheckoutSessionStatus>,
    /// `paid`, `unpaid` or `no_payment_required`.
    #[serde(default)]
    pub payment_status: Option<String>,
    /// The page to send the customer to (while open).
    #[serde(default)]
    pub url: Option<String>,
    /// Where the customer lands after paying.
    #[serde(default)]
    pub success_url: Option<String>,
    /// Total, smallest currency unit.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// ISO currency code, lower case.
    #[serde(default)]
    pub currency: Option<String>,
    /// The customer (id, or object when expanded).
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// The payment intent (id, or object when expanded).
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Expiry time, Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Your key-value pairs.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl HasId for CheckoutSession {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}
