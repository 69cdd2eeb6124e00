//! The calls of each Google Maps web service (one file per service), and the parts they
//! share: [`Params`] (a call's query), [`Location`] and the travel options.

/// The query setters several calls share, each documented once: `setters!(Type: language,
/// param)` adds them to a type holding `params: Params`.
macro_rules! setters {
    ($ty:ty: $($setter:ident),+) => {
        impl $ty {
            $(setters!(@ $setter);)+
        }
    };
    (@language) => {
        /// The language of the results (`en`, `pt-BR`); the tenant's default otherwise.
        pub fn language(mut self, language: impl Into<String>) -> Self {
            self.params.set("language", language.into());
            self
        }
    };
    (@region) => {
        /// The region (a ccTLD such as `us`) that biases and formats the results; the
        /// tenant's default otherwise.
        pub fn region(mut self, region: impl Into<String>) -> Self {
            self.params.set("region", region.into());
            self
        }
    };
    (@param) => {
        /// Any other parameter, sent as given.
        pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
            self.params.set(name, value.into());
            self
        }
    };
    (@kind) => {
        /// Only places of this type (`restaurant`, `school`, ...).
        pub fn kind(mut self, kind: impl Into<String>) -> Self {
            self.params.set("type", kind.into());
            self
        }
    };
    (@open_now) => {
        /// Only places open now.
        pub fn open_now(mut self) -> Self {
            self.params.set("opennow", "true");
            self
        }
    };
    (@page_token) => {
        /// The next page of an earlier search (its `next_page_token`; Google makes it valid a
        /// few seconds after the page that carried it).
        pub fn page_token(mut self, token: impl Into<String>) -> Self {
            self.params.set("pagetoken", token.into());
            self
        }
    };
}

mod geocoding;
mod places;
mod routes;
mod timezone;

pub use geocoding::{Geocode, Geocoding, ReverseGeocode, DEFAULT_BATCH_CONCURRENCY};
pub use places::{
    Autocomplete, FindPlace, GetPlaceDetails, Places, SearchNearby, SearchText, SessionToken,
};
pub use routes::{
    Avoid, Departure, GetDirections, GetDistanceMatrix, Routes, TrafficModel, TravelMode, Units,
    MAX_MATRIX_SIDE, MAX_WAYPOINTS,
};
pub use timezone::{GetTimeZone, TimeZones};

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{LatLng, PlaceId};
use crate::Error;

/// A call's query parameters in order, each name once, plus the first problem a setter found
/// (reported when the call is sent, which then sends nothing).
#[derive(Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
    problem: Option<(&'static str, String)>,
}

impl fmt::Debug for Params {
    // Parameters are the caller's own (addresses, coordinates), never the key, which the
    // auth layer adds; printed so a caller can see what a call will ask.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.pairs.iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

impl Params {
    /// Sets `name` to `value`, replacing an earlier value.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.pairs.iter_mut().find(|(k, _)| k == name) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((name.to_string(), value)),
        }
    }

    /// The value of `name`, if set.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `name` is set.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Records the first invalid setting: `field` names it (`"geocode.address"`).
    pub(crate) fn problem(&mut self, field: &'static str, message: impl Into<String>) {
        self.problem.get_or_insert((field, message.into()));
    }

    /// The pairs, or the first problem as an [`ErrorKind::Config`](crate::ErrorKind::Config)
    /// error naming its field.
    pub(crate) fn into_pairs(self) -> Result<Vec<(String, String)>, Error> {
        match self.problem {
            Some((field, message)) => Err(Error::config(field, message)),
            None => Ok(self.pairs),
        }
    }
}

/// A place given to a call: an address, coordinates or a place id.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Location {
    /// A street address or a place name, geocoded by Google.
    Address(String),
    /// Coordinates.
    LatLng(LatLng),
    /// A place id (sent as `place_id:<id>`).
    PlaceId(PlaceId),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Address(a) => f.write_str(a),
            Location::LatLng(p) => fmt::Display::fmt(p, f),
            Location::PlaceId(id) => write!(f, "place_id:{id}"),
        }
    }
}

impl From<&str> for Location {
    fn from(address: &str) -> Self {
        Location::Address(address.to_string())
    }
}

impl From<String> for Location {
    fn from(address: String) -> Self {
        Location::Address(address)
    }
}

impl From<LatLng> for Location {
    fn from(point: LatLng) -> Self {
        Location::LatLng(point)
    }
}

impl From<PlaceId> for Location {
    fn from(id: PlaceId) -> Self {
        Location::PlaceId(id)
    }
}

/// `locations` joined with `|`, the way every multi-location parameter is sent; an empty
/// list or one with an empty address is a problem named by `field`.
pub(crate) fn join_locations(
    params: &mut Params,
    name: &str,
    field: &'static str,
    locations: &[Location],
) {
    if locations.is_empty() {
        params.problem(field, "needs at least one location");
        return;
    }
    if locations
        .iter()
        .any(|l| matches!(l, Location::Address(a) if a.trim().is_empty()))
    {
        params.problem(field, "holds an empty address");
        return;
    }
    let joined = locations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("|");
    params.set(name, joined);
}

/// `bounds` as Google's `south,west|north,east`.
pub(crate) fn bounds_param(southwest: LatLng, northeast: LatLng) -> String {
    format!("{southwest}|{northeast}")
}

/// Seconds since the Unix epoch (a time before it is sent as 0, which Google refuses as a
/// past time rather than this library inventing one).
pub(crate) fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Checks that a free-text parameter is not empty.
pub(crate) fn non_empty(params: &mut Params, name: &str, field: &'static str, value: String) {
    if value.trim().is_empty() {
        params.problem(field, "must not be empty");
    }
    params.set(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_order_replace_values_and_report_the_first_problem() {
        let mut p = Params::default();
        p.set("address", "a");
        p.set("language", "en");
        p.set("address", "b");
        assert!(p.has("language") && !p.has("region"));
        assert_eq!(
            p.clone().into_pairs().unwrap(),
            vec![
                ("address".to_string(), "b".to_string()),
                ("language".to_string(), "en".to_string())
            ]
        );
        p.problem("x.first", "bad");
        p.problem("x.second", "worse");
        let err = p.into_pairs().unwrap_err();
        assert!(err.to_string().contains("x.first"), "{err}");
    }

    #[test]
    fn locations_format_as_google_reads_them() {
        let mut p = Params::default();
        join_locations(
            &mut p,
            "origins",
            "matrix.origins",
            &[
                Location::from("Boston, MA"),
                Location::from(LatLng::new(41.43206, -81.38992)),
                Location::from(PlaceId::from("ChIJ3S-JXmauEmsRUcIaWtf4MzE")),
            ],
        );
        assert_eq!(
            p.into_pairs().unwrap()[0].1,
            "Boston, MA|41.43206,-81.38992|place_id:ChIJ3S-JXmauEmsRUcIaWtf4MzE"
        );
        let mut p = Params::default();
        join_locations(&mut p, "origins", "matrix.origins", &[]);
        assert!(p.into_pairs().is_err());
        let mut p = Params::default();
        join_locations(&mut p, "origins", "matrix.origins", &[Location::from(" ")]);
        assert!(p.into_pairs().is_err());
    }
}
