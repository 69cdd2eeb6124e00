//! The Directions answer: routes made of legs (one per pair of consecutive waypoints) made of
//! steps, and how each waypoint was geocoded.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Bounds, Fare, LatLng, PlaceId, Polyline, TextValue, TimeValue};
use super::status::MapsStatus;

/// The answer of `GET /maps/api/directions/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DirectionsResponse {
    /// The routes found (more than one only with `alternatives=true`).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// How the origin, each waypoint and the destination were geocoded, in that order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geocoded_waypoints: Vec<GeocodedWaypoint>,
    /// With `ZERO_RESULTS` for the asked travel mode: the modes that do have a route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub available_travel_modes: Vec<String>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One route from the origin to the destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Route {
    /// A short name for the route (`"I-90 W"`).
    pub summary: String,
    /// One leg per pair of consecutive waypoints (one leg without waypoints).
    #[serde(default)]
    pub legs: Vec<RouteLeg>,
    /// With `optimize:true`: the order the waypoints are visited in, as indexes into the
    /// request's waypoints.
    #[serde(default)]
    pub waypoint_order: Vec<usize>,
    /// The whole route's shape, simplified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overview_polyline: Option<Polyline>,
    /// The box around the whole route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Copyright text to show with the route.
    pub copyrights: String,
    /// Warnings to show with the route.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The total transit fare, where Google knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fare: Option<Fare>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Route {
    /// The order the request's waypoints are visited in (indexes into them), as Google gives
    /// it: the optimized order with `optimize:true`, otherwise `0..n` (or empty).
    pub fn visit_order(&self) -> &[usize] {
        &self.waypoint_order
    }
}

/// One leg of a route: from one waypoint to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteLeg {
    /// The leg's length in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<TextValue>,
    /// The travel time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<TextValue>,
    /// The travel time with traffic (driving with a departure time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_in_traffic: Option<TextValue>,
    /// The start as an address.
    pub start_address: String,
    /// The end as an address.
    pub end_address: String,
    /// The start point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_location: Option<LatLng>,
    /// The end point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_location: Option<LatLng>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<RouteStep>,
    /// The estimated arrival (transit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival_time: Option<TimeValue>,
    /// The departure (transit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departure_time: Option<TimeValue>,
    /// Every field not named above (`via_waypoint`, `traffic_speed_entry`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One step of a leg: one instruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteStep {
    /// The step's length in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<TextValue>,
    /// The step's travel time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<TextValue>,
    /// Where it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_location: Option<LatLng>,
    /// Where it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_location: Option<LatLng>,
    /// The instruction (HTML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_instructions: Option<String>,
    /// `DRIVING`, `WALKING`, `BICYCLING` or `TRANSIT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub travel_mode: Option<String>,
    /// The step's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polyline: Option<Polyline>,
    /// The manoeuvre (`turn-left`, `ramp-right`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maneuver: Option<String>,
    /// The walking steps of a transit step's walk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<RouteStep>,
    /// Every field not named above (`transit_details`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How one waypoint (origin, via point or destination) was geocoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeocodedWaypoint {
    /// `OK` or `ZERO_RESULTS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geocoder_status: Option<String>,
    /// The place the waypoint was geocoded to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_id: Option<PlaceId>,
    /// What kind of place that is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// `true` when the geocoder matched only part of the waypoint's text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial_match: bool,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer() -> Value {
        json!({
            "geocoded_waypoints": [
                {"geocoder_status": "OK", "place_id": "ChIJ1", "types": ["locality", "political"]},
                {"geocoder_status": "OK", "place_id": "ChIJ2", "types": ["locality"], "partial_match": true}
            ],
            "routes": [{
                "bounds": {"northeast": {"lat": 42.5, "lng": -71.0}, "southwest": {"lat": 42.3, "lng": -71.4}},
                "copyrights": "Map data ©2024 Google",
                "legs": [{
                    "distance": {"text": "33.3 km", "value": 33253},
                    "duration": {"text": "27 mins", "value": 1620},
                    "end_address": "Concord, MA, USA",
                    "end_location": {"lat": 42.46, "lng": -71.35},
                    "start_address": "Boston, MA, USA",
                    "start_location": {"lat": 42.36, "lng": -71.06},
                    "steps": [{
                        "distance": {"text": "0.2 km", "value": 180},
                        "duration": {"text": "1 min", "value": 40},
                        "end_location": {"lat": 42.36, "lng": -71.05},
                        "html_instructions": "Head <b>north</b>",
                        "polyline": {"points": "a~l~Fjk~uOwHJ"},
                        "start_location": {"lat": 42.36, "lng": -71.06},
                        "travel_mode": "DRIVING",
                        "maneuver": "turn-left"
                    }],
                    "traffic_speed_entry": [],
                    "via_waypoint": []
                }],
                "overview_polyline": {"points": "a~l~Fjk~uOwHJy@P"},
                "summary": "MA-2 W",
                "warnings": [],
                "waypoint_order": [1, 0]
            }],
            "status": "OK"
        })
    }

    #[test]
    fn reads_routes_legs_steps_and_writes_them_back() {
        let v = answer();
        let d: DirectionsResponse = serde_json::from_value(v.clone()).unwrap();
        let r = &d.routes[0];
        assert_eq!(r.visit_order(), [1, 0]);
        assert_eq!(r.legs[0].distance.as_ref().unwrap().value, 33253);
        assert_eq!(r.legs[0].steps[0].maneuver.as_deref(), Some("turn-left"));
        assert_eq!(r.legs[0].start_location, Some(LatLng::new(42.36, -71.06)));
        assert!(r.legs[0].extra.contains_key("via_waypoint"));
        assert!(d.geocoded_waypoints[1].partial_match);
        assert_eq!(serde_json::to_value(&d).unwrap(), v);
    }

    #[test]
    fn an_error_answer_parses_without_routes() {
        let d: DirectionsResponse = serde_json::from_str(
            r#"{"status": "NOT_FOUND", "routes": [], "available_travel_modes": ["DRIVING"], "error_message": "x"}"#,
        )
        .unwrap();
        assert_eq!(d.status, MapsStatus::NotFound);
        assert_eq!(d.available_travel_modes, ["DRIVING"]);
        assert!(d.routes.is_empty() && d.geocoded_waypoints.is_empty());
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut v = answer();
        v["routes"][0]["waypoint_order"] = json!([-1]);
        assert!(serde_json::from_value::<DirectionsResponse>(v).is_err());
        let mut v = answer();
        v["routes"][0]["legs"][0]["steps"][0]["distance"]["value"] = json!("x");
        let e = serde_json::from_value::<DirectionsResponse>(v).unwrap_err();
        assert!(e.to_string().contains("an integer for `value`"), "{e}");
    }
}
