//! The Distance Matrix answer: one row per origin, one element per destination.
//!
//! A 25 x 25 answer is 625 elements of small objects; these types deserialize by hand (see
//! `de.rs`), in about half the time of a `Value` parse of the same bytes.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Fare, FareField, TextValue, TextValueField};
use super::de::{self as helpers, keys, Opt, Str};
use super::status::MapsStatus;

/// The answer of `GET /maps/api/distancematrix/json`.
///
/// A failed call (with HTTP 200) has a non-success `status`, usually an `error_message`, and
/// empty lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DistanceMatrixResponse {
    /// The origins as Google geocoded them, in request order.
    pub origin_addresses: Vec<String>,
    /// The destinations as Google geocoded them, in request order.
    pub destination_addresses: Vec<String>,
    /// One row per origin.
    pub rows: Vec<DistanceMatrixRow>,
    /// Whether the call worked.
    pub status: MapsStatus,
    /// Why it did not, when Google says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DistanceMatrixResponse {
    /// The element from origin `origin` to destination `destination` (request order), if the
    /// answer has it.
    pub fn element(&self, origin: usize, destination: usize) -> Option<&DistanceMatrixElement> {
        self.rows.get(origin)?.elements.get(destination)
    }
}

/// One origin's row: an element per destination.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DistanceMatrixRow {
    /// One element per destination, in request order.
    pub elements: Vec<DistanceMatrixElement>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One origin-destination pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DistanceMatrixElement {
    /// `OK`, `NOT_FOUND` (an end could not be geocoded), `ZERO_RESULTS` (no route), or
    /// `MAX_ROUTE_LENGTH_EXCEEDED`.
    pub status: MapsStatus,
    /// The route's length in metres.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<TextValue>,
    /// The travel time in seconds, without traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<TextValue>,
    /// The travel time with traffic (driving with a departure time, on plans that have it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_in_traffic: Option<TextValue>,
    /// The transit fare, where Google knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fare: Option<Fare>,
    /// Every field not named above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

keys!(ResponseKey {
    OriginAddresses => "origin_addresses",
    DestinationAddresses => "destination_addresses",
    Rows => "rows",
    Status => "status",
    ErrorMessage => "error_message",
});

impl<'de> Deserialize<'de> for DistanceMatrixResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistanceMatrixResponse;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Distance Matrix answer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut origins, mut destinations, mut rows) = (None, None, None);
                let (mut status, mut error_message) = (None, None);
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<ResponseKey>()? {
                    match key {
                        ResponseKey::OriginAddresses => {
                            helpers::once(&mut origins, "origin_addresses", map.next_value()?)?
                        }
                        ResponseKey::DestinationAddresses => helpers::once(
                            &mut destinations,
                            "destination_addresses",
                            map.next_value()?,
                        )?,
                        ResponseKey::Rows => {
                            helpers::once(&mut rows, "rows", map.next_value::<Rows>()?.0)?
                        }
                        ResponseKey::Status => {
                            helpers::once(&mut status, "status", map.next_value()?)?
                        }
                        ResponseKey::ErrorMessage => helpers::once(
                            &mut error_message,
                            "error_message",
                            map.next_value_seed(Opt(Str("error_message")))?,
                        )?,
                        ResponseKey::Other(k) => helpers::keep(&mut extra, k, map.next_value()?)?,
                    }
                }
                Ok(DistanceMatrixResponse {
                    origin_addresses: origins.unwrap_or_default(),
                    destination_addresses: destinations.unwrap_or_default(),
                    rows: rows.unwrap_or_default(),
                    status: status.ok_or_else(|| de::Error::missing_field("status"))?,
                    error_message: error_message.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The `rows` list, read element by element with the length hint as capacity.
struct Rows(Vec<DistanceMatrixRow>);

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(SeqOf::<DistanceMatrixRow>::new("rows"))
            .map(Rows)
    }
}

/// A list of `T`, named in the error when the value is not a list.
struct SeqOf<T> {
    field: &'static str,
    item: std::marker::PhantomData<T>,
}

impl<T> SeqOf<T> {
    fn new(field: &'static str) -> Self {
        SeqOf {
            field,
            item: std::marker::PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqOf<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list for `{}`", self.field)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        // The hint is the parser's guess (serde_json gives none); cap it so a hostile hint
        // cannot reserve much.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }
}

keys!(RowKey { Elements => "elements" });

impl<'de> Deserialize<'de> for DistanceMatrixRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistanceMatrixRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Distance Matrix row object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut elements = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<RowKey>()? {
                    match key {
                        RowKey::Elements => helpers::once(
                            &mut elements,
                            "elements",
                            map.next_value::<Elements>()?.0,
                        )?,
                        RowKey::Other(k) => helpers::keep(&mut extra, k, map.next_value()?)?,
                    }
                }
                Ok(DistanceMatrixRow {
                    elements: elements.ok_or_else(|| de::Error::missing_field("elements"))?,
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The `elements` list of a row.
struct Elements(Vec<DistanceMatrixElement>);

impl<'de> Deserialize<'de> for Elements {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(SeqOf::<DistanceMatrixElement>::new("elements"))
            .map(Elements)
    }
}

keys!(ElementKey {
    Status => "status",
    Distance => "distance",
    Duration => "duration",
    DurationInTraffic => "duration_in_traffic",
    Fare => "fare",
});

impl<'de> Deserialize<'de> for DistanceMatrixElement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistanceMatrixElement;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Distance Matrix element object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let (mut status, mut distance, mut duration) = (None, None, None);
                let (mut in_traffic, mut fare) = (None, None);
                let mut extra = Map::new();
                while let Some(key) = map.next_key::<ElementKey>()? {
                    match key {
                        ElementKey::Status => {
                            helpers::once(&mut status, "status", map.next_value()?)?
                        }
                        ElementKey::Distance => helpers::once(
                            &mut distance,
                            "distance",
                            map.next_value_seed(Opt(TextValueField("distance")))?,
                        )?,
                        ElementKey::Duration => helpers::once(
                            &mut duration,
                            "duration",
                            map.next_value_seed(Opt(TextValueField("duration")))?,
                        )?,
                        ElementKey::DurationInTraffic => helpers::once(
                            &mut in_traffic,
                            "duration_in_traffic",
                            map.next_value_seed(Opt(TextValueField("duration_in_traffic")))?,
                        )?,
                        ElementKey::Fare => helpers::once(
                            &mut fare,
                            "fare",
                            map.next_value_seed(Opt(FareField("fare")))?,
                        )?,
                        ElementKey::Other(k) => helpers::keep(&mut extra, k, map.next_value()?)?,
                    }
                }
                Ok(DistanceMatrixElement {
                    status: status.ok_or_else(|| de::Error::missing_field("status"))?,
                    distance: distance.flatten(),
                    duration: duration.flatten(),
                    duration_in_traffic: in_traffic.flatten(),
                    fare: fare.flatten(),
                    extra,
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "destination_addresses": ["Lexington, MA, USA", "Concord, MA, USA"],
            "origin_addresses": ["Boston, MA, USA"],
            "rows": [{"elements": [
                {"distance": {"text": "33.3 km", "value": 33253},
                 "duration": {"text": "27 mins", "value": 1620},
                 "duration_in_traffic": {"text": "34 mins", "value": 2019},
                 "fare": {"currency": "USD", "text": "$6.00", "value": 6},
                 "status": "OK"},
                {"status": "NOT_FOUND"}
            ]}],
            "status": "OK"
        })
    }

    #[test]
    fn reads_elements_and_finds_them_by_origin_and_destination() {
        let text = sample().to_string();
        let m: DistanceMatrixResponse = serde_json::from_str(&text).unwrap();
        assert_eq!(m.status, MapsStatus::Ok);
        assert_eq!(m.origin_addresses, ["Boston, MA, USA"]);
        let e = m.element(0, 0).unwrap();
        assert_eq!(e.distance.as_ref().unwrap().value, 33253);
        assert_eq!(e.duration_in_traffic.as_ref().unwrap().text, "34 mins");
        assert_eq!(e.fare.as_ref().unwrap().value, 6.0);
        let missing = m.element(0, 1).unwrap();
        assert_eq!(missing.status, MapsStatus::NotFound);
        assert_eq!(
            (missing.distance.as_ref(), missing.duration.as_ref()),
            (None, None)
        );
        assert!(m.element(1, 0).is_none() && m.element(0, 2).is_none());
    }

    #[test]
    fn unknown_fields_at_every_level_are_kept_and_written_back() {
        let mut v = sample();
        v["new_top"] = json!({"a": 1});
        v["rows"][0]["row_note"] = json!("r");
        v["rows"][0]["elements"][0]["toll"] = json!(true);
        v["rows"][0]["elements"][0]["distance"]["unit"] = json!("metric");
        let m: DistanceMatrixResponse = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(m.extra["new_top"], json!({"a": 1}));
        assert_eq!(m.rows[0].extra["row_note"], "r");
        let e = m.element(0, 0).unwrap();
        assert_eq!(e.extra["toll"], true);
        assert_eq!(e.distance.as_ref().unwrap().extra["unit"], "metric");
        let mut back = serde_json::to_value(&m).unwrap();
        // The fare was an integer; the typed amount is an f64.
        assert_eq!(back["rows"][0]["elements"][0]["fare"]["value"], json!(6.0));
        back["rows"][0]["elements"][0]["fare"]["value"] = json!(6);
        assert_eq!(back, v);
    }

    #[test]
    fn an_error_answer_without_lists_parses_with_empty_lists() {
        let m: DistanceMatrixResponse = serde_json::from_str(
            r#"{"status": "REQUEST_DENIED", "error_message": "The provided API key is invalid."}"#,
        )
        .unwrap();
        assert_eq!(m.status, MapsStatus::RequestDenied);
        assert_eq!(
            m.error_message.as_deref(),
            Some("The provided API key is invalid.")
        );
        assert!(m.rows.is_empty() && m.origin_addresses.is_empty());
        let m: DistanceMatrixResponse = serde_json::from_str(
            r#"{"status": "SOMETHING_NEW", "rows": [], "error_message": null}"#,
        )
        .unwrap();
        assert_eq!(m.status, MapsStatus::Other("SOMETHING_NEW".into()));
        assert_eq!(m.error_message, None);
    }

    fn parse_err(v: Value) -> String {
        serde_json::from_str::<DistanceMatrixResponse>(&v.to_string())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_elements_are_errors_naming_the_field() {
        let mut v = sample();
        v["rows"][0]["elements"][0]["distance"]["value"] = json!("33 km");
        assert!(parse_err(v).contains("an integer for `value`"));

        let mut v = sample();
        v["rows"][0]["elements"][0]["distance"] = json!("33 km");
        assert!(parse_err(v).contains("`text` and `value` for `distance`"));

        let mut v = sample();
        v["rows"][0]["elements"][0]["duration"]
            .as_object_mut()
            .unwrap()
            .remove("text");
        assert!(parse_err(v).contains("missing field `text`"));

        let mut v = sample();
        v["rows"][0]["elements"][1] = json!({"distance": {"text": "1 m", "value": 1}});
        assert!(parse_err(v).contains("missing field `status`"));

        let mut v = sample();
        v["rows"][0]["elements"][1]["status"] = json!(7);
        assert!(parse_err(v).contains("status"));

        let mut v = sample();
        v["rows"][0]["elements"][0]["fare"]["value"] = json!("six");
        assert!(parse_err(v).contains("a number for `value`"));

        let mut v = sample();
        v["rows"][0]["elements"] = json!({"0": {}});
        assert!(parse_err(v).contains("a list for `elements`"));

        let mut v = sample();
        v["rows"][0].as_object_mut().unwrap().remove("elements");
        assert!(parse_err(v).contains("missing field `elements`"));

        let mut v = sample();
        v.as_object_mut().unwrap().remove("status");
        assert!(parse_err(v).contains("missing field `status`"));
    }

    #[test]
    fn repeated_keys_are_errors() {
        let text = r#"{"status": "OK", "rows": [{"elements": [
            {"status": "OK", "distance": {"text": "1 m", "value": 1}, "distance": null}
        ]}]}"#;
        let e = serde_json::from_str::<DistanceMatrixResponse>(text).unwrap_err();
        assert!(e.to_string().contains("duplicate field `distance`"), "{e}");
        let e =
            serde_json::from_str::<DistanceMatrixResponse>(r#"{"status": "OK", "status": "OK"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("duplicate field `status`"), "{e}");
    }

    #[test]
    fn wrong_types_anywhere_are_errors_not_panics() {
        for text in [
            "null",
            "[]",
            "\"OK\"",
            "{\"status\": null}",
            "{\"status\": \"OK\", \"rows\": null}",
            "{\"status\": \"OK\", \"rows\": [null]}",
            "{\"status\": \"OK\", \"rows\": [{\"elements\": [null]}]}",
            "{\"status\": \"OK\", \"rows\": [{\"elements\": [[]]}]}",
            "{\"status\": \"OK\", \"origin_addresses\": [1]}",
            "{\"status\": \"OK\", \"error_message\": 1}",
            "{\"status\": \"OK\", \"rows\": [{\"elements\": [{\"status\": \"OK\", \"fare\": []}]}]}",
            "{\"status\": \"OK\", \"rows\": [{\"elements\": [{\"status\": \"OK\", \"distance\": {\"text\": \"a\", \"value\": -1.5}}]}]}",
            "{\"status\": \"OK\", \"rows\": [{\"elements\": [{\"status\": \"OK\"",
        ] {
            assert!(
                serde_json::from_str::<DistanceMatrixResponse>(text).is_err(),
                "{text}"
            );
        }
        // `null` for an optional object is its absence.
        let m: DistanceMatrixResponse = serde_json::from_str(
            r#"{"status": "OK", "rows": [{"elements": [{"status": "OK", "fare": null}]}]}"#,
        )
        .unwrap();
        assert_eq!(m.element(0, 0).unwrap().fare, None);
    }

    #[test]
    fn a_decode_through_the_pipeline_points_at_the_field() {
        let mut v = sample();
        v["rows"][0]["elements"][1] =
            json!({"status": "OK", "duration": {"text": "1", "value": true}});
        let e = crate::decode_json::<DistanceMatrixResponse>(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.pointer, "/rows/0/elements/1/duration/value", "{e}");
        assert!(e.reason.contains("an integer for `value`"), "{e}");
    }
}
