//! The GoHighLevel (contacts, calendars, conversations, Ed25519/RSA webhooks) connector.
//!
//! **Not implemented yet.** This module only reserves the feature and the folder so that hosts
//! and CI can already build with it; the connector itself lands with a later connector issue. It uses only the
//! core's public items and never imports another connector.

mod models;
mod webhook;

pub use models::{
    AppInstallEvent, AppTrial, AppUninstallEvent, AppointmentEvent, AppointmentPayload,
    ContactEvent, CustomFieldValue, GhlEvent, GhlRawEvent, MessageEvent, OpportunityEvent,
    WhitelabelDetails,
};
pub use webhook::{
    GhlSigner, GhlVerifier, GhlVerifierBuilder, PUBLISHED_ED25519_PUBLIC_KEY,
    PUBLISHED_RSA_PUBLIC_KEY, RSA_SIGNATURE_HEADER, SIGNATURE_HEADER,
};
