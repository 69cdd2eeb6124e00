//! Booking sync through the host's path (template -> `Connections` -> `GhlClient` ->
//! `GhlBlockSlotsSource` / `GhlAppointmentsSource` -> `SyncEngine`) against a loopback
//! GoHighLevel calendar: host bookings become marked block slots (created, moved, deleted,
//! never twice after a crash), two tenants sharing a connection id never see each other's
//! slots, and appointment webhooks (GoHighLevel's documented examples included) reach the
//! host's appointments through the scheduler.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use switchboard::ghl::{
    appointment_webhook_sync, GhlAppointmentsSource, GhlBlockSlotsSource, GhlClient,
    APPOINTMENTS_JOB, BOOKINGS_JOB,
};
use switchboard::sync::memory::MemorySink;
use switchboard::sync::{
    ChangeKind, ChangeRequest, Direction, InMemorySyncStore, JobKey, Schedule, SyncEngine,
    SyncEventKind, SyncJob, SyncScheduler, SyncSource, Trigger, WebhookSync,
};
use switchboard::test_util::LoopbackServer;
use switchboard::webhook::router::WebhookTarget;
use switchboard::{ConnectionId, ErrorKind, TenantId};

use crate::support::shared_dir;

// ---------------------------------------------------------------------------------------------
// The loopback GoHighLevel calendar.

/// One block slot at the fake.
#[derive(Debug, Clone)]
struct Slot {
    location: String,
    calendar: String,
    title: String,
    start_ms: i64,
    end_ms: i64,
    added_ms: i64,
    updated_ms: i64,
}

#[derive(Default)]
struct Cal {
    /// Bearer token -> the location it may reach.
    tokens: HashMap<String, String>,
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Appointments, as `GET /calendars/events` answers them (with `locationId`/`calendarId`).
    appointments: Mutex<Vec<Value>>,
    next_id: AtomicU64,
    clock_ms: AtomicU64,
    creates: AtomicUsize,
    updates: AtomicUsize,
    deletes: AtomicUsize,
    lists: AtomicUsize,
    /// Creates still to answer 500 after storing the slot (the write reached GoHighLevel, the
    /// answer did not reach the host).
    fail_after_store: AtomicUsize,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// GoHighLevel answers times in the location's offset: +05:30 here, so the source must compare
/// instants, not spellings.
fn local(ms: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(19_800).unwrap();
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap()
        .with_timezone(&offset)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn parse_ms(v: Option<&Value>) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(v?.as_str()?).ok()?;
    Some(t.timestamp_millis())
}

fn utc(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn query(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Cal {
    fn tick(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let mut last = self.clock_ms.load(Ordering::SeqCst);
        loop {
            let next = real.max(last + 1);
            match self
                .clock_ms
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next as i64,
                Err(seen) => last = seen,
            }
        }
    }

    /// The location the request's token reaches, after the calendars' `Version` check.
    fn check(&self, headers: &HeaderMap) -> Result<String, Box<Response>> {
        let version = headers.get("version").and_then(|v| v.to_str().ok());
        if version != Some("2021-04-15") {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "Version header must be 2021-04-15",
            )));
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match token.and_then(|t| self.tokens.get(t)) {
            Some(location) => Ok(location.clone()),
            None => Err(Box::new(error(StatusCode::UNAUTHORIZED, "Invalid JWT"))),
        }
    }

    fn slot_json(id: &str, s: &Slot) -> Value {
        json!({
            "id": id, "locationId": s.location, "calendarId": s.calendar, "title": s.title,
            "startTime": local(s.start_ms), "endTime": local(s.end_ms),
            "dateAdded": local(s.added_ms), "dateUpdated": local(s.updated_ms),
        })
    }

    /// A slot put there by a GoHighLevel user (or a duplicate), stamped now.
    fn seed(&self, location: &str, calendar: &str, title: &str, start: SystemTime) -> String {
        let id = format!("seed{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let at = self.tick();
        let start_ms = start.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        self.slots.lock().unwrap().insert(
            id.clone(),
            Slot {
                location: location.into(),
                calendar: calendar.into(),
                title: title.into(),
                start_ms,
                end_ms: start_ms + 3_600_000,
                added_ms: at,
                updated_ms: at,
            },
        );
        id
    }

    /// The slots of one calendar, by id.
    fn slots_of(&self, location: &str, calendar: &str) -> BTreeMap<String, Slot> {
        self.slots
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.location == location && s.calendar == calendar)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect()
    }
}

async fn blocked_slots(State(c): State<Arc<Cal>>, headers: HeaderMap, uri: Uri) -> Response {
    let location = match c.check(&headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    c.lists.fetch_add(1, Ordering::SeqCst);
    let q = query(&uri);
    if q.get("locationId") != Some(&location) {
        return error(
            StatusCode::FORBIDDEN,
            "The token does not have access to this location",
        );
    }
    let Some(calendar) = q.get("calendarId") else {
        return error(
            StatusCode::BAD_REQUEST,
            "Either of calendarId, userId or groupId is required",
        );
    };
    let range = |k: &str| q.get(k).and_then(|v| v.parse::<i64>().ok());
    let (Some(from), Some(to)) = (range("startTime"), range("endTime")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "startTime and endTime are required (millis)",
        );
    };
    let events: Vec<Value> = c
        .slots_of(&location, calendar)
        .iter()
        .filter(|(_, s)| s.end_ms >= from && s.start_ms <= to)
        .map(|(id, s)| Cal::slot_json(id, s))
        .collect();
    Json(json!({"events": events})).into_response()
}

/// The slot fields of a create or update body: `(calendar, title, start, end)`.
fn slot_body(body: &Value, location: &str) -> Result<(String, String, i64, i64), Box<Response>> {
    if body["locationId"] != json!(location) {
        return Err(Box::new(error(
            StatusCode::FORBIDDEN,
            "The token does not have access to this location",
        )));
    }
    let Some(calendar) = body["calendarId"].as_str() else {
        return Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "calendarId must be a string",
        )));
    };
    let (Some(start), Some(end)) = (
        parse_ms(body.get("startTime")),
        parse_ms(body.get("endTime")),
    ) else {
        return Err(Box::new(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "startTime and endTime must be dates",
        )));
    };
    let title = body["title"].as_str().unwrap_or("").to_string();
    Ok((calendar.to_string(), title, start, end))
}

/// What GoHighLevel's spec shows a block-slot write answering: no `dateAdded`/`dateUpdated`.
fn written(id: &str, s: &Slot) -> Response {
    (
        StatusCode::CREATED,
        Json(json!({
            "id": id, "locationId": s.location, "calendarId": s.calendar, "title": s.title,
            "startTime": local(s.start_ms), "endTime": local(s.end_ms),
        })),
    )
        .into_response()
}

async fn create_slot(
    State(c): State<Arc<Cal>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let location = match c.check(&headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let (calendar, title, start_ms, end_ms) = match slot_body(&body, &location) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    c.creates.fetch_add(1, Ordering::SeqCst);
    let id = format!("slot{}", c.next_id.fetch_add(1, Ordering::SeqCst));
    let at = c.tick();
    let slot = Slot {
        location,
        calendar,
        title,
        start_ms,
        end_ms,
        added_ms: at,
        updated_ms: at,
    };
    c.slots.lock().unwrap().insert(id.clone(), slot.clone());
    let fail = c
        .fail_after_store
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    }
    written(&id, &slot)
}

async fn update_slot(
    State(c): State<Arc<Cal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let location = match c.check(&headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let (calendar, title, start_ms, end_ms) = match slot_body(&body, &location) {
        Ok(f) => f,
        Err(r) => return *r,
    };
    c.updates.fetch_add(1, Ordering::SeqCst);
    let at = c.tick();
    let mut slots = c.slots.lock().unwrap();
    let Some(s) = slots.get_mut(&id).filter(|s| s.location == location) else {
        return error(StatusCode::NOT_FOUND, "Event not found");
    };
    (s.calendar, s.title, s.start_ms, s.end_ms, s.updated_ms) =
        (calendar, title, start_ms, end_ms, at);
    let s = s.clone();
    drop(slots);
    written(&id, &s)
}

async fn delete_event(
    State(c): State<Arc<Cal>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let location = match c.check(&headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    c.deletes.fetch_add(1, Ordering::SeqCst);
    let mut slots = c.slots.lock().unwrap();
    if slots.get(&id).is_none_or(|s| s.location != location) {
        return error(StatusCode::NOT_FOUND, "Event not found");
    }
    slots.remove(&id);
    (StatusCode::CREATED, Json(json!({"succeeded": true}))).into_response()
}

async fn events(State(c): State<Arc<Cal>>, headers: HeaderMap, uri: Uri) -> Response {
    let location = match c.check(&headers) {
        Ok(l) => l,
        Err(r) => return *r,
    };
    let q = query(&uri);
    if q.get("locationId") != Some(&location) {
        return error(
            StatusCode::FORBIDDEN,
            "The token does not have access to this location",
        );
    }
    let calendar = q.get("calendarId").cloned().unwrap_or_default();
    let events: Vec<Value> = c
        .appointments
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a["locationId"] == json!(location) && a["calendarId"] == json!(calendar))
        .cloned()
        .collect();
    Json(json!({"events": events})).into_response()
}

struct FakeCalendar {
    cal: Arc<Cal>,
    server: LoopbackServer,
}

impl FakeCalendar {
    /// A fake answering each `(token, location)` pair.
    async fn start(tokens: &[(&str, &str)]) -> Self {
        let cal = Arc::new(Cal {
            tokens: tokens
                .iter()
                .map(|(t, l)| (t.to_string(), l.to_string()))
                .collect(),
            ..Cal::default()
        });
        let app = Router::new()
            .route("/calendars/blocked-slots", get(blocked_slots))
            .route("/calendars/events", get(events))
            .route("/calendars/events/block-slots", post(create_slot))
            .route("/calendars/events/block-slots/{id}", put(update_slot))
            .route("/calendars/events/{id}", delete(delete_event))
            .with_state(cal.clone());
        FakeCalendar {
            cal,
            server: LoopbackServer::start(app).await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The host.

/// A tenant's GoHighLevel client through the template and `Connections`.
async fn client(
    connections: &switchboard::connections::Connections,
    tenant: &str,
    token: &str,
    location: &str,
    calendar: &str,
    base_url: &str,
) -> GhlClient {
    let (t, c) = (TenantId::new(tenant), ConnectionId::new("ghl"));
    connections
        .create(
            &t,
            &c,
            "ghl",
            "GoHighLevel",
            &json!({"apiKey": token, "locationId": location, "calendarId": calendar, "baseUrl": base_url}),
        )
        .await
        .unwrap();
    GhlClient::from_connection(connections.connection(&t, &c).await.unwrap()).unwrap()
}

fn booking(start: SystemTime, minutes: u64, title: Option<&str>) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("startTime".into(), utc(start).into());
    f.insert(
        "endTime".into(),
        utc(start + Duration::from_secs(minutes * 60)).into(),
    );
    if let Some(t) = title {
        f.insert("title".into(), t.into());
    }
    f
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn bookings_job(tenant: &str, source: GhlBlockSlotsSource, sink: Arc<MemorySink>) -> SyncJob {
    SyncJob::new(
        JobKey::new(tenant, "ghl", BOOKINGS_JOB),
        Arc::new(source),
        sink,
    )
    .direction(Direction::Outbound)
}

/// The slots of a calendar carrying `key`'s marker.
fn marked(fake: &FakeCalendar, location: &str, calendar: &str, key: &str) -> Vec<(String, Slot)> {
    let marker = format!("[booking:{key}]");
    fake.cal
        .slots_of(location, calendar)
        .into_iter()
        .filter(|(_, s)| s.title.ends_with(&marker))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_booking_creates_moves_and_deletes_one_marked_block_slot() {
    let fake = FakeCalendar::start(&[("pit-book", "loc_a")]).await;
    let now = SystemTime::now();
    let start = now + Duration::from_secs(2 * 24 * 3600);
    // A user's own slot in the calendar, and a slot with the same marker in another calendar
    // of the location: neither is the job's.
    let lunch = fake.cal.seed("loc_a", "cal_a", "Lunch", start);
    let elsewhere = fake
        .cal
        .seed("loc_a", "cal_b", "Viewing [booking:b1]", start);

    let connections = super::host();
    let ghl = client(
        &connections,
        "acme",
        "pit-book",
        "loc_a",
        "cal_a",
        &fake.server.base_url(),
    )
    .await;
    let sink = Arc::new(MemorySink::own_versions());
    let job = bookings_job("acme", GhlBlockSlotsSource::new(ghl), sink.clone());
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();

    // 1. A new booking: one slot, marked, at the booking's instants.
    sink.edit(
        "b1",
        Some(booking(start, 60, Some("Viewing 12 Elm St"))),
        now - Duration::from_secs(90),
    );
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 1, "{:?}", log.counts);
    let slots = marked(&fake, "loc_a", "cal_a", "b1");
    assert_eq!(slots.len(), 1, "{slots:?}");
    let (id, slot) = &slots[0];
    assert_eq!(slot.title, "Viewing 12 Elm St [booking:b1]");
    assert_eq!(
        (slot.start_ms, slot.end_ms),
        (ms(start), ms(start) + 3_600_000)
    );
    assert_eq!(fake.cal.creates.load(Ordering::SeqCst), 1);

    // 2. Nothing changed: nothing is written.
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 0, "{:?}", log.counts);
    assert_eq!(fake.cal.creates.load(Ordering::SeqCst), 1);
    assert_eq!(fake.cal.updates.load(Ordering::SeqCst), 0);

    // 3. The booking moves (and loses its title): the same slot moves, no second one.
    let moved = start + Duration::from_secs(3 * 3600);
    sink.edit(
        "b1",
        Some(booking(moved, 30, None)),
        now - Duration::from_secs(80),
    );
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 1, "{:?}", log.counts);
    let slots = marked(&fake, "loc_a", "cal_a", "b1");
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert_eq!(&slots[0].0, id, "the slot was moved, not replaced");
    assert_eq!(slots[0].1.title, "[booking:b1]");
    assert_eq!(
        (slots[0].1.start_ms, slots[0].1.end_ms),
        (ms(moved), ms(moved) + 1_800_000)
    );
    assert_eq!(fake.cal.creates.load(Ordering::SeqCst), 1);
    assert_eq!(fake.cal.updates.load(Ordering::SeqCst), 1);

    // 4. The booking is cancelled: its slot goes; the others stay.
    sink.edit("b1", None, now - Duration::from_secs(70));
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 1, "{:?}", log.counts);
    assert!(marked(&fake, "loc_a", "cal_a", "b1").is_empty());
    assert!(fake.cal.slots_of("loc_a", "cal_a").contains_key(&lunch));
    assert!(fake.cal.slots_of("loc_a", "cal_b").contains_key(&elsewhere));
    assert_eq!(fake.cal.slots.lock().unwrap().len(), 2);

    // 5. A booking without an end is refused before anything is sent, naming the field.
    let mut bad = booking(start, 60, None);
    bad.remove("endTime");
    sink.edit("b2", Some(bad), now - Duration::from_secs(60));
    let (creates, lists) = (
        fake.cal.creates.load(Ordering::SeqCst),
        fake.cal.lists.load(Ordering::SeqCst),
    );
    let err = engine.run(&job, Trigger::Manual).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode, "{err}");
    assert!(err.to_string().contains("/records/0/endTime"), "{err}");
    assert_eq!(fake.cal.creates.load(Ordering::SeqCst), creates);
    assert_eq!(
        fake.cal.lists.load(Ordering::SeqCst),
        lists,
        "not even listed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_failed_after_reaching_ghl_is_not_made_twice() {
    let fake = FakeCalendar::start(&[("pit-crash", "loc_c")]).await;
    let now = SystemTime::now();
    let start = now + Duration::from_secs(5 * 24 * 3600);
    let connections = super::host();
    let ghl = client(
        &connections,
        "acme",
        "pit-crash",
        "loc_c",
        "cal_c",
        &fake.server.base_url(),
    )
    .await;
    let sink = Arc::new(MemorySink::own_versions());
    let job = bookings_job("acme", GhlBlockSlotsSource::new(ghl), sink.clone());
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();

    // GoHighLevel stores the slot, then answers 500: the host never learns it was made.
    fake.cal.fail_after_store.store(1, Ordering::SeqCst);
    sink.edit(
        "b7",
        Some(booking(start, 45, Some("Inspection"))),
        now - Duration::from_secs(60),
    );
    let err = engine.run(&job, Trigger::Manual).await.unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Decode, "{err}");
    assert_eq!(
        fake.cal.creates.load(Ordering::SeqCst),
        1,
        "a write is never resent"
    );
    assert_eq!(marked(&fake, "loc_c", "cal_c", "b7").len(), 1);

    // The rerun sends the booking again; the source finds its slot and makes no second one.
    let log = engine.run(&job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 1, "{:?}", log.counts);
    let slots = marked(&fake, "loc_c", "cal_c", "b7");
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert_eq!(slots[0].1.title, "Inspection [booking:b7]");
    assert_eq!(fake.cal.creates.load(Ordering::SeqCst), 1);
    assert_eq!(
        fake.cal.updates.load(Ordering::SeqCst),
        0,
        "the slot already showed the booking"
    );

    // Two slots carrying one key (two replicas both created one) become one again on the
    // next write of that booking: the oldest is kept and moved.
    let kept = slots[0].0.clone();
    fake.cal
        .seed("loc_c", "cal_c", "Inspection [booking:b7]", start);
    let later = start + Duration::from_secs(3600);
    sink.edit(
        "b7",
        Some(booking(later, 45, Some("Inspection"))),
        now - Duration::from_secs(50),
    );
    engine.run(&job, Trigger::Manual).await.unwrap();
    let slots = marked(&fake, "loc_c", "cal_c", "b7");
    assert_eq!(slots.len(), 1, "{slots:?}");
    assert_eq!(slots[0].0, kept);
    assert_eq!(slots[0].1.start_ms, ms(later));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_sharing_a_connection_id_never_see_each_others_slots() {
    let fake = FakeCalendar::start(&[("pit-acme", "loc_acme"), ("pit-zen", "loc_zen")]).await;
    let now = SystemTime::now();
    let start = now + Duration::from_secs(24 * 3600);
    let connections = super::host();
    let base = fake.server.base_url();
    let acme = GhlBlockSlotsSource::new(
        client(
            &connections,
            "acme",
            "pit-acme",
            "loc_acme",
            "cal_acme",
            &base,
        )
        .await,
    );
    let zen = GhlBlockSlotsSource::new(
        client(
            &connections,
            "zenith",
            "pit-zen",
            "loc_zen",
            "cal_zen",
            &base,
        )
        .await,
    );
    let (acme_sink, zen_sink) = (
        Arc::new(MemorySink::own_versions()),
        Arc::new(MemorySink::own_versions()),
    );
    // One engine and one store for both: the job keys differ by tenant only.
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let acme_job = bookings_job("acme", acme.clone(), acme_sink.clone());
    let zen_job = bookings_job("zenith", zen.clone(), zen_sink.clone());

    // Both tenants book under the same key.
    acme_sink.edit(
        "b1",
        Some(booking(start, 60, Some("Acme viewing"))),
        now - Duration::from_secs(60),
    );
    zen_sink.edit(
        "b1",
        Some(booking(start, 30, Some("Zenith call"))),
        now - Duration::from_secs(60),
    );
    engine.run(&acme_job, Trigger::Manual).await.unwrap();
    engine.run(&zen_job, Trigger::Manual).await.unwrap();
    let acme_slots = marked(&fake, "loc_acme", "cal_acme", "b1");
    let zen_slots = marked(&fake, "loc_zen", "cal_zen", "b1");
    assert_eq!((acme_slots.len(), zen_slots.len()), (1, 1));
    assert_eq!(fake.cal.slots.lock().unwrap().len(), 2);

    // Acme moves its booking: only Acme's slot moves.
    let moved = start + Duration::from_secs(7200);
    acme_sink.edit(
        "b1",
        Some(booking(moved, 60, Some("Acme viewing"))),
        now - Duration::from_secs(50),
    );
    engine.run(&acme_job, Trigger::Manual).await.unwrap();
    let log = engine.run(&zen_job, Trigger::Manual).await.unwrap();
    assert_eq!(log.counts.written, 0, "{:?}", log.counts);
    assert_eq!(
        marked(&fake, "loc_acme", "cal_acme", "b1")[0].1.start_ms,
        ms(moved)
    );
    assert_eq!(
        marked(&fake, "loc_zen", "cal_zen", "b1")[0].1.start_ms,
        ms(start)
    );
    assert_eq!(fake.cal.updates.load(Ordering::SeqCst), 1);

    // Each source reads its own calendar's marked slots only (an inbound or bidirectional
    // job's view): the key, UTC times, the title without its marker.
    fake.cal.seed("loc_zen", "cal_zen", "Team lunch", start);
    let request = ChangeRequest {
        after: None,
        until: now + Duration::from_secs(3600),
        page: None,
        limit: 100,
    };
    let acme_page = acme.changes(&request).await.unwrap();
    assert_eq!(acme_page.records.len(), 1);
    let r = &acme_page.records[0];
    assert_eq!(r.key, "b1");
    assert_eq!(
        Value::Object(r.fields.clone()),
        json!({"startTime": utc(moved), "endTime": utc(moved + Duration::from_secs(3600)), "title": "Acme viewing"})
    );
    assert!(
        r.version.is_some(),
        "the listing's dateUpdated is the version"
    );
    let zen_page = zen.changes(&request).await.unwrap();
    assert_eq!(zen_page.records.len(), 1);
    assert_eq!(zen_page.records[0].fields["title"], json!("Zenith call"));
    // The window cannot list every booking: no live keys, so no purge pass can run.
    assert!(zen.live_keys(None).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Appointments in.

/// The example JSON of one of GoHighLevel's webhook event docs (the block after "Example").
fn doc_example(file: &str) -> Value {
    let path = shared_dir().join(format!("fixtures/ghl/webhook-events/{file}.md"));
    let md = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let after = &md[md.find("#### Example").expect("an Example heading")..];
    let open = after.find("```json").expect("a json block") + "```json".len();
    let body = &after[open..];
    let close = body.find("```").expect("a closed block");
    serde_json::from_str(&body[..close]).unwrap()
}

fn apply_of(body: &Value) -> switchboard::sync::SyncRecord {
    match appointment_webhook_sync(body.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap() {
        WebhookSync::Apply { job, record } => {
            assert_eq!(job, APPOINTMENTS_JOB);
            record
        }
        other => panic!("expected Apply, got {other:?}"),
    }
}

#[test]
fn ghls_documented_appointment_examples_become_records_by_their_type() {
    let create = doc_example("AppointmentCreate");
    let record = apply_of(&create);
    assert_eq!(record.key, "0007BWpSzSwfiuSl0tR2");
    assert!(!record.deleted);
    assert_eq!(
        Value::Object(record.fields.clone()),
        json!({
            "startTime": "2023-09-25T10:30:00.000Z", "endTime": "2023-09-25T10:30:00.000Z",
            "title": "Appointment with GHL Dev team", "appointmentStatus": "confirmed",
            "calendarId": "BqTwX8QFwXzpegMve9EQ", "contactId": "9NkT25Vor1v4aQatFsv2"
        })
    );
    // dateUpdated 2023-09-25T16:00:00+05:30 = 10:30Z.
    assert_eq!(
        record.updated_at,
        Some(UNIX_EPOCH + Duration::from_secs(1_695_637_800))
    );
    assert!(record.version.is_some());

    // GoHighLevel's AppointmentUpdate and AppointmentDelete examples say "AppointmentCreate":
    // what the type says is what is done, so both apply a live appointment as written.
    for file in ["AppointmentUpdate", "AppointmentDelete"] {
        let example = doc_example(file);
        assert_eq!(example["type"], "AppointmentCreate", "{file}");
        assert_eq!(apply_of(&example), record, "{file}");
    }

    // With their own types: an update applies the same record, a deletion deletes the id.
    let mut update = doc_example("AppointmentUpdate");
    update["type"] = json!("AppointmentUpdate");
    assert_eq!(apply_of(&update), record);
    let mut delete = doc_example("AppointmentDelete");
    delete["type"] = json!("AppointmentDelete");
    let deleted = apply_of(&delete);
    assert!(deleted.deleted && deleted.key == "0007BWpSzSwfiuSl0tR2");
    assert!(deleted.fields.is_empty());
    assert_eq!(
        deleted.version, None,
        "the example has no delivery timestamp to order the deletion by"
    );
    delete["timestamp"] = json!("2023-09-26T00:00:00Z");
    assert!(apply_of(&delete).version > record.version);

    // Other events are not for this job.
    let mut other = doc_example("AppointmentCreate");
    other["type"] = json!("OpportunityCreate");
    other["id"] = json!("o1");
    assert_eq!(
        appointment_webhook_sync(other.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap(),
        WebhookSync::Ignore
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appointment_update_webhook_reaches_the_hosts_appointments_through_the_scheduler() {
    let fake = FakeCalendar::start(&[("pit-appt", "loc_p")]).await;
    let now = SystemTime::now();
    let start = now + Duration::from_secs(3 * 24 * 3600);
    let updated = now - Duration::from_secs(600);
    fake.cal.appointments.lock().unwrap().push(json!({
        "id": "ap1", "locationId": "loc_p", "calendarId": "cal_p", "contactId": "c1",
        "title": "Viewing", "appointmentStatus": "confirmed",
        "startTime": local(ms(start)), "endTime": local(ms(start) + 1_800_000),
        "dateAdded": local(ms(updated)), "dateUpdated": local(ms(updated)),
    }));
    let connections = super::host();
    let ghl = client(
        &connections,
        "acme",
        "pit-appt",
        "loc_p",
        "cal_p",
        &fake.server.base_url(),
    )
    .await;
    let sink = Arc::new(MemorySink::new());
    let key = JobKey::new("acme", "ghl", APPOINTMENTS_JOB);
    let job = SyncJob::new(
        key.clone(),
        Arc::new(GhlAppointmentsSource::new(ghl)),
        sink.clone(),
    );
    let engine = SyncEngine::builder(Arc::new(InMemorySyncStore::new())).build();
    let mut events = engine.subscribe();
    let scheduler = SyncScheduler::new(engine.clone());
    scheduler.add(job, Schedule::hourly()).unwrap();

    // The first tick's run reads the calendar's appointments.
    loop {
        let e = events.recv().await.unwrap();
        if let SyncEventKind::Finished { run } = e.kind {
            assert!(run.error.is_none(), "{:?}", run.error);
            break;
        }
    }
    let held = sink.get("ap1").expect("the poll brought the appointment");
    assert_eq!(
        held.fields.as_ref().unwrap()["startTime"],
        json!(utc(start))
    );

    // A user moves the appointment in GoHighLevel; its webhook applies the change at once.
    let moved = start + Duration::from_secs(3600);
    let target = WebhookTarget::new("acme", "ghl");
    let body = json!({
        "type": "AppointmentUpdate", "locationId": "loc_p",
        "appointment": {
            "id": "ap1", "calendarId": "cal_p", "contactId": "c1", "title": "Viewing",
            "appointmentStatus": "confirmed", "startTime": local(ms(moved)),
            "endTime": local(ms(moved) + 1_800_000), "dateUpdated": local(ms(now))
        }
    });
    let sync = appointment_webhook_sync(body.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap();
    scheduler.handle_webhook(&target, sync).await.unwrap();
    let held = sink.get("ap1").unwrap();
    let fields = held.fields.unwrap();
    assert_eq!(fields["startTime"], json!(utc(moved)));
    assert_eq!(
        fields["endTime"],
        json!(utc(moved + Duration::from_secs(1800)))
    );
    let changes = sink.take_changes();
    let last = changes.last().unwrap();
    assert_eq!(
        last.kind,
        ChangeKind::Updated {
            fields: vec!["endTime".into(), "startTime".into()]
        }
    );

    // A late copy of the older state (a retried delivery) does not move it back.
    let mut stale = body.clone();
    stale["appointment"]["startTime"] = json!(local(ms(start)));
    stale["appointment"]["dateUpdated"] = json!(local(ms(updated)));
    let sync = appointment_webhook_sync(stale.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap();
    scheduler.handle_webhook(&target, sync).await.unwrap();
    assert_eq!(
        sink.get("ap1").unwrap().fields.unwrap()["startTime"],
        json!(utc(moved))
    );

    // The appointment is deleted.
    let gone = json!({"type": "AppointmentDelete", "locationId": "loc_p",
        "timestamp": utc(now + Duration::from_secs(1)), "appointment": {"id": "ap1"}});
    let sync = appointment_webhook_sync(gone.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap();
    scheduler.handle_webhook(&target, sync).await.unwrap();
    assert!(!sink.get("ap1").unwrap().is_live());

    // Another tenant's webhook naming the same job name reaches only that tenant's job (none
    // here): nothing of Acme's changes.
    let before = sink.applied_batches();
    let other = WebhookTarget::new("zenith", "ghl");
    let sync = appointment_webhook_sync(body.to_string().as_bytes(), APPOINTMENTS_JOB).unwrap();
    scheduler.handle_webhook(&other, sync).await.unwrap();
    assert_eq!(sink.applied_batches(), before);
    scheduler.shutdown().await;
}
