//! An offline stand-in for GoHighLevel, for the `ghl_contacts` example: one location, its
//! contacts in memory (create, get, update, tags, notes, search with `searchAfter` paging) and
//! the location itself. Answers have GoHighLevel's shapes. Not a contract check (the tests in
//! `tests/it/ghl/` run every call through Prism and GoHighLevel's own specs).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use switchboard::test_util::LoopbackServer;

#[derive(Default)]
struct Location {
    contacts: Mutex<BTreeMap<String, Map<String, Value>>>,
    next: AtomicU64,
}

type S = State<Arc<Location>>;

/// An instant in the stand-in's day: `n` seconds after 09:00 UTC, 1 June 2026.
fn stamp(n: u64) -> String {
    format!("2026-06-01T09:{:02}:{:02}.000Z", (n / 60) % 60, n % 60)
}

fn stored(s: &Location, mut fields: Map<String, Value>) -> Value {
    let n = s.next.fetch_add(1, Ordering::SeqCst);
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .map_or_else(|| format!("ct_{n:04}"), str::to_string);
    fields.insert("id".into(), id.clone().into());
    fields.insert("dateUpdated".into(), stamp(n).into());
    fields.entry("tags").or_insert_with(|| json!([]));
    s.contacts.lock().unwrap().insert(id, fields.clone());
    Value::Object(fields)
}

/// Starts the stand-in for `location_id`, holding a few contacts already.
pub(crate) async fn start(location_id: &str) -> LoopbackServer {
    let state = Arc::new(Location::default());
    for (first, email) in [("Grace", "grace@example.com"), ("Alan", "alan@example.com")] {
        let mut f = Map::new();
        f.insert("firstName".into(), first.into());
        f.insert("email".into(), email.into());
        f.insert("locationId".into(), location_id.into());
        stored(&state, f);
    }
    let name = location_id.to_string();
    let app = Router::new()
        .route(
            "/locations/{id}",
            get(move |Path(id): Path<String>| async move {
                Json(json!({"location": {"id": id, "name": format!("Oak Realty ({name})")}}))
            }),
        )
        .route(
            "/contacts/",
            post(|State(s): S, Json(body): Json<Value>| async move {
                let fields = body.as_object().cloned().unwrap_or_default();
                Json(json!({"contact": stored(&s, fields)}))
            }),
        )
        .route(
            "/contacts/{id}",
            get(|State(s): S, Path(id): Path<String>| async move {
                let c = s.contacts.lock().unwrap().get(&id).cloned();
                Json(json!({"contact": c}))
            })
            .put(
                |State(s): S, Path(id): Path<String>, Json(body): Json<Value>| async move {
                    let mut c = s
                        .contacts
                        .lock()
                        .unwrap()
                        .get(&id)
                        .cloned()
                        .unwrap_or_default();
                    c.extend(body.as_object().cloned().unwrap_or_default());
                    Json(json!({"contact": stored(&s, c)}))
                },
            ),
        )
        .route(
            "/contacts/{id}/tags",
            post(
                |State(s): S, Path(id): Path<String>, Json(body): Json<Value>| async move {
                    let mut all = s.contacts.lock().unwrap();
                    let c = all.entry(id).or_default();
                    let mut tags = c.get("tags").cloned().unwrap_or_else(|| json!([]));
                    for t in body["tags"].as_array().into_iter().flatten() {
                        if let Some(list) = tags.as_array_mut() {
                            list.push(t.clone());
                        }
                    }
                    c.insert("tags".into(), tags.clone());
                    Json(json!({"tags": tags}))
                },
            ),
        )
        .route(
            "/contacts/{id}/notes",
            post(
                |Path(id): Path<String>, Json(body): Json<Value>| async move {
                    Json(json!({"note": {"id": "note_1", "body": body["body"], "contactId": id}}))
                },
            ),
        )
        .route(
            "/contacts/search",
            post(|State(s): S, Json(body): Json<Value>| async move {
                let limit = body["pageLimit"].as_u64().unwrap_or(20) as usize;
                let after = body["searchAfter"][1].as_str().map(str::to_string);
                let all = s.contacts.lock().unwrap();
                let mut rows: Vec<&Map<String, Value>> = all.values().collect();
                rows.sort_by_key(|c| {
                    (
                        c["dateUpdated"].as_str().unwrap_or("").to_string(),
                        c["id"].as_str().unwrap_or("").to_string(),
                    )
                });
                let start = after.map_or(0, |a| {
                    rows.iter()
                        .position(|c| c["id"] == a.as_str())
                        .map_or(0, |p| p + 1)
                });
                let page: Vec<Value> = rows
                    .iter()
                    .skip(start)
                    .take(limit)
                    .map(|c| {
                        let mut v = (*c).clone();
                        v.insert("searchAfter".into(), json!([c["dateUpdated"], c["id"]]));
                        Value::Object(v)
                    })
                    .collect();
                Json(json!({"contacts": page, "total": all.len()}))
            }),
        )
        .with_state(state);
    LoopbackServer::start(app).await
}
