//! Batch geocoding (the seeds geocode a whole listing feed): bounded concurrency, one
//! `Result` per address in input order, failures that stay with their address, and repeated
//! addresses fetched once.

use std::sync::atomic::Ordering;

use switchboard::google_maps::{Geocode, MapsStatus};

use super::mock::FakeMaps;
use super::{client, config, host};

#[tokio::test]
async fn a_batch_answers_in_input_order_with_each_failure_in_its_place() {
    let fake = FakeMaps::start().await;
    let maps = client(
        &host(),
        "acme",
        config(&fake.url(), "key-acme-0000000000000000"),
    )
    .await;
    let feed: Vec<String> = (0..12)
        .map(|i| match i {
            3 => "INVALID 3".to_string(),
            7 => "ZERO 7".to_string(),
            9 => "DAILY 9".to_string(),
            i => format!("SLOW {i} Listing Rd"),
        })
        .collect();
    let results = maps.geocoding().batch_with(feed.clone(), 3).await;
    assert_eq!(results.len(), feed.len());
    for (i, (address, result)) in feed.iter().zip(&results).enumerate() {
        match i {
            3 => assert_eq!(
                result.as_ref().unwrap_err().maps_status(),
                Some(&MapsStatus::InvalidRequest)
            ),
            9 => assert_eq!(
                result.as_ref().unwrap_err().maps_status(),
                Some(&MapsStatus::OverDailyLimit)
            ),
            7 => {
                let found = result.as_ref().unwrap();
                assert_eq!(found.status, MapsStatus::ZeroResults);
                assert!(found.results.is_empty());
            }
            _ => assert_eq!(
                &result.as_ref().unwrap().results[0].formatted_address,
                address,
                "result {i} answers address {i}"
            ),
        }
    }
    let most = fake.state.max_in_flight.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} geocodes in flight at once, bound 3");
    assert!(most >= 2, "the batch ran concurrently ({most})");
}

#[tokio::test]
async fn repeated_addresses_in_a_batch_are_fetched_once() {
    let fake = FakeMaps::start().await;
    let maps = client(
        &host(),
        "acme",
        config(&fake.url(), "key-acme-0000000000000000"),
    )
    .await;
    let feed = [
        "SLOW 1 Elm St",
        "SLOW 1 Elm St",
        "2 Elm St",
        "SLOW 1 Elm St",
    ];
    let results = maps.geocoding().batch(feed).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(fake.requests(), 2);
    let empty: Vec<Geocode> = Vec::new();
    assert!(maps.geocoding().batch(empty).await.is_empty());
}
