//! Typed models of the Google Maps web services' answers, one file per API.

mod interim;
mod status;

pub use interim::{
    AutocompleteResponse, DirectionsResponse, DistanceMatrixResponse, FindPlaceResponse,
    GeocodeResponse, GeocodeResult, Geometry, LatLng, PlaceDetailsResponse, PlaceId,
    PlacesSearchResponse, TimeZoneResponse,
};
pub use status::MapsStatus;
