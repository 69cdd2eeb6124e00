//! [`Switchboard`], the entry point built once per process, and its builder: the one pipeline,
//! cache, breakers and budgets every connection made from it shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::HeaderValue;
use tower::ServiceBuilder;

use super::connection::ConnectionBuilder;
use crate::connector::IntoConnector;
use crate::credentials::{CredentialStore, InMemoryCredentialStore};
use crate::endpoint_policy::EndpointPolicy;
use crate::error::{ConfigError, Error};
use crate::ids::{ConnectionId, TenantId};
use crate::pipeline::breaker::{BreakerConfig, BreakerReport, BreakerState, Breakers};
use crate::pipeline::cache::{CacheConfig, ResponseCache};
use crate::pipeline::orchestrator::{Attempt, Pipeline};
use crate::pipeline::registry::ConnectionKey;
use crate::pipeline::retry::{Budgets, RetryConfig, RetryPolicy};
use crate::pipeline::timeout::TimeoutLayer;
use crate::pipeline::transport::{Transport, Wire, WireSettings};
use crate::pipeline::HttpService;
use crate::rate_limit::{InMemoryRateLimiter, RateLimiter};

type AttemptLayerFn = Box<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// The entry point: one pipeline, one cache, one set of breakers and budgets, shared by every
/// connection made from it. Cheap to clone; share it rather than building several.
#[derive(Clone)]
pub struct Switchboard {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) pipeline: Pipeline,
    pub(super) cache: ResponseCache,
    pub(super) breakers: Arc<Breakers>,
    pub(super) budgets: Arc<Budgets>,
    pub(super) credentials: Arc<dyn CredentialStore>,
    pub(super) limiter: Arc<dyn RateLimiter>,
    pub(super) call_deadline: Duration,
    pub(super) body_cap: usize,
    pub(super) endpoint_policy: EndpointPolicy,
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
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the first invalid setting.
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
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| ConfigError::new("user_agent", "must be a valid header value"))?;
        // Two clients with the same settings: the guarded one resolves through the SSRF guard
        // (for base URLs from tenant config).
        let wire = WireSettings {
            connect_timeout: self.connect_timeout,
            proxy_from_env: self.proxy_from_env,
        };
        let client = Wire::new(wire, None)?;
        let guarded = Wire::new(wire, Some(self.endpoint_policy.guard()))?;

        let limiter = self
            .limiter
            .unwrap_or_else(|| Arc::new(InMemoryRateLimiter::new()));
        let credentials = self
            .credentials
            .unwrap_or_else(|| Arc::new(InMemoryCredentialStore::new()));
        let cache = ResponseCache::new(&self.cache);
        let breakers = Arc::new(Breakers::new(self.breaker));
        let budgets = Arc::new(Budgets::new(self.retry.clone()));

        let transport = Transport {
            client,
            guarded,
            user_agent,
            body_cap: self.body_cap,
        };
        let attempt = if self.attempt_layers.is_empty() {
            Attempt::Direct {
                transport,
                per_attempt: self.attempt_timeout,
            }
        } else {
            // Innermost first: transport, timeout, then the host's layers.
            let mut service = HttpService::new(
                ServiceBuilder::new()
                    .layer(TimeoutLayer {
                        per_attempt: self.attempt_timeout,
                    })
                    .service(transport),
            );
            for wrap in self.attempt_layers.iter().rev() {
                service = wrap(service);
            }
            Attempt::Layered(service)
        };
        let pipeline = Pipeline {
            cache: cache.clone(),
            limiter: limiter.clone(),
            max_wait: self.rate_limit_max_wait,
            retry: RetryPolicy::new(self.retry),
            attempt,
        };
        Ok(Switchboard {
            inner: Arc::new(Inner {
                pipeline,
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

    /// Starts a connection of `connector` for a tenant. Takes the connector by value (or an
    /// `Arc` of one already shared; see [`IntoConnector`]).
    pub fn connection(&self, connector: impl IntoConnector) -> ConnectionBuilder {
        ConnectionBuilder {
            switchboard: self.clone(),
            connector: connector.into_connector(),
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
    /// tenant. [`Connection::breaker_state`](crate::Connection::breaker_state) asks for a connection's own.
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

    /// Every key now in the response cache, as text. Reached by tests through
    /// `test_util::cache_keys`, so the key format stays out of the public API.
    #[cfg(feature = "test-util")]
    pub(crate) fn cache_keys(&self) -> Vec<String> {
        self.inner.cache.keys()
    }
}
