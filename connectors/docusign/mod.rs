//! The DocuSign eSignature (JWT grant, envelopes, Connect HMAC webhooks) connector.
//!
//! **Not implemented yet.** This module only reserves the feature and the folder so that hosts
//! and CI can already build with it; the connector itself lands with a later connector issue. It uses only the
//! core's public items and never imports another connector.

mod models;
mod webhook;

pub use models::{
    ConnectData, ConnectEvent, ConnectEventKind, ConnectRecipient, ConnectRecipients,
    ConnectSender, EnvelopeSummary,
};
pub use webhook::{
    DocuSignVerifier, DocuSignVerifierBuilder, MAX_SIGNATURE_HEADERS, SIGNATURE_HEADER,
    SIGNATURE_HEADER_PATTERN,
};
