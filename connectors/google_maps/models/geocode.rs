//! The Geocoding answer (forward, reverse and place-id lookups), and the address components
//! and geometry that Places answers share.

use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::common::{Bounds, LatLng, PlaceId, PlusCode};
use super::status::MapsStatus;

/// The answer of `GET /maps/api/geocode/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeocodeResponse {
    /// The matches, best first (empty on `ZERO_RESULTS` and on errors).
    #[serde(default)]
    pub results: Vec<GeocodeResult>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The plus code of the queried point (reverse geocoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus_code: Option<PlusCode>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One geocoding match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GeocodeResult {
    /// The address split into parts (street number, route, locality, ...).
    #[serde(default)]
    pub address_components: Vec<AddressComponent>,
    /// The whole address as one line.
    pub formatted_address: String,
    /// Where it is.
    pub geometry: Geometry,
    /// The place id.
    pub place_id: PlaceId,
    /// Its plus code, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus_code: Option<PlusCode>,
    /// What kind of place it is (`street_address`, `locality`, ...).
    #[serde(default)]
    pub types: Vec<String>,
    /// `true` when Google matched only part of the query (check the address before use).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial_match: bool,
    /// Every locality a postal code spans (for a postal-code result covering several).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub postcode_localities: Vec<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GeocodeResult {
    /// The first address component of kind `kind` (`"postal_code"`, `"locality"`,
    /// `"country"`, ...).
    pub fn component(&self, kind: &str) -> Option<&AddressComponent> {
        self.address_components
            .iter()
            .find(|c| c.types.iter().any(|t| t == kind))
    }
}

/// One part of an address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AddressComponent {
    /// The full text (`"Pennsylvania Avenue Northwest"`).
    pub long_name: String,
    /// The abbreviated text (`"Pennsylvania Avenue NW"`, a country's ISO code).
    pub short_name: String,
    /// What the part is (`route`, `country`, `political`, ...).
    #[serde(default)]
    pub types: Vec<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Where a result is: its point, how precise that is, and the boxes to show it in.
///
/// A place's geometry (Places answers) has no `location_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Geometry {
    /// The point.
    pub location: LatLng,
    /// How precise the point is (geocoding answers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_type: Option<LocationType>,
    /// The box a map should show it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewport: Option<Bounds>,
    /// The box that holds the whole result, where it has an extent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How precise a geocoded point is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LocationType {
    /// `ROOFTOP`: a precise street address.
    Rooftop,
    /// `RANGE_INTERPOLATED`: between two precise points (a street number range).
    RangeInterpolated,
    /// `GEOMETRIC_CENTER`: the centre of a line or an area.
    GeometricCenter,
    /// `APPROXIMATE`: approximate.
    Approximate,
    /// A value this version does not know, kept as sent.
    Other(String),
}

impl LocationType {
    /// The value as Google spells it.
    pub fn as_str(&self) -> &str {
        match self {
            LocationType::Rooftop => "ROOFTOP",
            LocationType::RangeInterpolated => "RANGE_INTERPOLATED",
            LocationType::GeometricCenter => "GEOMETRIC_CENTER",
            LocationType::Approximate => "APPROXIMATE",
            LocationType::Other(s) => s,
        }
    }

    /// The value spelled `s` (an unknown spelling is [`LocationType::Other`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "ROOFTOP" => LocationType::Rooftop,
            "RANGE_INTERPOLATED" => LocationType::RangeInterpolated,
            "GEOMETRIC_CENTER" => LocationType::GeometricCenter,
            "APPROXIMATE" => LocationType::Approximate,
            other => LocationType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for LocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LocationType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LocationType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LocationType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a location type string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LocationType, E> {
                Ok(LocationType::parse(v))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result() -> Value {
        json!({
            "address_components": [
                {"long_name": "1600", "short_name": "1600", "types": ["street_number"]},
                {"long_name": "Mountain View", "short_name": "Mountain View",
                 "types": ["locality", "political"]},
                {"long_name": "94043", "short_name": "94043", "types": ["postal_code"]}
            ],
            "formatted_address": "1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA",
            "geometry": {
                "location": {"lat": 37.4224764, "lng": -122.0842499},
                "location_type": "ROOFTOP",
                "viewport": {"northeast": {"lat": 37.4238, "lng": -122.0829},
                             "southwest": {"lat": 37.4211, "lng": -122.0856}}
            },
            "place_id": "ChIJ2eUgeAK6j4ARbn5u_wAGqWA",
            "types": ["street_address"]
        })
    }

    #[test]
    fn finds_components_by_kind_and_round_trips() {
        let v = json!({"results": [result()], "status": "OK"});
        let g: GeocodeResponse = serde_json::from_value(v.clone()).unwrap();
        let r = &g.results[0];
        assert_eq!(r.component("locality").unwrap().long_name, "Mountain View");
        assert_eq!(r.component("postal_code").unwrap().short_name, "94043");
        assert!(r.component("country").is_none());
        assert_eq!(r.geometry.location, LatLng::new(37.4224764, -122.0842499));
        assert_eq!(r.geometry.location_type, Some(LocationType::Rooftop));
        assert!(!r.partial_match && r.postcode_localities.is_empty());
        assert_eq!(serde_json::to_value(&g).unwrap(), v);
    }

    #[test]
    fn unknown_fields_and_location_types_are_kept() {
        let mut r = result();
        r["geometry"]["location_type"] = json!("SATELLITE_FIX");
        r["navigation_points"] = json!([{"location": {"latitude": 1, "longitude": 2}}]);
        r["partial_match"] = json!(true);
        let v = json!({"results": [r], "status": "OK", "plus_code": {"global_code": "849V"}});
        let g: GeocodeResponse = serde_json::from_value(v.clone()).unwrap();
        let r = &g.results[0];
        assert_eq!(
            r.geometry.location_type,
            Some(LocationType::Other("SATELLITE_FIX".into()))
        );
        assert!(r.partial_match);
        assert!(r.extra.contains_key("navigation_points"));
        assert_eq!(
            g.plus_code.as_ref().unwrap().global_code.as_deref(),
            Some("849V")
        );
        assert_eq!(serde_json::to_value(&g).unwrap(), v);
    }

    #[test]
    fn an_error_answer_without_results_parses() {
        let g: GeocodeResponse = serde_json::from_str(
            r#"{"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."}"#,
        )
        .unwrap();
        assert_eq!(g.status, MapsStatus::RequestDenied);
        assert!(g.results.is_empty());
        assert_eq!(
            g.error_message.as_deref(),
            Some("The provided API key is invalid.")
        );
    }

    #[test]
    fn wrong_types_are_errors() {
        let mut r = result();
        r["geometry"]["location"]["lat"] = json!("37.4");
        let e = serde_json::from_value::<GeocodeResponse>(json!({"results": [r], "status": "OK"}))
            .unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let mut r = result();
        r.as_object_mut().unwrap().remove("place_id");
        let e = serde_json::from_value::<GeocodeResponse>(json!({"results": [r], "status": "OK"}))
            .unwrap_err();
        assert!(e.to_string().contains("missing field `place_id`"), "{e}");
        assert!(
            serde_json::from_str::<GeocodeResponse>(r#"{"results": 1, "status": "OK"}"#).is_err()
        );
        assert!(serde_json::from_str::<GeocodeResponse>(r#"{"results": []}"#).is_err());
    }
}
