//! Google's statuses, which arrive with HTTP 200: `OVER_QUERY_LIMIT` is retried with backoff
//! (inside the call's deadline and attempts), `OVER_DAILY_LIMIT`, `REQUEST_DENIED`,
//! `INVALID_REQUEST` and `NOT_FOUND` are typed errors sent once, `ZERO_RESULTS` is an empty
//! success, and `error_message` is kept. A refused key moves the tenant's connection (only
//! that tenant's) to `error` with advice. Every error sample of the shared fixtures turns into
//! the right typed error.

use http::StatusCode;
use switchboard::connections::ConnectionStatus;
use switchboard::google_maps::{
    FindPlace, Geocode, GetDistanceMatrix, GetPlaceDetails, GoogleMapsClient, GoogleMapsConnector,
    GoogleMapsError, MapsStatus, SearchText,
};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::{ConnectionId, ErrorKind, ProviderError, TenantId};

use super::mock::{sample, FakeMaps};
use super::{client, config, host, CONNECTION};
use crate::support::builder;

#[tokio::test]
async fn a_passing_query_limit_is_retried_and_the_answer_returned() {
    let fake = FakeMaps::start().await;
    let maps = client(
        &host(),
        "acme",
        config(&fake.url(), "key-acme-0000000000000000"),
    )
    .await;
    let found = maps
        .geocoding()
        .forward(Geocode::address("BUSY1 Main St"))
        .await
        .unwrap();
    assert_eq!(found.status, MapsStatus::Ok);
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn a_lasting_query_limit_ends_as_a_typed_rate_limit_after_the_promised_attempts() {
    let fake = FakeMaps::start().await;
    let maps = client(
        &host(),
        "acme",
        config(&fake.url(), "key-acme-0000000000000000"),
    )
    .await;
    let err = maps
        .geocoding()
        .forward(Geocode::address("BUSY Main St"))
        .await
        .unwrap_err();
    assert!(err.is_over_query_limit(), "{err:?}");
    assert_eq!(
        ProviderError::status(&err),
        Some(StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.is_retryable());
    assert_eq!(
        err.core().attempts(),
        3,
        "the switchboard's default attempts"
    );
    assert_eq!(fake.requests(), 3);
    assert_eq!(
        err.error_message(),
        Some("You have exceeded your rate-limit for this API.")
    );
    assert!(err.to_string().contains("OVER_QUERY_LIMIT"), "{err}");
}

async fn once(maps: &GoogleMapsClient, fake: &FakeMaps, address: &str) -> GoogleMapsError {
    let before = fake.requests();
    let err = maps
        .geocoding()
        .forward(Geocode::address(address))
        .await
        .unwrap_err();
    assert_eq!(
        fake.requests() - before,
        1,
        "{address}: sent once, never retried"
    );
    err
}

#[tokio::test]
async fn refusals_and_bad_requests_are_typed_and_sent_once() {
    let fake = FakeMaps::start().await;
    let maps = client(
        &host(),
        "acme",
        config(&fake.url(), "key-acme-0000000000000000"),
    )
    .await;

    let err = once(&maps, &fake, "INVALID").await;
    assert_eq!(err.maps_status(), Some(&MapsStatus::InvalidRequest));
    assert_eq!(ProviderError::status(&err), Some(StatusCode::BAD_REQUEST));
    assert_eq!(
        err.error_message(),
        Some("Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id' parameter.")
    );
    assert!(!err.is_retryable());

    let err = once(&maps, &fake, "DAILY").await;
    assert_eq!(err.maps_status(), Some(&MapsStatus::OverDailyLimit));
    assert_eq!(ProviderError::status(&err), Some(StatusCode::FORBIDDEN));
    assert!(!err.is_over_query_limit());

    let before = fake.requests();
    let err = maps
        .places()
        .details(GetPlaceDetails::new("MISSING-place"))
        .await
        .unwrap_err();
    assert_eq!(fake.requests() - before, 1);
    assert_eq!(err.maps_status(), Some(&MapsStatus::NotFound));
    assert_eq!(ProviderError::status(&err), Some(StatusCode::NOT_FOUND));

    let zero = maps
        .geocoding()
        .forward(Geocode::address("ZERO Main St"))
        .await
        .unwrap();
    assert_eq!(zero.status, MapsStatus::ZeroResults);
    assert!(zero.results.is_empty());
}

#[tokio::test]
async fn a_refused_key_moves_only_its_tenants_connection_to_error_with_advice() {
    let fake = FakeMaps::start().await;
    let connections = host();
    // Two tenants, one connection id: acme's key is refused, globex's works.
    let acme = client(
        &connections,
        "acme",
        config(&fake.url(), "DENIED-key-000000000000000"),
    )
    .await;
    let _globex = client(
        &connections,
        "globex",
        config(&fake.url(), "key-globex-00000000000000"),
    )
    .await;
    let c = ConnectionId::new(CONNECTION);

    let before = fake.requests();
    let err = acme
        .geocoding()
        .forward(Geocode::address("1 Main St"))
        .await
        .unwrap_err();
    assert_eq!(fake.requests() - before, 1);
    assert_eq!(err.maps_status(), Some(&MapsStatus::RequestDenied));
    assert_eq!(ProviderError::status(&err), Some(StatusCode::FORBIDDEN));

    let acme_record = connections
        .test_connection(&TenantId::new("acme"), &c)
        .await
        .unwrap();
    assert_eq!(acme_record.status, ConnectionStatus::Error);
    let said = acme_record.last_error.unwrap_or_default();
    assert!(said.contains("REQUEST_DENIED"), "{said}");
    assert!(said.contains("check the API key"), "{said}");
    assert!(said.contains("The provided API key is invalid"), "{said}");
    assert!(!said.contains("DENIED-key"), "{said}");

    let globex_record = connections
        .test_connection(&TenantId::new("globex"), &c)
        .await
        .unwrap();
    assert_eq!(
        globex_record.status,
        ConnectionStatus::Active,
        "{:?}",
        globex_record.last_error
    );
    // The check geocoded the fixed address, uncached, with each tenant's own key.
    let checks: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.param("address") == Some(switchboard::google_maps::CHECK_ADDRESS))
        .collect();
    assert_eq!(checks.len(), 2);
    assert_eq!(checks[1].param("key"), Some("key-globex-00000000000000"));
}

/// A connection to a server that answers every request with `body`.
async fn answering(body: String) -> (RawServer, GoogleMapsClient) {
    let server = RawServer::start(move |_: &RawRequest| {
        RawAction::status(200, &body).with_header("content-type", "application/json")
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(GoogleMapsConnector::new())
        .tenant("acme")
        .id(CONNECTION)
        .base_url(server.base_url())
        .auth(std::sync::Arc::new(switchboard::auth::QueryKey::new(
            "key", "k",
        )))
        .build()
        .unwrap();
    (server, GoogleMapsClient::from_connection(conn).unwrap())
}

#[tokio::test]
async fn every_error_sample_turns_into_the_right_typed_error() {
    let dir = crate::support::shared_dir().join("fixtures/google-maps/responses");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_prefix("maps_http_")
            .and_then(|n| n.strip_suffix("_response.json"))
        else {
            continue;
        };
        let body: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&name)).unwrap()).unwrap();
        let status = MapsStatus::parse(body["status"].as_str().unwrap());
        if status.is_success() {
            continue;
        }
        let (server, maps) = answering(body.to_string()).await;
        let err = if stem.starts_with("geocode") {
            maps.geocoding()
                .forward(Geocode::address("x"))
                .await
                .map(|_| ())
        } else if stem.starts_with("distancematrix") {
            maps.routes()
                .distance_matrix(GetDistanceMatrix::new(["a"], ["b"]))
                .await
                .map(|_| ())
        } else if stem.starts_with("places_textsearch") {
            maps.places().text(SearchText::new("x")).await.map(|_| ())
        } else if stem.starts_with("places_findplacefromtext") {
            maps.places().find(FindPlace::text("x")).await.map(|_| ())
        } else {
            panic!("{name}: an error sample of an API this test does not call");
        }
        .unwrap_err();
        assert_eq!(err.maps_status(), Some(&status), "{name}");
        assert_eq!(
            err.error_message(),
            body["error_message"].as_str(),
            "{name}: error_message kept"
        );
        assert_eq!(
            ProviderError::status(&err),
            status.http_equivalent(),
            "{name}"
        );
        assert_eq!(server.requests(), 1, "{name}: never retried");
        checked += 1;
    }
    assert!(
        checked >= 4,
        "only {checked} error samples found in {}",
        dir.display()
    );
}

#[tokio::test]
async fn the_zero_results_samples_are_empty_successes() {
    for name in ["geocode_zero_results", "geocode_components_zero_results"] {
        let (_server, maps) = answering(sample(name).to_string()).await;
        let found = maps
            .geocoding()
            .forward(Geocode::address("nowhere"))
            .await
            .unwrap();
        assert_eq!(found.status, MapsStatus::ZeroResults, "{name}");
        assert!(found.results.is_empty());
    }
}
