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
    /// accepted it; [`super::super::StripeVerifier::construct_event`] does both).
    ///
    /// # Errors
    /// A [`DecodeError`] saying where the body went wrong, never with a value from it: a
    /// `pointer` to the field at fault (`""` for the document), and in `reason` the line and
    /// column (`"not valid JSON at line 1 column 2"` for a body that is not JSON at all). A thin
    /// event notification (`"object": "v2.core.event"`) is refused at `/object`, as the
    /// official SDKs refuse it: it carries no object snapshot, fetch the event it names.
    pub fn from_slice(body: &[u8]) -> Result<Event, DecodeError> {
        let parsed = crate::decode_json::<Event>(body);
        // Only looked at when it matters: a thin event fails to parse (no `data`), or, if it
        // happened to have one, is caught by its `object`.
        let thin = match &parsed {
            Ok(e) => e.extra.get("object").and_then(Value::as_str) == Some(THIN_EVENT),
            Err(_) => is_thin_event(body),
        };
        if thin {
            return Err(DecodeError::new(
                "/object",
                "a thin event notification (`v2.core.event`), not an event with its object",
            ));
        }
        parsed
    }
}

/// The `object` of a thin (v2) event notification.
const THIN_EVENT: &str = "v2.core.event";

fn is_thin_event(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Object<'a> {
        #[serde(borrow, default)]
        object: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Object<'_>>(body)
        .is_ok_and(|o| o.object.as_deref() == Some(THIN_EVENT))
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
