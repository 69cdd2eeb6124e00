//! What Twilio posts to webhooks, parsed from the form body after the signature was verified:
//! message status callbacks, inbound messages and call status callbacks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{form_to_json, lenient_u32, AccountSid, CallSid, MessageSid, MessagingServiceSid};
use super::{CallStatus, MessageStatus};
use crate::DecodeError;

fn from_form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_value(Value::Object(form_to_json(body)))
        .map_err(|e| DecodeError::new("", format!("not the expected Twilio webhook form: {e}")))
}

/// A message status callback (`StatusCallback` of a sent message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct MessageStatusCallback {
    /// The message.
    pub message_sid: MessageSid,
    /// Its new status.
    #[serde(default)]
    pub message_status: MessageStatus,
    /// The account.
    pub account_sid: Option<AccountSid>,
    /// The Messaging Service, if one was used.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// The sender.
    pub from: Option<String>,
    /// The recipient.
    pub to: Option<String>,
    /// Twilio's error code when delivery failed.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub error_code: Option<u32>,
    /// Every other parameter (`SmsSid`, `SmsStatus`, `ApiVersion`, `RawDlrDoneDate`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessageStatusCallback {
    /// Parses the raw form body.
    ///
    /// # Errors
    /// A [`DecodeError`] when a required parameter (`MessageSid`) is missing.
    pub fn from_form(body: &[u8]) -> Result<Self, DecodeError> {
        from_form(body)
    }
}

/// An inbound message (the number's or Messaging Service's incoming-message webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct InboundMessage {
    /// The message.
    pub message_sid: MessageSid,
    /// The account.
    pub account_sid: Option<AccountSid>,
    /// The Messaging Service, if the number belongs to one.
    pub messaging_service_sid: Option<MessagingServiceSid>,
    /// The sender.
    pub from: Option<String>,
    /// The recipient (your number).
    pub to: Option<String>,
    /// The text.
    pub body: Option<String>,
    /// How many media items are attached (`MediaUrl0`, `MediaContentType0`, ...).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_media: Option<u32>,
    /// How many segments the text came in.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub num_segments: Option<u32>,
    /// Every other parameter (`FromCity`, `MediaUrl0`, WhatsApp's `ProfileName`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One media item of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaItem {
    /// Where to fetch it (Twilio-hosted; fetching it needs the account's credentials).
    pub url: String,
    /// Its MIME type, when given.
    pub content_type: Option<String>,
}

impl InboundMessage {
    /// Parses the raw form body.
    ///
    /// # Errors
    /// A [`DecodeError`] when a required parameter (`MessageSid`) is missing.
    pub fn from_form(body: &[u8]) -> Result<Self, DecodeError> {
        from_form(body)
    }

    /// The attached media, from `MediaUrl{i}` / `MediaContentType{i}` for `i < NumMedia`.
    pub fn media(&self) -> Vec<MediaItem> {
        let n = self.num_media.unwrap_or(0).min(10);
        (0..n)
            .filter_map(|i| {
                let url = self
                    .extra
                    .get(&format!("MediaUrl{i}"))?
                    .as_str()?
                    .to_string();
                let content_type = self
                    .extra
                    .get(&format!("MediaContentType{i}"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                Some(MediaItem { url, content_type })
            })
            .collect()
    }
}

/// A call status callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct CallStatusCallback {
    /// The call.
    pub call_sid: CallSid,
    /// Its status.
    #[serde(default)]
    pub call_status: CallStatus,
    /// The account.
    pub account_sid: Option<AccountSid>,
    /// The caller.
    pub from: Option<String>,
    /// The callee.
    pub to: Option<String>,
    /// The direction, as Twilio sends it.
    pub direction: Option<String>,
    /// The call's duration in seconds (on `completed`).
    #[serde(default, deserialize_with = "lenient_u32")]
    pub call_duration: Option<u32>,
    /// Every other parameter.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CallStatusCallback {
    /// Parses the raw form body.
    ///
    /// # Errors
    /// A [`DecodeError`] when a required parameter (`CallSid`) is missing.
    pub fn from_form(body: &[u8]) -> Result<Self, DecodeError> {
        from_form(body)
    }
}
