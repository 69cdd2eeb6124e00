//! The calls, one file per resource, reached as `client.<resource>()`. Parameters are plain
//! structs with setters; any parameter they do not name goes through `.param(key, value)`,
//! so a new Stripe parameter never needs a release of ours.

mod checkout_sessions;
mod customers;
mod events;
mod payment_intents;
mod refunds;
mod webhook_endpoints;

pub use checkout_sessions::{CheckoutSessions, CreateCheckoutSession, ListCheckoutSessions};
pub use customers::{CreateCustomer, Customers, ListCustomers, SearchCustomers, UpdateCustomer};
pub use events::{Events, ListEvents};
pub use payment_intents::{
    CancelPaymentIntent, CapturePaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent,
    ListPaymentIntents, PaymentIntents, UpdatePaymentIntent,
};
pub use refunds::{CreateRefund, ListRefunds, Refunds};
pub use webhook_endpoints::{CreateWebhookEndpoint, ListWebhookEndpoints, WebhookEndpoints};

/// Defines a parameter struct: named optional fields with setters, `metadata` when asked,
/// and `extra` for anything else (flattened into the form).
macro_rules! params {
    (
        $(#[$m:meta])* $name:ident $([$meta:ident])? {
            $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, serde::Serialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Parameters not named above, by their Stripe name (nested values are encoded as
            /// `key[sub]=v`).
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// No parameters set.
            pub fn new() -> Self {
                Self::default()
            }

            $(
                $(#[$fm])*
                #[must_use]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*

            /// Sets any parameter by its Stripe name; objects and arrays are encoded the way
            /// Stripe expects (`payment_method_data[type]=card`, `items[0][price]=...`).
            #[must_use]
            pub fn param(mut self, key: impl Into<String>, value: impl serde::Serialize) -> Self {
                let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
                self.extra.insert(key.into(), value);
                self
            }

            $(
                /// Adds one metadata pair (`metadata[key]=value`).
                #[must_use]
                pub fn $meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                    let entry = self
                        .extra
                        .entry("metadata")
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    if let serde_json::Value::Object(m) = entry {
                        m.insert(key.into(), serde_json::Value::String(value.into()));
                    }
                    self
                }
            )?
        }
    };
}
pub(crate) use params;
