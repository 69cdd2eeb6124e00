//! The Google Maps Platform web services connector: Geocoding (forward, reverse, batches),
//! Places (details with a field mask, nearby, text, find place, autocomplete with session
//! tokens), Distance Matrix, Directions (waypoints in an optimised order) and Time Zone, over
//! the core pipeline; typed models and errors; the `google_maps` integration template.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchboard::auth::QueryKey;
//! use switchboard::google_maps::{Geocode, GoogleMapsClient, GoogleMapsConnector, DEFAULT_BASE_URL};
//! use switchboard::Switchboard;
//!
//! let sb = Switchboard::builder().build()?;
//! let connection = sb
//!     .connection(GoogleMapsConnector::new())
//!     .tenant("acme")
//!     .id("acme-maps")
//!     .base_url(DEFAULT_BASE_URL)
//!     .auth(Arc::new(QueryKey::new("key", "AIza...")))
//!     .build()?;
//! let maps = GoogleMapsClient::from_connection(connection)?;
//! let found = maps.geocoding().forward(Geocode::address("1 Main St, Springfield, IL")).await?;
//! let in_order = maps.geocoding().batch(["2 Elm St, Springfield, IL", "3 Oak St, Springfield, IL"]).await;
//! # let _ = (found, in_order); Ok(()) }
//! ```
//!
//! Google reports failures with HTTP 200 and a `status` in the body: the connector
//! ([`GoogleMapsConnector`]) restates each as the HTTP status it stands for, so
//! `OVER_QUERY_LIMIT` is retried with backoff inside the call's deadline, `REQUEST_DENIED`,
//! `OVER_DAILY_LIMIT` and `INVALID_REQUEST` are typed [`GoogleMapsError`]s never retried, and
//! `ZERO_RESULTS` is a success with no results. The key travels in the `key` query parameter
//! and never appears in a log line, an error, a metric label, a cache key or `Debug` output.
//! Geocodes (30 days) and Place Details (7 days) are cached per tenant and connection;
//! identical lookups in flight together reach Google once; each connection is paced at 50
//! requests a second by default. This module uses only the core's public items.

mod api;
mod client;
mod config;
mod connector;
mod error;
mod models;
mod template;

pub use api::{
    Autocomplete, Avoid, Departure, FindPlace, Geocode, Geocoding, GetDirections,
    GetDistanceMatrix, GetPlaceDetails, GetTimeZone, Location, Places, ReverseGeocode, Routes,
    SearchNearby, SearchText, SessionToken, TimeZones, TrafficModel, TravelMode, Units,
    DEFAULT_BATCH_CONCURRENCY, MAX_MATRIX_SIDE, MAX_WAYPOINTS,
};
pub use client::GoogleMapsClient;
pub use config::{
    GoogleMapsConfig, GoogleMapsSettings, DEFAULT_GEOCODE_CACHE_TTL,
    DEFAULT_PLACE_DETAILS_CACHE_TTL, MAX_CACHE_TTL,
};
pub use connector::{GoogleMapsConnector, DEFAULT_QUERIES_PER_SECOND};
pub use error::GoogleMapsError;
pub use models::{
    AddressComponent, AutocompletePrediction, AutocompleteResponse, AutocompleteTerm, Bounds,
    DirectionsResponse, DistanceMatrixElement, DistanceMatrixResponse, DistanceMatrixRow, Fare,
    FindPlaceResponse, GeocodeResponse, GeocodeResult, GeocodedWaypoint, Geometry, LatLng,
    LocationType, MapsStatus, MatchedSubstring, OpeningHours, OpeningPeriod, OpeningTime, Place,
    PlaceDetailsResponse, PlaceId, PlacePhoto, PlaceReview, PlacesSearchResponse, PlusCode,
    Polyline, Route, RouteLeg, RouteStep, StructuredFormatting, TextValue, TimeValue,
    TimeZoneResponse,
};
pub use template::{GoogleMapsIntegration, CHECK_ADDRESS};

/// The Google Maps web services host.
pub const DEFAULT_BASE_URL: &str = "https://maps.googleapis.com";
