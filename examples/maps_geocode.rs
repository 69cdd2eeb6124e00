//! A listing feed through Google Maps, the way a host runs it: the `google_maps` template and
//! the connection service, the connection's first test, a batch geocode of the feed (results
//! in feed order, a failed address kept in its place, repeats answered from the cache), a
//! contact's time zone from their address, a distance matrix from the office to every
//! listing, and a day of showings in the order Google finds shortest.
//!
//! Runs offline by default against an in-process stand-in (loopback). With
//! `GOOGLE_MAPS_API_KEY` set (a key with the Geocoding, Distance Matrix, Directions and Time
//! Zone APIs enabled) it runs against the real API.
//!
//! ```text
//! cargo run --example maps_geocode
//! GOOGLE_MAPS_API_KEY=AIza… cargo run --example maps_geocode
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::google_maps::{
    Departure, GetDirections, GetDistanceMatrix, GoogleMapsClient, GoogleMapsIntegration,
    MapsStatus, TravelMode,
};
use switchboard::templates::Registry;
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::{ConnectionId, Switchboard, TenantId};

#[path = "mocks/google_maps.rs"]
mod mock;

const OFFICE: &str = "600 Congress Ave, Austin, TX";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("GOOGLE_MAPS_API_KEY").ok();
    let stand_in = match key {
        Some(_) => None,
        None => Some(mock::start().await),
    };

    let vault = Vault::new(KeyRing::new(
        KeyId::new("demo")?,
        MasterKey::from_bytes(&[7u8; 32])?,
    ));
    let mut switchboard = Switchboard::builder();
    if stand_in.is_some() {
        switchboard = switchboard.allow_endpoint_host("127.0.0.1");
    }
    let mut registry = Registry::new();
    registry.register(Arc::new(GoogleMapsIntegration::new()))?;
    let connections = Connections::new(switchboard.build()?, vault, registry);

    let (tenant, id) = (TenantId::new("oak-realty"), ConnectionId::new("maps"));
    let config = match (&key, &stand_in) {
        (Some(key), _) => json!({"api_key": key, "language": "en", "region": "us"}),
        (None, Some(server)) => json!({
            "api_key": "offline-demo-key-0000000000",
            "base_url": server.base_url(),
            "language": "en",
        }),
        (None, None) => unreachable!("a stand-in runs whenever no key is set"),
    };
    connections
        .create(&tenant, &id, "google_maps", "Google Maps", &config)
        .await?;
    let record = connections.test_connection(&tenant, &id).await?;
    println!(
        "connection: {} ({:?})",
        record.status.as_str(),
        record.last_error
    );
    check(
        record.status == ConnectionStatus::Active,
        "the connection is active",
    )?;
    let maps = GoogleMapsClient::from_connection(connections.connection(&tenant, &id).await?)?;

    // 1. The listing feed, geocoded 8 at a time, answers in feed order.
    let feed = [
        "1100 E 6th St, Austin, TX",
        "2400 S Congress Ave, Austin, TX",
        "1 Nowhere Lane, Atlantis",
        "4500 Duval St, Austin, TX",
        "1100 E 6th St, Austin, TX",
    ];
    let results = maps.geocoding().batch(feed).await;
    let mut found = Vec::new();
    for (address, result) in feed.iter().zip(&results) {
        match result {
            Ok(answer) if answer.status == MapsStatus::ZeroResults => {
                println!("geocode: {address}: no such place")
            }
            Ok(answer) => {
                let first = &answer.results[0];
                println!("geocode: {address} -> {}", first.geometry.location);
                found.push(first.formatted_address.clone());
            }
            Err(e) => println!("geocode: {address}: {e}"),
        }
    }
    check(results.len() == feed.len(), "one result per address")?;
    check(found.len() == 4, "four addresses found, one not")?;

    // 2. A contact's time zone, from their address (the geocode comes from the cache).
    let zone = maps
        .time_zones()
        .for_address(feed[0], SystemTime::now())
        .await?;
    println!(
        "time zone of {}: {}",
        feed[0],
        zone.time_zone_id.as_deref().unwrap_or("?")
    );
    check(zone.time_zone_id.is_some(), "the contact has a time zone")?;

    // 3. From the office to every listing.
    let listings: Vec<&str> = feed
        .iter()
        .copied()
        .filter(|a| !a.contains("Nowhere"))
        .take(3)
        .collect();
    let matrix = maps
        .routes()
        .distance_matrix(
            GetDistanceMatrix::new([OFFICE], listings.clone())
                .mode(TravelMode::Driving)
                .departure(Departure::Now),
        )
        .await?;
    let row = matrix.rows.first().ok_or("the matrix has no row")?;
    for (listing, element) in listings.iter().zip(&row.elements) {
        let distance = element.distance.as_ref().map_or("?", |d| d.text.as_str());
        let duration = element.duration.as_ref().map_or("?", |d| d.text.as_str());
        println!("office -> {listing}: {distance}, {duration}");
    }
    check(
        row.elements.len() == listings.len(),
        "one element per listing",
    )?;

    // 4. A day of showings, from the office and back, in the shortest order.
    let day = maps
        .routes()
        .directions(
            GetDirections::new(OFFICE, OFFICE)
                .waypoints(listings.clone())
                .optimize_waypoints()
                .departure(Departure::Now),
        )
        .await?;
    let route = day.routes.first().ok_or("no route")?;
    let order: Vec<&str> = route
        .waypoint_order
        .iter()
        .filter_map(|&i| listings.get(i).copied())
        .collect();
    println!("showings in order: {}", order.join(" -> "));
    check(
        order.len() == listings.len(),
        "every listing is visited once",
    )?;

    println!("ok");
    Ok(())
}

fn check(holds: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if holds {
        Ok(())
    } else {
        Err(format!("expected: {what}").into())
    }
}
