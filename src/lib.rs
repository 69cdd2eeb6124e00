//! # switchboard
//!
//! Embeddable plumbing for third-party API integrations: one HTTP pipeline (auth, cache, rate
//! limits, circuit breaker, retries that never duplicate a side effect, deadlines), pluggable
//! credential stores and rate limiters, webhook verification, and provider connectors behind
//! cargo features.
//!
//! ```no_run
//! # async fn demo(connector: impl switchboard::Connector + 'static) -> Result<(), switchboard::Error> {
//! use switchboard::{auth::BearerToken, Switchboard};
//!
//! let sb = Switchboard::builder().build()?;
//! let conn = sb
//!     .connection(connector)
//!     .tenant("acme")
//!     .id("acme-crm")
//!     .base_url("https://api.example.com")
//!     .auth(BearerToken::new("token"))
//!     .build()?;
//! let contacts: serde_json::Value = conn.get("/v1/contacts").send().await?.json().await?;
//! # Ok(()) }
//! ```
//!
//! Where to look: [`pipeline`] documents the order of the layers; [`Error`] is the one error
//! type; the four plug-in traits are [`Connector`], [`WebhookVerifier`], [`CredentialStore`]
//! and [`RateLimiter`].

pub mod auth;
mod backoff;
#[cfg(any(feature = "ghl", feature = "rets"))]
mod calendar;
mod client;
mod clock;
pub mod connections;
pub mod connector;
pub mod credentials;
mod endpoint_policy;
mod error;
mod ids;
#[cfg(test)]
mod layers;
pub mod observe;
pub mod outbound;
pub mod pipeline;
pub mod rate_limit;
pub mod redact;
mod response;
pub mod store;
pub mod sync;
pub mod templates;
pub mod tokens;
pub mod toolkit;
pub mod vault;
pub mod webhook;

#[cfg(feature = "test-util")]
pub mod test_util;

pub use client::{
    CallObserver, Connection, ConnectionBuilder, ConnectionSettings, RequestBuilder, Switchboard,
    SwitchboardBuilder,
};
pub use connector::{AttemptOutcome, BodyFailure, Connector, RetryDecision};
pub use credentials::CredentialStore;
pub use error::{BoxError, ConfigError, DecodeError, Error, ErrorKind, PROVIDER_MESSAGE_MAX_CHARS};
pub use ids::{ConnectionId, TenantId};
pub use pipeline::breaker::{BreakerConfig, BreakerReport, BreakerState};
pub use pipeline::cache::CacheConfig;
pub use pipeline::retry::RetryConfig;
pub use rate_limit::{Quota, RateLimiter};
pub use response::{decode_json, Response};
pub use toolkit::ProviderError;
pub use webhook::WebhookVerifier;

/// The `secrecy` crate this library's secret fields are typed with, re-exported so a host
/// reads a secret ([`ConnectionConfig::secret`](templates::ConnectionConfig::secret)) without
/// depending on `secrecy` itself (and on the same version).
///
/// ```
/// use std::collections::BTreeMap;
/// use switchboard::templates::ConnectionConfig;
/// use switchboard::{ExposeSecret, SecretString};
///
/// let mut secrets = BTreeMap::new();
/// secrets.insert("apiKey".to_string(), SecretString::from("sk_test_123"));
/// let config = ConnectionConfig::new(serde_json::json!({}), secrets);
/// let key: &SecretString = config.secret("apiKey").unwrap();
/// assert_eq!(key.expose_secret(), "sk_test_123");
/// // Debug output never holds the value.
/// assert!(!format!("{key:?}").contains("sk_test_123"));
/// ```
pub use secrecy;
pub use secrecy::{ExposeSecret, SecretString};

#[cfg(feature = "twilio")]
#[path = "../connectors/twilio/mod.rs"]
pub mod twilio;

#[cfg(feature = "stripe")]
#[path = "../connectors/stripe/mod.rs"]
pub mod stripe;

#[cfg(feature = "docusign")]
#[path = "../connectors/docusign/mod.rs"]
pub mod docusign;

#[cfg(feature = "ghl")]
#[path = "../connectors/ghl/mod.rs"]
pub mod ghl;

#[cfg(feature = "rets")]
#[path = "../connectors/rets/mod.rs"]
pub mod rets;

#[cfg(feature = "google-maps")]
#[path = "../connectors/google_maps/mod.rs"]
pub mod google_maps;

#[cfg(test)]
mod object_safety {
    use std::sync::Arc;
    fn _connector(_: Arc<dyn crate::Connector>) {}
    fn _verifier(_: Arc<dyn crate::WebhookVerifier>) {}
    fn _store(_: Arc<dyn crate::CredentialStore>) {}
    fn _limiter(_: Arc<dyn crate::RateLimiter>) {}
    fn _auth(_: Arc<dyn crate::auth::Authenticator>) {}
}
