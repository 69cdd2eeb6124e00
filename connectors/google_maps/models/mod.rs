//! Typed models of the Google Maps web services' answers, one file per API.
//!
//! Every answer says how the call went in `status` (with HTTP 200 either way) and, on failure,
//! usually in `error_message`; its lists default to empty because error answers may omit them.
//! Every model is `#[non_exhaustive]`, names the fields most hosts use and keeps every other
//! field in `extra`, so a field Google adds never breaks parsing. Fields written back with
//! `Serialize` are those the answer had: an absent optional field stays absent.

mod common;
mod de;
mod directions;
mod distance_matrix;
mod geocode;
mod place;
mod status;
mod timezone;

pub use common::{Bounds, Fare, LatLng, PlaceId, PlusCode, Polyline, TextValue, TimeValue};
pub use directions::{DirectionsResponse, GeocodedWaypoint, Route, RouteLeg, RouteStep};
pub use distance_matrix::{DistanceMatrixElement, DistanceMatrixResponse, DistanceMatrixRow};
pub use geocode::{AddressComponent, GeocodeResponse, GeocodeResult, Geometry, LocationType};
pub use place::{
    AutocompletePrediction, AutocompleteResponse, AutocompleteTerm, FindPlaceResponse,
    MatchedSubstring, OpeningHours, OpeningPeriod, OpeningTime, Place, PlaceDetailsResponse,
    PlacePhoto, PlaceReview, PlacesSearchResponse, StructuredFormatting,
};
pub use status::MapsStatus;
pub use timezone::TimeZoneResponse;
