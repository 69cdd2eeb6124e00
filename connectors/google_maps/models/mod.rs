//! Typed models of the Google Maps web services' answers, one file per API.

mod status;

pub use status::MapsStatus;
