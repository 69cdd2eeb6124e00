//! [`GhlConfig`]: one tenant's GoHighLevel settings, as the `ghl` template's JSON Schema
//! describes them (the seed platform's fields; a test holds the two to each other), and
//! [`GhlSettings`], the part of it the typed client reads.

use std::fmt;

use serde::Deserialize;

use crate::templates::ConnectionConfig;
use crate::{Error, ExposeSecret, SecretString};

/// One tenant's GoHighLevel config: what the [`GhlIntegration`](super::GhlIntegration) binds
/// a connection from. Either `apiKey` (a Private Integration Token) or `clientId` and
/// `clientSecret` (a marketplace app whose token the host stored after the code exchange).
///
/// `Debug` never prints the token or the client secret.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[non_exhaustive]
pub struct GhlConfig {
    /// The Private Integration Token (or a location API key), sent as a bearer token.
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// The location (sub-account) this connection is for; also the webhook routing key.
    pub location_id: String,
    /// The calendar bookings go to (booking sync, free-slot lookups).
    #[serde(default)]
    pub calendar_id: Option<String>,
    /// The webhook URL entered in the app's settings (where GoHighLevel posts events).
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The `Version` header (default [`super::API_VERSION`]; calendars always send theirs).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The API's base URL (default [`super::DEFAULT_BASE_URL`]).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The marketplace app's client id (OAuth).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The marketplace app's client secret (OAuth).
    #[serde(default)]
    pub client_secret: Option<SecretString>,
}

impl fmt::Debug for GhlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("location_id", &self.location_id)
            .field("calendar_id", &self.calendar_id)
            .field("webhook_url", &self.webhook_url)
            .field("api_version", &self.api_version)
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// How a connection authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GhlAuth {
    /// A Private Integration Token.
    PrivateToken,
    /// A marketplace app's OAuth token, renewed with the rotating refresh token.
    OAuth,
}

impl GhlConfig {
    /// The typed config of a validated `ghl` connection config.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the JSON pointer at
    /// fault (never its value).
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, Error> {
        crate::toolkit::typed_config(config)
    }

    /// The base URL in use.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .filter(|u| !u.is_empty())
            .unwrap_or(super::DEFAULT_BASE_URL)
    }

    /// Which credentials the config holds: a token wins over an app.
    pub(crate) fn auth(&self) -> Result<GhlAuth, Error> {
        let set =
            |s: &Option<SecretString>| s.as_ref().is_some_and(|s| !s.expose_secret().is_empty());
        if set(&self.api_key) {
            return Ok(GhlAuth::PrivateToken);
        }
        match (&self.client_id, set(&self.client_secret)) {
            (Some(id), true) if !id.is_empty() => Ok(GhlAuth::OAuth),
            _ => Err(Error::config(
                "ghl.apiKey",
                "set apiKey (a Private Integration Token), or clientId and clientSecret (a marketplace app)",
            )),
        }
    }

    /// The settings the typed client reads.
    pub fn settings(&self) -> GhlSettings {
        GhlSettings {
            location_id: Some(self.location_id.clone()),
            calendar_id: self.calendar_id.clone().filter(|c| !c.is_empty()),
            api_version: self
                .api_version
                .clone()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| super::API_VERSION.to_string()),
        }
    }
}

/// What a [`super::GhlClient`] needs besides the connection: the location and calendar calls
/// default to, and the API version the connection sends. A connection bound by the template
/// carries the tenant's; a connection a host built by hand gets [`GhlSettings::default`] (no
/// location: calls that need one say so).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GhlSettings {
    /// The location calls default to.
    pub location_id: Option<String>,
    /// The calendar bookings default to.
    pub calendar_id: Option<String>,
    /// The `Version` header calls send (calendars excepted).
    pub api_version: String,
}

impl Default for GhlSettings {
    fn default() -> Self {
        GhlSettings {
            location_id: None,
            calendar_id: None,
            api_version: super::API_VERSION.to_string(),
        }
    }
}

impl GhlSettings {
    /// Settings for `location_id`.
    pub fn for_location(location_id: impl Into<String>) -> Self {
        GhlSettings {
            location_id: Some(location_id.into()),
            ..Self::default()
        }
    }

    /// With `calendar_id` as the default calendar.
    #[must_use]
    pub fn calendar(mut self, calendar_id: impl Into<String>) -> Self {
        self.calendar_id = Some(calendar_id.into());
        self
    }
}
