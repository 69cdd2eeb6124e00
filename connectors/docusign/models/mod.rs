//! Typed DocuSign models, one file per object family. Every model keeps the fields it does not
//! name in `extra`, so a new DocuSign field never breaks parsing.

mod account;
mod connect;
mod document;
mod envelope;
mod recipient;
mod view;

pub use account::{Account, AccountId, UserInfo, UserInfoAccount};
pub use connect::{ConnectData, ConnectEvent, ConnectEventKind};
pub use document::{DocumentUpload, EnvelopeDocument, EnvelopeDocuments};
pub(crate) use envelope::lenient_count;
pub use envelope::{Envelope, EnvelopeId, EnvelopeStatus, EnvelopeSummary, EnvelopeUpdateSummary};
pub use recipient::{
    EnvelopeRecipients, Recipient, RecipientStatus, RecipientUpdateResult, RecipientsUpdateSummary,
};
pub use view::ViewUrl;
