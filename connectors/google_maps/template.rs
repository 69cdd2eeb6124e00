//! [`GoogleMapsIntegration`]: the `google_maps` template (config as JSON Schema) and its
//! binding to a [`GoogleMapsConnector`] with the key in the `key` query parameter.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use super::{
    Geocode, GoogleMapsClient, GoogleMapsConfig, GoogleMapsConnector, GoogleMapsError, MapsStatus,
    DEFAULT_BASE_URL,
};
use crate::auth::QueryKey;
use crate::templates::{ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate};
use crate::{ConfigError, Connection, Error, ProviderError};

/// The address the check geocodes: Google's own, stable for years.
pub const CHECK_ADDRESS: &str = "1600 Amphitheatre Parkway, Mountain View, CA";

/// The Google Maps integration: template name `google_maps`.
///
/// Config fields: `api_key` (required, secret: a key with the Geocoding, Places, Distance
/// Matrix, Directions and Time Zone APIs enabled), `geocode_cache_ttl_secs` (default 30 days,
/// at most 30), `place_details_cache_ttl_secs` (default 7 days, at most 30), `language`,
/// `region` and `base_url` (default [`DEFAULT_BASE_URL`]).
///
/// The check geocodes [`CHECK_ADDRESS`] without the cache, so a revoked key or a disabled API
/// shows at once. `REQUEST_DENIED` and `OVER_DAILY_LIMIT`, from the check or any call, move
/// the connection to `error` with advice and Google's `error_message`.
#[derive(Debug, Clone)]
pub struct GoogleMapsIntegration {
    template: IntegrationTemplate,
}

impl Default for GoogleMapsIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl GoogleMapsIntegration {
    /// The integration with its template.
    pub fn new() -> Self {
        let max = super::MAX_CACHE_TTL.as_secs();
        let template = IntegrationTemplate::builder("google_maps")
            .display_name("Google Maps Platform")
            .category("maps")
            .webhooks(false)
            .setup_instructions(
                "1. In the Google Cloud console, select (or create) a project with billing \
                 enabled.\n\
                 2. Under **APIs & Services → Library**, enable the Geocoding, Places, \
                 Distance Matrix, Directions and Time Zone APIs.\n\
                 3. Under **APIs & Services → Credentials**, create an API key, restrict it to \
                 those APIs (and to your servers' IP addresses), and paste it here.",
            )
            .config_schema(json!({
                "type": "object",
                "required": ["api_key"],
                "additionalProperties": false,
                "properties": {
                    "api_key": {
                        "type": "string",
                        "title": "API key",
                        "format": "password",
                        "pattern": "^[A-Za-z0-9_-]{20,}$",
                        "x-error-message": {"pattern": "must be an API key: at least 20 letters, digits, `-` or `_`"}
                    },
                    "geocode_cache_ttl_secs": {
                        "type": "integer",
                        "title": "Geocode cache lifetime (seconds; 0 turns it off)",
                        "minimum": 0,
                        "maximum": max,
                        "default": super::DEFAULT_GEOCODE_CACHE_TTL.as_secs()
                    },
                    "place_details_cache_ttl_secs": {
                        "type": "integer",
                        "title": "Place Details cache lifetime (seconds; 0 turns it off)",
                        "minimum": 0,
                        "maximum": max,
                        "default": super::DEFAULT_PLACE_DETAILS_CACHE_TTL.as_secs()
                    },
                    "language": {
                        "type": "string",
                        "title": "Language of results (e.g. en, es, pt-BR)",
                        "pattern": "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                        "x-error-message": {"pattern": "must be a language code such as en or pt-BR"}
                    },
                    "region": {
                        "type": "string",
                        "title": "Region bias (a ccTLD such as us or uk)",
                        "pattern": "^[A-Za-z]{2}$",
                        "x-error-message": {"pattern": "must be a two-letter region code"}
                    },
                    "base_url": {
                        "type": "string",
                        "title": "Web services base URL",
                        "default": DEFAULT_BASE_URL,
                        "pattern": "^https?://",
                        "x-error-message": {"pattern": "must be an http or https URL"}
                    }
                }
            }))
            .endpoint_url_field("base_url")
            .build()
            .expect("the Google Maps template is valid");
        GoogleMapsIntegration { template }
    }
}

fn core(e: GoogleMapsError) -> Error {
    e.core().clone()
}

/// Advice for a failure that moves the connection to `error`, with Google's own words.
fn advice(e: &Error) -> Option<String> {
    let failure = GoogleMapsError::from_core(e.clone());
    let said = failure
        .error_message()
        .map(|m| format!(" (Google: {m})"))
        .unwrap_or_default();
    match failure.maps_status()? {
        MapsStatus::RequestDenied => Some(format!(
            "check the API key, and that the Geocoding, Places, Distance Matrix, Directions \
             and Time Zone APIs are enabled for its project{said}"
        )),
        MapsStatus::OverDailyLimit => Some(format!(
            "check that billing is enabled for the key's project and that no daily quota \
             cap is spent{said}"
        )),
        _ => None,
    }
}

#[async_trait]
impl Integration for GoogleMapsIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// Geocodes [`CHECK_ADDRESS`], bypassing the cache.
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        let client = GoogleMapsClient::from_connection(connection.clone()).map_err(core)?;
        let uncached = client.settings().clone().geocode_cache_ttl(Duration::ZERO);
        client
            .with_settings(uncached)
            .geocoding()
            .forward(Geocode::address(CHECK_ADDRESS))
            .await
            .map(|_| ())
            .map_err(core)
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let config = GoogleMapsConfig::from_config(config)?;
        let base_url = config.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        if base_url.is_empty() {
            return Err(ConfigError::new("google_maps.base_url", "must not be empty").into());
        }
        let settings = config.settings();
        Ok(IntegrationBinding::new(
            Arc::new(GoogleMapsConnector::new()),
            base_url,
            Some(Arc::new(QueryKey::new("key", config.api_key))),
        )
        .with_settings(settings)
        .with_error_hint(Arc::new(advice)))
    }
}
