//! The event object, as listed by `/v1/events` and sent to webhook endpoints. `data.object` is
//! a typed [`EventObject`] for the objects this connector models; any other object is kept as
//! JSON, so a new event type never breaks parsing.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{id_type, CheckoutSession, Customer, HasId, PaymentIntent, Refund, WebhookEndpoint};
use crate::DecodeError;

id_type!(
    /// An event id (`evt_...`).
    EventId
);

/// A Stripe event.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Event {
    /// The id; also what webhook de-duplication keys on.
    pub id: EventId,
    /// The event type (`"payment_intent.succeeded"`), kept as text: Stripe adds types often.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The API version the object is rendered in.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Creation time, Unix seconds.
    #[serde(default)]
    pub created: Option<i64>,
    /// Whether it happened in live mode.
    #[serde(default)]
    pub livemode: bool,
    /// The Connect account it happened on, for Connect webhooks.
    #[serde(default)]
    pub account: Option<String>,
    /// The object and, for `*.updated`, the previous values.
    pub data: EventData,
    /// Every field not named above (`request`, `pending_webhooks`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Event {
    /// Parses an event from raw bytes (a webhook body, after [`super::super::StripeVerifier`]
    /// accepted it).
    ///
    /// # Errors
    /// A [`DecodeError`] with a JSON pointer to where the body went wrong (never a value).
    pub fn from_slice(body: &[u8]) -> Result<Event, DecodeError> {
        crate::decode_json(body)
    }
}

impl HasId for Event {
    fn object_id(&self) -> &str {
        self.id.as_str()
    }
}

/// An event's `data`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct EventData {
    /// The object the event is about.
    pub object: EventObject,
    /// For `*.updated` events: the fields that changed, with their old values.
    #[serde(default)]
    pub previous_attributes: Option<Value>,
}

/// The object an event is about, by its `object` field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventObject {
    /// `"object": "customer"`.
    Customer(Box<Customer>),
    /// `"object": "payment_intent"`.
    PaymentIntent(Box<PaymentIntent>),
    /// `"object": "refund"`.
    Refund(Box<Refund>),
    /// `"object": "checkout.session"`.
    CheckoutSession(Box<CheckoutSession>),
    /// `"object": "webhook_endpoint"`.
    WebhookEndpoint(Box<WebhookEndpoint>),
    /// Any other object, as sent.
    Unknown(Value),
}

impl EventObject {
    /// The object's `object` name for the typed variants, or the JSON's `object` field.
    pub fn object_name(&self) -> Option<&str> {
        match self {
            EventObject::Customer(_) => Some("customer"),
            EventObject::PaymentIntent(_) => Some("payment_intent"),
            EventObject::Refund(_) => Some("refund"),
            EventObject::CheckoutSession(_) => Some("checkout.session"),
            EventObject::WebhookEndpoint(_) => Some("webhook_endpoint"),
            EventObject::Unknown(v) => v.get("object").and_then(Value::as_str),
        }
    }
}

impl<'de> Deserialize<'de> for EventObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Value::deserialize(d)?;
        let kind = value.get("object").and_then(Value::as_str).unwrap_or("");
        // A known object of the wrong shape is an error, not `Unknown`: hiding it would let a
        // host's `match` silently skip an event it handles.
        let typed = match kind {
            "customer" => {
                EventObject::Customer(serde_json::from_value(value).map_err(D::Error::custom)?)
            }
            "payment_intent" => {
                EventObject::PaymentIntent(serde_json::from_value(value).map_err(D::Error::custom)?)
            }
            "refund" => {
                EventObject::Refund(serde_json::from_value(value).map_err(D::Error::custom)?)
            }
            "checkout.session" => EventObject::CheckoutSession(
                serde_json::from_value(value).map_err(D::Error::custom)?,
            ),
            "webhook_endpoint" => EventObject::WebhookEndpoint(
                serde_json::from_value(value).map_err(D::Error::custom)?,
            ),
            _ => EventObject::Unknown(value),
        };
        Ok(typed)
    }
}
