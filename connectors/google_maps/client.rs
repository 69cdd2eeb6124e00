//! [`GoogleMapsClient`]: the typed handle over a [`Connection`], and the one place a call's
//! request is made (query, endpoint label, tenant defaults, cache lifetime).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::api::{Geocoding, Params, Places, Routes, TimeZones};
use super::{GoogleMapsError, GoogleMapsSettings};
use crate::toolkit::Call;
use crate::Connection;

/// Which tenant defaults a service takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Defaults {
    /// It takes `language`.
    pub(crate) language: bool,
    /// It takes `region`.
    pub(crate) region: bool,
}

/// The typed Google Maps web services over a [`Connection`] made with a
/// [`super::GoogleMapsConnector`].
///
/// Cheap to clone (a connection handle and shared settings). Geocodes and Place Details are
/// cached per tenant and connection for the settings' lifetimes ([`GoogleMapsSettings`]);
/// concurrent identical lookups reach Google once.
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::google_maps::GoogleMapsError> {
/// use switchboard::google_maps::{Geocode, GetDistanceMatrix, GoogleMapsClient, TravelMode};
/// let maps = GoogleMapsClient::from_connection(connection)?;
/// let found = maps
///     .geocoding()
///     .forward(Geocode::address("1600 Amphitheatre Parkway, Mountain View, CA").component("country", "US"))
///     .await?;
/// if let Some(first) = found.results.first() {
///     println!("{} at {}", first.formatted_address, first.geometry.location);
/// }
/// let matrix = maps
///     .routes()
///     .distance_matrix(GetDistanceMatrix::new(["Boston, MA"], ["Concord, MA", "Lexington, MA"]).mode(TravelMode::Driving))
///     .await?;
/// # let _ = matrix; Ok(()) }
/// ```
#[derive(Clone)]
pub struct GoogleMapsClient {
    connection: Connection,
    settings: Arc<GoogleMapsSettings>,
}

impl fmt::Debug for GoogleMapsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleMapsClient")
            .field("connection", &self.connection)
            .field("settings", &self.settings)
            .finish()
    }
}

impl GoogleMapsClient {
    /// A client over `connection`, which must be a connection of a
    /// [`super::GoogleMapsConnector`]: made by [`super::GoogleMapsIntegration`] through
    /// [`Connections`](crate::connections::Connections) (it then carries the tenant's cache
    /// lifetimes, language and region), or by a host with
    /// `Switchboard::connection(GoogleMapsConnector::new())` and a
    /// [`QueryKey`](crate::auth::QueryKey) named `key` (default settings).
    ///
    /// # Errors
    /// A [`GoogleMapsError`] of kind [`ErrorKind::Config`](crate::ErrorKind::Config) naming
    /// `google_maps.connection` when the connection belongs to another connector.
    pub fn from_connection(connection: Connection) -> Result<Self, GoogleMapsError> {
        crate::toolkit::connector_of::<super::GoogleMapsConnector>(
            &connection,
            "google_maps.connection",
        )?;
        let settings = connection
            .settings::<GoogleMapsSettings>()
            .cloned()
            .unwrap_or_default();
        Ok(GoogleMapsClient {
            connection,
            settings: Arc::new(settings),
        })
    }

    /// The same client with other settings (cache lifetimes, language, region).
    #[must_use]
    pub fn with_settings(&self, settings: GoogleMapsSettings) -> Self {
        GoogleMapsClient {
            connection: self.connection.clone(),
            settings: Arc::new(settings),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &GoogleMapsSettings {
        &self.settings
    }

    /// The underlying connection, for calls this client does not model.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Geocoding: forward, reverse, and a batch of addresses.
    pub fn geocoding(&self) -> Geocoding {
        Geocoding::new(self.clone())
    }

    /// Places (the Places web service): details, nearby, text search, find place,
    /// autocomplete.
    pub fn places(&self) -> Places {
        Places::new(self.clone())
    }

    /// Distance Matrix and Directions.
    pub fn routes(&self) -> Routes {
        Routes::new(self.clone())
    }

    /// Time Zone, by coordinates or by address.
    pub fn time_zones(&self) -> TimeZones {
        TimeZones::new(self.clone())
    }

    /// A typed GET of `path` with `params`, the tenant's defaults where the call set none,
    /// answered from the cache for `cache` when it is not zero.
    pub(crate) fn get<T>(
        &self,
        path: &'static str,
        endpoint: &'static str,
        mut params: Params,
        defaults: Defaults,
        cache: Duration,
    ) -> Call<T, GoogleMapsError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        if defaults.language && !params.has("language") {
            if let Some(l) = &self.settings.language {
                params.set("language", l.as_str());
            }
        }
        if defaults.region && !params.has("region") {
            if let Some(r) = &self.settings.region {
                params.set("region", r.as_str());
            }
        }
        let pairs = match params.into_pairs() {
            Ok(p) => p,
            Err(e) => return Call::failed(e.into(), |r| Box::pin(r.json())),
        };
        let mut request = self.connection.get(path).endpoint(endpoint).query(&pairs);
        if !cache.is_zero() {
            request = request.cache_for(cache);
        }
        Call::new(request)
    }
}
