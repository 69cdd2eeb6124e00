//! Recipients as DocuSign reports them: each signer's and carbon copy's status, and the answer
//! to an update of an envelope's recipients.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::envelope::status_enum;

status_enum! {
    /// A recipient's status. Also the recipient event codes of an
    /// [`EventNotification`](crate::docusign::EventNotification).
    RecipientStatus {
        /// Not sent yet (a later routing order, or a draft).
        Created = "created",
        /// Sent the signing email.
        Sent = "sent",
        /// Opened the envelope.
        Delivered = "delivered",
        /// Signed (a signer).
        Signed = "signed",
        /// Finished.
        Completed = "completed",
        /// Declined to sign.
        Declined = "declined",
        /// Failed the access check (access code, ID check).
        AuthenticationFailed = "authenticationfailed",
        /// The email bounced or an auto-reply came back.
        AutoResponded = "autoresponded",
        /// A fax is pending.
        FaxPending = "faxpending",
    }
}

/// One recipient (a signer, a carbon copy, ...) and its status.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Recipient {
    /// The recipient's id within the envelope (`"1"`).
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// The recipient's GUID.
    #[serde(default)]
    pub recipient_id_guid: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// The recipient's status.
    #[serde(default)]
    pub status: Option<RecipientStatus>,
    /// The routing order as DocuSign sent it (a string; see [`Recipient::routing_order`]).
    #[serde(default, rename = "routingOrder")]
    pub routing_order_raw: Option<String>,
    /// The template role it fills, when made from a template.
    #[serde(default)]
    pub role_name: Option<String>,
    /// Set for an embedded recipient (signs through a recipient view).
    #[serde(default)]
    pub client_user_id: Option<String>,
    /// When the envelope was sent to them.
    #[serde(default)]
    pub sent_date_time: Option<String>,
    /// When they opened it.
    #[serde(default)]
    pub delivered_date_time: Option<String>,
    /// When they signed.
    #[serde(default)]
    pub signed_date_time: Option<String>,
    /// When they declined.
    #[serde(default)]
    pub declined_date_time: Option<String>,
    /// Why they declined.
    #[serde(default)]
    pub declined_reason: Option<String>,
    /// Fields not named above (tabs when asked for, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Recipient {
    /// The routing order as a number, when DocuSign sent one that is.
    pub fn routing_order(&self) -> Option<u32> {
        self.routing_order_raw.as_deref()?.trim().parse().ok()
    }
}

/// An envelope's recipients by kind (`recipients` in the API).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvelopeRecipients {
    /// The signers.
    #[serde(default)]
    pub signers: Vec<Recipient>,
    /// The carbon copies.
    #[serde(default)]
    pub carbon_copies: Vec<Recipient>,
    /// The routing order now being worked on.
    #[serde(default)]
    pub current_routing_order: Option<String>,
    /// Every other kind (`certifiedDeliveries`, `inPersonSigners`, ...) as DocuSign sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `PUT /envelopes/{envelopeId}/recipients`: the result for each recipient sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecipientsUpdateSummary {
    /// One result per recipient.
    #[serde(default)]
    pub recipient_update_results: Vec<RecipientUpdateResult>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One recipient's update result.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecipientUpdateResult {
    /// The recipient's id.
    #[serde(default)]
    pub recipient_id: Option<String>,
    /// DocuSign's error for this recipient (`{"errorCode", "message"}`), when it refused it.
    #[serde(default)]
    pub error_details: Option<Value>,
    /// Fields not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RecipientUpdateResult {
    /// DocuSign's `errorCode` for this recipient; `None` when the update succeeded (DocuSign
    /// writes `"SUCCESS"` there for one that did).
    pub fn error_code(&self) -> Option<&str> {
        self.error_details
            .as_ref()?
            .get("errorCode")?
            .as_str()
            .filter(|c| !c.eq_ignore_ascii_case("SUCCESS"))
    }
}
