//! Typed Stripe objects. Every model is `#[non_exhaustive]`, names the fields most hosts use,
//! and keeps every other field in `extra`, so a field Stripe adds never breaks parsing.
//! Fields Stripe may omit (or send as `null`) are `Option` or defaulted.

mod checkout_session;
mod customer;
mod event;
mod payment_intent;
mod refund;
mod webhook_endpoint;

pub use checkout_session::{
    CheckoutSession, CheckoutSessionId, CheckoutSessionMode, CheckoutSessionStatus,
};
pub use customer::{Customer, CustomerId};
pub use event::{Event, EventData, EventId, EventObject};
pub use payment_intent::{PaymentIntent, PaymentIntentId, PaymentIntentStatus};
pub use refund::{Refund, RefundId, RefundStatus};
pub use webhook_endpoint::{WebhookEndpoint, WebhookEndpointId};

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Stripe metadata: up to 50 string keys with string values.
pub type Metadata = BTreeMap<String, String>;

/// Defines a newtype id with the usual conversions.
macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as given (no prefix check: Stripe may change its formats).
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}
pub(crate) use id_type;

/// A field Stripe sends as an id, or as the whole object when asked to `expand` it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Expandable<T> {
    /// Just the id (the default).
    Id(String),
    /// The expanded object.
    Object(Box<T>),
}

/// What `#[serde(untagged)]` would do (an id if it is a string, else the object), through a
/// `Value` instead of serde's private buffer: the object is then read by the same `Value`
/// deserializer as an event's `data.object` ([`EventObject`]), so each model's decoding is
/// compiled once less.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Expandable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(id) => Ok(Expandable::Id(id)),
            value => expanded(value).map_err(serde::de::Error::custom),
        }
    }
}

fn expanded<'de, T: Deserialize<'de>>(value: Value) -> Result<Expandable<T>, &'static str> {
    // The same message as the derive's, which does not say why the object did not parse either.
    T::deserialize(value)
        .map(|o| Expandable::Object(Box::new(o)))
        .map_err(|_| "data did not match any variant of untagged enum Expandable")
}

impl<T: HasId> Expandable<T> {
    /// The id, whether or not the field was expanded.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(o) => o.object_id(),
        }
    }
}

impl<T> Expandable<T> {
    /// The object, when the field was expanded.
    pub fn as_object(&self) -> Option<&T> {
        match self {
            Expandable::Object(o) => Some(o),
            Expandable::Id(_) => None,
        }
    }
}

/// An object with an id; lets list streams page with `starting_after`.
pub trait HasId {
    /// The object's id.
    fn object_id(&self) -> &str;
}

/// One page of a list (`{"object": "list", "data": [...], "has_more": ...}`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct List<T> {
    /// The objects of this page.
    pub data: Vec<T>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: bool,
    /// Every other field (`url`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One page of a search (`{"object": "search_result", "data", "has_more", "next_page"}`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct SearchResult<T> {
    /// The objects of this page.
    pub data: Vec<T>,
    /// Whether more pages follow.
    #[serde(default)]
    pub has_more: bool,
    /// The cursor for the next page (sent back as `page`).
    #[serde(default)]
    pub next_page: Option<String>,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a delete returns: `{"id", "object", "deleted": true}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Deleted<Id> {
    /// The deleted object's id.
    pub id: Id,
    /// Always `true` on success.
    #[serde(default)]
    pub deleted: bool,
    /// Every other field.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `null` as the type's default (Stripe sends `"metadata": null` on some deleted objects).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
