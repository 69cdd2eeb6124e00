//! Typed Twilio objects: newtype SIDs, messages, calls, the account, Lookups v2 results and
//! the payloads Twilio posts to webhooks.
//!
//! Every model is `#[non_exhaustive]` and keeps the fields it does not name in `extra`, so a
//! field Twilio adds tomorrow never breaks parsing. Status enums end in `Unknown`.

mod account;
mod call;
mod lookup;
mod message;
mod webhook;

pub use account::{Account, AccountStatus};
pub use call::{Call, CallStatus, CreateCall, UpdateCall};
pub use lookup::PhoneNumberLookup;
pub use message::{CreateMessage, ListMessages, Message, MessageDirection, MessageStatus};
pub use webhook::{CallStatusCallback, InboundMessage, MediaItem, MessageStatusCallback};

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! sid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The two-letter prefix Twilio gives this kind of SID.
            pub const PREFIX: &'static str = $prefix;

            /// Wraps a SID as given (not checked; see [`Self::is_well_formed`]).
            pub fn new(sid: impl Into<String>) -> Self {
                $name(sid.into())
            }

            /// The SID as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Whether the SID has Twilio's shape: the prefix and 32 hexadecimal digits.
            pub fn is_well_formed(&self) -> bool {
                is_sid(&self.0, $prefix)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

sid!(
    /// An account or subaccount SID (`AC…`).
    AccountSid,
    "AC"
);
sid!(
    /// A Message SID (`SM…` for SMS, `MM…` for MMS).
    MessageSid,
    "SM"
);
sid!(
    /// A Call SID (`CA…`).
    CallSid,
    "CA"
);
sid!(
    /// A Messaging Service SID (`MG…`).
    MessagingServiceSid,
    "MG"
);
sid!(
    /// An API key SID (`SK…`).
    ApiKeySid,
    "SK"
);

impl MessageSid {
    /// Whether the SID has a Message SID's shape (`SM` or `MM` and 32 hexadecimal digits).
    pub fn is_message_sid(&self) -> bool {
        is_sid(&self.0, "SM") || is_sid(&self.0, "MM")
    }
}

/// Whether `s` is `prefix` followed by 32 hexadecimal digits.
pub(crate) fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// One page of a Twilio list (`next_page_uri` is relative to the API host).
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    #[serde(default = "Vec::new", alias = "messages", alias = "calls")]
    pub(crate) items: Vec<T>,
    #[serde(default)]
    pub(crate) next_page_uri: Option<String>,
}

/// Parses an `application/x-www-form-urlencoded` body into a JSON object: one string per key,
/// or an array of strings for a repeated key. Lets the typed payloads use serde (and keep the
/// fields they do not name in `extra`) like the API models.
pub(crate) fn form_to_json(body: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let mut map = serde_json::Map::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(a)) => a.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
        }
    }
    map
}

/// Deserializes a number Twilio sends either as a JSON number or as a string (`"1"`), and
/// `null` or an unparsable value as `None` rather than failing the whole object.
pub(crate) fn lenient_u32<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_check_their_shape() {
        assert!(AccountSid::new(format!("AC{}", "a".repeat(32))).is_well_formed());
        assert!(!AccountSid::new("AC123").is_well_formed());
        assert!(!AccountSid::new(format!("SK{}", "a".repeat(32))).is_well_formed());
        assert!(MessageSid::new(format!("MM{}", "0".repeat(32))).is_message_sid());
    }

    #[test]
    fn repeated_form_keys_become_arrays() {
        let m = form_to_json(b"A=1&B=x%2By&A=2&A=3");
        assert_eq!(m["A"], serde_json::json!(["1", "2", "3"]));
        assert_eq!(m["B"], "x+y");
    }
}
