//! The RETS (Real Estate Transaction Standard) connector: MLS feeds over RETS 1.5 to 1.8.
//! Login sessions (Digest or Basic, `RETS-UA-Authorization`, cookies), COMPACT metadata, DMQL2
//! searches parsed as a stream, GetObject photos, and MLS listing sync on the sync engine.
//!
//! **Work in progress.** This module uses only the core's public items and never imports
//! another connector.

mod parse;
mod reply;
mod session;

pub use parse::RetsParseError;
pub use parse::{CompactHeader, CompactReader, CompactTrailer, Row, RowRef};
pub use reply::{ReplyCode, ReplyStatus};
