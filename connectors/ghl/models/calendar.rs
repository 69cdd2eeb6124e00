//! Calendars: [`Calendar`], [`CalendarEvent`] (appointments and block slots alike),
//! [`AppointmentStatus`], the free slots of [`FreeSlotsResponse`] and the envelopes
//! GoHighLevel wraps them in.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::NaiveDate;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{parse_time, string_enum, string_id};

string_id!(
    /// A calendar's id.
    CalendarId,
    /// A calendar event's id (an appointment or a block slot; for an instance of a recurring
    /// event, `{masterId}_{startMillis}_{duration}`).
    EventId,
);

string_enum!(
    /// Where an appointment stands (`appointmentStatus`): GoHighLevel's lower-case words.
    AppointmentStatus {
        /// `new`: booked, not yet confirmed.
        New => "new",
        /// `confirmed`.
        Confirmed => "confirmed",
        /// `cancelled`.
        Cancelled => "cancelled",
        /// `showed`: the contact came.
        Showed => "showed",
        /// `noshow`: the contact did not come.
        NoShow => "noshow",
        /// `invalid`.
        Invalid => "invalid",
    }
);

/// A GoHighLevel calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Calendar {
    /// The calendar's id.
    pub id: CalendarId,
    /// The location it belongs to.
    #[serde(default)]
    pub location_id: Option<String>,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// `round_robin`, `event`, `class_booking`, `collective`, `service_booking` or `personal`.
    #[serde(default)]
    pub calendar_type: Option<String>,
    /// Whether it takes bookings (`false`: a draft).
    #[serde(default)]
    pub is_active: Option<bool>,
    /// The group it is in.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Its booking page's slug.
    #[serde(default)]
    pub widget_slug: Option<String>,
    /// How long a meeting lasts, in [`Calendar::slot_duration_unit`]s.
    #[serde(default)]
    pub slot_duration: Option<f64>,
    /// `mins` or `hours`.
    #[serde(default)]
    pub slot_duration_unit: Option<String>,
    /// Every other field, as sent (team members, open hours, notifications...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An event of a calendar: an appointment with a contact or a block slot (time taken out of
/// the calendar). The times are kept as GoHighLevel sent them (RFC 3339 with the location's
/// offset); [`CalendarEvent::starts_at`] and friends read them as instants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CalendarEvent {
    /// The event's id.
    pub id: EventId,
    /// The calendar it is in (absent for a block slot of a user).
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// The location.
    #[serde(default)]
    pub location_id: Option<String>,
    /// The contact of an appointment.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The calendar group.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Its title.
    #[serde(default)]
    pub title: Option<String>,
    /// When it starts, as sent.
    #[serde(default)]
    pub start_time: Option<String>,
    /// When it ends, as sent.
    #[serde(default)]
    pub end_time: Option<String>,
    /// Where an appointment stands (none on a block slot).
    #[serde(default)]
    pub appointment_status: Option<AppointmentStatus>,
    /// The user who owns it.
    #[serde(default)]
    pub assigned_user_id: Option<String>,
    /// The other users on it.
    #[serde(default)]
    pub users: Vec<String>,
    /// The meeting address (a place or a video link).
    #[serde(default)]
    pub address: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The RRULE of a recurring event.
    #[serde(default)]
    pub rrule: Option<String>,
    /// The recurring event this is an instance of.
    #[serde(default)]
    pub master_event_id: Option<String>,
    /// When it was created, as sent.
    #[serde(default)]
    pub date_added: Option<String>,
    /// When it last changed, as sent: what booking sync compares.
    #[serde(default)]
    pub date_updated: Option<String>,
    /// Every other field, as sent (`isRecurring`, `createdBy`, `meetingLocationType`...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CalendarEvent {
    /// [`CalendarEvent::date_updated`] as an instant (`None` when absent or not RFC 3339).
    pub fn updated_at(&self) -> Option<SystemTime> {
        self.date_updated.as_deref().and_then(parse_time)
    }

    /// [`CalendarEvent::start_time`] as an instant (`None` when absent or not RFC 3339).
    pub fn starts_at(&self) -> Option<SystemTime> {
        self.start_time.as_deref().and_then(parse_time)
    }

    /// [`CalendarEvent::end_time`] as an instant (`None` when absent or not RFC 3339).
    pub fn ends_at(&self) -> Option<SystemTime> {
        self.end_time.as_deref().and_then(parse_time)
    }
}

/// `{"calendars": [...]}`: the location's calendars.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct CalendarList {
    /// The calendars.
    #[serde(default)]
    pub calendars: Vec<Calendar>,
}

/// `{"calendar": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct CalendarEnvelope {
    /// The calendar.
    pub calendar: Calendar,
}

/// `{"events": [...]}`: the events or blocked slots of a time range.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct EventList {
    /// The events.
    #[serde(default)]
    pub events: Vec<CalendarEvent>,
}

/// `{"event": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct EventEnvelope {
    /// The event.
    pub event: CalendarEvent,
}

crate::ghl::client::envelope!(
    CalendarList => calendars: Vec<Calendar>,
    CalendarEnvelope => calendar: Calendar,
    EventList => events: Vec<CalendarEvent>,
    EventEnvelope => event: CalendarEvent,
);

/// The free slots of a calendar, per day: GoHighLevel answers one key per date
/// (`{"2024-10-28": {"slots": ["2024-10-28T10:00:00-05:00", ...]}, ..., "traceId": "..."}`).
///
/// Keys that are dates (`YYYY-MM-DD`) must hold `{"slots": [text, ...]}` (anything else is a
/// decode error naming the date); every other key is kept in [`FreeSlotsResponse::extra`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FreeSlotsResponse {
    days: BTreeMap<String, Vec<String>>,
    /// Every key that is not a date (`traceId`), as sent.
    pub extra: Map<String, Value>,
}

impl FreeSlotsResponse {
    /// Each day (`YYYY-MM-DD`, in date order) with the start of each of its free slots as
    /// sent (RFC 3339 in the time zone asked for).
    pub fn slots(&self) -> Vec<(String, Vec<String>)> {
        self.days
            .iter()
            .map(|(day, slots)| (day.clone(), slots.clone()))
            .collect()
    }

    /// The days and their slots, borrowed, in date order.
    pub fn days(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.days.iter().map(|(d, s)| (d.as_str(), s.as_slice()))
    }

    /// The free slots of `date` (`YYYY-MM-DD`); empty when it has none.
    pub fn on(&self, date: &str) -> &[String] {
        self.days.get(date).map_or(&[], Vec::as_slice)
    }

    /// Every slot's start as an instant, in the order of [`FreeSlotsResponse::slots`]; a slot
    /// that is not RFC 3339 is left out (it is still in [`FreeSlotsResponse::slots`]).
    pub fn starts(&self) -> Vec<SystemTime> {
        self.days
            .values()
            .flatten()
            .filter_map(|s| parse_time(s))
            .collect()
    }

    /// How many free slots in all.
    pub fn len(&self) -> usize {
        self.days.values().map(Vec::len).sum()
    }

    /// Whether there is no free slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// GoHighLevel's trace id, for support.
    pub fn trace_id(&self) -> Option<&str> {
        self.extra.get("traceId").and_then(Value::as_str)
    }
}

impl<'de> Deserialize<'de> for FreeSlotsResponse {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Day {
            slots: Vec<String>,
        }

        let all = Map::<String, Value>::deserialize(deserializer)?;
        let mut response = FreeSlotsResponse::default();
        for (key, value) in all {
            if NaiveDate::parse_from_str(&key, "%Y-%m-%d").is_ok() {
                let day = Day::deserialize(value)
                    .map_err(|e| D::Error::custom(format_args!("free slots of `/{key}`: {e}")))?;
                response.days.insert(key, day.slots);
            } else {
                response.extra.insert(key, value);
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn appointment_status_round_trips_every_known_word_and_keeps_unknown_ones() {
        let known = [
            (AppointmentStatus::New, "new"),
            (AppointmentStatus::Confirmed, "confirmed"),
            (AppointmentStatus::Cancelled, "cancelled"),
            (AppointmentStatus::Showed, "showed"),
            (AppointmentStatus::NoShow, "noshow"),
            (AppointmentStatus::Invalid, "invalid"),
        ];
        for (status, word) in known {
            assert_eq!(serde_json::to_value(&status).unwrap(), json!(word));
            let back: AppointmentStatus = serde_json::from_value(json!(word)).unwrap();
            assert_eq!(back, status);
            assert_eq!(status.to_string(), word);
        }
        let other: AppointmentStatus = serde_json::from_value(json!("completed")).unwrap();
        assert_eq!(other, AppointmentStatus::Other("completed".into()));
        assert_eq!(serde_json::to_value(&other).unwrap(), json!("completed"));
        assert_eq!(
            "Confirmed".parse::<AppointmentStatus>().unwrap(),
            AppointmentStatus::Other("Confirmed".into()),
            "GoHighLevel's words are lower case; another spelling is kept as sent"
        );
        assert!(serde_json::from_value::<AppointmentStatus>(json!(3)).is_err());
    }

    /// The example of `GET /calendars/{calendarId}/free-slots` in GoHighLevel's spec, plus
    /// the `traceId` the live API adds.
    #[test]
    fn reads_the_specs_free_slots_example_per_day() {
        let body = json!({
            "2024-10-28": {"slots": ["2024-10-28T10:00:00-05:00", "2024-10-28T11:00:00-05:00"]},
            "2024-10-29": {"slots": ["2024-10-29T10:00:00-05:00", "2024-10-29T14:30:00-05:00"]},
            "traceId": "trace-1"
        });
        let free: FreeSlotsResponse = serde_json::from_value(body).unwrap();
        assert_eq!(
            free.slots(),
            vec![
                (
                    "2024-10-28".to_string(),
                    vec![
                        "2024-10-28T10:00:00-05:00".to_string(),
                        "2024-10-28T11:00:00-05:00".to_string()
                    ]
                ),
                (
                    "2024-10-29".to_string(),
                    vec![
                        "2024-10-29T10:00:00-05:00".to_string(),
                        "2024-10-29T14:30:00-05:00".to_string()
                    ]
                ),
            ]
        );
        assert_eq!(free.len(), 4);
        assert_eq!(free.on("2024-10-29").len(), 2);
        assert!(free.on("2024-10-30").is_empty());
        assert_eq!(free.trace_id(), Some("trace-1"));
        // 2024-10-28T15:00:00Z
        let first = UNIX_EPOCH + Duration::from_secs(1_730_127_600);
        assert_eq!(free.starts().first(), Some(&first));
        assert_eq!(free.starts().len(), 4);
    }

    #[test]
    fn a_malformed_day_is_an_error_naming_the_date() {
        let err = serde_json::from_value::<FreeSlotsResponse>(
            json!({"2024-10-28": {"slots": [1700000000]}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/2024-10-28"), "{err}");
        let empty: FreeSlotsResponse = serde_json::from_value(json!({})).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn an_event_reads_its_times_and_keeps_unknown_fields() {
        let event: CalendarEvent = serde_json::from_value(json!({
            "id": "ev_1",
            "calendarId": "cal_1",
            "locationId": "loc_1",
            "contactId": "c_1",
            "title": "Viewing",
            "appointmentStatus": "confirmed",
            "assignedUserId": "u_1",
            "startTime": "2023-09-25T16:00:00+05:30",
            "endTime": "2023-09-25T16:30:00+05:30",
            "dateUpdated": "2023-09-25T10:00:00.000Z",
            "isRecurring": "true"
        }))
        .unwrap();
        assert_eq!(event.id.as_str(), "ev_1");
        assert_eq!(event.appointment_status, Some(AppointmentStatus::Confirmed));
        // 2023-09-25T10:30:00Z
        let start = UNIX_EPOCH + Duration::from_secs(1_695_637_800);
        assert_eq!(event.starts_at(), Some(start));
        assert_eq!(event.ends_at(), Some(start + Duration::from_secs(1800)));
        assert_eq!(event.updated_at(), Some(start - Duration::from_secs(1800)));
        assert_eq!(event.extra["isRecurring"], json!("true"));
        let round: CalendarEvent =
            serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(round, event);
    }
}
