//! The RETS (Real Estate Transaction Standard) connector: MLS feeds over RETS 1.5 to 1.8.
//! Login sessions (Digest or Basic, `RETS-UA-Authorization`, cookies), COMPACT metadata, DMQL2
//! searches parsed as a stream, GetObject photos, and MLS listing sync on the sync engine.
//!
//! **Work in progress.** This module uses only the core's public items and never imports
//! another connector.

mod models;
mod parse;
mod reply;
mod session;

pub use models::{
    Metadata, MetadataClass, MetadataLookup, MetadataLookupType, MetadataObject, MetadataResource,
    MetadataSystem, MetadataTable,
};
pub use parse::{
    parse_login, parse_logout, parse_metadata, parse_reply, Capabilities, LoginReply, LogoutReply,
    ObjectReader, RetsObject, RetsParseError,
};
pub use reply::{ReplyCode, ReplyStatus};
pub use session::{ua_authorization, ua_product};
