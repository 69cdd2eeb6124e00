//! A loopback GoHighLevel for the sync and host-path tests: contacts of one location kept in
//! memory, the search (`POST /contacts/search`: `dateUpdated` range filter, sort, `searchAfter`
//! paging, `total`), get, update and delete, and `GET /locations/{id}`. Every request must
//! carry the `Version` header and a bearer token (a missing one answers 401/400 as GoHighLevel
//! does); the fake stamps each write with its own clock, a millisecond later each time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use switchboard::test_util::LoopbackServer;

/// One contact at the fake: its fields (without `id`/`dateUpdated`) and its `dateUpdated`.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) fields: Map<String, Value>,
    pub(crate) updated_ms: u64,
}

pub(crate) struct Inner {
    pub(crate) location: String,
    pub(crate) token: String,
    pub(crate) contacts: Mutex<BTreeMap<String, Stored>>,
    /// The fake's clock, in epoch milliseconds.
    pub(crate) now_ms: AtomicU64,
    pub(crate) searches: AtomicUsize,
    pub(crate) writes: AtomicUsize,
}

pub(crate) struct FakeGhl {
    pub(crate) state: Arc<Inner>,
    server: LoopbackServer,
}

fn rfc3339(ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ms(v: &Value) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    u64::try_from(t.timestamp_millis()).ok()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"statusCode": status.as_u16(), "message": message})),
    )
        .into_response()
}

impl Inner {
    fn tick(&self) -> u64 {
        self.now_ms.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn contact_json(&self, id: &str, c: &Stored) -> Value {
        let mut v = c.fields.clone();
        v.insert("id".into(), id.into());
        v.insert("locationId".into(), self.location.clone().into());
        v.insert("dateUpdated".into(), rfc3339(c.updated_ms).into());
        v.insert("searchAfter".into(), json!([c.updated_ms, id]));
        Value::Object(v)
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), Box<Response>> {
        let version = headers.get("version").and_then(|v| v.to_str().ok());
        if version != Some("2021-07-28") {
            return Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "Version header is required",
            )));
        }
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        if auth != Some(format!("Bearer {}", self.token).as_str()) {
            return Err(Box::new(error(StatusCode::UNAUTHORIZED, "Invalid JWT")));
        }
        Ok(())
    }

    /// The fake edits a contact (a user in GoHighLevel's app), stamped now.
    pub(crate) fn edit(&self, id: &str, field: &str, value: Value) {
        let at = self.tick();
        let mut all = self.contacts.lock().unwrap();
        let c = all.get_mut(id).expect("a known contact");
        c.fields.insert(field.into(), value);
        c.updated_ms = at;
    }

    pub(crate) fn get(&self, id: &str) -> Option<Stored> {
        self.contacts.lock().unwrap().get(id).cloned()
    }
}

async fn search(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    s.searches.fetch_add(1, Ordering::SeqCst);
    if body["locationId"] != json!(s.location) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "locationId is required");
    }
    let limit = body["pageLimit"].as_u64().unwrap_or(20) as usize;
    let (mut gte, mut lte) = (0, u64::MAX);
    for f in body["filters"].as_array().into_iter().flatten() {
        if f["field"] == "dateUpdated" && f["operator"] == "range" {
            gte = parse_ms(&f["value"]["gte"]).unwrap_or(0);
            lte = f["value"].get("lte").and_then(parse_ms).unwrap_or(u64::MAX);
        }
    }
    let by_added = body["sort"][0]["field"] == "dateAdded";
    let after: Option<(u64, String)> = body
        .get("searchAfter")
        .and_then(|a| Some((a.get(0)?.as_u64()?, a.get(1)?.as_str()?.to_string())));
    let all = s.contacts.lock().unwrap();
    let mut matching: Vec<(u64, &String, &Stored)> = all
        .iter()
        .filter(|(_, c)| c.updated_ms >= gte && c.updated_ms <= lte)
        .map(|(id, c)| (if by_added { 0 } else { c.updated_ms }, id, c))
        .collect();
    matching.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .filter(|(t, id, _)| {
            after
                .as_ref()
                .is_none_or(|(at, aid)| (*t, id.as_str()) > (*at, aid.as_str()))
        })
        .take(limit)
        .map(|(t, id, c)| {
            let mut v = s.contact_json(id, c);
            v["searchAfter"] = json!([t, id]);
            v
        })
        .collect();
    Json(json!({"contacts": page, "total": total})).into_response()
}

async fn contact(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    match method.as_str() {
        "GET" => match s.get(&id) {
            Some(c) => Json(json!({"contact": s.contact_json(&id, &c)})).into_response(),
            None => error(StatusCode::NOT_FOUND, "Contact not found"),
        },
        "PUT" => {
            s.writes.fetch_add(1, Ordering::SeqCst);
            let at = s.tick();
            let mut all = s.contacts.lock().unwrap();
            let Some(c) = all.get_mut(&id) else {
                return error(StatusCode::NOT_FOUND, "Contact not found");
            };
            for (k, v) in body
                .map(|b| b.0)
                .unwrap_or_default()
                .as_object()
                .cloned()
                .unwrap_or_default()
            {
                if matches!(k.as_str(), "id" | "locationId" | "dateUpdated") {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &format!("property {k} should not exist"),
                    );
                }
                c.fields.insert(k, v);
            }
            c.updated_ms = at;
            let c = c.clone();
            drop(all);
            Json(json!({"succeded": true, "contact": s.contact_json(&id, &c)})).into_response()
        }
        "DELETE" => {
            s.writes.fetch_add(1, Ordering::SeqCst);
            match s.contacts.lock().unwrap().remove(&id) {
                Some(_) => Json(json!({"succeded": true})).into_response(),
                None => error(StatusCode::NOT_FOUND, "Contact not found"),
            }
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "no"),
    }
}

async fn location(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = s.check(&headers) {
        return *r;
    }
    if id != s.location {
        return error(
            StatusCode::FORBIDDEN,
            "The token does not have access to this location",
        );
    }
    Json(json!({"location": {"id": id, "name": "Acme Realty", "companyId": "co_1"}}))
        .into_response()
}

impl FakeGhl {
    /// A fake for `location`, accepting `token`, with its clock at `now`.
    pub(crate) async fn start(location_id: &str, token: &str, now: SystemTime) -> Self {
        let state = Arc::new(Inner {
            location: location_id.into(),
            token: token.into(),
            contacts: Mutex::new(BTreeMap::new()),
            now_ms: AtomicU64::new(now.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64),
            searches: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/contacts/search", post(search))
            .route("/contacts/{id}", get(contact).put(contact).delete(contact))
            .route("/locations/{id}", get(location))
            .with_state(state.clone());
        FakeGhl {
            state,
            server: LoopbackServer::start(app).await,
        }
    }

    pub(crate) fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Adds a contact stamped at `updated_ms`.
    pub(crate) fn put(&self, id: &str, fields: Map<String, Value>, updated_ms: u64) {
        self.state
            .contacts
            .lock()
            .unwrap()
            .insert(id.into(), Stored { fields, updated_ms });
    }
}
