//! Typed GoHighLevel objects, one file per object family. Every model keeps the fields it
//! does not name in `extra`, so a new GoHighLevel field never breaks parsing.

mod calendar;
mod contact;
mod location;
mod message;
mod opportunity;
mod time;
mod webhook_events;

pub use calendar::{
    AppointmentStatus, Calendar, CalendarEnvelope, CalendarEvent, CalendarId, CalendarList,
    EventEnvelope, EventId, EventList, FreeSlotsResponse,
};
pub use contact::{
    Contact, ContactEnvelope, ContactId, ContactSearchPage, DeletedResponse, Note, NoteEnvelope,
    NoteList, Tags, UpsertedContact,
};
pub use location::{Location, LocationEnvelope, LocationId, LocationSearchPage};
pub use message::SentMessage;
pub use opportunity::{
    Opportunity, OpportunityContact, OpportunityEnvelope, OpportunityId, OpportunitySearchMeta,
    OpportunitySearchPage, OpportunityStatus, UpdatedResponse,
};
pub(crate) use time::{format_time, parse_time};
pub use webhook_events::{
    AppInstallEvent, AppTrial, AppUninstallEvent, AppointmentEvent, AppointmentPayload,
    ContactEvent, CustomFieldValue, GhlEvent, GhlRawEvent, MessageEvent, OpportunityEvent,
    WhitelabelDetails,
};

/// Writes an enum of GoHighLevel's lower-case status words that keeps a word it does not know
/// in `Other` (GoHighLevel adds statuses without notice: appointments answer `active` and
/// `completed`, which its request schemas do not list), with `as_str`, `Display`, `From<&str>`,
/// `FromStr` and serde as the plain string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vdoc:meta])* $variant:ident => $text:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )*
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as GoHighLevel writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::from(text.as_str()))
            }
        }
    };
}
pub(crate) use string_enum;

/// Writes a newtype id (`CalendarId(String)`) with `new`, `as_str`, `Display` and serde as the
/// plain string.
macro_rules! string_id {
    ($( $(#[$meta:meta])* $name:ident ),* $(,)?) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// The id.
            pub fn new(id: impl Into<String>) -> Self {
                $name(id.into())
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
    )*};
}
pub(crate) use string_id;
