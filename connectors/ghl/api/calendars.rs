//! [`Calendars`]: the location's calendars, their free slots, events and blocked slots, block
//! slots (create, update) and appointments (create, update, get), and deleting either kind of
//! event. Every call sends `Version: 2021-04-15`, the only version the calendars API takes.

use std::time::{Duration, SystemTime};

use http::Method;

use super::{body_param, body_setters, epoch_millis, with_query, Body, Query};
use crate::ghl::models::{
    format_time, AppointmentStatus, Calendar, CalendarEnvelope, CalendarEvent, CalendarList,
    DeletedResponse, EventEnvelope, EventList, FreeSlotsResponse,
};
use crate::ghl::{GhlClient, GhlError};
use crate::toolkit::{segment, Call};

/// The longest range one free-slot lookup may cover (GoHighLevel refuses more than 31 days).
const MAX_FREE_SLOTS_RANGE: Duration = Duration::from_secs(31 * 24 * 3600);

/// The calendars of the client's location.
#[derive(Debug, Clone)]
pub struct Calendars {
    client: GhlClient,
}

/// A free-slot lookup (`GET /calendars/{calendarId}/free-slots`): the calendar's bookable
/// slots between two instants, at most 31 days apart. The calendar is the connection's
/// `calendarId` unless [`FreeSlots::calendar`] names one.
#[derive(Debug, Clone, PartialEq)]
pub struct FreeSlots {
    start: SystemTime,
    end: SystemTime,
    calendar: Option<String>,
    query: Query,
}

impl FreeSlots {
    /// The free slots from `start` to `end`.
    pub fn new(start: SystemTime, end: SystemTime) -> Self {
        FreeSlots {
            start,
            end,
            calendar: None,
            query: Query::default(),
        }
    }

    /// Of this calendar (default: the connection's `calendarId`).
    #[must_use]
    pub fn calendar(mut self, calendar_id: &str) -> Self {
        self.calendar = Some(calendar_id.to_string());
        self
    }

    /// With the slots written in this IANA time zone (default: the calendar's).
    #[must_use]
    pub fn timezone(mut self, timezone: &str) -> Self {
        self.query.set("timezone", timezone);
        self
    }

    /// Only this user's free slots (a team calendar).
    #[must_use]
    pub fn user(mut self, user_id: &str) -> Self {
        self.query.set("userId", user_id);
        self
    }

    /// Sets a query parameter this type does not model.
    #[must_use]
    pub fn param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.set(key, value);
        self
    }
}

/// A time range of events (`GET /calendars/events`) or blocked slots
/// (`GET /calendars/blocked-slots`), of one calendar, user or group. Without
/// [`ListEvents::calendar`], [`ListEvents::user`] or [`ListEvents::group`], the connection's
/// `calendarId`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEvents {
    start: SystemTime,
    end: SystemTime,
    query: Query,
}

impl ListEvents {
    /// The events from `start` to `end`.
    pub fn new(start: SystemTime, end: SystemTime) -> Self {
        ListEvents {
            start,
            end,
            query: Query::default(),
        }
    }

    /// Of this calendar.
    #[must_use]
    pub fn calendar(mut self, calendar_id: &str) -> Self {
        self.query.set("calendarId", calendar_id);
        self
    }

    /// Owned by this user.
    #[must_use]
    pub fn user(mut self, user_id: &str) -> Self {
        self.query.set("userId", user_id);
        self
    }

    /// Of this calendar group.
    #[must_use]
    pub fn group(mut self, group_id: &str) -> Self {
        self.query.set("groupId", group_id);
        self
    }

    /// Of this location (default: the connection's).
    #[must_use]
    pub fn location(mut self, location_id: &str) -> Self {
        self.query.set("locationId", location_id);
        self
    }

    /// Sets a query parameter this type does not model.
    #[must_use]
    pub fn param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.set(key, value);
        self
    }
}

/// A new block slot (`POST /calendars/events/block-slots`): time taken out of a calendar, or
/// of a user's calendars. `locationId` is the connection's unless set; `calendarId` is the
/// connection's unless set or unless [`CreateBlockSlot::assigned_user`] is set (GoHighLevel
/// takes a calendar or a user, not both; its spec marks `calendarId` required all the same,
/// so a block slot of a user does not pass the spec's own validation).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateBlockSlot {
    body: Body,
}

impl CreateBlockSlot {
    /// A block slot from `start` to `end` (sent as RFC 3339, UTC).
    pub fn new(start: SystemTime, end: SystemTime) -> Self {
        let mut body = Body::default();
        body.set("startTime", format_time(start));
        body.set("endTime", format_time(end));
        CreateBlockSlot { body }
    }
}

/// Changes to a block slot (`PUT /calendars/events/block-slots/{eventId}`): only the fields
/// set are sent, plus the `locationId` and `calendarId` GoHighLevel's spec requires (the
/// connection's unless set, as for [`CreateBlockSlot`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateBlockSlot {
    body: Body,
}

impl UpdateBlockSlot {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A new appointment (`POST /calendars/events/appointments`) of a contact. `locationId` and
/// `calendarId` are the connection's unless set. GoHighLevel checks the time against the
/// calendar's free slots unless [`CreateAppointment::ignore_free_slot_validation`] is set.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateAppointment {
    body: Body,
}

impl CreateAppointment {
    /// An appointment of `contact_id` starting at `start` (sent as RFC 3339, UTC); without
    /// [`CreateAppointment::end`], it lasts the calendar's slot duration.
    pub fn new(contact_id: &str, start: SystemTime) -> Self {
        let mut body = Body::default();
        body.set("contactId", contact_id);
        body.set("startTime", format_time(start));
        CreateAppointment { body }
    }
}

/// Changes to an appointment (`PUT /calendars/events/appointments/{eventId}`): only the
/// fields set are sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateAppointment {
    body: Body,
}

impl UpdateAppointment {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Writes `start` and `end` setters taking instants (sent as RFC 3339, UTC).
macro_rules! time_setters {
    ($ty:ty { $( $(#[$doc:meta])* $method:ident => $field:literal ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $method(mut self, at: SystemTime) -> Self {
                    self.body.set($field, format_time(at));
                    self
                }
            )*
        }
    };
}

time_setters!(UpdateBlockSlot {
    /// Starts at `at`.
    start => "startTime",
    /// Ends at `at`.
    end => "endTime",
});
time_setters!(CreateAppointment {
    /// Ends at `at`.
    end => "endTime",
});
time_setters!(UpdateAppointment {
    /// Starts at `at`.
    start => "startTime",
    /// Ends at `at`.
    end => "endTime",
});

macro_rules! block_slot_fields {
    ($($ty:ty),*) => {$(
        body_setters!($ty {
            /// Its title.
            title => "title": &str,
            /// In this calendar (default: the connection's `calendarId`).
            calendar => "calendarId": &str,
            /// Of this user's calendars instead of one calendar (then no `calendarId` is sent).
            assigned_user => "assignedUserId": &str,
            /// Of this location (default: the connection's).
            location => "locationId": &str,
        });
    )*};
}
block_slot_fields!(CreateBlockSlot, UpdateBlockSlot);

macro_rules! appointment_fields {
    ($($ty:ty),*) => {$(
        body_setters!($ty {
            /// Its title.
            title => "title": &str,
            /// In this calendar (default on create: the connection's `calendarId`).
            calendar => "calendarId": &str,
            /// The meeting address (a place, a phone number or a video link).
            address => "address": &str,
            /// Its description.
            description => "description": &str,
            /// The user who owns it (a team calendar).
            assigned_user => "assignedUserId": &str,
            /// `custom`, `zoom`, `gmeet`, `phone`, `address`, `ms_teams` or `google`.
            meeting_location_type => "meetingLocationType": &str,
            /// `true`: the calendar's minimum scheduling notice and date range do not apply.
            ignore_date_range => "ignoreDateRange": bool,
            /// `false`: GoHighLevel's automations (confirmations, workflows) do not run.
            to_notify => "toNotify": bool,
            /// `true`: the time is not checked against the free slots at all.
            ignore_free_slot_validation => "ignoreFreeSlotValidation": bool,
            /// The RRULE of a recurring appointment (RFC 5545; applied only with
            /// `ignore_free_slot_validation(true)`).
            rrule => "rrule": &str,
        });

        impl $ty {
            /// Where it stands (`appointmentStatus`).
            #[must_use]
            pub fn status(mut self, status: AppointmentStatus) -> Self {
                self.body.set("appointmentStatus", status.as_str());
                self
            }
        }
    )*};
}
appointment_fields!(CreateAppointment, UpdateAppointment);

body_setters!(CreateAppointment {
    /// Of this location (default: the connection's).
    location => "locationId": &str,
});

body_param!(
    CreateBlockSlot,
    UpdateBlockSlot,
    CreateAppointment,
    UpdateAppointment
);

impl Calendars {
    pub(crate) fn new(client: GhlClient) -> Self {
        Calendars { client }
    }

    /// Sets `locationId` to the connection's when the body has none.
    fn with_location(&self, body: &mut Body) -> Result<(), GhlError> {
        if body.get("locationId").is_none() {
            let location = self.client.location_or(None)?.to_string();
            body.set("locationId", location);
        }
        Ok(())
    }

    /// Sets `calendarId` to the connection's when the body has none and names no user.
    fn with_calendar(&self, body: &mut Body) -> Result<(), GhlError> {
        if body.get("calendarId").is_none() && body.get("assignedUserId").is_none() {
            let calendar = self.client.calendar_or(None)?.to_string();
            body.set("calendarId", calendar);
        }
        Ok(())
    }

    /// A block slot's body with the location and calendar GoHighLevel's spec requires.
    fn block_slot_body(&self, mut body: Body) -> Result<serde_json::Value, GhlError> {
        self.with_location(&mut body)?;
        self.with_calendar(&mut body)?;
        Ok(body.into_value())
    }

    /// The location's calendars (`GET /calendars/?locationId=`).
    pub fn list(&self) -> Call<Vec<Calendar>, GhlError> {
        let location = match self.client.location_or(None) {
            Ok(location) => location.to_string(),
            Err(e) => return GhlClient::failed(e),
        };
        let mut query = Query::default();
        query.set("locationId", location);
        with_query(
            self.client.calendar_call_in::<CalendarList>(
                Method::GET,
                "/calendars/".into(),
                "calendars.list",
                None,
            ),
            query,
        )
    }

    /// One calendar (`GET /calendars/{calendarId}`).
    pub fn get(&self, calendar_id: &str) -> Call<Calendar, GhlError> {
        self.client.calendar_call_in::<CalendarEnvelope>(
            Method::GET,
            format!("/calendars/{}", segment(calendar_id)),
            "calendars.get",
            None,
        )
    }

    /// The calendar's free slots per day (`GET /calendars/{calendarId}/free-slots`).
    ///
    /// Fails at send, sending nothing, with an [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// error when no calendar is named or configured (`ghl.calendarId`), or when the range is
    /// reversed or longer than 31 days (`ghl.endDate`).
    pub fn free_slots(&self, lookup: FreeSlots) -> Call<FreeSlotsResponse, GhlError> {
        let prepared = (|| {
            let calendar = self
                .client
                .calendar_or(lookup.calendar.as_deref())?
                .to_string();
            let range = lookup.end.duration_since(lookup.start).map_err(|_| {
                GhlError::from(crate::Error::config("ghl.endDate", "is before startDate"))
            })?;
            if range > MAX_FREE_SLOTS_RANGE {
                return Err(crate::Error::config(
                    "ghl.endDate",
                    "is more than 31 days after startDate, which GoHighLevel refuses",
                )
                .into());
            }
            let mut query = lookup.query;
            query.set("startDate", epoch_millis(lookup.start, "ghl.startDate")?);
            query.set("endDate", epoch_millis(lookup.end, "ghl.endDate")?);
            Ok((calendar, query))
        })();
        match prepared {
            Ok((calendar, query)) => with_query(
                self.client.calendar_call(
                    Method::GET,
                    format!("/calendars/{}/free-slots", segment(&calendar)),
                    "calendars.free_slots",
                    None,
                ),
                query,
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// The query of an events or blocked-slots read: location, range, and the calendar when
    /// the read names no calendar, user or group.
    fn events_query(&self, list: ListEvents) -> Result<Query, GhlError> {
        let mut query = list.query;
        if !query.has("locationId") {
            query.set("locationId", self.client.location_or(None)?);
        }
        if !["calendarId", "userId", "groupId"]
            .iter()
            .any(|k| query.has(k))
        {
            query.set("calendarId", self.client.calendar_or(None)?);
        }
        query.set("startTime", epoch_millis(list.start, "ghl.startTime")?);
        query.set("endTime", epoch_millis(list.end, "ghl.endTime")?);
        Ok(query)
    }

    /// The appointments of a time range (`GET /calendars/events`).
    pub fn events(&self, list: ListEvents) -> Call<Vec<CalendarEvent>, GhlError> {
        match self.events_query(list) {
            Ok(query) => with_query(
                self.client.calendar_call_in::<EventList>(
                    Method::GET,
                    "/calendars/events".into(),
                    "calendars.events",
                    None,
                ),
                query,
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// The block slots of a time range (`GET /calendars/blocked-slots`).
    pub fn blocked_slots(&self, list: ListEvents) -> Call<Vec<CalendarEvent>, GhlError> {
        match self.events_query(list) {
            Ok(query) => with_query(
                self.client.calendar_call_in::<EventList>(
                    Method::GET,
                    "/calendars/blocked-slots".into(),
                    "calendars.blocked_slots",
                    None,
                ),
                query,
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Creates a block slot (`POST /calendars/events/block-slots`).
    pub fn create_block_slot(&self, slot: CreateBlockSlot) -> Call<CalendarEvent, GhlError> {
        match self.block_slot_body(slot.body) {
            Ok(body) => self.client.calendar_call(
                Method::POST,
                "/calendars/events/block-slots".into(),
                "calendars.block_slots.create",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Changes a block slot (`PUT /calendars/events/block-slots/{eventId}`).
    pub fn update_block_slot(
        &self,
        event_id: &str,
        changes: UpdateBlockSlot,
    ) -> Call<CalendarEvent, GhlError> {
        match self.block_slot_body(changes.body) {
            Ok(body) => self.client.calendar_call(
                Method::PUT,
                format!("/calendars/events/block-slots/{}", segment(event_id)),
                "calendars.block_slots.update",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Deletes an event, an appointment or a block slot (`DELETE /calendars/events/{eventId}`).
    pub fn delete_event(&self, event_id: &str) -> Call<DeletedResponse, GhlError> {
        // GoHighLevel's spec requires a body on this DELETE, an object without fields.
        self.client.calendar_call(
            Method::DELETE,
            format!("/calendars/events/{}", segment(event_id)),
            "calendars.events.delete",
            Some(serde_json::Value::Object(serde_json::Map::new())),
        )
    }

    /// Books an appointment (`POST /calendars/events/appointments`).
    pub fn create_appointment(
        &self,
        appointment: CreateAppointment,
    ) -> Call<CalendarEvent, GhlError> {
        let mut body = appointment.body;
        let filled = self
            .with_location(&mut body)
            .and_then(|()| {
                if body.get("calendarId").is_none() {
                    let calendar = self.client.calendar_or(None)?.to_string();
                    body.set("calendarId", calendar);
                }
                Ok(())
            })
            .map(|()| body.into_value());
        match filled {
            Ok(body) => self.client.calendar_call(
                Method::POST,
                "/calendars/events/appointments".into(),
                "calendars.appointments.create",
                Some(body),
            ),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Changes an appointment: reschedules, reassigns, confirms or cancels it
    /// (`PUT /calendars/events/appointments/{eventId}`).
    pub fn update_appointment(
        &self,
        event_id: &str,
        changes: UpdateAppointment,
    ) -> Call<CalendarEvent, GhlError> {
        self.client.calendar_call(
            Method::PUT,
            format!("/calendars/events/appointments/{}", segment(event_id)),
            "calendars.appointments.update",
            Some(changes.body.into_value()),
        )
    }

    /// One appointment (`GET /calendars/events/appointments/{eventId}`).
    pub fn get_appointment(&self, event_id: &str) -> Call<CalendarEvent, GhlError> {
        self.client.calendar_call_in::<EventEnvelope>(
            Method::GET,
            format!("/calendars/events/appointments/{}", segment(event_id)),
            "calendars.appointments.get",
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::UNIX_EPOCH;

    #[test]
    fn block_slot_and_appointment_bodies_use_ghls_names_and_rfc3339_times() {
        let start = UNIX_EPOCH + Duration::from_millis(1_625_203_106_704);
        let end = start + Duration::from_secs(3600);
        let slot = CreateBlockSlot::new(start, end)
            .title("Viewing")
            .param("x", 1);
        assert_eq!(
            slot.body.into_value(),
            json!({"startTime": "2021-07-02T05:18:26.704Z", "endTime": "2021-07-02T06:18:26.704Z",
                   "title": "Viewing", "x": 1})
        );
        let appointment = CreateAppointment::new("c_1", start)
            .end(end)
            .status(AppointmentStatus::NoShow)
            .ignore_date_range(true)
            .to_notify(false);
        assert_eq!(
            appointment.body.into_value(),
            json!({"contactId": "c_1", "startTime": "2021-07-02T05:18:26.704Z",
                   "endTime": "2021-07-02T06:18:26.704Z", "appointmentStatus": "noshow",
                   "ignoreDateRange": true, "toNotify": false})
        );
        assert_eq!(
            UpdateBlockSlot::new().start(end).body.into_value(),
            json!({"startTime": "2021-07-02T06:18:26.704Z"})
        );
    }
}
