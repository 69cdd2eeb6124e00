//! The Google Maps Platform web services connector: Geocoding, Places (legacy web service),
//! Distance Matrix, Directions and Time Zone over the core pipeline.
//!
//! Work in progress (issue 15). This module uses only the core's public items and never
//! imports another connector.

mod models;

pub use models::{
    AddressComponent, AutocompletePrediction, AutocompleteResponse, AutocompleteTerm, Bounds,
    DirectionsResponse, DistanceMatrixElement, DistanceMatrixResponse, DistanceMatrixRow, Fare,
    FindPlaceResponse, GeocodeResponse, GeocodeResult, GeocodedWaypoint, Geometry, LatLng,
    LocationType, MapsStatus, MatchedSubstring, OpeningHours, OpeningPeriod, OpeningTime, Place,
    PlaceDetailsResponse, PlaceId, PlacePhoto, PlaceReview, PlacesSearchResponse, PlusCode,
    Polyline, Route, RouteLeg, RouteStep, StructuredFormatting, TextValue, TimeValue,
    TimeZoneResponse,
};
