//! The Google Maps Platform web services connector: Geocoding, Places (legacy web service),
//! Distance Matrix, Directions and Time Zone over the core pipeline.
//!
//! Work in progress (issue 15). This module uses only the core's public items and never
//! imports another connector.

mod models;

pub use models::MapsStatus;
