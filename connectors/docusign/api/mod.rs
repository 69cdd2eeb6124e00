//! The DocuSign resources, one file each, reached from [`super::DocuSignClient`]. Parameter
//! types are plain builders whose `.param(key, value)` sets a field they do not model, so a
//! new DocuSign field never needs a release of ours.

mod definition;
mod envelopes;
mod recipients;
mod views;

pub use definition::{
    AnchorUnits, CarbonCopy, Document, EventNotification, Signer, Tab, TabKind, TemplateRole,
};
pub use envelopes::{CreateEnvelope, Envelopes, ListEnvelopeStatusChanges};
pub use recipients::{Recipients, UpdateRecipients};
pub use views::{CreateRecipientView, CreateSenderView, Views};
