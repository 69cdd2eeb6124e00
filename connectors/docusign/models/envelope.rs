//! Envelopes: the id, the status (envelope statuses are also the event codes of a per-envelope
//! `eventNotification`), an envelope as `GET /envelopes/{id}` answers it, and the summaries
//! DocuSign answers a create or an update with.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::recipient::EnvelopeRecipients;

/// A DocuSign envelope id (a GUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnvelopeId(String);

impl EnvelopeId {
    /// An envelope id.
    pub fn new(id: impl Into<String>) -> Self {
        EnvelopeId(id.into())
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for EnvelopeId {
    fn from(s: &str) -> Self {
        EnvelopeId::new(s)
    }
}

impl From<String> for EnvelopeId {
    fn from(s: String) -> Self {
        EnvelopeId(s)
    }
}

/// Defines a status enum whose unknown values are kept (DocuSign adds statuses), compared
/// without case (the API answers `"sent"`, Connect sometimes `"Sent"`), written lowercase.
macro_rules! status_enum {
    (
        $(#[$m:meta])* $name:ident {
            $( $(#[$vm:meta])* $variant:ident = $wire:literal ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vm])* $variant, )*
            /// A value this version does not name, as DocuSign sent it.
            Other(String),
        }

        impl $name {
            /// The value as DocuSign writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(s) => s,
                }
            }

            /// The status named `s` (without case); an unknown one is kept as [`Self::Other`].
            pub fn parse(s: &str) -> Self {
                $( if s.eq_ignore_ascii_case($wire) { return $name::$variant; } )*
                $name::Other(s.to_string())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::parse(s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}
pub(crate) use status_enum;

status_enum! {
    /// An envelope's status. Also the envelope event codes of an
    /// [`EventNotification`](crate::docusign::EventNotification).
    EnvelopeStatus {
        /// A draft: not sent yet.
        Created = "created",
        /// Sent to the first recipients.
        Sent = "sent",
        /// Opened by every recipient of the current routing order.
        Delivered = "delivered",
        /// Signed by every signer (completion pending).
        Signed = "signed",
        /// Every recipient finished.
        Completed = "completed",
        /// A recipient declined.
        Declined = "declined",
        /// The sender voided it.
        Voided = "voided",
        /// Deleted.
        Deleted = "deleted",
    }
}

/// `GET /envelopes/{envelopeId}?include=recipients`: an envelope, its status and its
/// recipients with theirs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Envelope {
    /// The envelope id.
    pub envelope_id: EnvelopeId,
    /// The envelope's status.
    pub status: EnvelopeStatus,
    /// The email subject.
    #[serde(default)]
    pub email_subject: Option<String>,
    /// When it was created (ISO 8601, as DocuSign sent it).
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// When it was sent.
    #[serde(default)]
    pub sent_date_time: Option<String>,
    /// When its status last changed.
    #[serde(default)]
    pub status_changed_date_time: Option<String>,
    /// When it was completed.
    #[serde(default)]
    pub completed_date_time: Option<String>,
    /// When it was voided.
    #[serde(default)]
    pub voided_date_time: Option<String>,
    /// Why it was voided.
    #[serde(default)]
    pub voided_reason: Option<String>,
    /// The server template it was made from, when it was.
    #[serde(default)]
    pub template_id: Option<String>,
    /// Its recipients and their statuses (present when asked with `include=recipients`, as
    /// [`crate::docusign::Envelopes::get`] does).
    #[serde(default)]
    pub recipients: Option<EnvelopeRecipients>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /envelopes`: the new envelope's id and status.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeSummary {
    /// The new envelope's id.
    pub envelope_id: EnvelopeId,
    /// Its status (`sent`, or `created` for a draft).
    #[serde(default)]
    pub status: Option<EnvelopeStatus>,
    /// When the status was set.
    #[serde(default)]
    pub status_date_time: Option<String>,
    /// Its URI under the account.
    #[serde(default)]
    pub uri: Option<String>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `PUT /envelopes/{envelopeId}` (void, resend): what DocuSign did.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeUpdateSummary {
    /// The envelope's id.
    #[serde(default)]
    pub envelope_id: Option<EnvelopeId>,
    /// Per-recipient errors of a resend, when there were any (as DocuSign sent them).
    #[serde(default)]
    pub error_details: Option<Value>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A count DocuSign sends as a string (`"100"`), or a number.
pub(crate) fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Num(u64),
        Str(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Num(n)) => Some(n),
        // A count that is not a number is treated as absent: paging then relies on `nextUri`.
        Some(N::Str(s)) => s.trim().parse().ok(),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_without_case_and_keep_unknown_values() {
        assert_eq!(
            EnvelopeStatus::parse("Completed"),
            EnvelopeStatus::Completed
        );
        assert_eq!(
            serde_json::from_str::<EnvelopeStatus>("\"timedout\"").unwrap(),
            EnvelopeStatus::Other("timedout".into())
        );
        assert_eq!(
            serde_json::to_string(&EnvelopeStatus::Voided).unwrap(),
            "\"voided\""
        );
    }

    #[test]
    fn an_envelope_keeps_unknown_fields_and_reads_recipients() {
        let e: Envelope = serde_json::from_str(
            r#"{"envelopeId":"e-1","status":"sent","brandId":"b",
                "recipients":{"signers":[{"recipientId":"1","email":"a@example.test","name":"A","status":"delivered","routingOrder":"1"}],
                              "carbonCopies":[{"recipientId":"2","email":"c@example.test","name":"C","status":"created","routingOrder":"2"}]}}"#,
        )
        .unwrap();
        assert_eq!(e.status, EnvelopeStatus::Sent);
        assert_eq!(e.extra["brandId"], "b");
        let r = e.recipients.unwrap();
        assert_eq!(r.signers[0].routing_order(), Some(1));
        assert_eq!(r.carbon_copies[0].email.as_deref(), Some("c@example.test"));
    }
}
