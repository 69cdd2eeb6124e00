//! The RETS (Real Estate Transaction Standard) connector: MLS feeds over RETS 1.5 to 1.8.
//!
//! - **Session**: the Login transaction and its capability URLs; HTTP Digest or Basic;
//!   `RETS-UA-Authorization`; cookies and `RETS-Session-ID`; one re-login on a 401; Logout.
//!   One session per credential, shared by concurrent callers ([`RetsIntegration`]).
//! - **Metadata** in COMPACT, typed ([`Metadata`]) and cached per session.
//! - **Search**: a DMQL2 builder ([`Dmql`]), COMPACT and COMPACT-DECODED replies parsed as a
//!   stream ([`SearchRows`]), paged by `Offset` or by key range ([`Paging`]), reply codes
//!   typed ([`ReplyCode`], [`RetsError`]).
//! - **GetObject**: multipart replies read one part at a time ([`ObjectReader`]); photos
//!   cached per tenant ([`RetsClient::photos`]).
//! - **Sync**: MLS listings and their photos on the sync engine ([`RetsListingsSource`],
//!   [`RetsPhotosSource`]).
//!
//! ```no_run
//! # async fn demo(connections: switchboard::connections::Connections) -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::rets::{Dmql, RetsClient, Search};
//! use switchboard::{ConnectionId, TenantId};
//!
//! let connection = connections
//!     .connection(&TenantId::new("acme"), &ConnectionId::new("mls"))
//!     .await?;
//! let rets = RetsClient::from_connection(connection)?;
//! let mut rows = rets.search(
//!     Search::new("Property", "RES", Dmql::raw("(ModificationTimestamp=2026-01-01T00:00:00+)"))
//!         .key_field("ListingKey"),
//! );
//! while let Some(row) = rows.next_row().await? {
//!     println!("{:?} {:?}", row.by_name("ListingKey"), row.by_name("ListPrice"));
//! }
//! # Ok(()) }
//! ```
//!
//! `docs/rets.md` is the guide. This module uses only the core's public items.

mod client;
mod config;
mod connector;
mod error;
mod models;
mod parse;
mod query;
mod reply;
mod search;
mod session;
mod sync;
mod template;

pub use client::{GetObject, ObjectIds, RetsClient};
pub use config::{
    HttpAuth, RetsConfig, RetsMethod, RetsSettings, DEFAULT_PAGE_SIZE, DEFAULT_PHOTO_CACHE_TTL,
    DEFAULT_RETS_VERSION, DEFAULT_USER_AGENT, SUPPORTED_VERSIONS,
};
pub use connector::RetsConnector;
pub use error::{RetsError, BACK_OFF};
pub use models::{
    Metadata, MetadataClass, MetadataLookup, MetadataLookupType, MetadataObject, MetadataResource,
    MetadataSystem, MetadataTable,
};
pub use parse::{
    parse_login, parse_logout, parse_metadata, parse_reply, Capabilities, LoginReply, LogoutReply,
    ObjectReader, RetsObject, RetsParseError,
};
pub use parse::{CompactHeader, CompactReader, CompactTrailer, Row, RowRef};
pub use query::{dmql_timestamp, Dmql};
pub use reply::{ReplyCode, ReplyStatus};
pub use search::{Paging, Search, SearchFormat, SearchRows};
pub use session::{ua_authorization, ua_product, Capability, LiveSession};
pub use sync::{RetsListingsSource, RetsPhotosSource};
pub use template::RetsIntegration;
