//! Google's own sample answers against the typed models: every file of
//! `fixtures/google-maps/responses/` and every example the OpenAPI spec embeds for the APIs we
//! model parses into its type, writes back exactly the JSON it came from (nothing lost,
//! nothing invented), and carries the values the sample shows.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use switchboard::google_maps::{
    AutocompleteResponse, DirectionsResponse, DistanceMatrixResponse, FindPlaceResponse,
    GeocodeResponse, LatLng, LocationType, MapsStatus, PlaceDetailsResponse, PlacesSearchResponse,
    TimeZoneResponse,
};

use crate::support::shared_dir;

fn fixtures_dir() -> PathBuf {
    shared_dir().join("fixtures/google-maps/responses")
}

fn spec_path() -> PathBuf {
    shared_dir().join("specs/google-maps/google-maps-platform-openapi3.json")
}

/// The API a sample answers, so the model it must parse into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Api {
    Geocode,
    PlaceDetails,
    PlacesSearch,
    FindPlace,
    Autocomplete,
    DistanceMatrix,
    Directions,
    TimeZone,
}

/// The API of a fixture file, from its name (`maps_http_<api>_..._response.json`).
fn api_of_file(name: &str) -> Option<Api> {
    if name.contains("_places_details_") {
        Some(Api::PlaceDetails)
    } else if name.contains("_places_nearbysearch_") || name.contains("_places_textsearch_") {
        Some(Api::PlacesSearch)
    } else if name.contains("_places_findplacefromtext_") {
        Some(Api::FindPlace)
    } else if name.contains("_distancematrix_") {
        Some(Api::DistanceMatrix)
    } else if name.contains("_geocode_") {
        Some(Api::Geocode)
    } else {
        None
    }
}

/// The API of a spec path whose examples we check.
fn api_of_path(path: &str) -> Option<Api> {
    Some(match path {
        "/maps/api/geocode/json" => Api::Geocode,
        "/maps/api/place/details/json" => Api::PlaceDetails,
        "/maps/api/place/nearbysearch/json" | "/maps/api/place/textsearch/json" => {
            Api::PlacesSearch
        }
        "/maps/api/place/findplacefromtext/json" => Api::FindPlace,
        "/maps/api/place/autocomplete/json" | "/maps/api/place/queryautocomplete/json" => {
            Api::Autocomplete
        }
        "/maps/api/distancematrix/json" => Api::DistanceMatrix,
        "/maps/api/directions/json" => Api::Directions,
        "/maps/api/timezone/json" => Api::TimeZone,
        _ => return None,
    })
}

/// Where `a` (the sample) and `b` (the model written back) differ, as a JSON pointer and what
/// differs. Numbers compare by value: a typed `f64` writes the sample's `4` back as `4.0`.
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let here = format!("{at}/{k}");
                match b.get(k) {
                    None => return Some(format!("{here}: lost")),
                    Some(vb) => {
                        if let Some(d) = first_difference(va, vb, &here) {
                            return Some(d);
                        }
                    }
                }
            }
            b.keys()
                .find(|k| !a.contains_key(*k))
                .map(|k| format!("{at}/{k}: invented ({})", b[k]))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{at}: {} items became {}", a.len(), b.len()));
            }
            a.iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{at}/{i}")))
        }
        (Value::Number(x), Value::Number(y)) => {
            let same = match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                _ => x.as_f64() == y.as_f64(),
            };
            (!same).then(|| format!("{at}: {x} became {y}"))
        }
        _ => (a != b).then(|| format!("{at}: {a} became {b}")),
    }
}

/// Parses `bytes` into `T` (straight from the bytes, as the client does), writes it back and
/// compares with the sample.
fn round_trip<T: DeserializeOwned + Serialize>(label: &str, bytes: &[u8]) -> T {
    let original: Value =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{label}: not JSON: {e}"));
    let typed: T = switchboard::decode_json(bytes)
        .unwrap_or_else(|e| panic!("{label}: does not parse into its model: {e}"));
    let back = serde_json::to_value(&typed).expect("a model serializes");
    if let Some(diff) = first_difference(&original, &back, "") {
        panic!("{label}: the model does not write back the sample: {diff}");
    }
    typed
}

/// A parsed sample, for the per-API checks.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Geocode(GeocodeResponse),
    PlaceDetails(PlaceDetailsResponse),
    PlacesSearch(PlacesSearchResponse),
    FindPlace(FindPlaceResponse),
    Autocomplete(AutocompleteResponse),
    DistanceMatrix(DistanceMatrixResponse),
    Directions(DirectionsResponse),
    TimeZone(TimeZoneResponse),
}

impl Parsed {
    fn status(&self) -> &MapsStatus {
        match self {
            Parsed::Geocode(r) => &r.status,
            Parsed::PlaceDetails(r) => &r.status,
            Parsed::PlacesSearch(r) => &r.status,
            Parsed::FindPlace(r) => &r.status,
            Parsed::Autocomplete(r) => &r.status,
            Parsed::DistanceMatrix(r) => &r.status,
            Parsed::Directions(r) => &r.status,
            Parsed::TimeZone(r) => &r.status,
        }
    }

    fn error_message(&self) -> Option<&str> {
        match self {
            Parsed::Geocode(r) => r.error_message.as_deref(),
            Parsed::PlaceDetails(r) => r.error_message.as_deref(),
            Parsed::PlacesSearch(r) => r.error_message.as_deref(),
            Parsed::FindPlace(r) => r.error_message.as_deref(),
            Parsed::Autocomplete(r) => r.error_message.as_deref(),
            Parsed::DistanceMatrix(r) => r.error_message.as_deref(),
            Parsed::Directions(r) => r.error_message.as_deref(),
            Parsed::TimeZone(r) => r.error_message.as_deref(),
        }
    }
}

fn parse(api: Api, label: &str, bytes: &[u8]) -> Parsed {
    match api {
        Api::Geocode => Parsed::Geocode(round_trip(label, bytes)),
        Api::PlaceDetails => Parsed::PlaceDetails(round_trip(label, bytes)),
        Api::PlacesSearch => Parsed::PlacesSearch(round_trip(label, bytes)),
        Api::FindPlace => Parsed::FindPlace(round_trip(label, bytes)),
        Api::Autocomplete => Parsed::Autocomplete(round_trip(label, bytes)),
        Api::DistanceMatrix => Parsed::DistanceMatrix(round_trip(label, bytes)),
        Api::Directions => Parsed::Directions(round_trip(label, bytes)),
        Api::TimeZone => Parsed::TimeZone(round_trip(label, bytes)),
    }
}

/// Every fixture file, parsed and checked, by file name.
fn fixtures() -> BTreeMap<String, Parsed> {
    let dir = fixtures_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (wrong SWITCHBOARD_SHARED_DIR?): {e}",
            dir.display()
        )
    });
    let mut out = BTreeMap::new();
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        let api = api_of_file(&name).unwrap_or_else(|| panic!("{name}: matches no model"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        out.insert(name.clone(), parse(api, &name, &bytes));
    }
    out
}

/// The samples that are not `OK`: file, status, and the start of the message.
const ERROR_SAMPLES: &[(&str, MapsStatus, Option<&str>)] = &[
    (
        "maps_http_geocode_invalid_place_response.json",
        MapsStatus::InvalidRequest,
        Some("Invalid request. Invalid 'place_id' parameter."),
    ),
    (
        "maps_http_geocode_invalid_request_response.json",
        MapsStatus::InvalidRequest,
        Some("Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id'"),
    ),
    (
        "maps_http_geocode_zero_results_response.json",
        MapsStatus::ZeroResults,
        None,
    ),
    (
        "maps_http_geocode_components_zero_results_response.json",
        MapsStatus::ZeroResults,
        None,
    ),
    (
        "maps_http_places_findplacefromtext_error_response.json",
        MapsStatus::InvalidRequest,
        Some("Error while parsing 'fields' parameter: Unsupported field name 'invalid'."),
    ),
    (
        "maps_http_distancematrix_encoded_error_response.json",
        MapsStatus::InvalidRequest,
        Some("Invalid request. Invalid 'destinations' parameter."),
    ),
    // A second page asked for with a token too young (or too old): refused, without message.
    (
        "maps_http_places_textsearch_pagetoken_response.json",
        MapsStatus::InvalidRequest,
        None,
    ),
];

/// Whether a file's name says it is an error answer.
fn looks_like_an_error_sample(name: &str) -> bool {
    (name.contains("_invalid_") || name.contains("_error_") || name.contains("zero_results"))
        && !name.contains("_fixed_")
}

#[test]
fn every_fixture_parses_into_its_model_and_writes_back_the_same_json() {
    let all = fixtures();
    // Counted, so a missing or emptied folder fails instead of passing on nothing.
    let mut per_api = BTreeMap::<&str, usize>::new();
    for p in all.values() {
        let api = match p {
            Parsed::Geocode(_) => "geocode",
            Parsed::PlaceDetails(_) => "place details",
            Parsed::PlacesSearch(_) => "places search",
            Parsed::FindPlace(_) => "find place",
            Parsed::DistanceMatrix(_) => "distance matrix",
            _ => "other",
        };
        *per_api.entry(api).or_default() += 1;
    }
    assert_eq!(all.len(), 44, "fixture files: {per_api:?}");
    assert_eq!(
        per_api,
        BTreeMap::from([
            ("distance matrix", 13),
            ("find place", 4),
            ("geocode", 16),
            ("place details", 4),
            ("places search", 7),
        ])
    );
    // Every other sample is a success without an error message.
    for (name, p) in &all {
        if !ERROR_SAMPLES.iter().any(|(n, _, _)| n == name) {
            assert_eq!(p.status(), &MapsStatus::Ok, "{name}");
            assert_eq!(p.error_message(), None, "{name}");
        }
    }
}

#[test]
fn error_samples_carry_their_status_and_message() {
    let all = fixtures();
    for name in all.keys().filter(|n| looks_like_an_error_sample(n)) {
        assert!(
            ERROR_SAMPLES.iter().any(|(n, _, _)| n == name),
            "{name}: an error sample without an expected status below"
        );
    }
    for (name, status, message) in ERROR_SAMPLES {
        let p = all
            .get(*name)
            .unwrap_or_else(|| panic!("{name}: not in the fixtures"));
        assert_eq!(p.status(), status, "{name}");
        match message {
            Some(m) => assert!(
                p.error_message().is_some_and(|e| e.starts_with(m)),
                "{name}: {:?}",
                p.error_message()
            ),
            None => assert_eq!(p.error_message(), None, "{name}"),
        }
        match p {
            Parsed::Geocode(g) => assert!(g.results.is_empty(), "{name}"),
            Parsed::FindPlace(f) => assert!(f.candidates.is_empty(), "{name}"),
            Parsed::PlacesSearch(s) => assert!(s.results.is_empty(), "{name}"),
            Parsed::DistanceMatrix(m) => {
                assert!(m.rows.is_empty() && m.origin_addresses.is_empty(), "{name}")
            }
            _ => unreachable!("{name}: no error sample of this API"),
        }
    }
}

#[test]
fn geocode_samples_carry_their_values() {
    let all = fixtures();
    let Parsed::Geocode(g) = &all["maps_http_geocode_response.json"] else {
        unreachable!()
    };
    let r = &g.results[0];
    assert_eq!(r.place_id.as_str(), "ChIJj38IfwK6j4ARNcyPDnEGa9g");
    assert_eq!(r.geometry.location, LatLng::new(37.422388, -122.0841883));
    assert_eq!(r.geometry.location.to_string(), "37.422388,-122.0841883");
    assert_eq!(r.geometry.location_type, Some(LocationType::Rooftop));
    assert_eq!(r.component("postal_code").unwrap().long_name, "94043");
    assert_eq!(
        r.formatted_address,
        "Google Building 40, 1600 Amphitheatre Pkwy, Mountain View, CA 94043, USA"
    );

    let Parsed::Geocode(g) = &all["maps_http_geocode_postcode_localities_response.json"] else {
        unreachable!()
    };
    assert_eq!(g.results[0].postcode_localities, ["Emeryville", "Oakland"]);

    let Parsed::Geocode(g) = &all["maps_http_geocode_reverse_response.json"] else {
        unreachable!()
    };
    assert_eq!(g.results.len(), 13);
    let pc = g
        .plus_code
        .as_ref()
        .expect("a reverse geocode names the point's plus code");
    assert_eq!(pc.global_code.as_deref(), Some("87G8P27Q+MCM"));

    let Parsed::Geocode(g) = &all["maps_http_geocode_components_zero_results_fixed_response.json"]
    else {
        unreachable!()
    };
    assert_eq!((&g.status, g.results.len()), (&MapsStatus::Ok, 1));
}

#[test]
fn places_samples_carry_their_values() {
    let all = fixtures();
    let Parsed::PlaceDetails(d) = &all["maps_http_places_details_response.json"] else {
        unreachable!()
    };
    let p = d.result.as_ref().unwrap();
    assert_eq!(
        p.place_id.as_ref().unwrap().as_str(),
        "ChIJN1t_tDeuEmsRUsoyG83frY4"
    );
    assert_eq!(p.name.as_deref(), Some("Google Workplace 6"));
    assert_eq!((p.rating, p.user_ratings_total), (Some(4.0), Some(939)));
    assert_eq!(p.utc_offset, Some(600));
    assert_eq!((p.reviews.len(), p.photos.len()), (5, 10));
    assert_eq!(
        p.geometry.as_ref().unwrap().location,
        LatLng::new(-33.866489, 151.1958561)
    );
    assert_eq!(p.geometry.as_ref().unwrap().location_type, None);
    let first = &p.opening_hours.as_ref().unwrap().periods[0];
    assert_eq!((first.open.day, first.open.time.as_str()), (1, "0900"));
    assert_eq!(first.close.as_ref().unwrap().time, "1700");

    let Parsed::PlaceDetails(d) = &all["maps_http_places_details_always_open_response.json"] else {
        unreachable!()
    };
    let hours = d.result.as_ref().unwrap().opening_hours.as_ref().unwrap();
    assert_eq!(hours.periods.len(), 1);
    assert_eq!(hours.periods[0].close, None);
    assert_eq!(hours.weekday_text[0], "Monday: Open 24 hours");

    let Parsed::PlacesSearch(s) = &all["maps_http_places_textsearch_response.json"] else {
        unreachable!()
    };
    assert_eq!(s.results.len(), 20);
    assert!(s
        .next_page_token
        .as_deref()
        .is_some_and(|t| t.starts_with("Aap_uEAHsgFErpxZrytW1mgKsefD32")));
    assert_eq!(s.results[0].name.as_deref(), Some("Aria Restaurant Sydney"));

    let Parsed::PlacesSearch(s) = &all["maps_http_places_nearbysearch_response.json"] else {
        unreachable!()
    };
    assert_eq!(s.results.len(), 13);
    assert_eq!(
        s.results[0].place_id.as_ref().unwrap().as_str(),
        "ChIJi6C1MxquEmsR9-c-3O48ykI"
    );

    let Parsed::FindPlace(f) =
        &all["maps_http_places_findplacefromtext_locationbias_response.json"]
    else {
        unreachable!()
    };
    let c = &f.candidates[0];
    assert_eq!(c.name.as_deref(), Some("Mongolian Grill Kirkland"));
    assert_eq!(c.rating, Some(4.5));
    assert_eq!(c.opening_hours.as_ref().unwrap().open_now, Some(true));
}

#[test]
fn distance_matrix_samples_carry_their_values() {
    let all = fixtures();
    let Parsed::DistanceMatrix(m) = &all["maps_http_distancematrix_response.json"] else {
        unreachable!()
    };
    assert_eq!(
        m.origin_addresses,
        ["Boston, MA, USA", "Charlestown, Boston, MA, USA"]
    );
    assert_eq!(
        m.destination_addresses,
        ["Lexington, MA, USA", "Concord, MA, USA"]
    );
    let e = m.element(0, 0).unwrap();
    assert_eq!(e.status, MapsStatus::Ok);
    assert_eq!(e.distance.as_ref().unwrap().value, 33253);
    assert_eq!(e.distance.as_ref().unwrap().text, "33.3 km");
    assert_eq!(e.duration.as_ref().unwrap().value, 1620);
    assert_eq!(e.duration_in_traffic.as_ref().unwrap().value, 2019);
    assert_eq!(
        m.element(1, 1).unwrap().distance.as_ref().unwrap().value,
        39338
    );
    assert!(m.element(2, 0).is_none());
    // Every element of every success sample is OK with a distance, or says why not.
    for (name, p) in &all {
        if let Parsed::DistanceMatrix(m) = p {
            for row in &m.rows {
                assert_eq!(row.elements.len(), m.destination_addresses.len(), "{name}");
                for e in &row.elements {
                    assert_eq!(e.status == MapsStatus::Ok, e.distance.is_some(), "{name}");
                }
            }
        }
    }
}

/// Every example the spec embeds for an API we model, parsed and written back.
fn spec_examples() -> Vec<(String, Parsed)> {
    let bytes = std::fs::read(spec_path()).expect("the Google Maps spec");
    let spec: Value = serde_json::from_slice(&bytes).expect("the spec is JSON");
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        let Some(api) = api_of_path(path) else {
            continue;
        };
        let examples = item
            .pointer("/get/responses/200/content/application~1json/examples")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{path}: no examples"));
        for (name, example) in examples {
            let label = format!("{path} {name}");
            let bytes = serde_json::to_vec(&example["value"]).unwrap();
            out.push((label.clone(), parse(api, &label, &bytes)));
        }
    }
    out
}

#[test]
fn every_spec_example_parses_into_its_model_and_writes_back_the_same_json() {
    let all = spec_examples();
    let count = |f: fn(&Parsed) -> bool| all.iter().filter(|(_, p)| f(p)).count();
    assert_eq!(count(|p| matches!(p, Parsed::Directions(_))), 19);
    assert_eq!(count(|p| matches!(p, Parsed::TimeZone(_))), 5);
    assert_eq!(count(|p| matches!(p, Parsed::Autocomplete(_))), 3);
    assert_eq!(count(|p| matches!(p, Parsed::Geocode(_))), 16);
    assert_eq!(count(|p| matches!(p, Parsed::DistanceMatrix(_))), 6);
    assert_eq!(count(|p| matches!(p, Parsed::PlaceDetails(_))), 4);
    assert_eq!(count(|p| matches!(p, Parsed::PlacesSearch(_))), 5);
    assert_eq!(count(|p| matches!(p, Parsed::FindPlace(_))), 4);
    assert_eq!(all.len(), 62);
}

#[test]
fn directions_examples_carry_their_values() {
    let all: BTreeMap<String, Parsed> = spec_examples().into_iter().collect();
    let get = |name: &str| match &all[&format!("/maps/api/directions/json {name}")] {
        Parsed::Directions(d) => d,
        _ => unreachable!(),
    };

    let d = get("waypoints_optimize_response");
    assert_eq!(d.status, MapsStatus::Ok);
    assert_eq!(d.routes[0].summary, "M2");
    assert_eq!(d.routes[0].visit_order(), [3, 2, 0, 1]);
    assert_eq!(d.geocoded_waypoints.len(), 6);
    assert_eq!(d.routes[0].legs[0].distance.as_ref().unwrap().value, 39789);

    let d = get("brooklyn_queens_transit_response");
    let leg = &d.routes[0].legs[0];
    assert_eq!(leg.start_address, "Brooklyn, NY, USA");
    let dep = leg.departure_time.as_ref().unwrap();
    assert_eq!(
        (dep.value, dep.time_zone.as_str()),
        (1652911733, "America/New_York")
    );
    assert_eq!(leg.arrival_time.as_ref().unwrap().text, "7:07pm");
    let transit = leg
        .steps
        .iter()
        .find(|s| s.travel_mode.as_deref() == Some("TRANSIT"))
        .unwrap();
    assert!(transit.extra.contains_key("transit_details"));
    let walk = leg.steps.iter().find(|s| !s.steps.is_empty()).unwrap();
    assert_eq!(walk.travel_mode.as_deref(), Some("WALKING"));

    let d = get("boston_concord_waypoints_now_response");
    let traffic = d.routes[0].legs[0].duration_in_traffic.as_ref().unwrap();
    assert_eq!(traffic.value, 3172);

    let d = get("brooklyn_queens_transit_departure_time_response");
    assert_eq!(d.status, MapsStatus::ZeroResults);
    assert_eq!(
        d.available_travel_modes,
        ["DRIVING", "WALKING", "BICYCLING"]
    );

    let d = get("invalid_response");
    assert_eq!(d.status, MapsStatus::InvalidRequest);
    assert_eq!(
        d.error_message.as_deref(),
        Some("Invalid request. Missing the 'origin' parameter.")
    );
    assert!(d.routes.is_empty());
}

#[test]
fn timezone_and_autocomplete_examples_carry_their_values() {
    let all: BTreeMap<String, Parsed> = spec_examples().into_iter().collect();
    let tz = |name: &str| match &all[&format!("/maps/api/timezone/json {name}")] {
        Parsed::TimeZone(t) => t,
        _ => unreachable!(),
    };
    let t = tz("timezone_dstoffset");
    assert_eq!((t.raw_offset, t.dst_offset), (Some(-28800), Some(3600)));
    assert_eq!(t.utc_offset_secs(), Some(-25200));
    assert_eq!(t.time_zone_id.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(t.time_zone_name.as_deref(), Some("Pacific Daylight Time"));
    assert_eq!(tz("timezone").utc_offset_secs(), Some(-28800));
    let t = tz("timezone_request_denied_response");
    assert_eq!(t.status, MapsStatus::RequestDenied);
    assert!(t
        .error_message
        .as_deref()
        .is_some_and(|m| m.starts_with("You must use an API key")));
    assert_eq!(tz("timezone_not_found").status, MapsStatus::ZeroResults);
    assert_eq!(tz("timezone_invalid").status, MapsStatus::InvalidRequest);

    let Parsed::Autocomplete(a) = &all["/maps/api/place/autocomplete/json paris"] else {
        unreachable!()
    };
    let p = &a.predictions[0];
    assert_eq!(p.description, "Paris, France");
    assert_eq!(
        p.place_id.as_ref().unwrap().as_str(),
        "ChIJD7fiBh9u5kcRYJSMaMOCCwQ"
    );
    assert_eq!(p.terms[1].value, "France");
    let Parsed::Autocomplete(a) = &all["/maps/api/place/queryautocomplete/json pizza"] else {
        unreachable!()
    };
    assert_eq!(a.predictions.len(), 5);
}
