//! The geocode and Place Details caches, per tenant and connection: two tenants sharing a
//! connection id never share an answer or a failure; identical lookups in flight together
//! reach Google once; a zero lifetime turns the cache off; routes are never cached. And the
//! pace: each connection gets the connector's 50 requests a second, and one tenant spending
//! it leaves the other's untouched.

use std::time::Duration;

use futures_util::future::join_all;
use switchboard::google_maps::{Geocode, GetDistanceMatrix, GetPlaceDetails, GoogleMapsError};
use switchboard::{ErrorKind, ProviderError};

use super::mock::FakeMaps;
use super::{client, config, host, host_with};
use crate::support::builder;

const ACME_KEY: &str = "key-acme-0000000000000000";
const GLOBEX_KEY: &str = "key-globex-00000000000000";

#[tokio::test]
async fn tenants_sharing_a_connection_id_never_share_an_answer_or_a_failure() {
    let fake = FakeMaps::start().await;
    let connections = host();
    let acme = client(&connections, "acme", config(&fake.url(), ACME_KEY)).await;
    let globex = client(
        &connections,
        "globex",
        config(&fake.url(), "DENIED-globex-0000000000"),
    )
    .await;

    let first = acme
        .geocoding()
        .forward(Geocode::address("1 Main St"))
        .await
        .unwrap();
    let again = acme
        .geocoding()
        .forward(Geocode::address("1 Main St"))
        .await
        .unwrap();
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
    assert_eq!(
        fake.requests(),
        1,
        "acme's second geocode came from the cache"
    );

    // globex asks the same thing: it goes to Google with its own key, and its refusal is its own.
    let err = globex
        .geocoding()
        .forward(Geocode::address("1 Main St"))
        .await
        .unwrap_err();
    assert_eq!(
        err.maps_status(),
        Some(&switchboard::google_maps::MapsStatus::RequestDenied)
    );
    assert_eq!(fake.requests(), 2);
    assert_eq!(
        fake.seen()[1].param("key"),
        Some("DENIED-globex-0000000000")
    );
    // ... and did not evict or poison acme's entry.
    acme.geocoding()
        .forward(Geocode::address("1 Main St"))
        .await
        .unwrap();
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn identical_lookups_in_flight_together_reach_google_once() {
    let fake = FakeMaps::start().await;
    let acme = client(&host(), "acme", config(&fake.url(), ACME_KEY)).await;
    let calls = (0..20).map(|_| {
        acme.geocoding()
            .forward(Geocode::address("SLOW 1 Main St"))
            .send()
    });
    for r in join_all(calls).await {
        assert!(!r.unwrap().results.is_empty());
    }
    assert_eq!(fake.requests(), 1);
}

#[tokio::test]
async fn details_are_cached_routes_are_not_and_a_zero_lifetime_turns_the_cache_off() {
    let fake = FakeMaps::start().await;
    let connections = host();
    let acme = client(&connections, "acme", config(&fake.url(), ACME_KEY)).await;
    for _ in 0..2 {
        acme.places()
            .details(GetPlaceDetails::new("ChIJN1t_tDeuEmsRUsoyG83frY4").fields(["name"]))
            .await
            .unwrap();
    }
    assert_eq!(fake.requests(), 1);
    for _ in 0..2 {
        acme.routes()
            .distance_matrix(GetDistanceMatrix::new(["Boston, MA"], ["Concord, MA"]))
            .await
            .unwrap();
    }
    assert_eq!(
        fake.requests(),
        3,
        "a matrix is of its moment: never cached"
    );

    let mut cfg = config(&fake.url(), GLOBEX_KEY);
    cfg["geocode_cache_ttl_secs"] = 0.into();
    let globex = client(&connections, "globex", cfg).await;
    assert_eq!(globex.settings().geocode_cache_ttl, Duration::ZERO);
    for _ in 0..2 {
        globex
            .geocoding()
            .forward(Geocode::address("2 Main St"))
            .await
            .unwrap();
    }
    assert_eq!(fake.requests(), 5);
}

#[tokio::test]
async fn each_connection_is_paced_at_fifty_a_second_on_its_own() {
    let fake = FakeMaps::start().await;
    // No waiting for the limiter: a call over the pace is refused at once, unsent.
    let sb = builder()
        .allow_endpoint_host("127.0.0.1")
        .rate_limit_max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let connections = host_with(sb);
    let acme = client(&connections, "acme", config(&fake.url(), ACME_KEY)).await;
    let globex = client(&connections, "globex", config(&fake.url(), GLOBEX_KEY)).await;

    // 80 distinct addresses at once: the first 50 go, the rest are refused.
    let calls = (0..80).map(|i| {
        acme.geocoding()
            .forward(Geocode::address(format!("{i} Oak St")))
            .send()
    });
    let results: Vec<Result<_, GoogleMapsError>> = join_all(calls).await;
    let refused = results
        .iter()
        .filter(|r| {
            r.as_ref()
                .is_err_and(|e| e.kind() == ErrorKind::RateLimited)
        })
        .count();
    let sent = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(refused + sent, 80, "every call either went or was refused");
    assert!(refused >= 20, "{refused} refused");
    assert!(sent >= 50, "{sent} sent");
    assert_eq!(fake.requests(), sent, "refused calls were never sent");
    // globex shares the connection id, not the pace.
    globex
        .geocoding()
        .forward(Geocode::address("9 Elm St"))
        .await
        .unwrap();
}
