//! DocuSign Connect events in the JSON SIM format (`connect.schema-v2.json` of
//! docusign/OpenAPI-Specifications): what a Connect webhook's body holds once
//! [`DocuSignVerifier`](super::super::DocuSignVerifier) accepted it.
//!
//! DocuSign writes almost every value as a string (`"true"`, `"1"`, dates with seven
//! fractional digits), so the typed fields here are strings too; every field not named is kept
//! in `extra`, and an event type DocuSign adds is [`ConnectEventKind::Other`], so a new field
//! or event never breaks parsing.

use std::fmt;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{AccountId, Envelope, EnvelopeId};
use crate::Error;

/// One Connect notification (the JSON SIM format).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConnectEvent {
    /// What happened (`"envelope-completed"`, `"recipient-declined"`, ...).
    pub event: ConnectEventKind,
    /// The REST path of the envelope the event is about.
    #[serde(default)]
    pub uri: Option<String>,
    /// How often DocuSign has retried this message (0 for the first delivery). Not part of
    /// the event's identity: the verifier's event id leaves it out.
    #[serde(default)]
    pub retry_count: Option<u64>,
    /// The Connect configuration that sent the message.
    #[serde(default, deserialize_with = "number_or_text")]
    pub configuration_id: Option<i64>,
    /// The eSignature API version the data is rendered in (`"v2.1"`).
    #[serde(default)]
    pub api_version: Option<String>,
    /// When DocuSign generated the message, as sent (ISO 8601, UTC, up to seven fractional
    /// digits: `"2024-01-02T03:04:05.6789012Z"`).
    #[serde(default)]
    pub generated_date_time: Option<String>,
    /// The account, envelope and recipient the event is about.
    pub data: ConnectData,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConnectEvent {
    /// Parses a Connect notification from raw bytes (a webhook body, after
    /// [`DocuSignVerifier`](super::super::DocuSignVerifier) accepted it).
    ///
    /// # Errors
    /// An [`ErrorKind::Decode`](crate::ErrorKind::Decode) error whose source is a
    /// [`DecodeError`](crate::DecodeError) naming the JSON pointer at fault (`/data` for a
    /// missing `data`, `""` with the line and column for a body that is not JSON), never a
    /// value from the body.
    pub fn from_slice(body: &[u8]) -> Result<ConnectEvent, Error> {
        crate::decode_json::<ConnectEvent>(body).map_err(Error::from)
    }
}

/// The event type of a Connect notification (its `event`). The types DocuSign documents as
/// Connect event triggers for envelopes and recipients are variants; any other (such as
/// `envelope-created`, `recipient-autoresponded` or a type added later) is kept as
/// [`ConnectEventKind::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectEventKind {
    /// `envelope-sent`: the envelope was sent to at least one recipient.
    EnvelopeSent,
    /// `envelope-delivered`: every recipient has viewed the envelope.
    EnvelopeDelivered,
    /// `envelope-completed`: every recipient has completed their part.
    EnvelopeCompleted,
    /// `envelope-declined`: a recipient declined to sign.
    EnvelopeDeclined,
    /// `envelope-voided`: the sender voided the envelope.
    EnvelopeVoided,
    /// `recipient-sent`: a recipient was notified that it is their turn.
    RecipientSent,
    /// `recipient-delivered`: a recipient viewed the documents.
    RecipientDelivered,
    /// `recipient-completed`: a recipient completed their part (signed, for a signer).
    RecipientCompleted,
    /// `recipient-declined`: a recipient declined to sign.
    RecipientDeclined,
    /// `recipient-authenticationfailed`: a recipient failed an authentication check.
    RecipientAuthenticationFailed,
    /// Any other event type, as sent.
    Other(String),
}

impl ConnectEventKind {
    /// The event type as DocuSign writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ConnectEventKind::EnvelopeSent => "envelope-sent",
            ConnectEventKind::EnvelopeDelivered => "envelope-delivered",
            ConnectEventKind::EnvelopeCompleted => "envelope-completed",
            ConnectEventKind::EnvelopeDeclined => "envelope-declined",
            ConnectEventKind::EnvelopeVoided => "envelope-voided",
            ConnectEventKind::RecipientSent => "recipient-sent",
            ConnectEventKind::RecipientDelivered => "recipient-delivered",
            ConnectEventKind::RecipientCompleted => "recipient-completed",
            ConnectEventKind::RecipientDeclined => "recipient-declined",
            ConnectEventKind::RecipientAuthenticationFailed => "recipient-authenticationfailed",
            ConnectEventKind::Other(s) => s,
        }
    }

    /// Whether the event is about a recipient (`recipient-*`; `data.recipientId` then says
    /// which), including unknown `recipient-*` types.
    pub fn is_recipient_event(&self) -> bool {
        self.as_str().starts_with("recipient-")
    }
}

impl From<&str> for ConnectEventKind {
    fn from(s: &str) -> Self {
        match s {
            "envelope-sent" => ConnectEventKind::EnvelopeSent,
            "envelope-delivered" => ConnectEventKind::EnvelopeDelivered,
            "envelope-completed" => ConnectEventKind::EnvelopeCompleted,
            "envelope-declined" => ConnectEventKind::EnvelopeDeclined,
            "envelope-voided" => ConnectEventKind::EnvelopeVoided,
            "recipient-sent" => ConnectEventKind::RecipientSent,
            "recipient-delivered" => ConnectEventKind::RecipientDelivered,
            "recipient-completed" => ConnectEventKind::RecipientCompleted,
            "recipient-declined" => ConnectEventKind::RecipientDeclined,
            "recipient-authenticationfailed" => ConnectEventKind::RecipientAuthenticationFailed,
            other => ConnectEventKind::Other(other.to_string()),
        }
    }
}

impl fmt::Display for ConnectEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ConnectEventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(ConnectEventKind::from(s.as_ref()))
    }
}

/// A notification's `data`: whose event it is, and with the envelope summary when the Connect
/// configuration includes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConnectData {
    /// The account (GUID).
    #[serde(default)]
    pub account_id: Option<AccountId>,
    /// The user the event happened for (GUID).
    #[serde(default)]
    pub user_id: Option<String>,
    /// The envelope.
    #[serde(default)]
    pub envelope_id: Option<EnvelopeId>,
    /// The recipient, for recipient events (`"1"`, as the envelope numbers them; a number is
    /// read as its text).
    #[serde(default, deserialize_with = "text_or_number")]
    pub recipient_id: Option<String>,
    /// The envelope as it was at the event (`envelopeSummary`, the REST v2.1 envelope with its
    /// recipients when the configuration includes them), when the configuration includes it.
    /// Fields [`Envelope`] does not name (sender, documents, custom fields, ...) are in its
    /// `extra`.
    #[serde(default)]
    pub envelope_summary: Option<Envelope>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A string field DocuSign may also write as a number (`recipientId`).
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::Text(s)) => Some(s),
        Some(Either::Number(n)) => Some(n.to_string()),
    })
}

/// A number field DocuSign may also write as decimal text (`configurationId`).
fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(i64),
        Text(String),
    }
    match Option::<Either>::deserialize(d)? {
        None => Ok(None),
        Some(Either::Number(n)) => Ok(Some(n)),
        Some(Either::Text(s)) if s.is_empty() => Ok(None),
        Some(Either::Text(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom("expected a whole number, or one written as text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_KINDS: [(&str, ConnectEventKind); 10] = [
        ("envelope-sent", ConnectEventKind::EnvelopeSent),
        ("envelope-delivered", ConnectEventKind::EnvelopeDelivered),
        ("envelope-completed", ConnectEventKind::EnvelopeCompleted),
        ("envelope-declined", ConnectEventKind::EnvelopeDeclined),
        ("envelope-voided", ConnectEventKind::EnvelopeVoided),
        ("recipient-sent", ConnectEventKind::RecipientSent),
        ("recipient-delivered", ConnectEventKind::RecipientDelivered),
        ("recipient-completed", ConnectEventKind::RecipientCompleted),
        ("recipient-declined", ConnectEventKind::RecipientDeclined),
        (
            "recipient-authenticationfailed",
            ConnectEventKind::RecipientAuthenticationFailed,
        ),
    ];

    fn event(kind: &str) -> String {
        format!(
            r#"{{"event":"{kind}","uri":"/restapi/v2.1/accounts/a/envelopes/e","retryCount":2,"configurationId":"10000001","apiVersion":"v2.1","generatedDateTime":"2024-01-02T03:04:05.6789012Z","data":{{"accountId":"a","userId":"u","envelopeId":"e","recipientId":"1","newField":true}}}}"#
        )
    }

    #[test]
    fn every_kind_parses_and_round_trips_its_name() {
        for (name, kind) in ALL_KINDS {
            let e = ConnectEvent::from_slice(event(name).as_bytes()).unwrap();
            assert_eq!(e.event, kind);
            assert_eq!(e.event.as_str(), name);
            assert_eq!(e.event.to_string(), name);
            assert_eq!(e.event.is_recipient_event(), name.starts_with("recipient-"));
            assert_eq!(e.retry_count, Some(2));
            assert_eq!(e.configuration_id, Some(10_000_001));
            assert_eq!(e.data.envelope_id, Some(EnvelopeId::new("e")));
            assert_eq!(e.data.account_id, Some(AccountId::new("a")));
            assert_eq!(e.data.recipient_id.as_deref(), Some("1"));
            assert_eq!(e.data.extra["newField"], Value::Bool(true));
        }
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let e = ConnectEvent::from_slice(event("recipient-autoresponded").as_bytes()).unwrap();
        assert_eq!(
            e.event,
            ConnectEventKind::Other("recipient-autoresponded".into())
        );
        assert!(e.event.is_recipient_event());
    }

    #[test]
    fn errors_name_the_pointer_and_not_the_value() {
        let bad = event("envelope-sent").replace(r#""envelopeId":"e""#, r#""envelopeId":42"#);
        let err = ConnectEvent::from_slice(bad.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Decode);
        assert!(err.to_string().contains("/data/envelopeId"), "{err}");
        let no_data = r#"{"event":"envelope-sent"}"#;
        let err = ConnectEvent::from_slice(no_data.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("data"), "{err}");
        let bad_config = event("envelope-sent").replace("10000001", "CANARY-config");
        let err = ConnectEvent::from_slice(bad_config.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("/configurationId"), "{err}");
        assert!(!err.to_string().contains("CANARY"), "{err}");
        let err = ConnectEvent::from_slice(b"CANARY not json").unwrap_err();
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }
}
