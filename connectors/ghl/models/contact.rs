//! Contacts: [`Contact`] and the envelopes GoHighLevel wraps it in.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::parse_time;

super::string_id!(
    /// A contact's id.
    ContactId,
);

/// A GoHighLevel contact (a lead, a client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Contact {
    /// The contact's id.
    pub id: ContactId,
    /// The location (sub-account) it belongs to.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// First name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number (E.164 as GoHighLevel stores it).
    #[serde(default)]
    pub phone: Option<String>,
    /// Company name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address1: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State or region.
    #[serde(default)]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// Country (ISO code).
    #[serde(default)]
    pub country: Option<String>,
    /// Website.
    #[serde(default)]
    pub website: Option<String>,
    /// IANA time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Where the contact came from (`"public api"`).
    #[serde(default)]
    pub source: Option<String>,
    /// The user the contact is assigned to.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// Do-not-disturb on every channel.
    #[serde(default)]
    pub dnd: Option<bool>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom field values (`{"id", "value"}` objects).
    #[serde(default)]
    pub custom_fields: Vec<Value>,
    /// When it was created (RFC 3339).
    #[serde(default)]
    pub date_added: Option<String>,
    /// When it last changed (RFC 3339): the sync cursor.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Contact {
    /// [`Contact::date_updated`] as an instant (`None` when absent or not RFC 3339).
    pub fn updated_at(&self) -> Option<SystemTime> {
        self.date_updated.as_deref().and_then(parse_time)
    }
}

/// `{"contact": {...}}`: the answer of get, create and update.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ContactEnvelope {
    /// The contact.
    pub contact: Contact,
}

/// The answer of an upsert: the contact and whether it was created.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UpsertedContact {
    /// Whether a new contact was created (`false`: an existing one matched and was updated).
    #[serde(default, rename = "new")]
    pub created: bool,
    /// The contact.
    pub contact: Contact,
    /// GoHighLevel's trace id, for support.
    #[serde(default, rename = "traceId")]
    pub trace_id: Option<String>,
}

/// One page of a contact search: `{"contacts": [...], "total": n}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct ContactSearchPage {
    /// The page's contacts.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// How many contacts match in all, when GoHighLevel says.
    #[serde(default)]
    pub total: Option<u64>,
}

/// `{"succeded": true}` (GoHighLevel's spelling) or `{"succeeded": true}`: the answer of a
/// delete.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct DeletedResponse {
    /// Whether GoHighLevel reports success.
    #[serde(default, alias = "succeded")]
    pub succeeded: bool,
}

/// `{"tags": [...]}`: a contact's tags after adding or removing some.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Tags {
    /// The tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A note on a contact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Note {
    /// The note's id.
    pub id: String,
    /// Its text.
    #[serde(default)]
    pub body: Option<String>,
    /// The user who wrote it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// When it was written (RFC 3339).
    #[serde(default)]
    pub date_added: Option<String>,
    /// The contact it is on.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"note": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct NoteEnvelope {
    /// The note.
    pub note: Note,
}

/// `{"notes": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct NoteList {
    /// The notes.
    #[serde(default)]
    pub notes: Vec<Note>,
}

crate::ghl::client::envelope!(
    ContactEnvelope => contact: Contact,
    NoteEnvelope => note: Note,
    NoteList => notes: Vec<Note>,
);
