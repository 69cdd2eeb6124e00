//! Parsers for what a RETS server sends: the reply envelope and its status, the Login
//! capability list, COMPACT metadata, COMPACT / COMPACT-DECODED search rows (streaming) and
//! multipart GetObject replies (streaming). They never panic on input: every failure is a
//! [`RetsParseError`] naming the byte offset and the element or header.

use std::fmt;

mod envelope;
mod login;
mod metadata;
mod multipart;

#[cfg(test)]
pub(crate) use envelope::fixtures;
pub use envelope::parse_reply;
pub use login::{parse_login, parse_logout, Capabilities, LoginReply, LogoutReply};
pub use metadata::parse_metadata;
pub use multipart::{ObjectReader, RetsObject};
mod compact;

pub use compact::{CompactHeader, CompactReader, CompactTrailer, Row, RowRef};

/// A RETS reply that could not be read: where (byte offset into the reply, when known, and the
/// element, attribute or header) and why. It never echoes field values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetsParseError {
    offset: Option<u64>,
    place: String,
    reason: String,
}

impl RetsParseError {
    /// A parse error at `place` (`"DELIMITER@value"`, `"COLUMNS"`, `"Content-Type@boundary"`).
    pub fn new(place: impl Into<String>, reason: impl Into<String>) -> Self {
        RetsParseError {
            offset: None,
            place: place.into(),
            reason: reason.into(),
        }
    }

    /// The same error at byte `offset` of the reply.
    pub fn at(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// The byte offset into the reply, when known.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The element, attribute or header that was wrong.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Why it was wrong.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RetsParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "RETS reply, {} at byte {o}: {}", self.place, self.reason),
            None => write!(f, "RETS reply, {}: {}", self.place, self.reason),
        }
    }
}

impl std::error::Error for RetsParseError {}

impl From<RetsParseError> for crate::Error {
    fn from(e: RetsParseError) -> Self {
        let place = match e.offset {
            Some(o) => format!("{}@{o}", e.place),
            None => e.place,
        };
        crate::Error::decode(place, e.reason)
    }
}
