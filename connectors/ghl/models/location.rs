//! Locations (sub-accounts): [`Location`].

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A location's id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LocationId(pub String);

impl LocationId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
