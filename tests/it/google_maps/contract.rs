//! The contract: Prism serving Google's own OpenAPI spec
//! (`specs/google-maps/google-maps-platform-openapi3.json`) with `--errors`, so a request that
//! breaks the spec (a missing required parameter, a value outside an enum, no key) is refused
//! and the test fails. Every call the connector makes goes through it, and its answers (the
//! spec's examples) decode into the typed models. One negative test shows the harness
//! catches a violation.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use switchboard::auth::QueryKey;
use switchboard::google_maps::{
    Autocomplete, Avoid, Departure, FindPlace, Geocode, GetDirections, GetDistanceMatrix,
    GetPlaceDetails, GetTimeZone, GoogleMapsClient, GoogleMapsConnector, LatLng, ReverseGeocode,
    SearchNearby, SearchText, SessionToken, TrafficModel, TravelMode, Units,
};

use switchboard::test_util::prism::{violations, Prism, PrismOptions};
use switchboard::ProviderError;

use crate::support::{recording_builder, shared_dir};

fn prism() -> &'static Prism {
    Prism::shared(&PrismOptions::new(
        shared_dir().join("specs/google-maps/google-maps-platform-openapi3.json"),
    ))
}

/// (path, status, `sl-violations`) of every answer Prism gave.
type Answers = crate::support::PrismAnswers;

fn client() -> (GoogleMapsClient, Answers) {
    let (sb, answers) = recording_builder();
    let sb = sb.build().unwrap();
    let conn = sb
        .connection(GoogleMapsConnector::new())
        .tenant("acme")
        .id("maps")
        .base_url(prism().base_url())
        .auth(Arc::new(QueryKey::new("key", "prism-key-0000000000000")))
        .build()
        .unwrap();
    (GoogleMapsClient::from_connection(conn).unwrap(), answers)
}

fn accepted<T>(
    what: &str,
    result: Result<T, switchboard::google_maps::GoogleMapsError>,
    answers: &Answers,
) {
    let last = answers.lock().unwrap().last().cloned();
    let (path, status, header) = last.unwrap_or_else(|| panic!("{what}: nothing reached Prism"));
    assert!(
        header.is_empty(),
        "{what} ({path}): Prism's violations: {header}"
    );
    assert_eq!(status, StatusCode::OK, "{what} ({path})");
    if let Err(e) = result {
        let found = e.core().body().map(|b| violations(b)).unwrap_or_default();
        panic!("{what} ({path}): {e}; violations: {found:#?}");
    }
}

#[tokio::test]
async fn every_call_passes_prisms_request_validation_and_decodes_its_answer() {
    let (maps, answers) = client();
    let session = SessionToken::new();
    let at = SystemTime::now() + Duration::from_secs(3600);
    let here = LatLng::new(-33.8670522, 151.1957362);

    let r = maps
        .geocoding()
        .forward(
            Geocode::address("1600 Amphitheatre Parkway")
                .component("country", "US")
                .bounds(LatLng::new(34.17, -118.6), LatLng::new(34.23, -118.5))
                .region("us")
                .language("en"),
        )
        .await;
    accepted("geocode.forward", r, &answers);
    let r = maps
        .geocoding()
        .forward(Geocode::components().component("postal_code", "94043"))
        .await;
    accepted("geocode.components", r, &answers);
    let r = maps
        .geocoding()
        .forward(Geocode::place_id("ChIJd8BlQ2BZwokRAFUEcm_qrcA"))
        .await;
    accepted("geocode.place_id", r, &answers);
    let r = maps
        .geocoding()
        .reverse(
            ReverseGeocode::new(LatLng::new(40.714224, -73.961452))
                .result_type("street_address")
                .location_type("ROOFTOP"),
        )
        .await;
    accepted("geocode.reverse", r, &answers);
    let r = maps
        .places()
        .details(
            GetPlaceDetails::new("ChIJN1t_tDeuEmsRUsoyG83frY4")
                .fields(["name", "rating", "formatted_phone_number"])
                .session_token(&session)
                .language("en"),
        )
        .await;
    accepted("places.details", r, &answers);
    let r = maps
        .places()
        .nearby(
            SearchNearby::new(here, 1500)
                .kind("restaurant")
                .keyword("cruise")
                .open_now(),
        )
        .await;
    accepted("places.nearby", r, &answers);
    // Not here: `SearchNearby::by_distance` (`rankby=distance` without `radius`). Google's
    // documentation forbids a radius with `rankby=distance`; the spec marks `radius` required,
    // so Prism refuses the request the real API wants. It is tested against the loopback
    // Google instead (`calls.rs`).
    let r = maps
        .places()
        .text(
            SearchText::new("restaurants in Sydney")
                .near(here, 2000)
                .kind("restaurant"),
        )
        .await;
    accepted("places.text", r, &answers);
    let r = maps
        .places()
        .find(
            FindPlace::text("Museum of Contemporary Art Australia")
                .fields(["formatted_address", "name", "geometry"])
                .location_bias("circle:2000@47.6918452,-122.2226413"),
        )
        .await;
    accepted("places.find", r, &answers);
    let r = maps
        .places()
        .find(FindPlace::phone_number("+61293744000"))
        .await;
    accepted("places.find.phone", r, &answers);
    let r = maps
        .places()
        .autocomplete(
            Autocomplete::new("Paris")
                .session_token(&session)
                .types("(cities)")
                .component("country", "fr")
                .near(LatLng::new(48.85, 2.35), 5000)
                .strict_bounds()
                .origin(LatLng::new(48.85, 2.35)),
        )
        .await;
    accepted("places.autocomplete", r, &answers);
    let r = maps
        .routes()
        .distance_matrix(
            GetDistanceMatrix::new(
                ["Boston, MA", "Charlestown, MA"],
                ["Lexington, MA", "Concord, MA"],
            )
            .mode(TravelMode::Driving)
            .departure(Departure::At(at))
            .traffic_model(TrafficModel::BestGuess)
            .units(Units::Imperial)
            .avoid([Avoid::Tolls, Avoid::Ferries]),
        )
        .await;
    accepted("distance_matrix", r, &answers);
    let r = maps
        .routes()
        .distance_matrix(
            GetDistanceMatrix::new([here], [LatLng::new(-33.87, 151.21)])
                .mode(TravelMode::Transit)
                .arrival_time(at),
        )
        .await;
    accepted("distance_matrix.transit", r, &answers);
    let r = maps
        .routes()
        .directions(
            GetDirections::new("Adelaide, SA", "Adelaide, SA")
                .waypoints(["Barossa Valley, SA", "Clare, SA", "Connawarra, SA"])
                .optimize_waypoints()
                // `departure_time=now` is documented by Google, but the spec types the
                // parameter as a number, so the contract run uses a time.
                .departure(Departure::At(at))
                .avoid([Avoid::Highways])
                .units(Units::Metric),
        )
        .await;
    accepted("directions", r, &answers);
    let r = maps
        .routes()
        .directions(
            GetDirections::new("Toronto", "Montreal")
                .alternatives()
                .mode(TravelMode::Bicycling),
        )
        .await;
    accepted("directions.alternatives", r, &answers);
    let r = maps
        .time_zones()
        .get(GetTimeZone::new(LatLng::new(39.6034810, -119.6822510), at).language("es"))
        .await;
    accepted("timezone", r, &answers);
    assert_eq!(answers.lock().unwrap().len(), 15);
}

#[tokio::test]
async fn prism_refuses_a_request_that_breaks_the_spec() {
    let (maps, answers) = client();
    // Distance Matrix without its required `origins` and `destinations`.
    let err = maps
        .connection()
        .get("/maps/api/distancematrix/json")
        .query(&[("mode", "hovercraft")])
        .send()
        .await
        .unwrap_err();
    let (_, status, header) = answers.lock().unwrap().last().cloned().unwrap();
    assert!(status.is_client_error(), "{status}");
    assert_eq!(err.status(), Some(status));
    let body = err.body().map(|b| violations(b)).unwrap_or_default();
    let listed = format!("{header} {body:?}");
    assert!(listed.contains("origins"), "{listed}");
}
