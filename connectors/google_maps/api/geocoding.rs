//! Geocoding (`/maps/api/geocode/json`): forward with component filters, bounds, region and
//! language; reverse; and a batch of addresses with bounded concurrency, results in input
//! order. Answers are cached for the settings' geocode lifetime.

use futures_util::stream::{self, StreamExt};

use super::{bounds_param, non_empty, Params};
use crate::google_maps::client::{Defaults, GoogleMapsClient};
use crate::google_maps::{GeocodeResponse, GoogleMapsError, LatLng, PlaceId};
use crate::toolkit::Call;

const PATH: &str = "/maps/api/geocode/json";
const DEFAULTS: Defaults = Defaults {
    language: true,
    region: true,
};

/// How many geocodes of a batch are in flight at once by default. The connection's pace
/// (50 a second by default) still applies to each of them.
pub const DEFAULT_BATCH_CONCURRENCY: usize = 8;

/// A forward geocode: an address, component filters, or a place id.
///
/// ```
/// use switchboard::google_maps::{Geocode, LatLng};
/// let g = Geocode::address("1600 Amphitheatre Parkway")
///     .component("country", "US")
///     .component("postal_code", "94043")
///     .bounds(LatLng::new(37.4, -122.1), LatLng::new(37.5, -122.0))
///     .region("us")
///     .language("en");
/// # let _ = g;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Geocode {
    params: Params,
    components: Vec<String>,
}

setters!(Geocode: region, language, param);

impl Geocode {
    /// Geocodes `address` (a street address or a place name).
    pub fn address(address: impl Into<String>) -> Self {
        let mut params = Params::default();
        non_empty(&mut params, "address", "geocode.address", address.into());
        Geocode {
            params,
            components: Vec::new(),
        }
    }

    /// Geocodes by component filters alone (add them with [`Geocode::component`]).
    pub fn components() -> Self {
        Geocode {
            params: Params::default(),
            components: Vec::new(),
        }
    }

    /// The address of place `id`.
    pub fn place_id(id: impl Into<PlaceId>) -> Self {
        let mut params = Params::default();
        non_empty(
            &mut params,
            "place_id",
            "geocode.place_id",
            id.into().as_str().to_string(),
        );
        Geocode {
            params,
            components: Vec::new(),
        }
    }

    /// Restricts results to a component: `country` (ISO 3166-1 code), `postal_code`,
    /// `administrative_area`, `locality` or `route`.
    pub fn component(mut self, kind: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if kind.is_empty() || value.trim().is_empty() {
            self.params
                .problem("geocode.components", "a component needs a kind and a value");
        } else if kind.contains([':', '|']) || value.contains('|') {
            self.params.problem(
                "geocode.components",
                "a component's kind may not hold `:` or `|`, nor its value `|`",
            );
        }
        self.components.push(format!("{kind}:{value}"));
        self
    }

    /// Prefers results inside the box from `southwest` to `northeast` (a bias, not a filter).
    pub fn bounds(mut self, southwest: LatLng, northeast: LatLng) -> Self {
        self.params
            .set("bounds", bounds_param(southwest, northeast));
        self
    }

    fn into_params(self) -> Params {
        let mut params = self.params;
        if !self.components.is_empty() {
            params.set("components", self.components.join("|"));
        }
        if !params.has("address") && !params.has("components") && !params.has("place_id") {
            params.problem(
                "geocode",
                "needs an address, a component filter or a place id",
            );
        }
        params
    }
}

impl From<&str> for Geocode {
    fn from(address: &str) -> Self {
        Geocode::address(address)
    }
}

impl From<String> for Geocode {
    fn from(address: String) -> Self {
        Geocode::address(address)
    }
}

/// A reverse geocode: the addresses at a point.
#[derive(Debug, Clone)]
#[must_use]
pub struct ReverseGeocode {
    params: Params,
    result_types: Vec<String>,
    location_types: Vec<String>,
}

setters!(ReverseGeocode: language, param);

impl ReverseGeocode {
    /// The addresses at `point`.
    pub fn new(point: LatLng) -> Self {
        let mut params = Params::default();
        params.set("latlng", point.to_string());
        ReverseGeocode {
            params,
            result_types: Vec::new(),
            location_types: Vec::new(),
        }
    }

    /// Keeps results of this type (`street_address`, `postal_code`, ...); may be repeated.
    pub fn result_type(mut self, kind: impl Into<String>) -> Self {
        self.result_types.push(kind.into());
        self
    }

    /// Keeps results of this location type (`ROOFTOP`, `RANGE_INTERPOLATED`,
    /// `GEOMETRIC_CENTER`, `APPROXIMATE`); may be repeated.
    pub fn location_type(mut self, kind: impl Into<String>) -> Self {
        self.location_types.push(kind.into());
        self
    }

    fn into_params(self) -> Params {
        let mut params = self.params;
        if !self.result_types.is_empty() {
            params.set("result_type", self.result_types.join("|"));
        }
        if !self.location_types.is_empty() {
            params.set("location_type", self.location_types.join("|"));
        }
        params
    }
}

/// Geocoding, reached with [`GoogleMapsClient::geocoding`].
#[derive(Debug, Clone)]
pub struct Geocoding {
    client: GoogleMapsClient,
}

impl Geocoding {
    pub(crate) fn new(client: GoogleMapsClient) -> Self {
        Geocoding { client }
    }

    /// `GET /maps/api/geocode/json` with an address, components or a place id. `ZERO_RESULTS`
    /// is a success with no results.
    pub fn forward(&self, geocode: Geocode) -> Call<GeocodeResponse, GoogleMapsError> {
        self.client.get(
            PATH,
            "geocode.forward",
            geocode.into_params(),
            DEFAULTS,
            self.client.settings().geocode_cache_ttl,
        )
    }

    /// `GET /maps/api/geocode/json` with `latlng`.
    pub fn reverse(&self, reverse: ReverseGeocode) -> Call<GeocodeResponse, GoogleMapsError> {
        self.client.get(
            PATH,
            "geocode.reverse",
            reverse.into_params(),
            Defaults {
                language: true,
                region: false,
            },
            self.client.settings().geocode_cache_ttl,
        )
    }

    /// Geocodes every request, [`DEFAULT_BATCH_CONCURRENCY`] at a time: one `Result` per
    /// request, in the order given (a failed address never hides the others). Identical
    /// addresses in flight together reach Google once, and repeated ones come from the cache.
    ///
    /// ```no_run
    /// # async fn demo(maps: switchboard::google_maps::GoogleMapsClient) {
    /// let feed = ["1 Main St, Springfield, IL", "2 Elm St, Springfield, IL"];
    /// for (address, result) in feed.iter().zip(maps.geocoding().batch(feed).await) {
    ///     match result {
    ///         Ok(found) => println!("{address}: {} result(s)", found.results.len()),
    ///         Err(e) => println!("{address}: {e}"),
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn batch<I>(&self, requests: I) -> Vec<Result<GeocodeResponse, GoogleMapsError>>
    where
        I: IntoIterator,
        I::Item: Into<Geocode>,
    {
        self.batch_with(requests, DEFAULT_BATCH_CONCURRENCY).await
    }

    /// As [`Geocoding::batch`], at most `concurrency` (at least 1) at a time.
    pub async fn batch_with<I>(
        &self,
        requests: I,
        concurrency: usize,
    ) -> Vec<Result<GeocodeResponse, GoogleMapsError>>
    where
        I: IntoIterator,
        I::Item: Into<Geocode>,
    {
        let calls: Vec<_> = requests
            .into_iter()
            .map(|r| self.forward(r.into()).send())
            .collect();
        stream::iter(calls)
            .buffered(concurrency.max(1))
            .collect()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: Params) -> Vec<(String, String)> {
        p.into_pairs().unwrap()
    }

    #[test]
    fn forward_parameters_are_googles() {
        let p = pairs(
            Geocode::address("Winnetka")
                .bounds(
                    LatLng::new(34.172684, -118.604794),
                    LatLng::new(34.236144, -118.500938),
                )
                .component("country", "US")
                .component("postal_code", "91306")
                .into_params(),
        );
        assert_eq!(
            p,
            [
                ("address", "Winnetka"),
                ("bounds", "34.172684,-118.604794|34.236144,-118.500938"),
                ("components", "country:US|postal_code:91306"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn a_geocode_without_a_target_or_with_a_bad_component_is_refused_before_sending() {
        assert!(Geocode::components().into_params().into_pairs().is_err());
        assert!(Geocode::address("  ").into_params().into_pairs().is_err());
        let err = Geocode::address("x")
            .component("country", "US|FR")
            .into_params()
            .into_pairs()
            .unwrap_err();
        assert!(err.to_string().contains("geocode.components"), "{err}");
        assert!(Geocode::components()
            .component("country", "FI")
            .into_params()
            .into_pairs()
            .is_ok());
    }

    #[test]
    fn reverse_joins_its_filters() {
        let p = pairs(
            ReverseGeocode::new(LatLng::new(40.714224, -73.961452))
                .result_type("street_address")
                .result_type("route")
                .location_type("ROOFTOP")
                .into_params(),
        );
        assert_eq!(p[0], ("latlng".into(), "40.714224,-73.961452".into()));
        assert_eq!(p[1], ("result_type".into(), "street_address|route".into()));
        assert_eq!(p[2], ("location_type".into(), "ROOFTOP".into()));
    }
}
