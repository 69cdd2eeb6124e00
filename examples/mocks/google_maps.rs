//! An offline stand-in for the Google Maps web services, for the `maps_geocode` example:
//! Geocoding (each address gets a point of its own; one containing `Nowhere` gets
//! `ZERO_RESULTS`), Time Zone, Distance Matrix and Directions (which reverses the waypoints,
//! as an optimiser might). Answers have Google's shapes, HTTP 200 with a `status`. Not a
//! contract check (the tests in `tests/it/google_maps/` run every call through Prism and
//! Google's own spec).

use axum::extract::Request;
use axum::Router;
use serde_json::{json, Value};
use switchboard::test_util::LoopbackServer;

/// Starts the stand-in on a loopback port.
pub(crate) async fn start() -> LoopbackServer {
    LoopbackServer::start(Router::new().fallback(|req: Request| async move {
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let param = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        answer(req.uri().path(), &param).to_string()
    }))
    .await
}

/// A point for an address: the same address always lands on the same point near Austin.
fn point(address: &str) -> Value {
    let n = address
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    json!({"lat": 30.2 + f64::from(n % 1000) / 10_000.0, "lng": -97.8 + f64::from(n % 997) / 10_000.0})
}

fn answer(path: &str, param: &dyn Fn(&str) -> String) -> Value {
    match path {
        "/maps/api/geocode/json" => {
            let address = param("address");
            if address.contains("Nowhere") {
                return json!({"results": [], "status": "ZERO_RESULTS"});
            }
            json!({
                "results": [{
                    "address_components": [],
                    "formatted_address": format!("{address}, USA"),
                    "geometry": {"location": point(&address), "location_type": "ROOFTOP"},
                    "place_id": format!("stand-in-{}", address.len()),
                    "types": ["street_address"]
                }],
                "status": "OK"
            })
        }
        "/maps/api/timezone/json" => json!({
            "dstOffset": 0, "rawOffset": -21600, "status": "OK",
            "timeZoneId": "America/Chicago", "timeZoneName": "Central Standard Time"
        }),
        "/maps/api/distancematrix/json" => {
            let origins: Vec<String> = param("origins").split('|').map(str::to_string).collect();
            let destinations: Vec<String> = param("destinations")
                .split('|')
                .map(str::to_string)
                .collect();
            let rows: Vec<Value> = origins
                .iter()
                .enumerate()
                .map(|(i, _)| {
                    let elements: Vec<Value> = destinations
                        .iter()
                        .enumerate()
                        .map(|(j, _)| {
                            let metres = 1500 + 700 * (i + j) as i64;
                            json!({
                                "distance": {"text": format!("{:.1} km", metres as f64 / 1000.0), "value": metres},
                                "duration": {"text": format!("{} mins", metres / 500), "value": metres * 6 / 50},
                                "status": "OK"
                            })
                        })
                        .collect();
                    json!({"elements": elements})
                })
                .collect();
            json!({"origin_addresses": origins, "destination_addresses": destinations, "rows": rows, "status": "OK"})
        }
        "/maps/api/directions/json" => {
            let waypoints = param("waypoints");
            let stops: Vec<&str> = waypoints
                .strip_prefix("optimize:true|")
                .unwrap_or(&waypoints)
                .split('|')
                .collect();
            let order: Vec<usize> = (0..stops.len()).rev().collect();
            let legs: Vec<Value> = (0..=stops.len())
                .map(|i| {
                    json!({
                        "distance": {"text": "2.1 km", "value": 2100 + i * 100},
                        "duration": {"text": "6 mins", "value": 360 + i * 30},
                        "start_address": "", "end_address": "", "steps": []
                    })
                })
                .collect();
            json!({
                "geocoded_waypoints": [],
                "routes": [{"summary": "Congress Ave", "legs": legs, "waypoint_order": order,
                            "copyrights": "stand-in", "warnings": [],
                            "overview_polyline": {"points": ""}}],
                "status": "OK"
            })
        }
        _ => json!({"status": "INVALID_REQUEST", "error_message": "unknown path"}),
    }
}
