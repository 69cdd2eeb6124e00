//! [`Connection`], one tenant's configured integration with one provider, its builder, its
//! per-connection settings slot and the [`CallObserver`] the connection lifecycle hooks in.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, Method};

use super::request::RequestBuilder;
use super::switchboard::Switchboard;
use crate::auth::{Authenticator, IntoAuthenticator};
use crate::connector::Connector;
use crate::error::{ConfigError, Error};
use crate::ids::{ConnectionId, TenantId};
use crate::observe::ConnectionMetrics;
use crate::pipeline::breaker::BreakerState;
use crate::pipeline::registry::ConnectionKey;
use crate::pipeline::ConnectionShared;
use crate::pipeline::Idempotency;
use crate::rate_limit::RateKey;

/// Told the outcome of every call a [`Connection`] makes (after retries). Must be cheap and
/// must not block: it runs on the caller's task.
pub trait CallObserver: Send + Sync + fmt::Debug {
    /// One call finished.
    fn observe(&self, outcome: Result<(), &Error>);

    /// Asked before each call leaves: an error refuses the call, which then fails with it and
    /// never reaches the provider (the connection lifecycle refuses calls through a
    /// disconnected connection). The default admits every call.
    ///
    /// # Errors
    /// Whatever the observer refuses the call with.
    fn admit(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Builds a [`Connection`].
#[must_use]
pub struct ConnectionBuilder {
    pub(super) switchboard: Switchboard,
    pub(super) connector: Arc<dyn Connector>,
    pub(super) tenant: Option<TenantId>,
    pub(super) connection: Option<ConnectionId>,
    pub(super) base_url: Option<String>,
    pub(super) auth: Option<Arc<dyn Authenticator>>,
    pub(super) observer: Option<Arc<dyn CallObserver>>,
    pub(super) tenant_endpoint: bool,
    pub(super) settings: Option<ConnectionSettings>,
}

/// A connector's per-connection settings (Twilio's account SID and default sender), made by
/// an integration's `bind` from the tenant's config and read back by the typed client with
/// [`Connection::settings`]. Secrets never go here: they live in the authenticator.
pub type ConnectionSettings = Arc<dyn Any + Send + Sync>;

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("connector", &self.connector.name())
            .field("tenant", &self.tenant)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

impl ConnectionBuilder {
    /// The owning tenant (required).
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The connection's id (required).
    pub fn id(mut self, connection: impl Into<ConnectionId>) -> Self {
        self.connection = Some(connection.into());
        self
    }

    /// The provider's base URL, e.g. `https://api.stripe.com` (required).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// How requests get their credentials: an authenticator by value (or an `Arc` of one
    /// already shared; see [`IntoAuthenticator`]).
    pub fn auth(mut self, auth: impl IntoAuthenticator) -> Self {
        self.auth = Some(auth.into_authenticator());
        self
    }

    /// Says the base URL came from tenant config (`Connections` sets it): the URL must then
    /// pass the switchboard's [`EndpointPolicy`](crate::templates::EndpointPolicy) at build, and every address its host resolves
    /// to is checked by the SSRF guard before each connect, so a name that resolves to a
    /// private or metadata address is refused without a socket being opened.
    pub fn tenant_endpoint(mut self, yes: bool) -> Self {
        self.tenant_endpoint = yes;
        self
    }

    /// Reports every call's outcome to `observer` (the connection lifecycle uses this).
    pub fn observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The connector's per-connection settings (see [`ConnectionSettings`]), read back with
    /// [`Connection::settings`].
    ///
    /// ```
    /// # use switchboard::{Connector, Switchboard};
    /// # #[derive(Debug)] struct Crm;
    /// # impl Connector for Crm {
    /// #     fn name(&self) -> &str { "crm" }
    /// # }
    /// #[derive(Debug, PartialEq)]
    /// struct CrmSettings { location: String }
    ///
    /// let sb = Switchboard::builder().build()?;
    /// let conn = sb
    ///     .connection(Crm)
    ///     .tenant("acme")
    ///     .id("crm")
    ///     .base_url("https://crm.example.com")
    ///     .settings(CrmSettings { location: "loc_1".into() })
    ///     .build()?;
    /// assert_eq!(conn.settings::<CrmSettings>().map(|s| s.location.as_str()), Some("loc_1"));
    /// // Another type is not there.
    /// assert!(conn.settings::<String>().is_none());
    /// # Ok::<_, switchboard::Error>(())
    /// ```
    pub fn settings<S: Any + Send + Sync>(mut self, settings: S) -> Self {
        self.settings = Some(Arc::new(settings));
        self
    }

    /// As [`ConnectionBuilder::settings`], for settings already shared (an integration's
    /// binding carries them this way).
    pub fn shared_settings(mut self, settings: ConnectionSettings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Checks the settings and builds the connection.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the missing or invalid setting.
    pub fn build(self) -> Result<Connection, Error> {
        let tenant = self
            .tenant
            .ok_or_else(|| ConfigError::new("connection.tenant", "is required"))?;
        let id = self
            .connection
            .ok_or_else(|| ConfigError::new("connection.id", "is required"))?;
        let raw = self
            .base_url
            .ok_or_else(|| ConfigError::new("connection.base_url", "is required"))?;
        let base = url::Url::parse(&raw)
            .map_err(|e| ConfigError::new("connection.base_url", format!("is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ConfigError::new(
                "connection.base_url",
                "must be an http or https URL with a host",
            )
            .into());
        }
        if base.query().is_some() || !base.username().is_empty() || base.password().is_some() {
            return Err(ConfigError::new(
                "connection.base_url",
                "must not hold a query or user-info; credentials go in `auth`",
            )
            .into());
        }
        if self.tenant_endpoint {
            if let Err(why) = self.switchboard.inner.endpoint_policy.check(&raw) {
                return Err(ConfigError::new("connection.base_url", why).into());
            }
        }
        let host = match base.port() {
            Some(p) => format!("{}:{p}", base.host_str().unwrap_or_default()),
            None => base.host_str().unwrap_or_default().to_string(),
        };
        let connector_name: Arc<str> = Arc::from(self.connector.name());
        for (bucket, quota) in self.connector.default_quotas() {
            self.switchboard
                .rate_limiter()
                .adopt_default(&connector_name, bucket, quota);
        }
        let default_headers = self.connector.default_headers();
        let idempotency_header = match self.connector.idempotency_header() {
            Some(h) => Some(HeaderName::try_from(h).map_err(|_| {
                ConfigError::new("connector.idempotency_header", "is not a valid header name")
            })?),
            None => None,
        };
        let vary_headers = self
            .connector
            .cache_vary_headers()
            .iter()
            .map(|h| {
                HeaderName::try_from(*h).map_err(|_| {
                    ConfigError::new(
                        "connector.cache_vary_headers",
                        "holds an invalid header name",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vary_headers = crate::pipeline::cache::vary_headers(&vary_headers);
        let base_uri: http::Uri = base
            .as_str()
            .parse()
            .map_err(|_| ConfigError::new("connection.base_url", "is not a valid URI"))?;
        let (scheme, authority) = match (base_uri.scheme(), base_uri.authority()) {
            (Some(s), Some(a)) => (s.clone(), a.clone()),
            _ => {
                return Err(ConfigError::new(
                    "connection.base_url",
                    "must have a scheme and a host",
                )
                .into())
            }
        };
        let sb = &self.switchboard.inner;
        // Keyed by tenant too: connection ids are unique only within a tenant.
        let state_key = ConnectionKey::new(&tenant, &id, &host);
        let breaker = sb.breakers.get(&state_key);
        let budget = sb.budgets.get(&state_key);
        let write_log = sb.cache.write_log(&tenant, &id);
        let host: Arc<str> = Arc::from(host);
        let base_path = base.path().trim_end_matches('/').to_string();
        let default_rate_key = RateKey::new(
            tenant.clone(),
            id.clone(),
            connector_name.clone(),
            super::request::default_bucket(),
        );
        let shared = Arc::new(ConnectionShared {
            metrics: ConnectionMetrics::new(connector_name.clone()),
            default_rate_key,
            connector: self.connector,
            connector_name,
            tenant,
            connection: id,
            auth: self.auth,
            idempotency_header,
            host,
            base_url: base,
            authority,
            guarded: self.tenant_endpoint,
            breaker,
            budget,
            write_log,
        });
        Ok(Connection {
            inner: Arc::new(ConnectionInner {
                base_path,
                scheme,
                switchboard: self.switchboard,
                shared,
                observer: self.observer,
                settings: self.settings,
                vary_headers: Arc::from(vary_headers),
                default_headers,
            }),
        })
    }
}

/// One tenant's configured integration with one provider. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    pub(super) inner: Arc<ConnectionInner>,
}

/// A connection's state: what its calls share (the connector, the ids, auth, the base URL, the
/// breaker; in `shared`, which every call's context holds) and what only building a call needs.
pub(super) struct ConnectionInner {
    pub(super) switchboard: Switchboard,
    /// What every call of this connection shares (its context's per-connection part).
    pub(super) shared: Arc<ConnectionShared>,
    pub(super) scheme: http::uri::Scheme,
    /// The base URL's path without its trailing '/', prefixed to every request path.
    pub(super) base_path: String,
    pub(super) observer: Option<Arc<dyn CallObserver>>,
    pub(super) settings: Option<ConnectionSettings>,
    /// The headers that vary a cached answer: the core's and the connector's
    /// [`Connector::cache_vary_headers`], parsed and sorted once at build.
    pub(super) vary_headers: Arc<[HeaderName]>,
    /// The connector's [`Connector::default_headers`], read once at build.
    pub(super) default_headers: HeaderMap,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("connector", &self.inner.shared.connector_name)
            .field("tenant", &self.inner.shared.tenant)
            .field("id", &self.inner.shared.connection)
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The owning tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.shared.tenant
    }

    /// The connection's id.
    pub fn id(&self) -> &ConnectionId {
        &self.inner.shared.connection
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.inner.shared.connector
    }

    /// The provider host (and port, when not the default), as used by the breaker.
    pub fn host(&self) -> &str {
        &self.inner.shared.host
    }

    /// The base URL requests are joined to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.inner.shared.base_url.as_str().trim_end_matches('/')
    }

    /// The state of this connection's breaker (its tenant's, for its host).
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.shared.breaker.state()
    }

    /// The switchboard this connection belongs to.
    pub fn switchboard(&self) -> &Switchboard {
        &self.inner.switchboard
    }

    /// A sibling connection to another base URL of the same provider (Twilio's Lookups host
    /// next to its REST API host): the same switchboard, connector, tenant, id, credentials,
    /// call observer (so the connection lifecycle sees its outcomes too) and endpoint policy
    /// (a connection made from tenant config derives one that is checked and resolved through
    /// the SSRF guard the same way). Breaker and retry budget are its own: they are per host.
    ///
    /// Typed clients derive every extra connection this way rather than through
    /// [`Switchboard::connection`], which would drop the observer.
    ///
    /// # Errors
    /// As for [`ConnectionBuilder::build`]: an [`ErrorKind::Config`](crate::ErrorKind::Config) error when `base_url` is
    /// unusable or refused by the endpoint policy.
    pub fn derive_with_base_url(&self, base_url: impl Into<String>) -> Result<Connection, Error> {
        let (i, shared) = (&self.inner, &self.inner.shared);
        ConnectionBuilder {
            switchboard: i.switchboard.clone(),
            connector: shared.connector.clone(),
            tenant: Some(shared.tenant.clone()),
            connection: Some(shared.connection.clone()),
            base_url: Some(base_url.into()),
            auth: shared.auth.clone(),
            observer: i.observer.clone(),
            tenant_endpoint: shared.guarded,
            settings: i.settings.clone(),
        }
        .build()
    }

    /// The per-connection settings of type `S` its integration bound (or the host set with
    /// [`ConnectionBuilder::settings`]); `None` when there are none or they are another type.
    pub fn settings<S: Any + Send + Sync>(&self) -> Option<&S> {
        self.inner.settings.as_deref()?.downcast_ref::<S>()
    }

    /// A request with `method` to `path` (joined to the base URL).
    pub fn request(&self, method: Method, path: impl Into<String>) -> RequestBuilder {
        RequestBuilder {
            connection: self.clone(),
            method,
            path: path.into(),
            query: String::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            endpoint: None,
            bucket: None,
            idempotency: Idempotency::Auto,
            side_effects: None,
            cache_ttl: None,
            invalidates: Vec::new(),
            stream: false,
            accept_status: None,
            body_parts: None,
            deadline: None,
            error: None,
        }
    }

    /// A GET request.
    pub fn get(&self, path: impl Into<String>) -> RequestBuilder {
        self.request(Method::GET, path)
    }

    /// A POST request (has side effects: gets an idempotency key when the connector supports one).
    pub fn post(&self, path: impl Into<String>) -> RequestBuilder {
        self.request(Method::POST, path)
    }

    /// A PUT request.
    pub fn put(&self, path: impl Into<String>) -> RequestBuilder {
        self.request(Method::PUT, path)
    }

    /// A PATCH request (has side effects).
    pub fn patch(&self, path: impl Into<String>) -> RequestBuilder {
        self.request(Method::PATCH, path)
    }

    /// A DELETE request.
    pub fn delete(&self, path: impl Into<String>) -> RequestBuilder {
        self.request(Method::DELETE, path)
    }
}
