//! Google Maps passes the conformance suite (`switchboard::test_util::conformance`): the key
//! as a canary, the retry promise of [`GoogleMapsConnector`]'s docs for reads (the connector
//! makes no POST), config binding and refusals, and the typed config against the schema.
//!
//! [`GoogleMapsConnector`]: switchboard::google_maps::GoogleMapsConnector

use std::sync::Arc;

use serde_json::json;
use switchboard::google_maps::{
    Geocode, GoogleMapsClient, GoogleMapsConfig, GoogleMapsIntegration,
};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{Conformance, RetryPromise};

#[tokio::test]
async fn google_maps_passes_the_conformance_suite() {
    let config = json!({"api_key": canary("api_key")});
    let maximal = json!({
        "api_key": canary("api_key"),
        "base_url": "https://maps.googleapis.com",
        "geocode_cache_ttl_secs": 86_400,
        "place_details_cache_ttl_secs": 0,
        "language": "pt-BR",
        "region": "br",
    });
    Conformance::new(Arc::new(GoogleMapsIntegration::new()), config)
        .example_config(maximal)
        .typed_config::<GoogleMapsConfig>()
        .invalid_config(
            json!({"api_key": canary("api_key"), "geocode_cache_ttl_secs": 2_592_001}),
            &["/geocode_cache_ttl_secs"],
        )
        .invalid_config(
            json!({"api_key": canary("api_key"), "region": "usa"}),
            &["/region"],
        )
        // The docs (GoogleMapsConnector): every call is a GET, retried on a refused
        // connection, a 429 (after Retry-After) and a 5xx, up to the switchboard's attempts.
        // The POST rows do not apply (without_posts).
        .retry(RetryPromise {
            post_reset_after_write: 0,
            post_connection_refused: 0,
            get_connection_refused: 3,
            post_429_retry_after: 0,
            get_429_retry_after: 3,
            post_5xx: 0,
            get_5xx: 3,
        })
        .without_posts("Google Maps' web services are read-only (GET)")
        .error_body(r#"{"error_message":"conformance","results":[],"status":"UNKNOWN_ERROR"}"#)
        .get_call(|conn| {
            Box::pin(async move {
                GoogleMapsClient::from_connection(conn)?
                    .geocoding()
                    .forward(Geocode::address(
                        "1600 Amphitheatre Parkway, Mountain View, CA",
                    ))
                    .await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", GoogleMapsClient::from_connection(conn)?)))
        .without_lists(
            "one answer per call; Places searches return a next_page_token the caller passes \
             back, valid only seconds later, so there is no stream to page",
        )
        .run()
        .await
        .assert_ok();
}
