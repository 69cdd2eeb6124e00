//! [`RetsConfig`]: one tenant's MLS login, as the `rets` template's JSON Schema describes it (a
//! test holds the two to each other), and [`RetsSettings`], the part of it the typed client
//! reads.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::templates::ConnectionConfig;
use crate::{ConfigError, Error, SecretString};

/// The `RETS-Version` sent when the config names none: 1.7.2, the version most MLSs run.
pub const DEFAULT_RETS_VERSION: &str = "RETS/1.7.2";
/// The User-Agent sent when the config names none.
pub const DEFAULT_USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));
/// Rows asked for per search page by default: the seed's batches of 1,000.
pub const DEFAULT_PAGE_SIZE: u32 = 1000;
/// How long fetched photos are kept per tenant by default: 24 hours.
pub const DEFAULT_PHOTO_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// The RETS versions this connector speaks.
pub const SUPPORTED_VERSIONS: [&str; 5] = [
    "RETS/1.5",
    "RETS/1.7",
    "RETS/1.7.1",
    "RETS/1.7.2",
    "RETS/1.8",
];

/// How the connector proves the user's identity to the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HttpAuth {
    /// Whatever the server's `401` challenge asks for: Digest when offered, else Basic.
    #[default]
    Auto,
    /// HTTP Digest (RFC 2617), answered after the server's challenge.
    Digest,
    /// HTTP Basic, sent with the first request (only over HTTPS in production).
    Basic,
}

/// The HTTP method of RETS transactions (some servers accept only one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum RetsMethod {
    /// `GET`, parameters in the query string.
    #[default]
    #[serde(rename = "GET")]
    Get,
    /// `POST`, parameters as a form body (long DMQL queries fit).
    #[serde(rename = "POST")]
    Post,
}

/// One tenant's RETS config: what [`RetsIntegration::bind`](crate::templates::Integration::bind) reads.
///
/// `Debug` never prints the passwords.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetsConfig {
    /// The Login transaction's URL (`https://rets.example-mls.com:6103/rets/login`).
    pub login_url: String,
    /// The MLS user name.
    pub username: String,
    /// The MLS password.
    pub password: SecretString,
    /// The User-Agent the MLS registered for this feed (default [`DEFAULT_USER_AGENT`]).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// The User-Agent password, when the MLS requires `RETS-UA-Authorization`.
    #[serde(default)]
    pub user_agent_password: Option<SecretString>,
    /// `RETS-Version` (default [`DEFAULT_RETS_VERSION`]; one of [`SUPPORTED_VERSIONS`]).
    #[serde(default)]
    pub rets_version: Option<String>,
    /// `auto` (default), `digest` or `basic`.
    #[serde(default)]
    pub http_auth: HttpAuth,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub http_method: RetsMethod,
    /// Rows per search page (default [`DEFAULT_PAGE_SIZE`]).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// Seconds fetched photos are cached for this tenant (default 24 h; 0 turns it off).
    #[serde(default)]
    pub photo_cache_ttl_secs: Option<u64>,
}

impl fmt::Debug for RetsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetsConfig")
            .field("login_url", &self.login_url)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("user_agent", &self.user_agent)
            .field(
                "user_agent_password",
                &self.user_agent_password.as_ref().map(|_| "[redacted]"),
            )
            .field("rets_version", &self.rets_version)
            .field("http_auth", &self.http_auth)
            .field("http_method", &self.http_method)
            .field("page_size", &self.page_size)
            .field("photo_cache_ttl_secs", &self.photo_cache_ttl_secs)
            .finish()
    }
}

impl RetsConfig {
    /// The typed config of a validated `rets` connection config.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the JSON pointer at
    /// fault (never its value), or the field whose value is not usable.
    pub fn from_config(config: &ConnectionConfig) -> Result<Self, Error> {
        let c: RetsConfig = crate::toolkit::typed_config(config)?;
        c.settings()?;
        Ok(c)
    }

    /// The settings the typed client and the session read.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming `rets.login_url`,
    /// `rets.rets_version`, `rets.page_size` or `rets.user_agent`.
    pub fn settings(&self) -> Result<RetsSettings, Error> {
        let login_url = url::Url::parse(&self.login_url)
            .map_err(|e| ConfigError::new("rets.login_url", format!("is not a URL: {e}")))?;
        if !matches!(login_url.scheme(), "http" | "https") || login_url.host_str().is_none() {
            return Err(ConfigError::new("rets.login_url", "must be an http or https URL").into());
        }
        let version = self
            .rets_version
            .clone()
            .unwrap_or_else(|| DEFAULT_RETS_VERSION.to_string());
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(ConfigError::new(
                "rets.rets_version",
                format!("must be one of {}", SUPPORTED_VERSIONS.join(", ")),
            )
            .into());
        }
        let page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page_size == 0 {
            return Err(ConfigError::new("rets.page_size", "must be at least 1").into());
        }
        let user_agent = self
            .user_agent
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_AGENT.to_string());
        if user_agent.is_empty() || http::HeaderValue::from_str(&user_agent).is_err() {
            return Err(
                ConfigError::new("rets.user_agent", "must be a printable header value").into(),
            );
        }
        Ok(RetsSettings {
            login_url,
            version,
            user_agent,
            method: self.http_method,
            page_size,
            photo_cache_ttl: self
                .photo_cache_ttl_secs
                .map_or(DEFAULT_PHOTO_CACHE_TTL, Duration::from_secs),
        })
    }
}

/// What a [`super::RetsClient`] reads besides the connection: the login URL, the protocol
/// version, the method, the page size and the photo cache lifetime. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetsSettings {
    /// The Login URL.
    pub login_url: url::Url,
    /// `RETS-Version`.
    pub version: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// GET or POST.
    pub method: RetsMethod,
    /// Rows per search page.
    pub page_size: u32,
    /// How long photos are cached ([`Duration::ZERO`]: not at all).
    pub photo_cache_ttl: Duration,
}

impl RetsSettings {
    /// Settings for `login_url` with every default.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming `rets.login_url`.
    pub fn for_login_url(login_url: &str) -> Result<Self, Error> {
        let config = RetsConfig {
            login_url: login_url.to_string(),
            username: String::new(),
            password: SecretString::from(String::new()),
            user_agent: None,
            user_agent_password: None,
            rets_version: None,
            http_auth: HttpAuth::Auto,
            http_method: RetsMethod::Get,
            page_size: None,
            photo_cache_ttl_secs: None,
        };
        config.settings()
    }

    /// The same settings with `page_size` rows per search page (at least 1).
    #[must_use]
    pub fn page_size(mut self, rows: u32) -> Self {
        self.page_size = rows.max(1);
        self
    }

    /// The same settings with `method` for every transaction.
    #[must_use]
    pub fn method(mut self, method: RetsMethod) -> Self {
        self.method = method;
        self
    }

    /// The same settings with photos cached for `ttl` (zero: off).
    #[must_use]
    pub fn photo_cache_ttl(mut self, ttl: Duration) -> Self {
        self.photo_cache_ttl = ttl;
        self
    }

    /// The same settings speaking `version` (`RETS/1.8`).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
}
