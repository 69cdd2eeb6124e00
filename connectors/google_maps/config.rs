//! [`GoogleMapsConfig`]: one tenant's Google Maps settings, as the `google_maps` template's
//! JSON Schema describes them (a test holds the two to each other), and
//! [`GoogleMapsSettings`], the part of it the typed client reads.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::templates::ConnectionConfig;
use crate::{Error, SecretString};

/// How long geocodes are cached by default: 30 days, the longest Google's terms allow for
/// the latitude and longitude of a result.
pub const DEFAULT_GEOCODE_CACHE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long Place Details answers are cached by default: 7 days (see `docs/google-maps.md`
/// for what Google's terms say about caching place content).
pub const DEFAULT_PLACE_DETAILS_CACHE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest cache lifetime a config may set: Google's 30-day limit.
pub const MAX_CACHE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// One tenant's Google Maps config: what [`GoogleMapsIntegration::bind`](crate::templates::Integration::bind) reads from
/// the connection's validated config.
///
/// `Debug` never prints the key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct GoogleMapsConfig {
    /// The API key (sent as the `key` query parameter; never logged).
    pub api_key: SecretString,
    /// The web services' base URL (default [`super::DEFAULT_BASE_URL`]).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Seconds a geocode (forward or reverse) is cached, per tenant and connection
    /// (default 30 days, at most 30 days; 0 turns the cache off).
    #[serde(default)]
    pub geocode_cache_ttl_secs: Option<u64>,
    /// Seconds a Place Details answer is cached (default 7 days, at most 30 days; 0 off).
    #[serde(default)]
    pub place_details_cache_ttl_secs: Option<u64>,
    /// The `language` sent with every call that takes one, unless the call sets its own.
    #[serde(default)]
    pub language: Option<String>,
    /// The `region` (ccTLD) sent with every call that takes one, unless the call sets its own.
    #[serde(default)]
    pub region: Option<String>,
}

impl fmt::Debug for GoogleMapsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleMapsConfig")
            .field("api_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("geocode_cache_ttl_secs", &self.geocode_cache_ttl_secs)
            .field(
                "place_details_cache_ttl_secs",
                &self.place_details_cache_ttl_secs,
            )
            .field("language", &self.language)
            .field("region", &self.region)
            .finish()
    }
}

impl GoogleMapsConfig {
    /// The typed config of a validated `google_maps` connection config.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the JSON pointer at
    /// fault (never its value).
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, Error> {
        crate::toolkit::typed_config(config)
    }

    /// The settings the typed client reads (cache lifetimes capped at [`MAX_CACHE_TTL`]).
    pub fn settings(&self) -> GoogleMapsSettings {
        let ttl = |secs: Option<u64>, default: Duration| {
            secs.map_or(default, |s| Duration::from_secs(s).min(MAX_CACHE_TTL))
        };
        GoogleMapsSettings {
            geocode_cache_ttl: ttl(self.geocode_cache_ttl_secs, DEFAULT_GEOCODE_CACHE_TTL),
            place_details_cache_ttl: ttl(
                self.place_details_cache_ttl_secs,
                DEFAULT_PLACE_DETAILS_CACHE_TTL,
            ),
            language: self.language.clone(),
            region: self.region.clone(),
        }
    }
}

/// What a [`super::GoogleMapsClient`] needs besides the connection: cache lifetimes and the
/// default language and region. A connection bound by the template carries the tenant's; a
/// connection a host built by hand gets [`GoogleMapsSettings::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GoogleMapsSettings {
    /// How long geocodes are cached ([`Duration::ZERO`]: not at all).
    pub geocode_cache_ttl: Duration,
    /// How long Place Details answers are cached ([`Duration::ZERO`]: not at all).
    pub place_details_cache_ttl: Duration,
    /// The default `language`.
    pub language: Option<String>,
    /// The default `region`.
    pub region: Option<String>,
}

impl Default for GoogleMapsSettings {
    fn default() -> Self {
        GoogleMapsSettings {
            geocode_cache_ttl: DEFAULT_GEOCODE_CACHE_TTL,
            place_details_cache_ttl: DEFAULT_PLACE_DETAILS_CACHE_TTL,
            language: None,
            region: None,
        }
    }
}

impl GoogleMapsSettings {
    /// Geocodes cached for `ttl` (capped at [`MAX_CACHE_TTL`]; zero turns caching off).
    #[must_use]
    pub fn geocode_cache_ttl(mut self, ttl: Duration) -> Self {
        self.geocode_cache_ttl = ttl.min(MAX_CACHE_TTL);
        self
    }

    /// Place Details cached for `ttl` (capped at [`MAX_CACHE_TTL`]; zero turns caching off).
    #[must_use]
    pub fn place_details_cache_ttl(mut self, ttl: Duration) -> Self {
        self.place_details_cache_ttl = ttl.min(MAX_CACHE_TTL);
        self
    }

    /// The `language` every call sends unless it sets its own.
    #[must_use]
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    /// The `region` every call that takes one sends unless it sets its own.
    #[must_use]
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{json, Value};

    use super::*;
    use crate::templates::Integration;
    use crate::ExposeSecret;

    fn with_key(plain: Value) -> ConnectionConfig {
        let mut secrets = BTreeMap::new();
        secrets.insert("api_key".to_string(), SecretString::from("AIzaCANARY1"));
        ConnectionConfig::new(plain, secrets)
    }

    #[test]
    fn the_schema_and_the_type_name_the_same_fields_and_requirements() {
        let integration = super::super::GoogleMapsIntegration::new();
        let schema = integration.template().config_schema();
        let mut properties: Vec<&str> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = crate::toolkit::config_fields::<GoogleMapsConfig>().to_vec();
        properties.sort_unstable();
        fields.sort_unstable();
        assert_eq!(properties, fields);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(required, ["api_key"]);
        let none = ConnectionConfig::new(json!({}), BTreeMap::new());
        let err = GoogleMapsConfig::from_config(&none).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        assert_eq!(integration.template().secret_fields(), ["api_key"]);
    }

    #[test]
    fn defaults_are_the_seeds_and_lifetimes_never_pass_thirty_days() {
        let c = GoogleMapsConfig::from_config(&with_key(json!({}))).unwrap();
        assert_eq!(c.settings(), GoogleMapsSettings::default());
        assert_eq!(
            c.settings().geocode_cache_ttl,
            Duration::from_secs(2_592_000)
        );
        assert_eq!(
            c.settings().place_details_cache_ttl,
            Duration::from_secs(604_800)
        );
        let c = GoogleMapsConfig::from_config(&with_key(json!({
            "geocode_cache_ttl_secs": 99_999_999u64,
            "place_details_cache_ttl_secs": 0,
            "language": "es",
        })))
        .unwrap();
        let s = c.settings();
        assert_eq!(s.geocode_cache_ttl, MAX_CACHE_TTL);
        assert_eq!(s.place_details_cache_ttl, Duration::ZERO);
        assert_eq!(s.language.as_deref(), Some("es"));
        assert_eq!(
            GoogleMapsSettings::default()
                .geocode_cache_ttl(Duration::from_secs(u64::MAX))
                .geocode_cache_ttl,
            MAX_CACHE_TTL
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let c = GoogleMapsConfig::from_config(&with_key(json!({"region": "us"}))).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("CANARY"), "{d}");
        assert!(d.contains("us"), "{d}");
        assert_eq!(c.api_key.expose_secret(), "AIzaCANARY1");
    }
}
