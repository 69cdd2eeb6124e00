//! Typed GoHighLevel models, one file per object family. Every model keeps the fields it does
//! not name in `extra`, so a new GoHighLevel field never breaks parsing.

mod webhook_events;

pub use webhook_events::{
    AppInstallEvent, AppTrial, AppUninstallEvent, AppointmentEvent, AppointmentPayload,
    ContactEvent, CustomFieldValue, GhlEvent, GhlRawEvent, MessageEvent, OpportunityEvent,
    WhitelabelDetails,
};
