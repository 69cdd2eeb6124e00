//! Booking sync on the sync engine ([`crate::sync`]): the GoHighLevel half of the seed's
//! "Booking Synchronization". A host booking creates or moves a block slot in the chosen
//! calendar ([`GhlBlockSlotsSource`], an outbound job); GoHighLevel's appointment webhooks
//! update the host ([`appointment_webhook_sync`], with [`GhlAppointmentsSource`] polling the
//! same records so a missed webhook is caught up); free-slot lookups for availability are
//! [`Calendars::free_slots`](super::Calendars::free_slots).
//!
//! # Bookings out: [`GhlBlockSlotsSource`]
//!
//! The host's bookings are the sink of an [`Outbound`](crate::sync::Direction::Outbound) job
//! (named [`BOOKINGS_JOB`]); its [`SyncSink::changes`](crate::sync::SyncSink::changes) reports
//! the bookings the host created, moved or cancelled, and the engine hands them to
//! [`GhlBlockSlotsSource`]'s `write`. A booking record is:
//!
//! | field | value |
//! | --- | --- |
//! | key | the host's booking key (not empty, without `[booking:`) |
//! | `startTime` | RFC 3339 (`"2025-03-01T15:00:00Z"`, any offset), required |
//! | `endTime` | RFC 3339, required, not before `startTime` |
//! | `title` | a string, optional (`null` or absent: none) |
//! | `deleted` | the booking was cancelled: its slot is deleted |
//!
//! Other fields are ignored. A record missing a time, with a time that is not RFC 3339, an end
//! before its start, a title that is not a string or an unusable key is an
//! [`ErrorKind::Decode`] error naming its place in the batch (`/records/3/startTime`); nothing
//! of that batch is sent, and the records stay pending, so fix the host's record.
//!
//! **The marker.** A GoHighLevel block slot has a title and nothing else a host could store a
//! key in, so each slot this source creates carries the booking key at the end of its title:
//! `"{title} [booking:{key}]"`, or `"[booking:{key}]"` for a booking without a title. The
//! source finds a booking's slot by that marker, never by a stored event id:
//!
//! - `write` lists the calendar's blocked slots **once per call** over the source's window
//!   ([`GhlBlockSlotsSource::window`]: from 1 day back to 365 days ahead by default, widened to
//!   take in every booking of the batch), then per record: a cancelled booking's slot is
//!   deleted (none found, or GoHighLevel answers 404: done); a found slot is updated when its
//!   times or title differ (left alone when they match); a booking without a slot gets a new
//!   one. Two slots carrying one key (a create sent twice by two replicas) are made one again:
//!   the oldest is kept, the others deleted.
//! - So a write that failed after GoHighLevel created the slot (a 500 after the write, a crash
//!   before the engine saved its link) is **idempotent**: the engine sends the booking again,
//!   `write` finds its slot and creates no second one.
//! - Slots without a marker (a user's lunch break) are never touched or reported.
//! - `write` returns the slot's `dateUpdated` as its version when GoHighLevel sends one (its
//!   spec's block-slot answers carry none, so usually `None`); an outbound job needs none.
//!
//! Limits, said plainly: a user who edits a slot's title in GoHighLevel and removes the marker
//! detaches it (the next change of that booking creates a new slot); a booking moved from
//! outside the window (a slot more than a day in the past) has its old slot left there, since
//! the listing does not reach it; a cancelled booking whose slot is outside the window leaves
//! its slot (it lies in the past and blocks nothing). GoHighLevel's spec names no limit on the
//! blocked-slots range and no paging; the free-slot lookup alone is limited to 31 days.
//!
//! `changes` (one page, [`NextPage::Done`](crate::sync::NextPage::Done)) reports the marked
//! slots of the window as booking records (key from the marker, `title` without it, times in
//! UTC with milliseconds, `dateUpdated` as version and updated-at), so an inbound or
//! bidirectional job can read them too. It lists no live keys, so the engine refuses a purge
//! pass for the job: a booking older than the window is not listed and would look deleted at
//! GoHighLevel, and on an outbound job the purge would delete the host's own bookings.
//!
//! # Appointments in: [`appointment_webhook_sync`] and [`GhlAppointmentsSource`]
//!
//! GoHighLevel's own appointments (booked on its widget, moved by its users) go to the host
//! through an [`Inbound`](crate::sync::Direction::Inbound) job (named [`APPOINTMENTS_JOB`]):
//! webhooks apply each change at once, and the job's runs read the calendar's appointments in
//! the window ([`GhlAppointmentsSource`]) to catch what a lost webhook missed. Both make the
//! same record: key the appointment id, fields `startTime`, `endTime` (UTC with milliseconds),
//! `title`, `appointmentStatus`, `calendarId`, `contactId` (each present when GoHighLevel
//! sent it), version and updated-at the appointment's `dateUpdated`. A cancellation is an
//! update whose `appointmentStatus` is `"cancelled"`; a deletion is a deleted record.
//!
//! ```no_run
//! # async fn demo(
//! #     connections: switchboard::connections::Connections,
//! #     bookings: std::sync::Arc<dyn switchboard::sync::SyncSink>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchboard::ghl::{GhlBlockSlotsSource, GhlClient, BOOKINGS_JOB};
//! use switchboard::sync::{Direction, InMemorySyncStore, JobKey, SyncEngine, SyncJob, Trigger};
//! use switchboard::{ConnectionId, TenantId};
//!
//! let (tenant, id) = (TenantId::new("acme"), ConnectionId::new("ghl"));
//! let ghl = GhlClient::from_connection(connections.connection(&tenant, &id).await?)?;
//! let job = SyncJob::new(
//!     JobKey::new("acme", "ghl", BOOKINGS_JOB),
//!     Arc::new(GhlBlockSlotsSource::new(ghl)),
//!     bookings, // the host's bookings: a SyncSink that reports its own changes
//! )
//! .direction(Direction::Outbound);
//! let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
//! engine.run(&job, Trigger::Manual).await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;

use super::api::{CreateBlockSlot, ListEvents, UpdateBlockSlot};
use super::models::{format_time, parse_time, CalendarEvent, GhlEvent};
use super::GhlClient;
use crate::sync::{
    ChangePage, ChangeRequest, Fields, SyncRecord, SyncSource, Version, WebhookSync,
};
use crate::{Error, ErrorKind, ProviderError};

/// The job name booking sync uses by default (`JobKey::new(tenant, connection, "bookings")`):
/// the host's bookings out to GoHighLevel block slots.
pub const BOOKINGS_JOB: &str = "bookings";

/// The job name appointment sync uses by default
/// (`JobKey::new(tenant, connection, "appointments")`): GoHighLevel's appointments in to the
/// host.
pub const APPOINTMENTS_JOB: &str = "appointments";

/// How far back a source lists by default: a day, so a booking that just ended is still found.
const DEFAULT_PAST: Duration = Duration::from_secs(24 * 3600);

/// How far ahead a source lists by default: a year of bookings.
const DEFAULT_AHEAD: Duration = Duration::from_secs(365 * 24 * 3600);

/// What opens the booking key at the end of a slot's title.
const MARKER_OPEN: &str = "[booking:";

/// The range a source lists, around "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    past: Duration,
    ahead: Duration,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            past: DEFAULT_PAST,
            ahead: DEFAULT_AHEAD,
        }
    }
}

impl Window {
    /// The range around `now`, never before 1970 (GoHighLevel's queries take epoch millis).
    fn around(self, now: SystemTime) -> (SystemTime, SystemTime) {
        let from = now.checked_sub(self.past).unwrap_or(UNIX_EPOCH);
        let to = now.checked_add(self.ahead).unwrap_or(now);
        (from.max(UNIX_EPOCH), to)
    }
}

fn core(e: super::GhlError) -> Error {
    e.core().clone()
}

/// A booking slot's title: the host's title, then the key's marker.
fn marked_title(title: Option<&str>, key: &str) -> String {
    match title.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => format!("{t} {MARKER_OPEN}{key}]"),
        None => format!("{MARKER_OPEN}{key}]"),
    }
}

/// The host's title and the booking key of a marked slot's title; `None` for a slot this
/// source did not make. The last marker counts, so a host title that itself reads
/// `[booking:x]` does not confuse it.
fn split_marker(title: &str) -> Option<(&str, &str)> {
    let inner = title.trim_end().strip_suffix(']')?;
    let at = inner.rfind(MARKER_OPEN)?;
    let key = &inner[at + MARKER_OPEN.len()..];
    if key.is_empty() {
        return None;
    }
    Some((inner[..at].trim(), key))
}

/// A host booking as a block slot needs it.
#[derive(Debug, Clone, PartialEq)]
struct Booking {
    start: SystemTime,
    end: SystemTime,
    title: Option<String>,
}

/// A key the marker can carry and give back unchanged.
fn check_key(key: &str, index: usize) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::decode(
            format!("/records/{index}/key"),
            "an empty booking key",
        ));
    }
    if key.contains(MARKER_OPEN) || key.chars().any(char::is_control) {
        return Err(Error::decode(
            format!("/records/{index}/key"),
            "a booking key containing `[booking:` or a control character cannot be marked in a slot's title",
        ));
    }
    Ok(())
}

/// The instant in `fields[name]`; `pointer` names it in errors.
fn time_field(fields: &Fields, name: &str, pointer: &str) -> Result<SystemTime, Error> {
    match fields.get(name) {
        None | Some(Value::Null) => Err(Error::decode(pointer, "missing")),
        Some(Value::String(s)) => {
            parse_time(s).ok_or_else(|| Error::decode(pointer, "not an RFC 3339 timestamp"))
        }
        Some(_) => Err(Error::decode(pointer, "not a string")),
    }
}

/// The booking of a live record, the `index`-th of a write.
fn booking_of(record: &SyncRecord, index: usize) -> Result<Booking, Error> {
    let at = |name: &str| format!("/records/{index}/{name}");
    let start = time_field(&record.fields, "startTime", &at("startTime"))?;
    let end = time_field(&record.fields, "endTime", &at("endTime"))?;
    if end < start {
        return Err(Error::decode(at("endTime"), "before startTime"));
    }
    let title = match record.fields.get("title") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|t| !t.trim().is_empty()),
        Some(_) => return Err(Error::decode(at("title"), "not a string")),
    };
    Ok(Booking { start, end, title })
}

/// Whether `slot` already shows `booking`: same instants and same title (both trimmed).
fn shows(slot: &CalendarEvent, booking: &Booking) -> bool {
    let title = slot
        .title
        .as_deref()
        .and_then(split_marker)
        .map_or("", |(t, _)| t);
    slot.starts_at() == Some(booking.start)
        && slot.ends_at() == Some(booking.end)
        && title == booking.title.as_deref().map_or("", str::trim)
}

/// The marked slots of a listing, by booking key, each key's slots oldest first (by
/// `dateAdded`, then id), with their index in the listing for error pointers.
fn marked(events: Vec<CalendarEvent>) -> HashMap<String, Vec<(usize, CalendarEvent)>> {
    let mut by_key: HashMap<String, Vec<(usize, CalendarEvent)>> = HashMap::new();
    for (i, e) in events.into_iter().enumerate() {
        let Some(key) = e
            .title
            .as_deref()
            .and_then(split_marker)
            .map(|(_, k)| k.to_string())
        else {
            continue;
        };
        by_key.entry(key).or_default().push((i, e));
    }
    for slots in by_key.values_mut() {
        slots.sort_by(|(_, a), (_, b)| {
            let added = |e: &CalendarEvent| e.date_added.as_deref().and_then(parse_time);
            // `None` (no dateAdded) sorts first; ids break ties so every replica keeps the same.
            added(a)
                .cmp(&added(b))
                .then_with(|| a.id.as_str().cmp(b.id.as_str()))
        });
    }
    by_key
}

/// `text` (a time GoHighLevel sent, at `pointer`) in UTC with milliseconds; `None` when absent.
fn utc(text: Option<&str>, pointer: String) -> Result<Option<String>, Error> {
    match text {
        None => Ok(None),
        Some(t) => parse_time(t)
            .map(|at| Some(format_time(at)))
            .ok_or_else(|| Error::decode(pointer, "not an RFC 3339 timestamp")),
    }
}

/// `dateUpdated` (at `pointer`) as an instant: `None` when absent, an error when unreadable.
fn updated(text: Option<&str>, pointer: String) -> Result<Option<SystemTime>, Error> {
    match text {
        None => Ok(None),
        Some(t) => parse_time(t)
            .map(Some)
            .ok_or_else(|| Error::decode(pointer, "not an RFC 3339 timestamp")),
    }
}

/// Keeps the records a change request asks for (after its mark, stamped before its `until`;
/// undated ones always) and orders them by `(updated_at, key)`, undated first.
fn page_of(mut records: Vec<SyncRecord>, request: &ChangeRequest) -> ChangePage {
    records.retain(|r| match r.mark() {
        None => true,
        Some(m) => m.at < request.until && request.after.as_ref().is_none_or(|a| m > *a),
    });
    records.sort_by(|a, b| a.mark().cmp(&b.mark()).then_with(|| a.key.cmp(&b.key)));
    ChangePage::last(records)
}

/// A calendar's block slots as the host's bookings: the GoHighLevel half of an outbound
/// booking job ([`BOOKINGS_JOB`], [`Direction::Outbound`](crate::sync::Direction::Outbound)).
///
/// **Records.** Key: the host's booking key (not empty, without `[booking:`). Fields:
/// `startTime` and `endTime` (RFC 3339, any offset, required, the end not before the start)
/// and `title` (a string, optional); other fields are ignored. A deleted record is a
/// cancelled booking. A record that breaks this is an
/// [`ErrorKind::Decode`](crate::ErrorKind::Decode) error naming its place in the batch
/// (`/records/3/startTime`), and nothing of the batch is sent.
///
/// **The marker.** A block slot has only a title to hold a key, so each slot this source
/// makes is titled `"{title} [booking:{key}]"` (`"[booking:{key}]"` without a title), and
/// found again by that marker; slots without one (a user's lunch break) are never touched.
///
/// - **Writes** list the calendar's blocked slots once per call, over the window
///   ([`GhlBlockSlotsSource::window`]) widened to the batch's bookings; then per booking:
///   cancelled, its slot is deleted (none, or a 404: done); found, its slot is updated when
///   the times or title differ; not found, a slot is created in the chosen calendar (the
///   connection's `calendarId`, or [`GhlBlockSlotsSource::calendar`]). So a booking resent
///   after a crash or a 500 that came after GoHighLevel stored the slot finds that slot and
///   makes no second one; two slots with one key become one (the oldest stays). The version
///   returned is the slot's `dateUpdated` when GoHighLevel answers one (its spec's answers
///   carry none: `None`).
/// - **Reads** (`changes`, one page) the marked slots of the window as booking records: the
///   key from the marker, the `title` without it, the times in UTC with milliseconds, the
///   `dateUpdated` as version and updated-at. It lists no live keys, so the engine refuses
///   a purge pass for the job (older bookings fall out of the window and would look
///   deleted).
///
/// Said plainly: a user who removes the marker from a slot's title detaches it (the
/// booking's next change makes a new slot); the old slot of a booking moved from outside the
/// window, or cancelled there, is not found and stays. It keeps no state: the engine owns the
/// cursors and links.
#[derive(Debug, Clone)]
pub struct GhlBlockSlotsSource {
    client: GhlClient,
    window: Window,
    calendar: Option<String>,
}

impl GhlBlockSlotsSource {
    /// The block slots of `client`'s calendar (its `calendarId`), listed from a day back to
    /// 365 days ahead.
    pub fn new(client: GhlClient) -> Self {
        GhlBlockSlotsSource {
            client,
            window: Window::default(),
            calendar: None,
        }
    }

    /// Lists slots from `past` before now to `ahead` after now (defaults: 1 day, 365 days).
    /// A write also lists as far as its own bookings reach, so a booking beyond the window is
    /// still found again after a crash; the window bounds what `changes` reports and where a
    /// moved or cancelled booking's old slot is looked for.
    #[must_use]
    pub fn window(mut self, past: Duration, ahead: Duration) -> Self {
        self.window = Window { past, ahead };
        self
    }

    /// Uses this calendar instead of the connection's `calendarId`.
    #[must_use]
    pub fn calendar(mut self, calendar_id: impl Into<String>) -> Self {
        self.calendar = Some(calendar_id.into());
        self
    }

    /// The calendar's block slots from `from` to `to` (one call).
    async fn list(&self, from: SystemTime, to: SystemTime) -> Result<Vec<CalendarEvent>, Error> {
        let mut list = ListEvents::new(from, to);
        if let Some(c) = &self.calendar {
            list = list.calendar(c);
        }
        self.client
            .calendars()
            .blocked_slots(list)
            .await
            .map_err(core)
    }

    /// Deletes a slot; one already gone is done.
    async fn delete(&self, slot: &CalendarEvent) -> Result<(), Error> {
        match self.client.calendars().delete_event(slot.id.as_str()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(core(e)),
        }
    }

    /// The slot of `booking`, created or moved; `found` is the slot carrying its key, if any.
    async fn put(
        &self,
        key: &str,
        booking: &Booking,
        found: Option<CalendarEvent>,
    ) -> Result<CalendarEvent, Error> {
        let calendars = self.client.calendars();
        let title = marked_title(booking.title.as_deref(), key);
        match found {
            Some(slot) if shows(&slot, booking) => Ok(slot),
            Some(slot) => {
                let mut changes = UpdateBlockSlot::new()
                    .start(booking.start)
                    .end(booking.end)
                    .title(&title);
                if let Some(c) = &self.calendar {
                    changes = changes.calendar(c);
                }
                calendars
                    .update_block_slot(slot.id.as_str(), changes)
                    .await
                    .map_err(core)
            }
            None => {
                let mut slot = CreateBlockSlot::new(booking.start, booking.end).title(&title);
                if let Some(c) = &self.calendar {
                    slot = slot.calendar(c);
                }
                calendars.create_block_slot(slot).await.map_err(core)
            }
        }
    }

    /// The marked slots of the window as booking records, one per key (the slot `write`
    /// keeps), with their listing index for error pointers.
    async fn records(&self) -> Result<Vec<SyncRecord>, Error> {
        let (from, to) = self.window.around(SystemTime::now());
        let slots = marked(self.list(from, to).await?);
        let mut records = Vec::with_capacity(slots.len());
        for (key, mut found) in slots {
            let (i, slot) = found.swap_remove(0);
            records.push(slot_record(key, i, &slot)?);
        }
        Ok(records)
    }
}

/// A marked slot (the `index`-th of the listing) as a booking record.
fn slot_record(key: String, index: usize, slot: &CalendarEvent) -> Result<SyncRecord, Error> {
    let at = |name: &str| format!("/events/{index}/{name}");
    let mut fields = Fields::new();
    for (name, text) in [
        ("startTime", slot.start_time.as_deref()),
        ("endTime", slot.end_time.as_deref()),
    ] {
        let value = utc(text, at(name))?.ok_or_else(|| Error::decode(at(name), "missing"))?;
        fields.insert(name.into(), value.into());
    }
    if let Some((title, _)) = slot.title.as_deref().and_then(split_marker) {
        if !title.is_empty() {
            fields.insert("title".into(), title.into());
        }
    }
    let mut record = SyncRecord::new(key, fields);
    if let Some(at) = updated(slot.date_updated.as_deref(), at("dateUpdated"))? {
        record = record.updated_at(at);
    }
    Ok(record)
}

#[async_trait]
impl SyncSource for GhlBlockSlotsSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        Ok(page_of(self.records().await?, request))
    }

    // No `live_keys`: the window cannot list every booking (older ones fall out of it), so
    // a purge pass would take them for deletions at GoHighLevel, and on an outbound job it
    // would delete the host's own bookings. Without it the engine refuses to purge the job.

    async fn write(&self, records: &[SyncRecord]) -> Result<Vec<Option<Version>>, Error> {
        // Every record is checked before anything is sent: a bad one fails the batch whole.
        let mut bookings = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            check_key(&r.key, i)?;
            bookings.push(if r.deleted {
                None
            } else {
                Some(booking_of(r, i)?)
            });
        }
        let (mut from, mut to) = self.window.around(SystemTime::now());
        for b in bookings.iter().flatten() {
            from = from.min(b.start.max(UNIX_EPOCH));
            to = to.max(b.end);
        }
        let mut slots = marked(self.list(from, to).await?);
        let mut versions = Vec::with_capacity(records.len());
        for (r, booking) in records.iter().zip(&bookings) {
            let mut found = slots.remove(&r.key).unwrap_or_default().into_iter();
            let Some(booking) = booking else {
                for (_, slot) in found {
                    self.delete(&slot).await?;
                }
                versions.push(None);
                continue;
            };
            let keep = found.next().map(|(_, slot)| slot);
            for (_, extra) in found {
                tracing::warn!(key = %r.key, slot = %extra.id.as_str(), "a second GoHighLevel block slot carries this booking's key; deleting it");
                self.delete(&extra).await?;
            }
            let slot = self.put(&r.key, booking, keep).await?;
            versions.push(slot.updated_at().map(Version::from_time));
        }
        Ok(versions)
    }
}

/// The fields of an appointment record: times in UTC with milliseconds, the rest as sent,
/// each present only when GoHighLevel sent it. `at` is the JSON pointer of the appointment.
fn appointment_fields(
    at: &str,
    start: Option<&str>,
    end: Option<&str>,
    text: [(&str, Option<&str>); 4],
) -> Result<Fields, Error> {
    let mut fields = Fields::new();
    for (name, time) in [("startTime", start), ("endTime", end)] {
        if let Some(t) = utc(time, format!("{at}/{name}"))? {
            fields.insert(name.into(), t.into());
        }
    }
    for (name, value) in text {
        if let Some(v) = value {
            fields.insert(name.into(), v.into());
        }
    }
    Ok(fields)
}

/// A calendar's appointments as the host's appointment records: the source of an inbound
/// [`APPOINTMENTS_JOB`] whose webhooks ([`appointment_webhook_sync`]) apply changes at once
/// and whose runs catch up what a lost webhook missed.
///
/// `changes` lists the appointments of the window (`GET /calendars/events`, one call, one
/// page, [`NextPage::Done`](crate::sync::NextPage::Done)), those changed after the request's
/// mark, as the records [`appointment_webhook_sync`] makes: key the appointment id, fields
/// `startTime`, `endTime` (UTC with milliseconds), `title`, `appointmentStatus`,
/// `calendarId`, `contactId` (each when sent), version and updated-at its `dateUpdated` (an
/// appointment without one is reported on every run and compared by content). It lists no
/// live keys: appointments older than the window are not listed, and the purge pass would
/// take them for deleted ones (GoHighLevel announces deletions by `AppointmentDelete`). It
/// takes no writes: bookings go out as block slots ([`GhlBlockSlotsSource`]).
#[derive(Debug, Clone)]
pub struct GhlAppointmentsSource {
    client: GhlClient,
    window: Window,
    calendar: Option<String>,
}

impl GhlAppointmentsSource {
    /// The appointments of `client`'s calendar (its `calendarId`), listed from a day back to
    /// 365 days ahead.
    pub fn new(client: GhlClient) -> Self {
        GhlAppointmentsSource {
            client,
            window: Window::default(),
            calendar: None,
        }
    }

    /// Lists appointments from `past` before now to `ahead` after now (defaults: 1 day, 365
    /// days).
    #[must_use]
    pub fn window(mut self, past: Duration, ahead: Duration) -> Self {
        self.window = Window { past, ahead };
        self
    }

    /// Uses this calendar instead of the connection's `calendarId`.
    #[must_use]
    pub fn calendar(mut self, calendar_id: impl Into<String>) -> Self {
        self.calendar = Some(calendar_id.into());
        self
    }
}

/// An appointment (the `index`-th of a listing) as a record.
fn event_record(index: usize, event: &CalendarEvent) -> Result<SyncRecord, Error> {
    let at = format!("/events/{index}");
    if event.id.as_str().is_empty() {
        return Err(Error::decode(
            format!("{at}/id"),
            "an appointment without an id",
        ));
    }
    let status = event.appointment_status.as_ref().map(|s| s.as_str());
    let fields = appointment_fields(
        &at,
        event.start_time.as_deref(),
        event.end_time.as_deref(),
        [
            ("title", event.title.as_deref()),
            ("appointmentStatus", status),
            ("calendarId", event.calendar_id.as_deref()),
            ("contactId", event.contact_id.as_deref()),
        ],
    )?;
    let mut record = SyncRecord::new(event.id.as_str(), fields);
    if let Some(t) = updated(event.date_updated.as_deref(), format!("{at}/dateUpdated"))? {
        record = record.updated_at(t);
    }
    Ok(record)
}

#[async_trait]
impl SyncSource for GhlAppointmentsSource {
    async fn changes(&self, request: &ChangeRequest) -> Result<ChangePage, Error> {
        let (from, to) = self.window.around(SystemTime::now());
        let mut list = ListEvents::new(from, to);
        if let Some(c) = &self.calendar {
            list = list.calendar(c);
        }
        let events = self.client.calendars().events(list).await.map_err(core)?;
        let records = events
            .iter()
            .enumerate()
            .map(|(i, e)| event_record(i, e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(page_of(records, request))
    }
}

/// What an appointment webhook asks of the host's appointment job (`job`, usually
/// [`APPOINTMENTS_JOB`], an inbound job): `body` is the verified webhook body, read with
/// [`GhlEvent::from_slice`].
///
/// - `AppointmentCreate` and `AppointmentUpdate` apply the appointment at once
///   ([`WebhookSync::Apply`]): key the appointment id, fields `startTime` and `endTime` (UTC
///   with milliseconds), `title`, `appointmentStatus`, `calendarId` and `contactId` (each
///   only when sent), updated-at and version the appointment's `dateUpdated`. Without a
///   `dateUpdated` the record has no version: the engine applies it unless the host holds the
///   same fields, so a delivery that arrives late can overwrite a newer one until the next run
///   reads the appointment with its `dateUpdated` again.
/// - `AppointmentDelete` applies a deletion of the appointment id, versioned by the
///   delivery's `timestamp` when it has one (a deletion is later than every update; its
///   `dateUpdated` is the last update's, which the host may hold already, so it cannot order
///   the deletion). Without a `timestamp`, the deletion has no version and is applied.
/// - Any other event: [`WebhookSync::Ignore`].
///
/// The variant follows the body's `type` alone: GoHighLevel's own documentation examples for
/// `AppointmentUpdate` and `AppointmentDelete` say `"type": "AppointmentCreate"`, and such a
/// body is applied as a live appointment. Appointments of every calendar of the location come
/// through; the record's `calendarId` lets the host's sink keep only its calendar's.
///
/// # Errors
/// [`ErrorKind::Decode`] naming the JSON pointer when the body is not a GoHighLevel event, the
/// appointment has no id (`/appointment/id`), or a time or `dateUpdated` is not RFC 3339
/// (`/appointment/startTime`).
pub fn appointment_webhook_sync(body: &[u8], job: &str) -> Result<WebhookSync, Error> {
    let (event, deleted) = match GhlEvent::from_slice(body)? {
        GhlEvent::AppointmentCreate(e) | GhlEvent::AppointmentUpdate(e) => (e, false),
        GhlEvent::AppointmentDelete(e) => (e, true),
        _ => return Ok(WebhookSync::Ignore),
    };
    let a = &event.appointment;
    if a.id.is_empty() {
        return Err(Error::decode(
            "/appointment/id",
            "an appointment without an id",
        ));
    }
    let record = if deleted {
        let mut record = SyncRecord::deleted(a.id.clone());
        if let Some(at) = updated(event.timestamp.as_deref(), "/timestamp".into())? {
            record = record.updated_at(at);
        }
        record
    } else {
        let fields = appointment_fields(
            "/appointment",
            a.start_time.as_deref(),
            a.end_time.as_deref(),
            [
                ("title", a.title.as_deref()),
                ("appointmentStatus", a.appointment_status.as_deref()),
                ("calendarId", a.calendar_id.as_deref()),
                ("contactId", a.contact_id.as_deref()),
            ],
        )?;
        let mut record = SyncRecord::new(a.id.clone(), fields);
        if let Some(at) = updated(a.date_updated.as_deref(), "/appointment/dateUpdated".into())? {
            record = record.updated_at(at);
        }
        record
    };
    Ok(WebhookSync::Apply {
        job: job.to_string(),
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::NextPage;
    use serde_json::json;

    fn record(key: &str, fields: Value) -> SyncRecord {
        SyncRecord::new(key, fields.as_object().unwrap().clone())
    }

    #[test]
    fn the_marker_round_trips_keys_and_titles() {
        assert_eq!(
            marked_title(Some("Viewing"), "b-1"),
            "Viewing [booking:b-1]"
        );
        assert_eq!(marked_title(None, "b-1"), "[booking:b-1]");
        assert_eq!(marked_title(Some("  "), "b-1"), "[booking:b-1]");
        assert_eq!(
            split_marker("Viewing [booking:b-1]"),
            Some(("Viewing", "b-1"))
        );
        assert_eq!(split_marker("[booking:b-1]"), Some(("", "b-1")));
        // The last marker counts: a host title may itself look like one.
        let title = marked_title(Some("[booking:x]"), "y]z");
        assert_eq!(split_marker(&title), Some(("[booking:x]", "y]z")));
        assert_eq!(split_marker("Lunch"), None);
        assert_eq!(split_marker("Lunch [booking:]"), None);
        assert_eq!(split_marker("[booking:a] later"), None);
    }

    #[test]
    fn a_bad_booking_is_a_decode_error_naming_its_field() {
        let cases = [
            (
                json!({"endTime": "2025-01-01T10:00:00Z"}),
                "/records/3/startTime",
            ),
            (
                json!({"startTime": "soon", "endTime": "2025-01-01T10:00:00Z"}),
                "/records/3/startTime",
            ),
            (
                json!({"startTime": "2025-01-01T10:00:00Z", "endTime": 5}),
                "/records/3/endTime",
            ),
            (
                json!({"startTime": "2025-01-01T10:00:00Z", "endTime": "2025-01-01T09:00:00Z"}),
                "/records/3/endTime",
            ),
            (
                json!({"startTime": "2025-01-01T10:00:00Z", "endTime": "2025-01-01T11:00:00Z", "title": 1}),
                "/records/3/title",
            ),
        ];
        for (fields, pointer) in cases {
            let err = booking_of(&record("b", fields.clone()), 3).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Decode, "{fields}");
            assert!(err.to_string().contains(pointer), "{fields}: {err}");
        }
        let ok = booking_of(
            &record(
                "b",
                json!({"startTime": "2025-01-01T15:30:00+05:30", "endTime": "2025-01-01T11:00:00Z", "title": null}),
            ),
            0,
        )
        .unwrap();
        assert_eq!(ok.title, None);
        assert_eq!(
            ok.end.duration_since(ok.start).unwrap(),
            Duration::from_secs(3600)
        );
        assert!(check_key("", 2)
            .unwrap_err()
            .to_string()
            .contains("/records/2/key"));
        assert!(check_key("a[booking:b", 0).is_err());
        assert!(check_key("booking-42", 0).is_ok());
    }

    #[test]
    fn a_slot_shows_a_booking_by_instant_not_by_spelling() {
        let slot: CalendarEvent = serde_json::from_value(json!({
            "id": "s1", "title": "Viewing [booking:b]",
            "startTime": "2025-01-01T15:30:00+05:30", "endTime": "2025-01-01T16:30:00+05:30"
        }))
        .unwrap();
        let b = booking_of(
            &record(
                "b",
                json!({"startTime": "2025-01-01T10:00:00Z", "endTime": "2025-01-01T11:00:00.000Z", "title": "Viewing"}),
            ),
            0,
        )
        .unwrap();
        assert!(shows(&slot, &b));
        let moved = Booking {
            start: b.start + Duration::from_secs(60),
            ..b.clone()
        };
        assert!(!shows(&slot, &moved));
        let renamed = Booking { title: None, ..b };
        assert!(!shows(&slot, &renamed));
    }

    #[test]
    fn marked_slots_group_by_key_oldest_first_and_skip_unmarked_ones() {
        let events: Vec<CalendarEvent> = serde_json::from_value(json!([
            {"id": "z", "title": "[booking:b]", "dateAdded": "2025-01-02T00:00:00Z"},
            {"id": "lunch", "title": "Lunch"},
            {"id": "y", "title": "x [booking:b]", "dateAdded": "2025-01-01T00:00:00Z"},
            {"id": "n"}
        ]))
        .unwrap();
        let by_key = marked(events);
        assert_eq!(by_key.len(), 1);
        let ids: Vec<&str> = by_key["b"].iter().map(|(_, e)| e.id.as_str()).collect();
        assert_eq!(ids, ["y", "z"]);
        assert_eq!(by_key["b"][0].0, 2, "the listing index is kept for errors");
    }

    #[test]
    fn a_slot_record_has_utc_times_the_bare_title_and_its_date_as_version() {
        let slot: CalendarEvent = serde_json::from_value(json!({
            "id": "s1", "title": "Viewing [booking:b]",
            "startTime": "2025-01-01T15:30:00+05:30", "endTime": "2025-01-01T16:30:00+05:30",
            "dateUpdated": "2025-01-01T00:00:00Z"
        }))
        .unwrap();
        let r = slot_record("b".into(), 4, &slot).unwrap();
        assert_eq!(
            Value::Object(r.fields.clone()),
            json!({"startTime": "2025-01-01T10:00:00.000Z", "endTime": "2025-01-01T11:00:00.000Z", "title": "Viewing"})
        );
        assert!(r.version.is_some() && r.updated_at.is_some());
        let bad: CalendarEvent = serde_json::from_value(json!({
            "id": "s1", "title": "[booking:b]", "startTime": "2025-01-01T10:00:00Z",
            "endTime": "2025-01-01T11:00:00Z", "dateUpdated": "yesterday"
        }))
        .unwrap();
        let err = slot_record("b".into(), 4, &bad).unwrap_err();
        assert!(err.to_string().contains("/events/4/dateUpdated"), "{err}");
    }

    #[test]
    fn appointment_webhooks_apply_records_and_ignore_other_events() {
        let body = br#"{"type":"AppointmentUpdate","locationId":"l","appointment":{
            "id":"ap1","title":"Viewing","calendarId":"cal","contactId":"c1",
            "appointmentStatus":"confirmed","startTime":"2025-01-01T15:30:00+05:30",
            "endTime":"2025-01-01T16:00:00+05:30","dateUpdated":"2025-01-01T00:00:00Z",
            "notes":"left out"}}"#;
        let WebhookSync::Apply { job, record } = appointment_webhook_sync(body, "appts").unwrap()
        else {
            panic!("expected Apply")
        };
        assert_eq!(job, "appts");
        assert_eq!(record.key, "ap1");
        assert!(!record.deleted);
        assert_eq!(
            Value::Object(record.fields),
            json!({"startTime": "2025-01-01T10:00:00.000Z", "endTime": "2025-01-01T10:30:00.000Z",
                   "title": "Viewing", "appointmentStatus": "confirmed", "calendarId": "cal",
                   "contactId": "c1"})
        );
        assert_eq!(
            record.updated_at,
            parse_time("2025-01-01T00:00:00Z"),
            "dateUpdated is the record's updated-at"
        );

        let no_date = br#"{"type":"AppointmentCreate","appointment":{"id":"ap2"}}"#;
        let WebhookSync::Apply { record, .. } = appointment_webhook_sync(no_date, "a").unwrap()
        else {
            panic!("expected Apply")
        };
        assert!(record.version.is_none() && record.fields.is_empty());

        let del = br#"{"type":"AppointmentDelete","timestamp":"2025-01-02T00:00:00Z",
            "appointment":{"id":"ap1","dateUpdated":"2025-01-01T00:00:00Z"}}"#;
        let WebhookSync::Apply { record, .. } = appointment_webhook_sync(del, "a").unwrap() else {
            panic!("expected Apply")
        };
        assert!(record.deleted);
        assert_eq!(
            record.updated_at,
            parse_time("2025-01-02T00:00:00Z"),
            "a deletion is ordered by the delivery's time, not the last update's"
        );

        assert_eq!(
            appointment_webhook_sync(br#"{"type":"ContactUpdate","id":"c1"}"#, "a").unwrap(),
            WebhookSync::Ignore
        );
        assert_eq!(
            appointment_webhook_sync(br#"{"type":"InvoicePaid"}"#, "a").unwrap(),
            WebhookSync::Ignore
        );
        let err = appointment_webhook_sync(
            br#"{"type":"AppointmentUpdate","appointment":{"id":"a","startTime":"noon"}}"#,
            "a",
        )
        .unwrap_err();
        assert!(err.to_string().contains("/appointment/startTime"), "{err}");
        let err = appointment_webhook_sync(
            br#"{"type":"AppointmentUpdate","appointment":{"id":""}}"#,
            "a",
        )
        .unwrap_err();
        assert!(err.to_string().contains("/appointment/id"), "{err}");
        assert!(appointment_webhook_sync(b"not json", "a").is_err());
    }

    #[test]
    fn a_page_keeps_records_after_the_mark_and_before_until() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let records = vec![
            SyncRecord::new("late", Fields::new()).updated_at(t(50)),
            SyncRecord::new("b", Fields::new()).updated_at(t(20)),
            SyncRecord::new("a", Fields::new()).updated_at(t(20)),
            SyncRecord::new("old", Fields::new()).updated_at(t(5)),
            SyncRecord::new("undated", Fields::new()),
        ];
        let request = ChangeRequest {
            after: Some(crate::sync::Mark::new(t(20), "a")),
            until: t(50),
            page: None,
            limit: 10,
        };
        let page = page_of(records, &request);
        let keys: Vec<&str> = page.records.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["undated", "b"]);
        assert_eq!(page.next, NextPage::Done);
    }
}
