//! Values every Google Maps answer shares: coordinates, boxes, text/value pairs, fares, times,
//! plus codes, place ids and encoded polylines.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::de::{self as helpers, keys, Float, Int, Str};

/// A point: latitude and longitude in degrees (WGS 84).
///
/// `Display` writes `lat,lng` with Rust's shortest float text that reads back to the same
/// value, the form the web services take in `origins`, `latlng` and `location` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLng {
    /// Latitude in degrees, -90 to 90.
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    pub lng: f64,
}

impl LatLng {
    /// A point at `lat`, `lng` (no range check: Google answers an out-of-range point with
    /// `INVALID_REQUEST`).
    pub fn new(lat: f64, lng: f64) -> Self {
        LatLng { lat, lng }
    }
}

impl fmt::Display for LatLng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lng)
    }
}

/// A box given by its north-east and south-west corners (a viewport, a route's bounds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// The north-east corner.
    pub northeast: LatLng,
    /// The south-west corner.
    pub southwest: LatLng,
}

impl Bounds {
    /// The box between `northeast` and `southwest`.
    pub fn new(northeast: LatLng, southwest: LatLng) -> Self {
        Bounds {
            northeast,
            southwest,
        }
    }
}

/// A distance in metres or a duration in seconds (`value`), with Google's text for it in the
/// answer's language (`"33.3 km"`, `"27 mins"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TextValue {
    /// Human-readable text.
    pub text: String,
    /// Metres (a distance) or seconds (a duration).
    pub value: i64,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

keys!(TextValueKey { Text => "text", Value => "value" });

/// Reads a [`TextValue`]; `what` names the field holding it in a type error.
#[derive(Clone, Copy)]
pub(super) struct TextValueField(pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for TextValueField {
    type Value = TextValue;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TextValue, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TextValueField {
    type Value = TextValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with `text` and `value` for `{}`", self.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextValue, A::Error> {
        let (mut text, mut value) = (None, None);
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<TextValueKey>()? {
            match key {
                TextValueKey::Text => {
                    helpers::once(&mut text, "text", map.next_value_seed(Str("text"))?)?
                }
                TextValueKey::Value => {
                    helpers::once(&mut value, "value", map.next_value_seed(Int("value"))?)?
                }
                TextValueKey::Other(k) => helpers::keep(&mut extra, k, map.next_value()?)?,
            }
        }
        Ok(TextValue {
            text: text.ok_or_else(|| de::Error::missing_field("text"))?,
            value: value.ok_or_else(|| de::Error::missing_field("value"))?,
            extra,
        })
    }
}

impl<'de> Deserialize<'de> for TextValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TextValueField("text/value").deserialize(d)
    }
}

/// A fare: the total of a transit trip.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Fare {
    /// ISO 4217 currency code.
    pub currency: String,
    /// The amount as text in the answer's language (`"$6.00"`).
    pub text: String,
    /// The amount in `currency` (`6.0`).
    pub value: f64,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

keys!(FareKey { Currency => "currency", Text => "text", Value => "value" });

/// Reads a [`Fare`]; `what` names the field holding it in a type error.
#[derive(Clone, Copy)]
pub(super) struct FareField(pub(super) &'static str);

impl<'de> DeserializeSeed<'de> for FareField {
    type Value = Fare;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fare, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FareField {
    type Value = Fare;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an object with `currency`, `text` and `value` for `{}`",
            self.0
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fare, A::Error> {
        let (mut currency, mut text, mut value) = (None, None, None);
        let mut extra = Map::new();
        while let Some(key) = map.next_key::<FareKey>()? {
            match key {
                FareKey::Currency => helpers::once(
                    &mut currency,
                    "currency",
                    map.next_value_seed(Str("currency"))?,
                )?,
                FareKey::Text => {
                    helpers::once(&mut text, "text", map.next_value_seed(Str("text"))?)?
                }
                FareKey::Value => {
                    helpers::once(&mut value, "value", map.next_value_seed(Float("value"))?)?
                }
                FareKey::Other(k) => helpers::keep(&mut extra, k, map.next_value()?)?,
            }
        }
        Ok(Fare {
            currency: currency.ok_or_else(|| de::Error::missing_field("currency"))?,
            text: text.ok_or_else(|| de::Error::missing_field("text"))?,
            value: value.ok_or_else(|| de::Error::missing_field("value"))?,
            extra,
        })
    }
}

impl<'de> Deserialize<'de> for Fare {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        FareField("fare").deserialize(d)
    }
}

/// A time of day in a time zone (a transit leg's departure or arrival).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimeValue {
    /// The time as text, in the stop's time zone (`"6:38pm"`).
    pub text: String,
    /// The IANA time zone of the stop (`"America/New_York"`).
    pub time_zone: String,
    /// The time as Unix seconds.
    #[serde(deserialize_with = "helpers::int")]
    pub value: i64,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An Open Location Code (plus code) for a place or a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlusCode {
    /// The global code (`"849VCWC8+R9"`): a 1/8000 by 1/8000 degree box.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_code: Option<String>,
    /// The short code with a locality (`"CWC8+R9 Mountain View, CA, USA"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compound_code: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A place id: Google's stable textual id of a place (`"ChIJ2eUgeAK6j4ARbn5u_wAGqWA"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlaceId(String);

impl PlaceId {
    /// Wraps a place id as given.
    pub fn new(id: impl Into<String>) -> Self {
        PlaceId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PlaceId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<String> for PlaceId {
    fn from(s: String) -> Self {
        PlaceId(s)
    }
}

impl From<&str> for PlaceId {
    fn from(s: &str) -> Self {
        PlaceId(s.to_owned())
    }
}

/// An encoded polyline (Google's polyline algorithm), a route's or a step's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Polyline {
    /// The encoded points.
    pub points: String,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn latlng_displays_as_the_shortest_text_that_reads_back() {
        let p = LatLng::new(40.714224, -73.961452);
        assert_eq!(p.to_string(), "40.714224,-73.961452");
        assert_eq!(LatLng::new(1.0, -0.5).to_string(), "1,-0.5");
        // The nearest f64 to 0.1 + 0.2 is not 0.3: its text keeps every digit it needs.
        let odd = LatLng::new(0.1 + 0.2, 1e-7);
        let text = odd.to_string();
        assert_eq!(text, "0.30000000000000004,0.0000001");
        let (lat, lng) = text.split_once(',').unwrap();
        assert_eq!(lat.parse::<f64>().unwrap(), odd.lat);
        assert_eq!(lng.parse::<f64>().unwrap(), odd.lng);
    }

    #[test]
    fn text_value_keeps_unknown_fields_and_refuses_missing_or_repeated_ones() {
        let tv: TextValue =
            serde_json::from_value(json!({"text": "1 km", "value": 1000, "new": [1]})).unwrap();
        assert_eq!((tv.text.as_str(), tv.value), ("1 km", 1000));
        assert_eq!(tv.extra["new"], json!([1]));
        assert_eq!(
            serde_json::to_value(&tv).unwrap(),
            json!({"text": "1 km", "value": 1000, "new": [1]})
        );

        let e = serde_json::from_str::<TextValue>(r#"{"text": "1 km"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `value`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"{"text": "a", "value": 1, "text": "b"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("duplicate field `text`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"{"text": "a", "value": 1, "x": 1, "x": 2}"#)
            .unwrap_err();
        assert!(e.to_string().contains("duplicate field `x`"), "{e}");
    }

    #[test]
    fn text_value_names_the_field_of_a_wrong_type_and_takes_integral_floats() {
        let e = serde_json::from_str::<TextValue>(r#"{"text": "a", "value": "12"}"#).unwrap_err();
        assert!(e.to_string().contains("an integer for `value`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"{"text": 5, "value": 1}"#).unwrap_err();
        assert!(e.to_string().contains("a string for `text`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"{"text": "a", "value": 1.5}"#).unwrap_err();
        assert!(e.to_string().contains("an integer for `value`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"{"text": "a", "value": 1e300}"#).unwrap_err();
        assert!(e.to_string().contains("an integer for `value`"), "{e}");
        let e = serde_json::from_str::<TextValue>(r#"[1, 2]"#).unwrap_err();
        assert!(e.to_string().contains("`text` and `value`"), "{e}");
        let tv: TextValue = serde_json::from_str(r#"{"text": "a", "value": 3600.0}"#).unwrap();
        assert_eq!(tv.value, 3600);
        let e =
            serde_json::from_str::<TextValue>(r#"{"text": "a", "value": 18446744073709551615}"#)
                .unwrap_err();
        assert!(e.to_string().contains("an integer for `value`"), "{e}");
    }

    #[test]
    fn fare_takes_integer_or_float_amounts() {
        let f: Fare = serde_json::from_value(
            json!({"currency": "USD", "text": "$6.00", "value": 6, "unit": "trip"}),
        )
        .unwrap();
        assert_eq!((f.currency.as_str(), f.value), ("USD", 6.0));
        assert_eq!(f.extra["unit"], "trip");
        let f: Fare =
            serde_json::from_str(r#"{"currency": "EUR", "text": "2,50 €", "value": 2.5}"#).unwrap();
        assert_eq!(f.value, 2.5);
        let e = serde_json::from_str::<Fare>(r#"{"currency": "EUR", "value": 2.5}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `text`"), "{e}");
    }

    #[test]
    fn time_value_plus_code_and_polyline_keep_extra_fields() {
        let t: TimeValue = serde_json::from_value(json!({
            "text": "6:38pm", "time_zone": "America/New_York", "value": 1_700_000_000.0, "x": 1
        }))
        .unwrap();
        assert_eq!(t.value, 1_700_000_000);
        assert_eq!(t.extra["x"], 1);
        let pc: PlusCode = serde_json::from_value(json!({"global_code": "849VCWC8+R9"})).unwrap();
        assert_eq!(pc.compound_code, None);
        assert_eq!(
            serde_json::to_value(&pc).unwrap(),
            json!({"global_code": "849VCWC8+R9"})
        );
        let p: Polyline = serde_json::from_value(json!({"points": "a~l~Fjk~uOwHJy@P"})).unwrap();
        assert_eq!(p.points, "a~l~Fjk~uOwHJy@P");
    }

    #[test]
    fn place_id_is_a_bare_string() {
        let id: PlaceId = serde_json::from_str(r#""ChIJ2eUgeAK6j4ARbn5u_wAGqWA""#).unwrap();
        assert_eq!(id.as_str(), "ChIJ2eUgeAK6j4ARbn5u_wAGqWA");
        assert_eq!(id, PlaceId::from("ChIJ2eUgeAK6j4ARbn5u_wAGqWA"));
        assert_eq!(id.to_string(), "ChIJ2eUgeAK6j4ARbn5u_wAGqWA");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""ChIJ2eUgeAK6j4ARbn5u_wAGqWA""#
        );
    }
}
