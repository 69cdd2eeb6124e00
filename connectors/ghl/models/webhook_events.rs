//! GoHighLevel webhook events: what a webhook's body holds once
//! [`GhlVerifier`](super::super::GhlVerifier) accepted it, as one [`GhlEvent`].
//!
//! GoHighLevel documents each event with a JSON schema and examples (the `docs/webhook
//! events/*.md` files of GoHighLevel/highlevel-api-docs). The body is one flat JSON object whose
//! `type` names the event (`"ContactCreate"`, `"OpportunityStageUpdate"`; `"INSTALL"` and
//! `"UNINSTALL"` for app installs), with `locationId`, and, on deliveries since 2025, the
//! `timestamp` and `webhookId` the verifier checks. The events the connector acts on are typed
//! variants; every other event (invoices, notes, tasks, products, custom objects, events
//! GoHighLevel adds later, and bodies without a `type`) is [`GhlEvent::Other`] with its JSON.
//!
//! The schemas name no required fields and are loose about types (`to` is documented as a
//! string and shown as an array), so the typed payloads are lenient: every field but the object
//! id is an `Option` (lists are empty when absent or `null`), numbers are `f64`, values whose
//! shape varies stay [`serde_json::Value`], and every field not named is kept in `extra`. A
//! value of the wrong type for a named field is a decode error naming its JSON pointer.
//!
//! ```
//! use switchboard::ghl::GhlEvent;
//! let body = br#"{"type":"ContactTagUpdate","locationId":"loc1","id":"c1","tags":["vip"],
//!     "timestamp":"2025-01-28T14:35:00Z","webhookId":"wh-1"}"#;
//! match GhlEvent::from_slice(body)? {
//!     GhlEvent::ContactTagUpdate(contact) => assert_eq!(contact.tags, ["vip"]),
//!     other => println!("not handled: {}", other.event_type()),
//! }
//! # Ok::<_, switchboard::Error>(())
//! ```

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::Error;

/// One GoHighLevel webhook event, by its `type`.
///
/// Parse it with [`GhlEvent::from_slice`] after the signature was verified. The variant follows
/// the body's `type` alone (GoHighLevel's documentation examples for `AppointmentUpdate` and
/// `AppointmentDelete` say `"AppointmentCreate"`: such a body is an
/// [`AppointmentCreate`](GhlEvent::AppointmentCreate)).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum GhlEvent {
    /// `ContactCreate`: a contact was created.
    ContactCreate(ContactEvent),
    /// `ContactUpdate`: a contact was updated.
    ContactUpdate(ContactEvent),
    /// `ContactDelete`: a contact was deleted (the body still carries its fields).
    ContactDelete(ContactEvent),
    /// `ContactTagUpdate`: a contact's tags changed (`tags` holds the new list).
    ContactTagUpdate(ContactEvent),
    /// `OpportunityCreate`: an opportunity was created.
    OpportunityCreate(OpportunityEvent),
    /// `OpportunityStatusUpdate`: an opportunity's status (`open`, `won`, ...) changed.
    OpportunityStatusUpdate(OpportunityEvent),
    /// `OpportunityStageUpdate`: an opportunity moved to another pipeline stage.
    OpportunityStageUpdate(OpportunityEvent),
    /// `AppointmentCreate`: an appointment was booked.
    AppointmentCreate(AppointmentEvent),
    /// `AppointmentUpdate`: an appointment was changed (moved, status changed, ...).
    AppointmentUpdate(AppointmentEvent),
    /// `AppointmentDelete`: an appointment was deleted.
    AppointmentDelete(AppointmentEvent),
    /// `InboundMessage`: a contact sent a message (SMS, email, call, voicemail, chat, ...).
    InboundMessage(MessageEvent),
    /// `OutboundMessage`: a user sent a message to a contact.
    OutboundMessage(MessageEvent),
    /// `INSTALL`: the marketplace app was installed on a location or an agency.
    AppInstall(AppInstallEvent),
    /// `UNINSTALL`: the marketplace app was uninstalled from a location or an agency.
    AppUninstall(AppUninstallEvent),
    /// Any other event (or a body without a `type`), kept as JSON.
    Other(GhlRawEvent),
}

impl GhlEvent {
    /// Parses a webhook body (after [`GhlVerifier`](super::super::GhlVerifier) accepted it).
    ///
    /// # Errors
    /// An [`ErrorKind::Decode`](crate::ErrorKind::Decode) error whose source is a
    /// [`DecodeError`](crate::DecodeError) naming the JSON pointer at fault (`/type` for a
    /// `type` that is not a string, `/appointment/id` for a missing appointment id, `""` with
    /// the line and column for a body that is not JSON or not an object), never a value from
    /// the body.
    pub fn from_slice(body: &[u8]) -> Result<GhlEvent, Error> {
        let head: Head = crate::decode_json(body)?;
        let event_type = head.event_type.unwrap_or_default();
        Ok(match event_type.as_str() {
            "ContactCreate" => GhlEvent::ContactCreate(decode(body)?),
            "ContactUpdate" => GhlEvent::ContactUpdate(decode(body)?),
            "ContactDelete" => GhlEvent::ContactDelete(decode(body)?),
            "ContactTagUpdate" => GhlEvent::ContactTagUpdate(decode(body)?),
            "OpportunityCreate" => GhlEvent::OpportunityCreate(decode(body)?),
            "OpportunityStatusUpdate" => GhlEvent::OpportunityStatusUpdate(decode(body)?),
            "OpportunityStageUpdate" => GhlEvent::OpportunityStageUpdate(decode(body)?),
            "AppointmentCreate" => GhlEvent::AppointmentCreate(decode(body)?),
            "AppointmentUpdate" => GhlEvent::AppointmentUpdate(decode(body)?),
            "AppointmentDelete" => GhlEvent::AppointmentDelete(decode(body)?),
            "InboundMessage" => GhlEvent::InboundMessage(decode(body)?),
            "OutboundMessage" => GhlEvent::OutboundMessage(decode(body)?),
            "INSTALL" => GhlEvent::AppInstall(decode(body)?),
            "UNINSTALL" => GhlEvent::AppUninstall(decode(body)?),
            _ => {
                // An object, not any JSON value: `Head` alone would also take an array.
                let object: Map<String, Value> = decode(body)?;
                let location_id = object
                    .get("locationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                GhlEvent::Other(GhlRawEvent {
                    event_type,
                    location_id,
                    body: Value::Object(object),
                })
            }
        })
    }

    /// The event type as sent in `type` (`"ContactCreate"`, `"INSTALL"`, ...); `""` for an
    /// [`Other`](GhlEvent::Other) body without one.
    pub fn event_type(&self) -> &str {
        match self {
            GhlEvent::ContactCreate(e)
            | GhlEvent::ContactUpdate(e)
            | GhlEvent::ContactDelete(e)
            | GhlEvent::ContactTagUpdate(e) => &e.event_type,
            GhlEvent::OpportunityCreate(e)
            | GhlEvent::OpportunityStatusUpdate(e)
            | GhlEvent::OpportunityStageUpdate(e) => &e.event_type,
            GhlEvent::AppointmentCreate(e)
            | GhlEvent::AppointmentUpdate(e)
            | GhlEvent::AppointmentDelete(e) => &e.event_type,
            GhlEvent::InboundMessage(e) | GhlEvent::OutboundMessage(e) => &e.event_type,
            GhlEvent::AppInstall(e) => &e.event_type,
            GhlEvent::AppUninstall(e) => &e.event_type,
            GhlEvent::Other(e) => &e.event_type,
        }
    }

    /// The location (sub-account) the event is about: its `locationId`. `None` for
    /// agency-level app installs and uninstalls and for events without one.
    pub fn location_id(&self) -> Option<&str> {
        match self {
            GhlEvent::Other(e) => e.location_id.as_deref(),
            _ => self.meta_field(|m| m.location_id),
        }
    }

    /// The delivery's `webhookId` (what [`GhlVerifier`](super::super::GhlVerifier) reports as
    /// the event id), when the body has one.
    pub fn webhook_id(&self) -> Option<&str> {
        match self {
            GhlEvent::Other(e) => e.body.get("webhookId").and_then(Value::as_str),
            _ => self.meta_field(|m| m.webhook_id),
        }
    }

    /// The delivery's `timestamp` as sent (ISO 8601, `"2025-01-28T14:35:00Z"`), when the body
    /// has one as a string.
    pub fn timestamp(&self) -> Option<&str> {
        match self {
            GhlEvent::Other(e) => e.body.get("timestamp").and_then(Value::as_str),
            _ => self.meta_field(|m| m.timestamp),
        }
    }

    /// One of the fields every typed payload has, picked by `pick`.
    fn meta_field<'s>(&'s self, pick: impl Fn(Meta<'s>) -> &'s Option<String>) -> Option<&'s str> {
        let meta = match self {
            GhlEvent::ContactCreate(e)
            | GhlEvent::ContactUpdate(e)
            | GhlEvent::ContactDelete(e)
            | GhlEvent::ContactTagUpdate(e) => {
                Meta::of(&e.location_id, &e.webhook_id, &e.timestamp)
            }
            GhlEvent::OpportunityCreate(e)
            | GhlEvent::OpportunityStatusUpdate(e)
            | GhlEvent::OpportunityStageUpdate(e) => {
                Meta::of(&e.location_id, &e.webhook_id, &e.timestamp)
            }
            GhlEvent::AppointmentCreate(e)
            | GhlEvent::AppointmentUpdate(e)
            | GhlEvent::AppointmentDelete(e) => {
                Meta::of(&e.location_id, &e.webhook_id, &e.timestamp)
            }
            GhlEvent::InboundMessage(e) | GhlEvent::OutboundMessage(e) => {
                Meta::of(&e.location_id, &e.webhook_id, &e.timestamp)
            }
            GhlEvent::AppInstall(e) => Meta::of(&e.location_id, &e.webhook_id, &e.timestamp),
            GhlEvent::AppUninstall(e) => Meta::of(&e.location_id, &e.webhook_id, &e.timestamp),
            GhlEvent::Other(_) => return None,
        };
        pick(meta).as_deref()
    }
}

/// The delivery fields every typed payload carries.
#[derive(Clone, Copy)]
struct Meta<'a> {
    location_id: &'a Option<String>,
    webhook_id: &'a Option<String>,
    timestamp: &'a Option<String>,
}

impl<'a> Meta<'a> {
    fn of(
        location_id: &'a Option<String>,
        webhook_id: &'a Option<String>,
        timestamp: &'a Option<String>,
    ) -> Self {
        Meta {
            location_id,
            webhook_id,
            timestamp,
        }
    }
}

/// Reads only `type`; every other field is skipped.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type", default)]
    event_type: Option<String>,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    crate::decode_json::<T>(body).map_err(Error::from)
}

/// An event without a typed variant: its `type`, `locationId` and the whole body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GhlRawEvent {
    /// The body's `type` as sent; `""` when it has none (several documented events, such as
    /// the invoice, product and association events, show no `type` in their examples).
    pub event_type: String,
    /// The body's `locationId`, when it is a string.
    pub location_id: Option<String>,
    /// The whole body (a JSON object, `type` included).
    pub body: Value,
}

/// The payload of `ContactCreate`, `ContactUpdate`, `ContactDelete` and `ContactTagUpdate`
/// (GoHighLevel documents one schema for all four): the contact as it is after the change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContactEvent {
    /// The event type (`"ContactCreate"`, ...), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The location (sub-account) of the contact.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The contact's id.
    pub id: String,
    /// The contact's full name.
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
    /// Phone number, as stored (usually E.164: `"+919509597501"`).
    #[serde(default)]
    pub phone: Option<String>,
    /// The company the contact works for.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Street address, first line.
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
    /// Country (ISO 3166-1 alpha-2 in the examples: `"DE"`).
    #[serde(default)]
    pub country: Option<String>,
    /// Website.
    #[serde(default)]
    pub website: Option<String>,
    /// Where the contact came from (`"xyz form"`).
    #[serde(default)]
    pub source: Option<String>,
    /// When the contact was added (ISO 8601, as sent).
    #[serde(default)]
    pub date_added: Option<String>,
    /// Date of birth (ISO 8601, as sent).
    #[serde(default)]
    pub date_of_birth: Option<String>,
    /// Do-not-disturb: the contact opted out of all channels.
    #[serde(default)]
    pub dnd: Option<bool>,
    /// The contact's tags (empty when absent or `null`).
    #[serde(default, deserialize_with = "list_or_null")]
    pub tags: Vec<String>,
    /// Attachments, as sent (empty when absent or `null`).
    #[serde(default, deserialize_with = "list_or_null")]
    pub attachments: Vec<Value>,
    /// The user the contact is assigned to.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// Custom field values (empty when absent or `null`).
    #[serde(default, deserialize_with = "list_or_null")]
    pub custom_fields: Vec<CustomFieldValue>,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One custom field value of a contact.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct CustomFieldValue {
    /// The custom field's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The value: a string, number, list or object depending on the field's type.
    #[serde(default)]
    pub value: Value,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of `OpportunityCreate`, `OpportunityStatusUpdate` and
/// `OpportunityStageUpdate`: the opportunity as it is after the change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OpportunityEvent {
    /// The event type (`"OpportunityCreate"`, ...), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The location (sub-account) of the opportunity.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The opportunity's id.
    pub id: String,
    /// The opportunity's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The contact the opportunity is for.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The user it is assigned to.
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// Its value, in the location's currency.
    #[serde(default)]
    pub monetary_value: Option<f64>,
    /// The pipeline it is in.
    #[serde(default)]
    pub pipeline_id: Option<String>,
    /// The pipeline stage it is in.
    #[serde(default)]
    pub pipeline_stage_id: Option<String>,
    /// Its status as sent (`"open"`, `"won"`, `"lost"`, `"abandoned"`).
    #[serde(default)]
    pub status: Option<String>,
    /// Where it came from.
    #[serde(default)]
    pub source: Option<String>,
    /// When it was added (ISO 8601, as sent).
    #[serde(default)]
    pub date_added: Option<String>,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of `AppointmentCreate`, `AppointmentUpdate` and `AppointmentDelete`: the
/// appointment is nested under `appointment`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppointmentEvent {
    /// The event type (`"AppointmentCreate"`, ...), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The location (sub-account) of the calendar.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The appointment.
    pub appointment: AppointmentPayload,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The appointment of an [`AppointmentEvent`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppointmentPayload {
    /// The appointment's (calendar event's) id.
    pub id: String,
    /// The calendar it is booked in.
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// The contact it is booked for.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The calendar group.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// Where it takes place (an address or a meeting URL).
    #[serde(default)]
    pub address: Option<String>,
    /// Its status as sent (`"confirmed"`, `"cancelled"`, `"showed"`, `"noshow"`, ...).
    #[serde(default)]
    pub appointment_status: Option<String>,
    /// The user it is assigned to.
    #[serde(default)]
    pub assigned_user_id: Option<String>,
    /// The users taking part (empty when absent or `null`).
    #[serde(default, deserialize_with = "list_or_null")]
    pub users: Vec<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Where it was booked (`"booking_widget"`).
    #[serde(default)]
    pub source: Option<String>,
    /// Start (ISO 8601 with the calendar's offset, as sent: `"2023-09-25T16:00:00+05:30"`).
    #[serde(default)]
    pub start_time: Option<String>,
    /// End (ISO 8601, as sent).
    #[serde(default)]
    pub end_time: Option<String>,
    /// When it was booked (ISO 8601, as sent).
    #[serde(default)]
    pub date_added: Option<String>,
    /// When it was last changed (ISO 8601, as sent).
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of `InboundMessage` and `OutboundMessage`: one message of a conversation, of
/// any channel (SMS, email, call, voicemail, Facebook, Instagram, Google Business, live chat).
/// The email fields are set for `messageType` `"Email"` only; the call fields for calls.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageEvent {
    /// The event type (`"InboundMessage"` or `"OutboundMessage"`), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The location (sub-account) of the conversation.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The message's id.
    #[serde(default)]
    pub message_id: Option<String>,
    /// The conversation it belongs to.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The contact on the other side.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The user who sent it (outbound) or handled it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The channel as sent (`"SMS"`, `"Email"`, `"CALL"`, `"VoiceMail"`, ...).
    #[serde(default)]
    pub message_type: Option<String>,
    /// `"inbound"` or `"outbound"`, as sent.
    #[serde(default)]
    pub direction: Option<String>,
    /// Delivery status as sent (`"delivered"`, `"completed"`, `"voicemail"`, ...).
    #[serde(default)]
    pub status: Option<String>,
    /// The text (for email: HTML).
    #[serde(default)]
    pub body: Option<String>,
    /// The body's content type (`"text/plain"`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Attachments as sent, usually URLs (a call recording, a voicemail); empty when absent
    /// or `null`.
    #[serde(default, deserialize_with = "list_or_null")]
    pub attachments: Vec<Value>,
    /// When the message was added (ISO 8601, as sent).
    #[serde(default)]
    pub date_added: Option<String>,
    /// The custom conversation provider that carried it, if any.
    #[serde(default)]
    pub conversation_provider_id: Option<String>,
    /// Where an outbound message was sent from (`"app"`, `"workflow"`, ...).
    #[serde(default)]
    pub source: Option<String>,
    /// Call length in seconds (calls).
    #[serde(default)]
    pub call_duration: Option<f64>,
    /// Call outcome as sent (`"completed"`, `"voicemail"`, ...; calls).
    #[serde(default)]
    pub call_status: Option<String>,
    /// The email's subject (email).
    #[serde(default)]
    pub subject: Option<String>,
    /// The sender (`"Name <address>"`; email).
    #[serde(default)]
    pub from: Option<String>,
    /// The recipients (email). GoHighLevel documents a string and sends a list: both are
    /// read, a string as a list of one.
    #[serde(default, deserialize_with = "string_or_list")]
    pub to: Vec<String>,
    /// Copy recipients (email), read like `to`.
    #[serde(default, deserialize_with = "string_or_list")]
    pub cc: Vec<String>,
    /// Blind copy recipients (email), read like `to`.
    #[serde(default, deserialize_with = "string_or_list")]
    pub bcc: Vec<String>,
    /// The email's id (email).
    #[serde(default)]
    pub email_message_id: Option<String>,
    /// The email thread (email).
    #[serde(default)]
    pub thread_id: Option<String>,
    /// The email provider (email).
    #[serde(default)]
    pub provider: Option<String>,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of an app install (`type` `"INSTALL"`). A location-level install names the
/// location; an agency-level install names only the company (agency). GoHighLevel notes that
/// `userId` and `companyId` may be missing for installs on future locations.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppInstallEvent {
    /// The event type (`"INSTALL"`), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The marketplace app installed (compare it with your app's id: every app's webhooks
    /// are signed with the same GoHighLevel key).
    pub app_id: String,
    /// The app version installed.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The install level as sent (`"Location"` or `"Company"`), when given.
    #[serde(default)]
    pub install_type: Option<String>,
    /// The location installed on; `None` for an agency-level install.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The company (agency) that owns the location, or that installed the app.
    #[serde(default)]
    pub company_id: Option<String>,
    /// The user who installed it.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The company's name.
    #[serde(default)]
    pub company_name: Option<String>,
    /// Whether the company is white-labelled.
    #[serde(default)]
    pub is_whitelabel_company: Option<bool>,
    /// The white-label domain and logo (empty for a company that is not white-labelled).
    #[serde(default)]
    pub whitelabel_details: Option<WhitelabelDetails>,
    /// The app plan chosen.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// The trial, when the plan has one.
    #[serde(default)]
    pub trial: Option<AppTrial>,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A white-labelled company's domain and logo ([`AppInstallEvent::whitelabel_details`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WhitelabelDetails {
    /// The white-label domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// The logo's URL.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The trial of an app plan ([`AppInstallEvent::trial`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppTrial {
    /// Whether the install is on trial.
    #[serde(default)]
    pub on_trial: Option<bool>,
    /// The trial's length (in days, per GoHighLevel's examples).
    #[serde(default)]
    pub trial_duration: Option<f64>,
    /// When the trial started (ISO 8601, as sent).
    #[serde(default)]
    pub trial_start_date: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The payload of an app uninstall (`type` `"UNINSTALL"`): a location-level uninstall names
/// the location, an agency-level one only the company.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppUninstallEvent {
    /// The event type (`"UNINSTALL"`), from `type`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The marketplace app uninstalled (compare it with your app's id: every app's webhooks
    /// are signed with the same GoHighLevel key).
    pub app_id: String,
    /// The app version.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The location uninstalled from; `None` for an agency-level uninstall.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The company (agency), for an agency-level uninstall.
    #[serde(default)]
    pub company_id: Option<String>,
    /// The delivery's id (deliveries since 2025).
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// When the delivery was sent (ISO 8601, as sent; deliveries since 2025).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A list, with `null` read as empty.
fn list_or_null<'de, D, T>(de: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(de)?.unwrap_or_default())
}

/// A list of strings, a single string (a list of one) or `null` (empty).
fn string_or_list<'de, D>(de: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(de)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeError, ErrorKind};
    use std::error::Error as _;

    fn pointer(e: &Error) -> String {
        e.source()
            .and_then(|s| s.downcast_ref::<DecodeError>())
            .map(|d| d.pointer.clone())
            .unwrap_or_else(|| panic!("not a decode error: {e}"))
    }

    #[test]
    fn dispatches_on_type_and_reads_the_delivery_fields() {
        let e = GhlEvent::from_slice(
            br#"{"type":"ContactCreate","locationId":"L","id":"c1","tags":null,
                "timestamp":"2025-01-28T14:35:00Z","webhookId":"w1","newField":1}"#,
        )
        .unwrap();
        let GhlEvent::ContactCreate(c) = &e else {
            panic!("{e:?}")
        };
        assert!(c.tags.is_empty());
        assert_eq!(c.extra.get("newField"), Some(&Value::from(1)));
        assert_eq!(e.event_type(), "ContactCreate");
        assert_eq!(e.location_id(), Some("L"));
        assert_eq!(e.webhook_id(), Some("w1"));
        assert_eq!(e.timestamp(), Some("2025-01-28T14:35:00Z"));
    }

    #[test]
    fn unknown_and_missing_types_are_kept_as_json() {
        let e = GhlEvent::from_slice(br#"{"type":"InvoicePaid","locationId":"L","webhookId":"w"}"#)
            .unwrap();
        let GhlEvent::Other(raw) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(raw.event_type, "InvoicePaid");
        assert_eq!(raw.body["webhookId"], "w");
        assert_eq!(e.location_id(), Some("L"));
        assert_eq!(e.webhook_id(), Some("w"));
        let e = GhlEvent::from_slice(br#"{"altId":"x"}"#).unwrap();
        assert_eq!(e.event_type(), "");
        assert_eq!(e.location_id(), None);
    }

    #[test]
    fn errors_name_the_pointer_and_never_the_value() {
        let e = GhlEvent::from_slice(br#"{"type":7}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(pointer(&e), "/type");
        let e =
            GhlEvent::from_slice(br#"{"type":"AppointmentUpdate","appointment":{}}"#).unwrap_err();
        assert!(e.to_string().contains("id"), "{e}");
        let e =
            GhlEvent::from_slice(br#"{"type":"ContactUpdate","id":"c","email":["SECRET-CANARY"]}"#)
                .unwrap_err();
        assert_eq!(pointer(&e), "/email");
        assert!(!e.to_string().contains("CANARY"), "{e}");
        // Not an object: an error, not an `Other`.
        for body in [&b"[\"InvoicePaid\"]"[..], b"null", b"not json", b""] {
            assert_eq!(
                GhlEvent::from_slice(body).unwrap_err().kind(),
                ErrorKind::Decode
            );
        }
    }

    #[test]
    fn message_recipients_may_be_a_string_or_a_list() {
        let one = GhlEvent::from_slice(br#"{"type":"OutboundMessage","to":"a@x.test"}"#).unwrap();
        let many = GhlEvent::from_slice(
            br#"{"type":"OutboundMessage","to":["a@x.test","b@x.test"],"cc":null}"#,
        )
        .unwrap();
        match (one, many) {
            (GhlEvent::OutboundMessage(one), GhlEvent::OutboundMessage(many)) => {
                assert_eq!(one.to, ["a@x.test"]);
                assert_eq!(many.to, ["a@x.test", "b@x.test"]);
                assert!(many.cc.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}
