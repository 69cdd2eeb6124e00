//! Conversations: [`SentMessage`], the answer of sending a message.

use serde::Deserialize;
use serde_json::{Map, Value};

/// What GoHighLevel answers when it takes a message to send.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SentMessage {
    /// The conversation it was added to.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The message's id (absent when GoHighLevel answers [`SentMessage::message_ids`]).
    #[serde(default)]
    pub message_id: Option<String>,
    /// The messages' ids, for channels that split a message (Google Business Messages).
    #[serde(default)]
    pub message_ids: Vec<String>,
    /// The email's own id (emails only): reply to it to thread.
    #[serde(default)]
    pub email_message_id: Option<String>,
    /// GoHighLevel's note (`"Message queued successfully."`).
    #[serde(default)]
    pub msg: Option<String>,
    /// `delivered`, `failed`, `pending` or `read`.
    #[serde(default)]
    pub status: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
