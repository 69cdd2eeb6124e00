//! Locations (sub-accounts): [`Location`].

use serde::Deserialize;
use serde_json::{Map, Value};

super::string_id!(
    /// A location's id.
    LocationId,
);

/// A GoHighLevel location (sub-account): one business of an agency.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Location {
    /// The location's id.
    pub id: LocationId,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The agency (company) it belongs to.
    #[serde(default)]
    pub company_id: Option<String>,
    /// Email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// Street address.
    #[serde(default)]
    pub address: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Country.
    #[serde(default)]
    pub country: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// IANA time zone (calendar times are in it).
    #[serde(default)]
    pub timezone: Option<String>,
    /// Website.
    #[serde(default)]
    pub website: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `{"location": {...}}`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct LocationEnvelope {
    /// The location.
    pub location: Location,
}

/// `{"locations": [...]}`: one page of a location search.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct LocationSearchPage {
    /// The page's locations.
    #[serde(default)]
    pub locations: Vec<Location>,
}

crate::ghl::client::envelope!(LocationEnvelope => location: Location);
