//! The GoHighLevel (LeadConnector) connector: contacts, locations, calendars (free slots,
//! block slots, appointments), opportunities and conversations over the core pipeline; a
//! Private Integration Token or a marketplace app's OAuth token (single-use refresh tokens,
//! renewed once across replicas); the `Version` header on every call; the 100-per-10-seconds
//! and daily limits; GoHighLevel's signed webhooks (Ed25519, RSA fallback) routed by
//! `locationId`; typed webhook payloads; contact and booking sync on the sync engine; the
//! `ghl` integration template.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchboard::auth::BearerToken;
//! use switchboard::ghl::{CreateContact, GhlClient, GhlConnector, GhlSettings, DEFAULT_BASE_URL};
//! use switchboard::Switchboard;
//!
//! let sb = Switchboard::builder().build()?;
//! let connection = sb
//!     .connection(GhlConnector::new())
//!     .tenant("acme")
//!     .id("acme-ghl")
//!     .base_url(DEFAULT_BASE_URL)
//!     .auth(Arc::new(BearerToken::new("pit-...")))
//!     .build()?;
//! let ghl = GhlClient::from_connection(connection)?
//!     .with_settings(GhlSettings::for_location("ve9EPM428h8vShlRW1KT"));
//! let contact = ghl.contacts().create(CreateContact::new().first_name("Ada").email("ada@example.com")).await?;
//! # let _ = contact; Ok(()) }
//! ```
//!
//! Hosts with many tenants use the template through
//! [`Connections`](crate::connections::Connections) instead ([`GhlIntegration`]). This module
//! uses only the core's public items.

mod api;
mod bookings;
mod client;
mod config;
mod connector;
mod error;
mod install;
mod models;
mod sync;
mod template;
mod webhook;

pub use api::{
    AddNote, Agency, Calendars, ContactSort, Contacts, Conversations, CreateAppointment,
    CreateBlockSlot, CreateContact, CreateOpportunity, FreeSlots, ListEvents, Locations,
    Opportunities, SearchContacts, SearchLocations, SearchOpportunities, SendMessage,
    UpdateAppointment, UpdateBlockSlot, UpdateContact, UpdateOpportunity, UpsertContact,
    MAX_SEARCH_PAGE,
};
pub use bookings::{
    appointment_webhook_sync, GhlAppointmentsSource, GhlBlockSlotsSource, APPOINTMENTS_JOB,
    BOOKINGS_JOB,
};
pub use client::{GhlCheck, GhlClient};
pub use config::{GhlConfig, GhlSettings};
pub use connector::{
    GhlConnector, API_VERSION, BURST_LIMIT, BURST_WINDOW, CALENDARS_API_VERSION, DAILY_LIMIT,
    DAILY_RECHECK,
};
pub use error::GhlError;
pub use install::{install_location, GhlAppEvents};
pub use models::{
    AppInstallEvent, AppTrial, AppUninstallEvent, AppointmentEvent, AppointmentPayload,
    AppointmentStatus, Calendar, CalendarEnvelope, CalendarEvent, CalendarId, CalendarList,
    Contact, ContactEnvelope, ContactEvent, ContactId, ContactSearchPage, CustomFieldValue,
    DeletedResponse, EventEnvelope, EventId, EventList, FreeSlotsResponse, GhlEvent, GhlRawEvent,
    Location, LocationEnvelope, LocationId, LocationSearchPage, MessageEvent, Note, NoteEnvelope,
    NoteList, Opportunity, OpportunityContact, OpportunityEnvelope, OpportunityEvent,
    OpportunityId, OpportunitySearchMeta, OpportunitySearchPage, OpportunityStatus, SentMessage,
    Tags, UpdatedResponse, UpsertedContact, WhitelabelDetails,
};
pub use sync::{contact_webhook_sync, GhlContactsSource, CONTACTS_JOB};
pub use template::{GhlIntegration, AUTHORIZE_URL, OAUTH_SCOPES};
pub use webhook::{
    GhlSigner, GhlVerifier, GhlVerifierBuilder, PUBLISHED_ED25519_PUBLIC_KEY,
    PUBLISHED_RSA_PUBLIC_KEY, RSA_SIGNATURE_HEADER, SIGNATURE_HEADER,
};

/// The GoHighLevel API host.
pub const DEFAULT_BASE_URL: &str = "https://services.leadconnectorhq.com";
