//! The typed calls, one file per resource, and the JSON body every parameter type builds.

mod contacts;
mod locations;
mod oauth;

pub use contacts::{
    AddNote, ContactSort, Contacts, CreateContact, SearchContacts, UpdateContact, UpsertContact,
    MAX_SEARCH_PAGE,
};
pub use locations::{Locations, SearchLocations};
pub use oauth::Agency;

use serde_json::{Map, Value};

/// The JSON object a parameter type sends; setters write into it, and `param` is the escape
/// hatch for a field we do not model yet.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Body(pub(crate) Map<String, Value>);

impl Body {
    pub(crate) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(key.to_string(), value.into());
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub(crate) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

/// Writes one setter per `(method, "jsonField", Type)` on a parameter type holding a
/// [`Body`] in `self.body`: each stores the value under the field's GoHighLevel name. Several
/// invocations may add setters to one type; [`body_param`] adds its `param` once.
macro_rules! body_setters {
    ($ty:ty { $( $(#[$doc:meta])* $method:ident => $field:literal : $arg:ty ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $method(mut self, value: $arg) -> Self {
                    self.body.set($field, serde_json::Value::from(value));
                    self
                }
            )*
        }
    };
}
pub(crate) use body_setters;

/// Writes `param`, the escape hatch for a body field the type does not model.
macro_rules! body_param {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// Sets a body field this type does not model (`"customFields"`, a new field).
            #[must_use]
            pub fn param(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
                self.body.set(key, value);
                self
            }
        }
    )*};
}
pub(crate) use body_param;
