//! [`Locations`]: get one location, search an agency's.

use http::Method;

use crate::ghl::models::{Location, LocationEnvelope, LocationSearchPage};
use crate::ghl::{GhlClient, GhlError};
use crate::toolkit::{segment, Call};

/// Locations (sub-accounts).
#[derive(Debug, Clone)]
pub struct Locations {
    client: GhlClient,
}

/// A location search (`GET /locations/search`, agency tokens only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchLocations {
    query: Vec<(&'static str, String)>,
}

impl SearchLocations {
    /// Every location the token sees.
    pub fn new() -> Self {
        Self::default()
    }

    fn set(mut self, key: &'static str, value: String) -> Self {
        self.query.retain(|(k, _)| *k != key);
        self.query.push((key, value));
        self
    }

    /// Only the agency `company_id`'s locations.
    #[must_use]
    pub fn company_id(self, company_id: &str) -> Self {
        self.set("companyId", company_id.to_string())
    }

    /// Only locations with this email.
    #[must_use]
    pub fn email(self, email: &str) -> Self {
        self.set("email", email.to_string())
    }

    /// Skips the first `skip` locations.
    #[must_use]
    pub fn skip(self, skip: u32) -> Self {
        self.set("skip", skip.to_string())
    }

    /// At most `limit` locations.
    #[must_use]
    pub fn limit(self, limit: u32) -> Self {
        self.set("limit", limit.to_string())
    }
}

impl Locations {
    pub(crate) fn new(client: GhlClient) -> Self {
        Locations { client }
    }

    /// One location (`GET /locations/{id}`).
    pub fn get(&self, id: &str) -> Call<Location, GhlError> {
        self.client.call_in::<LocationEnvelope>(
            Method::GET,
            format!("/locations/{}", segment(id)),
            "locations.get",
            None,
        )
    }

    /// The connection's own location (its `locationId`).
    pub fn current(&self) -> Call<Location, GhlError> {
        match self.client.location_or(None) {
            Ok(id) => self.get(id),
            Err(e) => GhlClient::failed(e),
        }
    }

    /// Locations matching `search` (`GET /locations/search`).
    pub fn search(&self, search: SearchLocations) -> Call<LocationSearchPage, GhlError> {
        self.client
            .call::<LocationSearchPage>(
                Method::GET,
                "/locations/search".into(),
                "locations.search",
                None,
            )
            .map_request(move |r| {
                if search.query.is_empty() {
                    r
                } else {
                    r.query(&search.query)
                }
            })
    }
}
