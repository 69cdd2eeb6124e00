//! The typed calls, one file per resource, and the JSON body every parameter type builds.

mod calendars;
mod contacts;
mod conversations;
mod locations;
mod oauth;
mod opportunities;

pub use calendars::{
    Calendars, CreateAppointment, CreateBlockSlot, FreeSlots, ListEvents, UpdateAppointment,
    UpdateBlockSlot,
};
pub use contacts::{
    AddNote, ContactSort, Contacts, CreateContact, SearchContacts, UpdateContact, UpsertContact,
    MAX_SEARCH_PAGE,
};
pub use conversations::{Conversations, SendMessage};
pub use locations::{Locations, SearchLocations};
pub use oauth::Agency;
pub use opportunities::{CreateOpportunity, Opportunities, SearchOpportunities, UpdateOpportunity};

use serde_json::{Map, Value};

use crate::ghl::GhlError;

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

/// The query of a GET a parameter type builds; setters replace a key's value, and `param` is
/// the escape hatch for a parameter we do not model yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_string(), value.into()));
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// `call` with `query` added to its URL.
pub(crate) fn with_query<T>(
    call: crate::toolkit::Call<T, GhlError>,
    query: Query,
) -> crate::toolkit::Call<T, GhlError> {
    call.map_request(move |r| r.query(query.pairs()))
}

/// `at` in epoch milliseconds, as GoHighLevel's calendar queries take times; `setting` names
/// the parameter (`"ghl.startDate"`) in the error for an instant before 1970.
pub(crate) fn epoch_millis(
    at: std::time::SystemTime,
    setting: &'static str,
) -> Result<String, GhlError> {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().to_string())
        .map_err(|_| crate::Error::config(setting, "is before 1970-01-01").into())
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
