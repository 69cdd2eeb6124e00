//! The handles a host uses: [`Switchboard`] (built once, cheap to clone), [`Connection`] (one
//! tenant's configured integration) and [`RequestBuilder`] (one call).
//!
//! `Connection::send` is where a call starts: it builds the [`CallContext`], opens the call
//! span, enforces the overall deadline, and runs the request through the pipeline
//! (see [`crate::pipeline`] for the order).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use tower::{ServiceBuilder, ServiceExt};
use tracing::Instrument;

use crate::auth::Authenticator;
use crate::connector::Connector;
use crate::credentials::{CredentialStore, InMemoryCredentialStore};
use crate::error::{ConfigError, Error, ErrorKind, ErrorParts};
use crate::ids::{ConnectionId, TenantId};
use crate::observe;
use crate::pipeline::auth::AuthLayer;
use crate::pipeline::breaker::{
    Breaker, BreakerConfig, BreakerLayer, BreakerReport, BreakerState, Breakers,
};
use crate::pipeline::cache::{CacheConfig, CacheKey, CacheLayer, ResponseCache};
use crate::pipeline::rate_limit::RateLimitLayer;
use crate::pipeline::registry::ConnectionKey;
use crate::pipeline::retry::{Budget, Budgets, RetryConfig, RetryLayer};
use crate::pipeline::timeout::TimeoutLayer;
use crate::pipeline::transport::Transport;
use crate::pipeline::{
    CallContext, HttpService, Idempotency, PipelineRequest, SharedAttempt, Stack,
};
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};
use crate::redact::redact_uri;
use crate::response::Response;
use crate::templates::EndpointPolicy;

type AttemptLayerFn = Box<dyn Fn(HttpService) -> HttpService + Send + Sync>;

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

/// The entry point: one pipeline, one cache, one set of breakers and budgets, shared by every
/// connection made from it. Cheap to clone; share it rather than building several.
#[derive(Clone)]
pub struct Switchboard {
    inner: Arc<Inner>,
}

struct Inner {
    service: Stack,
    cache: ResponseCache,
    breakers: Arc<Breakers>,
    budgets: Arc<Budgets>,
    credentials: Arc<dyn CredentialStore>,
    limiter: Arc<dyn RateLimiter>,
    call_deadline: Duration,
    body_cap: usize,
    endpoint_policy: EndpointPolicy,
}

impl fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switchboard")
            .field("call_deadline", &self.inner.call_deadline)
            .field("body_cap", &self.inner.body_cap)
            .field("credentials", &self.inner.credentials)
            .field("limiter", &self.inner.limiter)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Switchboard`]. Every setting is checked in [`SwitchboardBuilder::build`].
#[must_use]
pub struct SwitchboardBuilder {
    retry: RetryConfig,
    breaker: BreakerConfig,
    cache: CacheConfig,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    call_deadline: Duration,
    body_cap: usize,
    rate_limit_max_wait: Duration,
    limiter: Option<Arc<dyn RateLimiter>>,
    credentials: Option<Arc<dyn CredentialStore>>,
    user_agent: String,
    attempt_layers: Vec<AttemptLayerFn>,
    proxy_from_env: bool,
    endpoint_policy: EndpointPolicy,
}

impl fmt::Debug for SwitchboardBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwitchboardBuilder")
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("call_deadline", &self.call_deadline)
            .field("body_cap", &self.body_cap)
            .field("proxy_from_env", &self.proxy_from_env)
            .field("endpoint_policy", &self.endpoint_policy)
            .finish_non_exhaustive()
    }
}

impl Default for SwitchboardBuilder {
    fn default() -> Self {
        SwitchboardBuilder {
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            cache: CacheConfig::default(),
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            call_deadline: Duration::from_secs(30),
            body_cap: 32 * 1024 * 1024,
            rate_limit_max_wait: Duration::from_secs(5),
            limiter: None,
            credentials: None,
            user_agent: concat!("switchboard/", env!("CARGO_PKG_VERSION")).to_string(),
            attempt_layers: Vec::new(),
            proxy_from_env: false,
            endpoint_policy: EndpointPolicy::default(),
        }
    }
}

impl SwitchboardBuilder {
    /// Retry settings.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Circuit-breaker settings.
    pub fn breaker(mut self, breaker: BreakerConfig) -> Self {
        self.breaker = breaker;
        self
    }

    /// Cache settings.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// The longest one attempt may take (default 10 s).
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// The longest a TCP and TLS connect may take (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The longest a whole call may take, retries and waits included (default 30 s).
    pub fn call_deadline(mut self, d: Duration) -> Self {
        self.call_deadline = d;
        self
    }

    /// The largest response body accepted (default 32 MiB).
    pub fn body_cap(mut self, bytes: usize) -> Self {
        self.body_cap = bytes;
        self
    }

    /// How long a call may wait for the local rate limiter before failing (default 5 s).
    pub fn rate_limit_max_wait(mut self, d: Duration) -> Self {
        self.rate_limit_max_wait = d;
        self
    }

    /// The rate limiter (default: an [`InMemoryRateLimiter`] with no quotas).
    pub fn rate_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The credential store (default: an [`InMemoryCredentialStore`]).
    pub fn credential_store(mut self, store: Arc<dyn CredentialStore>) -> Self {
        self.credentials = Some(store);
        self
    }

    /// The `User-Agent` sent with every request.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Whether provider calls go through the proxy named by the environment (`HTTP_PROXY`,
    /// `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`), read when [`Self::build`] runs. Off by default:
    /// a variable set for something else in the process must not route every tenant's
    /// credentials through a proxy the host never chose. With a proxy, endpoint URLs from tenant
    /// config are checked by their text only (the proxy resolves them, not the SSRF guard).
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.proxy_from_env = yes;
        self
    }

    /// Allows endpoint URLs in tenant config (template fields declared with
    /// [`crate::templates::TemplateBuilder::endpoint_url_field`], and every binding's base URL
    /// made through [`crate::connections::Connections`]) to name `host` (a name or an IP
    /// literal, no port) over `http` or `https`, even when it is loopback or private. Without
    /// it such a URL must be `https` and public; see [`EndpointPolicy`]. Tests against a
    /// loopback server call `allow_endpoint_host("127.0.0.1")`.
    pub fn allow_endpoint_host(mut self, host: &str) -> Self {
        self.endpoint_policy = self.endpoint_policy.allow_host(host);
        self
    }

    /// Adds a host layer around each attempt, between the retry and timeout layers (so it sees
    /// every attempt). Layers added first sit outermost.
    pub fn attempt_layer<F>(mut self, wrap: F) -> Self
    where
        F: Fn(HttpService) -> HttpService + Send + Sync + 'static,
    {
        self.attempt_layers.push(Box::new(wrap));
        self
    }

    /// Checks every setting and builds the switchboard.
    ///
    /// # Errors
    /// An [`ErrorKind::Config`] error naming the first invalid setting.
    pub fn build(self) -> Result<Switchboard, Error> {
        self.retry.validate()?;
        self.breaker.validate()?;
        self.cache.validate()?;
        if self.attempt_timeout.is_zero() {
            return Err(ConfigError::new("attempt_timeout", "must be greater than zero").into());
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new("connect_timeout", "must be greater than zero").into());
        }
        if self.call_deadline.is_zero() {
            return Err(ConfigError::new("call_deadline", "must be greater than zero").into());
        }
        if self.body_cap == 0 {
            return Err(ConfigError::new("body_cap", "must be greater than zero").into());
        }
        let ua = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| ConfigError::new("user_agent", "must be a valid header value"))?;
        let mut default_headers = HeaderMap::new();
        default_headers.insert(http::header::USER_AGENT, ua);
        // Two clients with the same settings: the guarded one resolves through the SSRF guard
        // (for base URLs from tenant config). A builder cannot be cloned, so it is made twice.
        let make = |guard: Option<crate::outbound::ssrf::SsrfGuard>| {
            let mut c = reqwest::Client::builder()
                .default_headers(default_headers.clone())
                .connect_timeout(self.connect_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .tcp_nodelay(true);
            if !self.proxy_from_env {
                c = c.no_proxy();
            }
            // Through a proxy the proxy resolves the target, and the guard would judge the
            // proxy's address instead: with a proxy, only the URL's text is checked.
            if let Some(g) = guard.filter(|_| !self.proxy_from_env) {
                c = c.dns_resolver(Arc::new(g));
            }
            c.build().map_err(|e| {
                ErrorParts::new(ErrorKind::Config, "cannot build the HTTP client")
                    .source(e)
                    .build()
            })
        };
        let client = make(None)?;
        let guarded = make(Some(self.endpoint_policy.guard()))?;

        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(InMemoryRateLimiter::new()));
        let credentials = self
            .credentials
            .unwrap_or_else(|| Arc::new(InMemoryCredentialStore::new()));
        let cache = ResponseCache::new(&self.cache);
        let breakers = Arc::new(Breakers::new(self.breaker));
        let budgets = Arc::new(Budgets::new(self.retry.clone()));

        // Innermost first: transport, timeout, host attempt layers, then the fixed stack.
        let mut attempt: HttpService = HttpService::new(
            ServiceBuilder::new()
                .layer(TimeoutLayer {
                    per_attempt: self.attempt_timeout,
                })
                .service(Transport {
                    client,
                    guarded,
                    body_cap: self.body_cap,
                }),
        );
        for wrap in self.attempt_layers.iter().rev() {
            attempt = wrap(attempt);
        }
        let service: Stack = ServiceBuilder::new()
            .layer(AuthLayer)
            .layer(CacheLayer {
                cache: cache.clone(),
            })
            .layer(RateLimitLayer {
                limiter: limiter.clone(),
                max_wait: self.rate_limit_max_wait,
            })
            .layer(BreakerLayer)
            .layer(RetryLayer::new(self.retry))
            .service(SharedAttempt(Arc::new(attempt)));
        Ok(Switchboard {
            inner: Arc::new(Inner {
                service,
                cache,
                breakers,
                budgets,
                credentials,
                limiter,
                call_deadline: self.call_deadline,
                body_cap: self.body_cap,
                endpoint_policy: self.endpoint_policy,
            }),
        })
    }
}

impl Switchboard {
    /// A builder with the defaults.
    pub fn builder() -> SwitchboardBuilder {
        SwitchboardBuilder::default()
    }

    /// Starts a connection of `connector` for a tenant.
    pub fn connection(&self, connector: Arc<dyn Connector>) -> ConnectionBuilder {
        ConnectionBuilder {
            switchboard: self.clone(),
            connector,
            tenant: None,
            connection: None,
            base_url: None,
            auth: None,
            observer: None,
            tenant_endpoint: false,
            settings: None,
        }
    }

    /// The state of the breaker for a tenant's connection and host, if it has seen a call.
    /// Breakers are per (tenant, connection, host): connection ids are unique only within a
    /// tenant. [`Connection::breaker_state`] asks for a connection's own.
    pub fn breaker_state(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        host: &str,
    ) -> Option<BreakerState> {
        self.inner
            .breakers
            .state(&ConnectionKey::new(tenant, connection, host))
    }

    /// Every breaker and its state, for health reports.
    pub fn breaker_reports(&self) -> Vec<BreakerReport> {
        self.inner.breakers.reports()
    }

    /// The credential store.
    pub fn credential_store(&self) -> &Arc<dyn CredentialStore> {
        &self.inner.credentials
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.inner.limiter
    }

    /// Which endpoint URLs tenant config may name (see
    /// [`SwitchboardBuilder::allow_endpoint_host`]).
    pub fn endpoint_policy(&self) -> &EndpointPolicy {
        &self.inner.endpoint_policy
    }

    /// Every key now in the response cache, as text; for tests and diagnostics. Keys hold no
    /// secret: secret query values and header values appear only as keyed hashes.
    pub fn cache_keys(&self) -> Vec<String> {
        self.inner.cache.keys()
    }
}

/// Builds a [`Connection`].
#[must_use]
pub struct ConnectionBuilder {
    switchboard: Switchboard,
    connector: Arc<dyn Connector>,
    tenant: Option<TenantId>,
    connection: Option<ConnectionId>,
    base_url: Option<String>,
    auth: Option<Arc<dyn Authenticator>>,
    observer: Option<Arc<dyn CallObserver>>,
    tenant_endpoint: bool,
    settings: Option<ConnectionSettings>,
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

    /// How requests get their credentials.
    pub fn auth(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Says the base URL came from tenant config (`Connections` sets it): the URL must then
    /// pass the switchboard's [`EndpointPolicy`] at build, and every address its host resolves
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
    /// # #[async_trait::async_trait]
    /// # impl Connector for Crm {
    /// #     fn name(&self) -> &str { "crm" }
    /// #     async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> { Ok(()) }
    /// # }
    /// #[derive(Debug, PartialEq)]
    /// struct CrmSettings { location: String }
    ///
    /// let sb = Switchboard::builder().build()?;
    /// let conn = sb
    ///     .connection(std::sync::Arc::new(Crm))
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
    /// An [`ErrorKind::Config`] error naming the missing or invalid setting.
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
        Ok(Connection {
            inner: Arc::new(ConnectionInner {
                base_path: base.path().trim_end_matches('/').to_string(),
                scheme,
                authority,
                breaker,
                budget,
                switchboard: self.switchboard,
                connector: self.connector,
                connector_name,
                tenant,
                id,
                base: base.as_str().trim_end_matches('/').to_string(),
                host: Arc::from(host),
                auth: self.auth,
                observer: self.observer,
                guarded: self.tenant_endpoint,
                settings: self.settings,
                idempotency_header,
                vary_headers: Arc::from(vary_headers),
                default_headers,
            }),
        })
    }
}

/// One tenant's configured integration with one provider. Cheap to clone.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

struct ConnectionInner {
    switchboard: Switchboard,
    connector: Arc<dyn Connector>,
    connector_name: Arc<str>,
    tenant: TenantId,
    id: ConnectionId,
    base: String,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// The base URL's path without its trailing '/', prefixed to every request path.
    base_path: String,
    host: Arc<str>,
    auth: Option<Arc<dyn Authenticator>>,
    observer: Option<Arc<dyn CallObserver>>,
    /// The base URL came from tenant config: resolve through the SSRF guard.
    guarded: bool,
    settings: Option<ConnectionSettings>,
    idempotency_header: Option<HeaderName>,
    /// The connector's [`Connector::cache_vary_headers`], parsed once at build.
    vary_headers: Arc<[HeaderName]>,
    /// The connector's [`Connector::default_headers`], read once at build.
    default_headers: HeaderMap,
    breaker: Arc<Breaker>,
    budget: Arc<Budget>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("connector", &self.inner.connector_name)
            .field("tenant", &self.inner.tenant)
            .field("id", &self.inner.id)
            .field("base_url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The owning tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.inner.tenant
    }

    /// The connection's id.
    pub fn id(&self) -> &ConnectionId {
        &self.inner.id
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.inner.connector
    }

    /// The provider host (and port, when not the default), as used by the breaker.
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The base URL requests are joined to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The state of this connection's breaker (its tenant's, for its host).
    pub fn breaker_state(&self) -> BreakerState {
        self.inner.breaker.state()
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
    /// As for [`ConnectionBuilder::build`]: an [`ErrorKind::Config`] error when `base_url` is
    /// unusable or refused by the endpoint policy.
    pub fn derive_with_base_url(&self, base_url: impl Into<String>) -> Result<Connection, Error> {
        let i = &self.inner;
        ConnectionBuilder {
            switchboard: i.switchboard.clone(),
            connector: i.connector.clone(),
            tenant: Some(i.tenant.clone()),
            connection: Some(i.id.clone()),
            base_url: Some(base_url.into()),
            auth: i.auth.clone(),
            observer: i.observer.clone(),
            tenant_endpoint: i.guarded,
            settings: i.settings.clone(),
        }
        .build()
    }

    /// The per-connection settings of type `S` its integration bound (or the host set with
    /// [`ConnectionBuilder::settings`]); `None` when there are none or they are another type.
    pub fn settings<S: Any + Send + Sync>(&self) -> Option<&S> {
        self.inner.settings.as_deref()?.downcast_ref::<S>()
    }

    /// Runs the connector's `check()` against this connection.
    ///
    /// # Errors
    /// Whatever the check's call returned.
    pub async fn check(&self) -> Result<(), Error> {
        self.inner.connector.check(self).await
    }

    /// A request with `method` to `path` (joined to the base URL).
    pub fn request(&self, method: Method, path: impl Into<String>) -> RequestBuilder {
        RequestBuilder {
            connection: self.clone(),
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            endpoint: None,
            bucket: None,
            idempotency: Idempotency::Auto,
            side_effects: None,
            cache_ttl: None,
            invalidates: Vec::new(),
            stream: false,
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

/// One call, built up and then sent with [`RequestBuilder::send`]. Settings are checked at
/// `send`, and a bad one returns an [`ErrorKind::Config`] error naming it.
#[must_use]
pub struct RequestBuilder {
    connection: Connection,
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
    endpoint: Option<Arc<str>>,
    bucket: Option<Arc<str>>,
    idempotency: Idempotency,
    side_effects: Option<bool>,
    cache_ttl: Option<Duration>,
    invalidates: Vec<String>,
    stream: bool,
    deadline: Option<Duration>,
    error: Option<ConfigError>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    /// Adds query parameters.
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        self.query.extend(
            pairs
                .iter()
                .map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())),
        );
        self
    }

    /// Adds a header. An invalid name or value is reported at `send`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => {
                self.error.get_or_insert(ConfigError::new(
                    "request.header",
                    format!("header `{name}` has an invalid name or value"),
                ));
            }
        }
        self
    }

    /// A raw body with its content type.
    pub fn body(mut self, body: impl Into<Bytes>, content_type: &str) -> Self {
        self.body = body.into();
        match HeaderValue::from_str(content_type) {
            Ok(v) => {
                self.headers.insert(CONTENT_TYPE, v);
            }
            Err(_) => {
                self.error.get_or_insert(ConfigError::new(
                    "request.content_type",
                    "is not a valid header value",
                ));
            }
        }
        self
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(v) => self.body(v, "application/json"),
            Err(e) => {
                let mut s = self;
                s.error.get_or_insert(ConfigError::new(
                    "request.json",
                    format!("cannot serialize: {e}"),
                ));
                s
            }
        }
    }

    /// An `application/x-www-form-urlencoded` body from ordered pairs.
    pub fn form<K: AsRef<str>, V: AsRef<str>>(self, pairs: &[(K, V)]) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            ser.append_pair(k.as_ref(), v.as_ref());
        }
        self.body(ser.finish(), "application/x-www-form-urlencoded")
    }

    /// A label for metrics and spans (default: the method).
    pub fn endpoint(mut self, label: &str) -> Self {
        self.endpoint = Some(Arc::from(label));
        self
    }

    /// The provider rate-limit bucket this call spends (default `"default"`).
    pub fn bucket(mut self, bucket: &str) -> Self {
        self.bucket = Some(Arc::from(bucket));
        self
    }

    /// Uses the caller's idempotency key (at most 255 characters) on every attempt.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency = Idempotency::Key(key.into());
        self
    }

    /// Sends no idempotency key even for a call with side effects; such a call is then retried
    /// only when nothing was sent.
    pub fn without_idempotency_key(mut self) -> Self {
        self.idempotency = Idempotency::None;
        self
    }

    /// Marks whether the call has side effects (default: POST and PATCH do).
    pub fn side_effects(mut self, yes: bool) -> Self {
        self.side_effects = Some(yes);
        self
    }

    /// Caches a successful GET for `ttl` (opt-in per endpoint).
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// On success, drops cached entries under `path` (for example the resource this write
    /// changed, or its collection).
    pub fn invalidates(mut self, path: impl Into<String>) -> Self {
        self.invalidates.push(path.into());
        self
    }

    /// Hands a successful response body on as a stream instead of buffering it.
    pub fn stream(mut self) -> Self {
        self.stream = true;
        self
    }

    /// This call's overall deadline (default: the switchboard's `call_deadline`).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    fn build_request(self) -> Result<(PipelineRequest, Arc<CallContext>), Error> {
        if let Some(e) = self.error {
            return Err(e.into());
        }
        let c = &self.connection.inner;
        let sb = &c.switchboard.inner;
        let uri = request_uri(c, &self.path, &self.query)?;
        let side_effects = self
            .side_effects
            .unwrap_or(matches!(self.method, Method::POST | Method::PATCH));
        let idempotency = match self.idempotency {
            Idempotency::Key(k) => {
                if k.is_empty() || k.len() > 255 {
                    return Err(
                        ConfigError::new("idempotency_key", "must be 1 to 255 characters").into(),
                    );
                }
                Idempotency::Key(k)
            }
            // Generated here, once per logical call, so every attempt and every error carry it.
            Idempotency::Auto if side_effects && c.idempotency_header.is_some() => {
                Idempotency::Key(uuid::Uuid::new_v4().to_string())
            }
            other => other,
        };
        let deadline = self.deadline.unwrap_or(sb.call_deadline);
        if deadline.is_zero() {
            return Err(ConfigError::new("request.deadline", "must be greater than zero").into());
        }
        let mut headers = self.headers;
        for (name, value) in &c.default_headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        // Made here, from the request as the caller built it: the auth layer has not added
        // credentials yet, and they must never be part of a key.
        let cache_key = match self.cache_ttl {
            Some(_) if self.method == Method::GET && !self.stream => Some(CacheKey::new(
                &c.tenant,
                &c.id,
                &self.method,
                &uri,
                &headers,
                c.connector.secret_query_params(),
                &c.vary_headers,
            )),
            _ => None,
        };
        let ctx = Arc::new(CallContext {
            connector: c.connector.clone(),
            connector_name: c.connector_name.clone(),
            tenant: c.tenant.clone(),
            connection: c.id.clone(),
            auth: c.auth.clone(),
            endpoint: self.endpoint.unwrap_or_else(|| method_label(&self.method)),
            bucket: self.bucket.unwrap_or_else(default_bucket),
            idempotency,
            idempotency_header: c.idempotency_header.clone(),
            side_effects,
            cache_ttl: self.cache_ttl,
            cache_key,
            invalidates: self.invalidates,
            stream: self.stream,
            deadline: tokio::time::Instant::now() + deadline,
            redacted_url: redact_uri(&uri, c.connector.secret_query_params()),
            host: c.host.clone(),
            guarded: c.guarded,
            breaker: c.breaker.clone(),
            budget: c.budget.clone(),
        });
        let mut req = http::Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        req.extensions_mut().insert(ctx.clone());
        Ok((req, ctx))
    }

    /// Sends the call through the pipeline.
    ///
    /// # Errors
    /// An [`Error`]; ask it [`Error::is_retryable`], [`Error::status`],
    /// [`Error::retry_after`] and [`Error::may_have_been_sent`]. A non-success status after
    /// retries is an error of kind [`ErrorKind::Status`] (or [`ErrorKind::RateLimited`] for 429)
    /// with the body in [`Error::body`].
    pub async fn send(self) -> Result<Response, Error> {
        let connection = self.connection.clone();
        // Checked first, so a refused call (a disconnected connection) sends nothing.
        if let Some(o) = &connection.inner.observer {
            if let Err(e) = o.admit() {
                return Err(with_call_context(e, None, &connection));
            }
        }
        let (req, ctx) = match self.build_request() {
            Ok(r) => r,
            Err(e) => return Err(with_call_context(e, None, &connection)),
        };
        let sb = &connection.inner.switchboard.inner;
        let span = tracing::info_span!(
            "switchboard.call",
            connector = %ctx.connector_name,
            tenant = %ctx.tenant,
            connection = %ctx.connection,
            endpoint = %ctx.endpoint,
            method = %req.method(),
            url = %ctx.redacted_url,
            status = tracing::field::Empty,
            outcome = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let started = tokio::time::Instant::now();
        let call = sb.service.clone().oneshot(req);
        let result = match tokio::time::timeout_at(ctx.deadline, call)
            .instrument(span.clone())
            .await
        {
            Ok(r) => r,
            Err(_) => Err(deadline_error()),
        };
        let elapsed = started.elapsed();
        span.record("elapsed_ms", elapsed.as_millis() as u64);
        match result {
            Ok(resp) => {
                span.record("status", resp.status().as_u16());
                span.record("outcome", "ok");
                observe::call_finished(&ctx, "ok", elapsed);
                if let Some(o) = &connection.inner.observer {
                    o.observe(Ok(()));
                }
                Ok(Response::new(resp, sb.body_cap))
            }
            Err(e) => {
                let e = with_call_context(e, Some(&ctx), &connection);
                span.record("outcome", e.kind().as_str());
                if let Some(s) = e.status() {
                    span.record("status", s.as_u16());
                }
                observe::call_finished(&ctx, e.kind().as_str(), elapsed);
                if let Some(o) = &connection.inner.observer {
                    o.observe(Err(&e));
                }
                Err(e)
            }
        }
    }
}

/// Builds the request URI over the connection's parsed base: the path and query are assembled
/// directly, and only a path that needs percent-encoding takes the slower full URL parse.
fn request_uri(
    c: &ConnectionInner,
    path: &str,
    query: &[(String, String)],
) -> Result<http::Uri, Error> {
    let path = path.trim_start_matches('/');
    let mut pq = String::with_capacity(c.base_path.len() + path.len() + 1 + query.len() * 16);
    pq.push_str(&c.base_path);
    pq.push('/');
    pq.push_str(path);
    if !query.is_empty() {
        pq.push('?');
        let start = pq.len();
        let mut ser = url::form_urlencoded::Serializer::for_suffix(pq, start);
        ser.extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        pq = ser.finish();
    }
    let fast = http::uri::PathAndQuery::try_from(pq).ok().and_then(|pq| {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(c.scheme.clone());
        parts.authority = Some(c.authority.clone());
        parts.path_and_query = Some(pq);
        http::Uri::from_parts(parts).ok()
    });
    if let Some(uri) = fast {
        return Ok(uri);
    }
    // Characters that need encoding (spaces, non-ASCII): let the URL parser encode them.
    let mut url = url::Url::parse(&format!("{}/{}", c.base, path))
        .map_err(|e| ConfigError::new("request.path", format!("does not form a URL: {e}")))?;
    if !query.is_empty() {
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    url.as_str()
        .parse()
        .map_err(|_| ConfigError::new("request.path", "does not form a valid URI").into())
}

/// The default endpoint label: the method, without allocating for the common ones.
fn method_label(m: &Method) -> Arc<str> {
    use std::sync::LazyLock;
    static LABELS: LazyLock<[Arc<str>; 5]> =
        LazyLock::new(|| ["GET", "POST", "PUT", "PATCH", "DELETE"].map(Arc::from));
    match *m {
        Method::GET => LABELS[0].clone(),
        Method::POST => LABELS[1].clone(),
        Method::PUT => LABELS[2].clone(),
        Method::PATCH => LABELS[3].clone(),
        Method::DELETE => LABELS[4].clone(),
        _ => Arc::from(m.as_str()),
    }
}

fn default_bucket() -> Arc<str> {
    use std::sync::LazyLock;
    static DEFAULT: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("default"));
    DEFAULT.clone()
}

fn deadline_error() -> Error {
    let mut p = ErrorParts::new(ErrorKind::Deadline, "the call's deadline passed");
    // We cannot know which stage it was in; assume the worst.
    p.may_have_been_sent = true;
    p.build()
}

/// Adds what the call knows (connector, redacted URL, key) to an error that lacks it.
fn with_call_context(e: Error, ctx: Option<&CallContext>, connection: &Connection) -> Error {
    let mut p = e.into_parts();
    if p.connector.is_none() {
        p.connector = Some(connection.inner.connector_name.clone());
    }
    if let Some(ctx) = ctx {
        if p.url.is_none() {
            p.url = Some(ctx.redacted_url.clone());
        }
        if p.idempotency_key.is_none() {
            if let Idempotency::Key(k) = &ctx.idempotency {
                p.idempotency_key = Some(k.clone());
            }
        }
        p.idempotent = !ctx.side_effects;
    }
    p.build()
}
