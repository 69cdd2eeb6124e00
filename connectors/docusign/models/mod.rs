//! Typed DocuSign models, one file per object family. Every model keeps the fields it does not
//! name in `extra`, so a new DocuSign field never breaks parsing.

mod account;
mod document;

pub use account::{Account, AccountId, UserInfo, UserInfoAccount};
pub use document::{DocumentUpload, EnvelopeDocument, EnvelopeDocuments};
