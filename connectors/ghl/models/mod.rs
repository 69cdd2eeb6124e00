//! Typed GoHighLevel objects, one file per object family. Every model keeps the fields it
//! does not name in `extra`, so a new GoHighLevel field never breaks parsing.

mod contact;
mod location;
mod time;
mod webhook_events;

pub use contact::{
    Contact, ContactEnvelope, ContactId, ContactSearchPage, DeletedResponse, Note, NoteEnvelope,
    NoteList, Tags, UpsertedContact,
};
pub use location::{Location, LocationEnvelope, LocationId, LocationSearchPage};
pub(crate) use time::{format_time, parse_time};
pub use webhook_events::{
    AppInstallEvent, AppTrial, AppUninstallEvent, AppointmentEvent, AppointmentPayload,
    ContactEvent, CustomFieldValue, GhlEvent, GhlRawEvent, MessageEvent, OpportunityEvent,
    WhitelabelDetails,
};
