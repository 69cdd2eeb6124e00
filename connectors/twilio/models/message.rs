//! Messages: the [`Message`] resource, what a create takes ([`CreateMessage`]) and list filters.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{lenient_u32, AccountSid, MessageSid, MessagingServiceSid};

/// A Message resource (SMS, MMS, WhatsApp, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The Message SID.
    pub sid: MessageSid,
    /// The account that owns the message.
    pub account_sid: Option<AccountSid>,
    /// The Messaging Service used, if any.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// The sender (a number, short code, or channel address such as `whatsapp:+1…`).
    pub from: Option<String>,
    /// The recipient.
    pub to: Option<String>,
    /// The text.
    pub body: Option<String>,
    /// The delivery status.
    #[serde(default)]
    pub status: MessageStatus,
    /// The direction.
    #[serde(default)]
    pub direction: MessageDirection,
    /// How many media items are attached.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// How many segments the text was split into.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Twilio's error code when the message failed.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub error_code: Option<u32>,
    /// Twilio's error text when the message failed.
    pub error_message: Option<String>,
    /// The price, as Twilio formats it (a decimal string, negative for a charge).
    pub price: Option<String>,
    /// The price's currency (`USD`).
    pub price_unit: Option<String>,
    /// RFC 2822 date, as Twilio sends it.
    pub date_created: Option<String>,
    /// RFC 2822 date, as Twilio sends it.
    pub date_sent: Option<String>,
    /// RFC 2822 date, as Twilio sends it.
    pub date_updated: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A message's status. New values parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageStatus {
    /// Accepted by a Messaging Service, not yet queued.
    Accepted,
    /// Scheduled for later.
    Scheduled,
    /// Canceled before it was sent.
    Canceled,
    /// Queued to be sent.
    Queued,
    /// Being sent.
    Sending,
    /// Sent to the carrier.
    Sent,
    /// Could not be sent.
    Failed,
    /// Delivered.
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// Inbound, being received.
    Receiving,
    /// Inbound, received.
    Received,
    /// Read by the recipient (WhatsApp).
    Read,
    /// Partially delivered.
    PartiallyDelivered,
    /// A status this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// A message's direction. New values parse as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MessageDirection {
    /// Received.
    Inbound,
    /// Sent through the API.
    OutboundApi,
    /// Sent as a reply (TwiML).
    OutboundReply,
    /// Sent by a call's `<Sms>`.
    OutboundCall,
    /// A direction this version does not know.
    #[default]
    #[serde(other)]
    Unknown,
}

/// What [`crate::twilio::Messages::create`] takes.
///
/// ```
/// use switchboard::twilio::CreateMessage;
/// let sms = CreateMessage::new("+15558675310").from("+15017122661").body("Hello");
/// let mms = CreateMessage::new("+15558675310")
///     .messaging_service_sid("MG9752274e9e519418a7406176694466fa")
///     .media_url("https://example.com/cat.png");
/// let whatsapp = CreateMessage::whatsapp("+15558675310").from("+14155238886").body("Hi");
/// # let _ = (sms, mms, whatsapp);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
#[non_exhaustive]
pub struct CreateMessage {
    /// `To`.
    pub to: String,
    /// `From`; when neither it nor `messaging_service_sid` is set, the client's default sender
    /// is used.
    pub from: Option<String>,
    /// `MessagingServiceSid`.
    pub messaging_service_sid: Option<String>,
    /// `Body`.
    pub body: Option<String>,
    /// `MediaUrl`, one parameter per URL (MMS, WhatsApp media).
    pub media_urls: Vec<String>,
    /// `StatusCallback`.
    pub status_callback: Option<String>,
    /// Prefix `whatsapp:` on `To` and `From` where it is missing.
    pub whatsapp: bool,
    /// Any other parameter of the Messages API, sent as given (`ContentSid`, `SendAt`, ...).
    pub params: Vec<(String, String)>,
}

impl CreateMessage {
    /// A message to `to` (E.164, or a channel address such as `whatsapp:+1…`).
    pub fn new(to: impl Into<String>) -> Self {
        CreateMessage {
            to: to.into(),
            ..Default::default()
        }
    }

    /// A WhatsApp message to `to`; `whatsapp:` is prefixed on `To` and `From` when missing.
    pub fn whatsapp(to: impl Into<String>) -> Self {
        CreateMessage {
            to: to.into(),
            whatsapp: true,
            ..Default::default()
        }
    }

    /// The same message to another recipient (for bulk sends).
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = to.into();
        self
    }

    /// The sender.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }

    /// Sends through a Messaging Service (Twilio picks the sender when `from` is not set).
    pub fn messaging_service_sid(mut self, sid: impl Into<String>) -> Self {
        self.messaging_service_sid = Some(sid.into());
        self
    }

    /// The text.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Adds a media URL (makes an MMS; up to 10).
    pub fn media_url(mut self, url: impl Into<String>) -> Self {
        self.media_urls.push(url.into());
        self
    }

    /// Where Twilio posts status callbacks for this message.
    pub fn status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Adds another Messages API parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// The form parameters, in a stable order, with `whatsapp:` applied.
    pub(crate) fn form(&self) -> Vec<(&str, String)> {
        let channel = |s: &str| {
            if self.whatsapp && !s.starts_with("whatsapp:") {
                format!("whatsapp:{s}")
            } else {
                s.to_string()
            }
        };
        let mut f = vec![("To", channel(&self.to))];
        if let Some(from) = &self.from {
            f.push(("From", channel(from)));
        }
        if let Some(ms) = &self.messaging_service_sid {
            f.push(("MessagingServiceSid", ms.clone()));
        }
        if let Some(b) = &self.body {
            f.push(("Body", b.clone()));
        }
        for m in &self.media_urls {
            f.push(("MediaUrl", m.clone()));
        }
        if let Some(cb) = &self.status_callback {
            f.push(("StatusCallback", cb.clone()));
        }
        for (k, v) in &self.params {
            f.push((k.as_str(), v.clone()));
        }
        f
    }
}

/// Filters for [`crate::twilio::Messages::list`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
#[non_exhaustive]
pub struct ListMessages {
    /// Only messages to this number.
    pub to: Option<String>,
    /// Only messages from this number.
    pub from: Option<String>,
    /// Only messages sent on this date (`YYYY-MM-DD`).
    pub date_sent: Option<String>,
    /// Items per page (Twilio's default is 50, its maximum 1000).
    pub page_size: Option<u32>,
}

impl ListMessages {
    /// No filter.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only messages to `to`.
    pub fn to(mut self, to: impl Into<String>) -> Self {
        self.to = Some(to.into());
        self
    }
    /// Only messages from `from`.
    pub fn from(mut self, from: impl Into<String>) -> Self {
        self.from = Some(from.into());
        self
    }
    /// Only messages sent on `date` (`YYYY-MM-DD`).
    pub fn date_sent(mut self, date: impl Into<String>) -> Self {
        self.date_sent = Some(date.into());
        self
    }
    /// Items per page.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(v) = &self.to {
            q.push(("To", v.clone()));
        }
        if let Some(v) = &self.from {
            q.push(("From", v.clone()));
        }
        if let Some(v) = &self.date_sent {
            q.push(("DateSent", v.clone()));
        }
        if let Some(v) = self.page_size {
            q.push(("PageSize", v.to_string()));
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_message_and_keeps_unknown_fields_and_statuses() {
        let m: Message = serde_json::from_value(serde_json::json!({
            "sid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "status": "some_new_status",
            "direction": "outbound-api", "num_media": "2", "num_segments": 1,
            "error_code": null, "brand_new_field": {"x": 1}
        }))
        .unwrap();
        assert_eq!(m.status, MessageStatus::Unknown);
        assert_eq!(m.direction, MessageDirection::OutboundApi);
        assert_eq!(
            (m.num_media, m.num_segments, m.error_code),
            (Some(2), Some(1), None)
        );
        assert_eq!(m.extra["brand_new_field"]["x"], 1);
    }

    #[test]
    fn whatsapp_prefixes_both_ends_once() {
        let m = CreateMessage::whatsapp("+1555")
            .from("whatsapp:+1666")
            .body("x");
        let f = m.form();
        assert_eq!(f[0], ("To", "whatsapp:+1555".to_string()));
        assert_eq!(f[1], ("From", "whatsapp:+1666".to_string()));
    }
}
