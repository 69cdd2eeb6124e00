//! Interim minimal models, replaced by the typed models when they land (same names).
#![allow(missing_docs)]

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MapsStatus;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

impl LatLng {
    pub fn new(lat: f64, lng: f64) -> Self {
        LatLng { lat, lng }
    }
}

impl fmt::Display for LatLng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.lat, self.lng)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlaceId(String);

impl PlaceId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PlaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PlaceId {
    fn from(s: &str) -> Self {
        PlaceId(s.to_string())
    }
}

impl From<String> for PlaceId {
    fn from(s: String) -> Self {
        PlaceId(s)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Geometry {
    pub location: LatLng,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GeocodeResult {
    #[serde(default)]
    pub formatted_address: String,
    pub geometry: Geometry,
    pub place_id: PlaceId,
}

macro_rules! envelope {
    ($name:ident { $($field:ident : $ty:ty),* }) => {
        #[derive(Debug, Clone, Deserialize)]
        pub struct $name {
            $(#[serde(default)] pub $field: $ty,)*
            pub status: MapsStatus,
            #[serde(default)]
            pub error_message: Option<String>,
        }
    };
}

envelope!(GeocodeResponse { results: Vec<GeocodeResult> });
envelope!(PlaceDetailsResponse { result: Option<serde_json::Value> });
envelope!(PlacesSearchResponse { results: Vec<serde_json::Value>, next_page_token: Option<String> });
envelope!(FindPlaceResponse { candidates: Vec<serde_json::Value> });
envelope!(AutocompleteResponse { predictions: Vec<serde_json::Value> });
envelope!(DistanceMatrixResponse { rows: Vec<serde_json::Value> });
envelope!(DirectionsResponse { routes: Vec<serde_json::Value> });
envelope!(TimeZoneResponse { time_zone_id: Option<String> });
