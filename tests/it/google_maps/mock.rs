//! A loopback Google Maps: every web-service path the connector calls, answering with the
//! official sample responses (`../shared/fixtures/google-maps/responses/`) and Google's
//! failure envelopes (HTTP 200 with a `status`), chosen by what the request asks. It records
//! every request (path and decoded query) and how many were in flight at once.
//!
//! Words in the request pick a failure: an `address`/`input`/`query`/`place_id` holding
//! `ZERO` answers `ZERO_RESULTS`, `INVALID` `INVALID_REQUEST`, `BUSY` `OVER_QUERY_LIMIT`
//! (always), `BUSY1` `OVER_QUERY_LIMIT` once per address then the sample, `DAILY`
//! `OVER_DAILY_LIMIT`, `MISSING` `NOT_FOUND`; a key starting with `DENIED` gets
//! `REQUEST_DENIED`. `SLOW` waits 50 ms.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::Router;
use serde_json::{json, Value};
use switchboard::test_util::LoopbackServer;

use crate::support::shared_dir;

/// One request the fake received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) query: BTreeMap<String, String>,
}

impl Seen {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    busy_once: Mutex<HashSet<String>>,
}

pub(crate) struct FakeMaps {
    pub(crate) state: Arc<Inner>,
    server: LoopbackServer,
}

/// A sample response by file name.
pub(crate) fn sample(name: &str) -> Value {
    let path = shared_dir()
        .join("fixtures/google-maps/responses")
        .join(format!("maps_http_{name}_response.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn failure(status: &str, message: Option<&str>) -> Value {
    let mut v = json!({"status": status, "results": []});
    if let Some(m) = message {
        v["error_message"] = json!(m);
    }
    v
}

pub(crate) fn directions_sample() -> Value {
    json!({
        "geocoded_waypoints": [
            {"geocoder_status": "OK", "place_id": "ChIJ-office", "types": ["street_address"]},
            {"geocoder_status": "OK", "place_id": "ChIJ-b", "types": ["street_address"]},
            {"geocoder_status": "OK", "place_id": "ChIJ-a", "types": ["street_address"]},
            {"geocoder_status": "OK", "place_id": "ChIJ-office", "types": ["street_address"]}
        ],
        "routes": [{
            "summary": "Main St",
            "bounds": {"northeast": {"lat": 30.3, "lng": -97.7}, "southwest": {"lat": 30.2, "lng": -97.8}},
            "copyrights": "Map data ©2026",
            "legs": [
                {"distance": {"text": "1.2 km", "value": 1200}, "duration": {"text": "4 mins", "value": 240},
                 "start_address": "Office", "end_address": "B",
                 "start_location": {"lat": 30.26, "lng": -97.74}, "end_location": {"lat": 30.27, "lng": -97.75},
                 "steps": []},
                {"distance": {"text": "0.8 km", "value": 800}, "duration": {"text": "3 mins", "value": 180},
                 "start_address": "B", "end_address": "A",
                 "start_location": {"lat": 30.27, "lng": -97.75}, "end_location": {"lat": 30.28, "lng": -97.76},
                 "steps": []},
                {"distance": {"text": "2.0 km", "value": 2000}, "duration": {"text": "6 mins", "value": 360},
                 "start_address": "A", "end_address": "Office",
                 "start_location": {"lat": 30.28, "lng": -97.76}, "end_location": {"lat": 30.26, "lng": -97.74},
                 "steps": []}
            ],
            "overview_polyline": {"points": "a~l~Fjk~uOwHJy@P"},
            "warnings": [],
            "waypoint_order": [1, 0]
        }],
        "status": "OK"
    })
}

pub(crate) fn timezone_sample() -> Value {
    json!({
        "dstOffset": 0, "rawOffset": -28800, "status": "OK",
        "timeZoneId": "America/Los_Angeles", "timeZoneName": "Pacific Standard Time"
    })
}

pub(crate) fn autocomplete_sample() -> Value {
    json!({
        "predictions": [{
            "description": "1600 Amphitheatre Parkway, Mountain View, CA, USA",
            "place_id": "ChIJF4Yf2Ry7j4AR__1AkytDyAE",
            "types": ["street_address", "geocode"],
            "structured_formatting": {"main_text": "1600 Amphitheatre Parkway", "secondary_text": "Mountain View, CA, USA"},
            "terms": [{"offset": 0, "value": "1600"}],
            "matched_substrings": [{"length": 4, "offset": 0}]
        }],
        "status": "OK"
    })
}

fn answer(state: &Inner, seen: &Seen) -> Value {
    if seen.param("key").is_some_and(|k| k.starts_with("DENIED")) {
        return failure("REQUEST_DENIED", Some("The provided API key is invalid. "));
    }
    let text = ["address", "input", "query", "place_id", "origins"]
        .iter()
        .filter_map(|p| seen.param(p))
        .collect::<Vec<_>>()
        .join(" ");
    if text.contains("BUSY1") {
        let first = state.busy_once.lock().unwrap().insert(text.clone());
        if first {
            return failure(
                "OVER_QUERY_LIMIT",
                Some("You have exceeded your rate-limit for this API."),
            );
        }
    } else if text.contains("BUSY") {
        return failure(
            "OVER_QUERY_LIMIT",
            Some("You have exceeded your rate-limit for this API."),
        );
    }
    if text.contains("ZERO") {
        return sample("geocode_zero_results");
    }
    if text.contains("INVALID") {
        return sample("geocode_invalid_request");
    }
    if text.contains("DAILY") {
        return failure(
            "OVER_DAILY_LIMIT",
            Some("Billing has not been enabled on this project."),
        );
    }
    if text.contains("MISSING") {
        return json!({"html_attributions": [], "status": "NOT_FOUND"});
    }
    match seen.path.as_str() {
        "/maps/api/geocode/json" if seen.param("latlng").is_some() => sample("geocode_reverse"),
        "/maps/api/geocode/json" => {
            // The address comes back as the first result's formatted address, so a caller
            // can tell answers apart.
            let mut v = sample("geocode");
            if let Some(a) = seen.param("address") {
                v["results"][0]["formatted_address"] = json!(a);
            }
            v
        }
        "/maps/api/place/details/json" => sample("places_details"),
        "/maps/api/place/nearbysearch/json" => sample("places_nearbysearch"),
        "/maps/api/place/textsearch/json" => sample("places_textsearch"),
        "/maps/api/place/findplacefromtext/json" => sample("places_findplacefromtext_locationbias"),
        "/maps/api/place/autocomplete/json" => autocomplete_sample(),
        "/maps/api/distancematrix/json" => sample("distancematrix"),
        "/maps/api/directions/json" => directions_sample(),
        "/maps/api/timezone/json" => timezone_sample(),
        _ => failure("INVALID_REQUEST", Some("unknown path")),
    }
}

async fn handle(State(state): State<Arc<Inner>>, req: Request) -> String {
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let seen = Seen {
        path: req.uri().path().to_string(),
        query,
    };
    state.seen.lock().unwrap().push(seen.clone());
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    if seen.query.values().any(|v| v.contains("SLOW")) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = answer(&state, &seen).to_string();
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    body
}

impl FakeMaps {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Inner::default());
        let app = Router::new().fallback(handle).with_state(state.clone());
        FakeMaps {
            state,
            server: LoopbackServer::start(app).await,
        }
    }

    pub(crate) fn url(&self) -> String {
        self.server.base_url()
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub(crate) fn requests(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}
