//! Typed DocuSign objects. Every model is `#[non_exhaustive]`, names the fields most hosts use,
//! and keeps every other field in `extra`, so a field DocuSign adds never breaks parsing.

mod connect;

pub use connect::{
    ConnectData, ConnectEvent, ConnectEventKind, ConnectRecipient, ConnectRecipients,
    ConnectSender, EnvelopeSummary,
};
