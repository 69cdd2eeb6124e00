//! Time Zone (`/maps/api/timezone/json`): the time zone at a point and moment, and of an
//! address (geocoded first, from the cache when it can be), which is how the seeds set a
//! contact's time zone.

use std::time::{Duration, SystemTime};

use super::{unix_seconds, Geocode, Params};
use crate::google_maps::client::{Defaults, GoogleMapsClient};
use crate::google_maps::{GoogleMapsError, LatLng, TimeZoneResponse};
use crate::toolkit::Call;
use crate::{Error, ErrorKind};

/// The time zone at a point, at a moment (which decides daylight saving).
#[derive(Debug, Clone)]
#[must_use]
pub struct GetTimeZone {
    params: Params,
}

setters!(GetTimeZone: language);

impl GetTimeZone {
    /// The time zone at `location` at `at`.
    pub fn new(location: LatLng, at: SystemTime) -> Self {
        let mut params = Params::default();
        params.set("location", location.to_string());
        params.set("timestamp", unix_seconds(at).to_string());
        GetTimeZone { params }
    }
}

/// Time Zone, reached with [`GoogleMapsClient::time_zones`].
#[derive(Debug, Clone)]
pub struct TimeZones {
    client: GoogleMapsClient,
}

impl TimeZones {
    pub(crate) fn new(client: GoogleMapsClient) -> Self {
        TimeZones { client }
    }

    /// `GET /maps/api/timezone/json`. A point at sea has no zone: `ZERO_RESULTS`, a success
    /// without a `time_zone_id`.
    pub fn get(&self, request: GetTimeZone) -> Call<TimeZoneResponse, GoogleMapsError> {
        self.client.get(
            "/maps/api/timezone/json",
            "timezone",
            request.params,
            Defaults {
                language: true,
                region: false,
            },
            Duration::ZERO,
        )
    }

    /// The time zone of `address` at `at`: the address is geocoded (through the geocode
    /// cache), then its first result's location is looked up.
    ///
    /// # Errors
    /// The geocode's or the lookup's error; an address Google finds nothing for is an
    /// [`ErrorKind::NotFound`] error.
    pub async fn for_address(
        &self,
        address: impl Into<Geocode>,
        at: SystemTime,
    ) -> Result<TimeZoneResponse, GoogleMapsError> {
        let found = self.client.geocoding().forward(address.into()).await?;
        let Some(first) = found.results.first() else {
            return Err(Error::new(
                ErrorKind::NotFound,
                "the address geocodes to no place, so it has no time zone",
            )
            .into());
        };
        self.get(GetTimeZone::new(first.geometry.location, at))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_the_point_and_the_moment_in_seconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_331_161_200);
        let p = GetTimeZone::new(LatLng::new(39.6034810, -119.6822510), at)
            .params
            .into_pairs()
            .unwrap();
        assert_eq!(p[0], ("location".into(), "39.603481,-119.682251".into()));
        assert_eq!(p[1], ("timestamp".into(), "1331161200".into()));
    }
}
