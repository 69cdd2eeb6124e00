//! [`Conversations`]: send a message to a contact (SMS, email or another channel). Sends
//! `Version: 2021-04-15`, the only version the conversations API takes.

use std::time::{SystemTime, UNIX_EPOCH};

use http::Method;

use super::{body_param, body_setters, Body};
use crate::ghl::models::SentMessage;
use crate::ghl::{GhlClient, GhlError};
use crate::toolkit::Call;

/// The conversations of the client's location.
#[derive(Debug, Clone)]
pub struct Conversations {
    client: GhlClient,
}

/// A message to send (`POST /conversations/messages`), through the location's provider for
/// its channel.
///
/// Only the fields GoHighLevel needs to send are set. Its current spec also marks `subType`
/// (typed as an object) and `status` required, fields of recording a message rather than of
/// sending one; the connector does not invent values for them. A host whose account wants
/// them sets them with [`SendMessage::param`].
#[derive(Debug, Clone, PartialEq)]
pub struct SendMessage {
    body: Body,
}

impl SendMessage {
    /// A message of GoHighLevel's `type` (`SMS`, `Email`, `WhatsApp`, `IG`, `FB`, `Custom`,
    /// `Live_Chat`...) to `contact_id`; set its content with the setters.
    pub fn new(message_type: &str, contact_id: &str) -> Self {
        let mut body = Body::default();
        body.set("type", message_type);
        body.set("contactId", contact_id);
        SendMessage { body }
    }

    /// An SMS of `text` to the contact's phone.
    pub fn sms(contact_id: &str, text: &str) -> Self {
        Self::new("SMS", contact_id).message(text)
    }

    /// An email with `subject` and the HTML body `html` to the contact's email address.
    pub fn email(contact_id: &str, subject: &str, html: &str) -> Self {
        Self::new("Email", contact_id).subject(subject).html(html)
    }

    /// Sends it at `at` instead of now (`scheduledTimestamp`, epoch seconds; an instant before
    /// 1970 is sent as 0).
    #[must_use]
    pub fn scheduled_at(mut self, at: SystemTime) -> Self {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.body.set("scheduledTimestamp", secs);
        self
    }
}

body_setters!(SendMessage {
    /// The text (SMS and chat channels; an email's plain text).
    message => "message": &str,
    /// An email's subject.
    subject => "subject": &str,
    /// An email's HTML body.
    html => "html": &str,
    /// URLs of files to attach.
    attachments => "attachments": Vec<String>,
    /// The sender's email address (default: the location's).
    email_from => "emailFrom": &str,
    /// Another of the contact's email addresses to send to.
    email_to => "emailTo": &str,
    /// Copies to.
    email_cc => "emailCc": Vec<String>,
    /// Blind copies to.
    email_bcc => "emailBcc": Vec<String>,
    /// The sender's phone number (default: the location's).
    from_number => "fromNumber": &str,
    /// Another of the contact's phone numbers to send to.
    to_number => "toNumber": &str,
    /// The appointment it is about.
    appointment_id => "appointmentId": &str,
    /// A message template to send.
    template_id => "templateId": &str,
    /// The email thread to send it in.
    thread_id => "threadId": &str,
    /// The message it answers.
    reply_message_id => "replyMessageId": &str,
});

body_param!(SendMessage);

impl Conversations {
    pub(crate) fn new(client: GhlClient) -> Self {
        Conversations { client }
    }

    /// Sends a message (`POST /conversations/messages`); GoHighLevel adds it to the contact's
    /// conversation and answers the ids.
    pub fn send_message(&self, message: SendMessage) -> Call<SentMessage, GhlError> {
        self.client.calendar_call(
            Method::POST,
            "/conversations/messages".into(),
            "conversations.messages.send",
            Some(message.body.into_value()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn sms_and_email_bodies_use_ghls_types_and_names() {
        assert_eq!(
            SendMessage::sms("c_1", "See you at 10").body.into_value(),
            json!({"type": "SMS", "contactId": "c_1", "message": "See you at 10"})
        );
        let email = SendMessage::email("c_1", "Viewing", "<p>10am</p>")
            .email_cc(vec!["a@example.com".into()])
            .scheduled_at(UNIX_EPOCH + Duration::from_secs(1_669_287_863));
        assert_eq!(
            email.body.into_value(),
            json!({"type": "Email", "contactId": "c_1", "subject": "Viewing",
                   "html": "<p>10am</p>", "emailCc": ["a@example.com"],
                   "scheduledTimestamp": 1_669_287_863u64})
        );
    }
}
