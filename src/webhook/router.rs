//! [`WebhookRouter`]: one framework-free entry point for every inbound webhook of every tenant.
//!
//! Each webhook is checked with the secrets of the one connection it is for, never with a
//! secret shared by every connection of a connector: tenant A's valid signature posted to
//! tenant B's URL is rejected, because B's URL is checked with B's secrets only.
//!
//! The flow of [`WebhookRouter::handle`], in order:
//!
//! 1. **Route.** The path picks the [`WebhookRoute`] registered for the connector (the
//!    template name): `{prefix}/{connector}/{webhook_token}` (prefix `/webhooks` by default),
//!    or `{prefix}/{connector}` for a [payload-routed](WebhookRoute::payload_routed) route.
//! 2. **Find the connection**, in whichever tenant it is: by the unguessable
//!    [webhook token](crate::connections::ConnectionRecord::webhook_token) in the path, which
//!    names exactly one (tenant, connection); or, for a payload-routed route, by the
//!    integration's routing field ([`Integration::webhook_routing`]), the only thing read from
//!    the unverified body. The connection must exist, be of the route's template and not be
//!    disconnected; otherwise the answer is [`WebhookRouteError::UnknownConnection`] (401,
//!    the same answer as a bad signature, so the router is no oracle for routing keys), and
//!    nothing is allocated or counted. Connections created after the router was built are
//!    found the same way: the router keeps no list of tenants.
//! 3. **Verify** the raw bytes with that connection's verifier, built by its integration from
//!    its own sealed config ([`Connections::webhook_verifier`], cached with the config). A
//!    failure is counted on that (tenant, connection) ([`WebhookRouter::verification_failures`]).
//! 4. **Claim** the event id in the [`DedupStore`] (scope: connector, tenant and connection;
//!    id: the verified event id, or `sha256:{hex}` of the body when the scheme carries none).
//! 5. **Handle**: the route's [`WebhookHandler`] runs; while it runs its claim is extended
//!    every third of the visibility timeout ([`DedupStore::extend`]), so a slow handler is not
//!    run a second time by a redelivery. On success the claim is completed, on failure it is
//!    released so the sender's retry is processed.
//! 6. **Record** the event on the connection ([`Connections::record_event`]), only after its
//!    handler succeeded: `last_event` moves once per verified, first-time, processed event,
//!    never for a duplicate, an in-flight redelivery or a failed handler.
//!
//! Every answer is a [`WebhookOutcome`] or a [`WebhookRouteError`], each with the HTTP status to
//! send back ([`WebhookOutcome::status`], [`WebhookRouteError::status`]).
//!
//! [`Integration::webhook_routing`]: crate::templates::Integration::webhook_routing

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use super::dedup::{Claim, ClaimToken, DedupStore, InMemoryDedupStore};
use super::public_base::{route_prefix, PublicBase};
use super::{Verified, WebhookError, WebhookRequest};
use crate::connections::{is_webhook_token_shape, ConnectionRecord, ConnectionStatus, Connections};
use crate::error::{Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::observe;

/// Default visibility timeout of a claim: how long a claim lasts without being extended. The
/// router extends it while a handler runs, so it bounds how long a crashed worker holds an
/// event, not how long a handler may take.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many connections get a verification-failure counter. Only connections that
/// exist are counted, but the map must stay bounded anyway.
const MAX_FAILURE_COUNTERS: usize = 10_000;
/// The shortest interval between two claim extensions.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// One inbound HTTP request, as the host's framework received it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InboundRequest {
    /// The request path (a query string, if present, is ignored for routing).
    pub path: String,
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw body, byte for byte.
    pub body: Bytes,
    /// The public URL the sender used, for schemes that sign it (Twilio). Framework glue builds
    /// it with [`WebhookRouter::public_url`].
    pub url: Option<url::Url>,
}

impl InboundRequest {
    /// A request without a public URL.
    pub fn new(path: impl Into<String>, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        InboundRequest {
            path: path.into(),
            headers,
            body: body.into(),
            url: None,
        }
    }

    /// Adds the public URL the sender used.
    #[must_use]
    pub fn with_url(mut self, url: url::Url) -> Self {
        self.url = Some(url);
        self
    }
}

/// Which tenant and connection an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct WebhookTarget {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
}

impl WebhookTarget {
    /// A target.
    pub fn new(tenant: impl Into<TenantId>, connection: impl Into<ConnectionId>) -> Self {
        WebhookTarget {
            tenant: tenant.into(),
            connection: connection.into(),
        }
    }
}

/// A verified, not yet processed event, handed to a [`WebhookHandler`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The connector the route is registered for.
    pub connector: Arc<str>,
    /// The tenant and connection whose secrets verified it.
    pub target: WebhookTarget,
    /// The id the event was de-duplicated by.
    pub event_id: String,
    /// What verification established.
    pub verified: Verified,
    /// The request headers.
    pub headers: HeaderMap,
    /// The raw, verified body.
    pub body: Bytes,
}

/// The host's code for verified events of one route.
///
/// Return `Err` to have the sender retry (the claim is released, so the retry is processed).
#[async_trait]
pub trait WebhookHandler: Send + Sync + fmt::Debug {
    /// Processes `event`.
    ///
    /// # Errors
    /// Any error; the router answers with a 500 so the sender retries.
    async fn handle(&self, event: WebhookEvent) -> Result<(), Error>;
}

/// A [`WebhookHandler`] from an async closure; see [`handler_fn`].
pub struct FnHandler<F>(F);

impl<F> fmt::Debug for FnHandler<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnHandler(..)")
    }
}

/// Wraps an async closure as a [`WebhookHandler`].
///
/// ```
/// use switchboard::webhook::router::{handler_fn, WebhookEvent};
///
/// let handler = handler_fn(|event: WebhookEvent| async move {
///     println!("{} bytes for {}", event.body.len(), event.target.connection);
///     Ok(())
/// });
/// ```
pub fn handler_fn<F, Fut>(f: F) -> FnHandler<F>
where
    F: Fn(WebhookEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    FnHandler(f)
}

#[async_trait]
impl<F, Fut> WebhookHandler for FnHandler<F>
where
    F: Fn(WebhookEvent) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    async fn handle(&self, event: WebhookEvent) -> Result<(), Error> {
        (self.0)(event).await
    }
}

/// One connector's webhooks: how the connection is found and what runs for a verified event.
/// The verifier is not here: it comes from each connection's own config.
#[derive(Clone)]
#[must_use]
pub struct WebhookRoute {
    connector: Arc<str>,
    handler: Arc<dyn WebhookHandler>,
    payload_routed: bool,
    visibility_timeout: Option<Duration>,
}

impl fmt::Debug for WebhookRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRoute")
            .field("connector", &self.connector)
            .field("handler", &self.handler)
            .field("payload_routed", &self.payload_routed)
            .field("visibility_timeout", &self.visibility_timeout)
            .finish()
    }
}

impl WebhookRoute {
    /// A route for the connections of template `connector`, each at its own URL
    /// `{prefix}/{connector}/{webhook_token}`.
    pub fn new(connector: &str, handler: Arc<dyn WebhookHandler>) -> Self {
        WebhookRoute {
            connector: Arc::from(connector),
            handler,
            payload_routed: false,
            visibility_timeout: None,
        }
    }

    /// Serves `{prefix}/{connector}` instead, for providers that post every connection's
    /// events to one URL and name the connection in the body (Stripe Connect's `account`,
    /// GoHighLevel's `locationId`). The integration's routing field
    /// ([`Integration::webhook_routing`](crate::templates::Integration::webhook_routing)) is
    /// the only thing read from the unverified body; the connection whose routing key matches
    /// then verifies the request with its own secrets. Without a routing field every request is
    /// refused.
    pub fn payload_routed(mut self) -> Self {
        self.payload_routed = true;
        self
    }

    /// This route's claim visibility timeout (default: the router's).
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = Some(timeout);
        self
    }
}

/// What happened to an accepted webhook. Answer the sender with [`Self::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// Verified and processed now.
    Processed,
    /// Verified, and processed before: nothing ran.
    Duplicate,
    /// Verified, and another worker is processing it now; the sender should retry after
    /// `retry_after` (the visibility timeout), in case that worker fails.
    InFlight {
        /// When to try again.
        retry_after: Duration,
    },
}

impl WebhookOutcome {
    /// The HTTP status to answer with: 200, or 429 (with `Retry-After`) for in-flight.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookOutcome::Processed | WebhookOutcome::Duplicate => StatusCode::OK,
            WebhookOutcome::InFlight { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::InFlight { .. } => "in_flight",
        }
    }
}

/// Why a webhook was not accepted. Answer the sender with [`Self::status`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRouteError {
    /// No route for the path (404).
    #[error("no webhook route for this request: {reason}")]
    UnknownRoute {
        /// What was missing (never the body).
        reason: String,
    },
    /// No connection for the token or routing key, or one of another template or disconnected
    /// (401: the same answer as a bad signature).
    #[error("webhook for `{connector}` names no connection that takes it: {reason}")]
    UnknownConnection {
        /// The route's connector.
        connector: Arc<str>,
        /// Why (never the token or the body).
        reason: &'static str,
    },
    /// The connection's verifier rejected the request, or none could be built from its
    /// config (401).
    #[error("webhook for `{connector}` failed verification: {error}")]
    Verification {
        /// The route's connector.
        connector: Arc<str>,
        /// The connection the URL or routing key named.
        target: WebhookTarget,
        /// Why.
        #[source]
        error: WebhookError,
    },
    /// The host's handler failed (500: the sender retries; the claim was released).
    #[error("webhook handler for `{connector}` failed")]
    Handler {
        /// The route's connector.
        connector: Arc<str>,
        /// The handler's error.
        #[source]
        error: Error,
    },
    /// The dedup store or the connection store failed, so the event was not processed (503:
    /// the sender retries).
    #[error("webhook store failed for `{connector}`")]
    Store {
        /// The route's connector.
        connector: Arc<str>,
        /// The store's error.
        #[source]
        error: Error,
    },
}

impl WebhookRouteError {
    /// The HTTP status to answer with: 404, 401, 500 or 503.
    pub fn status(&self) -> StatusCode {
        match self {
            WebhookRouteError::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            WebhookRouteError::UnknownConnection { .. }
            | WebhookRouteError::Verification { .. } => StatusCode::UNAUTHORIZED,
            WebhookRouteError::Handler { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            WebhookRouteError::Store { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the sender should deliver again (handler or store failures).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            WebhookRouteError::Handler { .. } | WebhookRouteError::Store { .. }
        )
    }

    /// The verification error, for a rejected request.
    pub fn webhook_error(&self) -> Option<&WebhookError> {
        match self {
            WebhookRouteError::Verification { error, .. } => Some(error),
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            WebhookRouteError::UnknownRoute { .. } => "unknown_route",
            WebhookRouteError::UnknownConnection { .. } => "unknown_connection",
            WebhookRouteError::Verification { .. } => "verification_failed",
            WebhookRouteError::Handler { .. } => "handler_error",
            WebhookRouteError::Store { .. } => "store_error",
        }
    }
}

/// Builds a [`WebhookRouter`].
#[must_use]
#[derive(Debug)]
pub struct WebhookRouterBuilder {
    prefix: String,
    routes: Vec<WebhookRoute>,
    dedup: Option<Arc<dyn DedupStore>>,
    visibility_timeout: Duration,
    connections: Connections,
    public_base_url: Option<String>,
    trust_forwarded: bool,
}

impl WebhookRouterBuilder {
    /// The path prefix in front of `/{connector}` (default `/webhooks`; `""` for none).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Registers a route (one per connector).
    pub fn route(mut self, route: WebhookRoute) -> Self {
        self.routes.push(route);
        self
    }

    /// Where event ids are de-duplicated (default: an [`InMemoryDedupStore`], which only
    /// de-duplicates within this process).
    pub fn dedup(mut self, store: Arc<dyn DedupStore>) -> Self {
        self.dedup = Some(store);
        self
    }

    /// How long a claim lasts without being extended (default 60 s). While a handler runs the
    /// router extends its claim every third of this, so this bounds how long a crashed worker
    /// holds an event; a store that cannot extend ([`DedupStore::extend`]) needs it above the
    /// slowest handler's run time. A route can set its own
    /// ([`WebhookRoute::visibility_timeout`]).
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// The public origin providers post to (`https://hooks.example.com`, optionally with a
    /// path prefix a proxy strips). The URL a scheme signs (Twilio) is this, then the
    /// request's path and query ([`WebhookRouter::public_url`]).
    pub fn public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// Takes the scheme and host of the public URL from `X-Forwarded-Proto` /
    /// `X-Forwarded-Host` when present (default off). Only for hosts behind a proxy they run
    /// that sets and overwrites those headers; otherwise a caller picks the URL that is
    /// checked.
    pub fn trust_forwarded_headers(mut self, yes: bool) -> Self {
        self.trust_forwarded = yes;
        self
    }

    /// Builds the router.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for two routes with one connector, a
    /// connector name that is empty or holds `/`, a prefix not starting with `/`, a zero
    /// visibility timeout, or a public base URL that is not an http(s) URL without query.
    pub fn build(self) -> Result<WebhookRouter, Error> {
        let prefix = route_prefix(&self.prefix, "webhook_router.prefix")?;
        let zero_timeout = self.visibility_timeout.is_zero()
            || self
                .routes
                .iter()
                .any(|r| r.visibility_timeout.is_some_and(|t| t.is_zero()));
        if zero_timeout {
            return Err(Error::config(
                "webhook_router.visibility_timeout",
                "must be greater than zero",
            ));
        }
        let public_base = self
            .public_base_url
            .as_deref()
            .map(parse_public_base)
            .transpose()?;
        // The URLs activation registered with providers are the ones this router must serve.
        if let Some(registered) = self.connections.webhook_base() {
            if public_base.as_ref() != Some(&registered.public) || prefix != registered.prefix {
                return Err(Error::config(
                    "webhook_router.public_base_url",
                    format!(
                        "the router would serve `{}{}` but Connections gives providers `{}{}` \
                         (Connections::with_webhook_base_url); leave them unset here to use those",
                        public_base
                            .as_ref()
                            .map(PublicBase::origin)
                            .unwrap_or_default(),
                        prefix,
                        registered.public.origin(),
                        registered.prefix
                    ),
                ));
            }
        }
        let mut routes = HashMap::new();
        for route in self.routes {
            if route.connector.is_empty() || route.connector.contains('/') {
                return Err(Error::config(
                    "webhook_router.route",
                    format!("invalid connector name `{}`", route.connector),
                ));
            }
            let name = route.connector.clone();
            if routes.insert(name.clone(), route).is_some() {
                return Err(Error::config(
                    "webhook_router.route",
                    format!("two routes for connector `{name}`"),
                ));
            }
        }
        Ok(WebhookRouter {
            inner: Arc::new(Inner {
                prefix,
                routes,
                dedup: self
                    .dedup
                    .unwrap_or_else(|| Arc::new(InMemoryDedupStore::new())),
                visibility_timeout: self.visibility_timeout,
                connections: self.connections,
                public_base,
                trust_forwarded: self.trust_forwarded,
                failures: Mutex::default(),
            }),
        })
    }
}

fn parse_public_base(raw: &str) -> Result<PublicBase, Error> {
    PublicBase::parse(raw, "webhook_router.public_base_url")
}

/// Routes, verifies, de-duplicates and dispatches inbound webhooks. Cheap to clone.
///
/// ```
/// # async fn demo(connections: switchboard::connections::Connections) -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::webhook::router::{handler_fn, InboundRequest, WebhookRoute, WebhookRouter};
///
/// let router = WebhookRouter::builder(connections)
///     .public_base_url("https://hooks.example.com")
///     .route(WebhookRoute::new(
///         "stripe",
///         Arc::new(handler_fn(|_event| async { Ok(()) })),
///     ))
///     .build()?;
/// // A token no connection has: refused, and nothing is allocated for it.
/// let answer = router
///     .handle(InboundRequest::new(
///         "/webhooks/stripe/AAAAAAAAAAAAAAAAAAAAAAAA",
///         Default::default(),
///         "{}",
///     ))
///     .await;
/// assert_eq!(answer.unwrap_err().status(), 401);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WebhookRouter {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: String,
    routes: HashMap<Arc<str>, WebhookRoute>,
    dedup: Arc<dyn DedupStore>,
    visibility_timeout: Duration,
    connections: Connections,
    public_base: Option<PublicBase>,
    trust_forwarded: bool,
    failures: Mutex<HashMap<(TenantId, ConnectionId), Arc<AtomicU64>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRouter")
            .field("prefix", &self.prefix)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("dedup", &self.dedup)
            .field("visibility_timeout", &self.visibility_timeout)
            .field("public_base", &self.public_base)
            .field("trust_forwarded", &self.trust_forwarded)
            .finish_non_exhaustive()
    }
}

impl WebhookRouter {
    /// A builder over `connections` (where connections are found and their verifiers built),
    /// with prefix `/webhooks`, an in-memory dedup store and a 60 s visibility timeout. When
    /// the host told `connections` where it serves webhooks
    /// ([`Connections::with_webhook_base_url`]), the router's public base URL and prefix are
    /// those (and `build` refuses others), so the URLs given to providers are the ones served.
    pub fn builder(connections: Connections) -> WebhookRouterBuilder {
        let (prefix, public_base_url) = match connections.webhook_base() {
            Some(b) => (b.prefix.clone(), Some(b.public.origin())),
            None => ("/webhooks".to_string(), None),
        };
        WebhookRouterBuilder {
            prefix,
            routes: Vec::new(),
            dedup: None,
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            connections,
            public_base_url,
            trust_forwarded: false,
        }
    }

    /// The path prefix routes are mounted under (`/webhooks` by default, no trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The router's claim visibility timeout (routes may set their own).
    pub fn visibility_timeout(&self) -> Duration {
        self.inner.visibility_timeout
    }

    /// The path of a connection's webhook URL under this router's prefix,
    /// `{prefix}/{template}/{webhook_token}`; see [`Connections::webhook_path`].
    ///
    /// # Errors
    /// As for [`Connections::webhook_path`].
    pub async fn webhook_path(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<String, Error> {
        self.inner
            .connections
            .webhook_path(tenant, connection, &self.inner.prefix)
            .await
    }

    /// The full webhook URL of a connection, to give the provider: the public base URL, then
    /// [`Self::webhook_path`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when no public base URL is configured; as for
    /// [`Self::webhook_path`].
    pub async fn webhook_url(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<String, Error> {
        let Some(base) = &self.inner.public_base else {
            return Err(Error::config(
                "webhook_router.public_base_url",
                "is needed to build a full webhook URL",
            ));
        };
        let path = self.webhook_path(tenant, connection).await?;
        Ok(format!(
            "{}://{}{}{path}",
            base.scheme, base.authority, base.prefix
        ))
    }

    /// The public URL a sender posted to, for schemes that sign it (Twilio): the scheme and
    /// host of the configured public base URL (with its path prefix), or of `X-Forwarded-Proto`
    /// / `X-Forwarded-Host` when the host trusts them and they are present, or else `http` and
    /// the `Host` header; then `path_and_query` as received. `None` when no host is known or the
    /// result is not a URL.
    pub fn public_url(&self, path_and_query: &str, headers: &HeaderMap) -> Option<url::Url> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let base = self.inner.public_base.as_ref();
        let (mut scheme, mut authority, prefix) = match base {
            Some(b) => (
                b.scheme.clone(),
                Some(b.authority.clone()),
                b.prefix.as_str(),
            ),
            None => ("http".to_string(), None, ""),
        };
        if self.inner.trust_forwarded {
            if let Some(proto) = header("x-forwarded-proto") {
                let proto = proto.to_ascii_lowercase();
                if matches!(proto.as_str(), "http" | "https") {
                    scheme = proto;
                }
            }
            if let Some(host) = header("x-forwarded-host").filter(|h| is_authority(h)) {
                authority = Some(host.to_string());
            }
        }
        if authority.is_none() {
            authority = header("host")
                .filter(|h| is_authority(h))
                .map(str::to_string);
        }
        let authority = authority?;
        let path_and_query = if path_and_query.starts_with('/') {
            path_and_query.to_string()
        } else {
            format!("/{path_and_query}")
        };
        url::Url::parse(&format!("{scheme}://{authority}{prefix}{path_and_query}")).ok()
    }

    /// How many requests for this (tenant, connection) failed verification since this router
    /// was built (for health checks: a sudden rise means a rotated secret or an attack).
    pub fn verification_failures(&self, tenant: &TenantId, connection: &ConnectionId) -> u64 {
        self.inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(tenant.clone(), connection.clone()))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// How many (tenant, connection) pairs have a failure counter (for tests and diagnostics:
    /// requests naming no connection never add one).
    pub fn failure_counters(&self) -> usize {
        self.inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Routes, verifies, de-duplicates and dispatches one request; see the module docs.
    ///
    /// # Errors
    /// A [`WebhookRouteError`] whose [`status`](WebhookRouteError::status) is the answer to
    /// send.
    pub async fn handle(
        &self,
        request: InboundRequest,
    ) -> Result<WebhookOutcome, WebhookRouteError> {
        let (connector, answer) = self.dispatch(&request).await;
        let label = match &answer {
            Ok(o) => o.label(),
            Err(e) => e.label(),
        };
        // Unknown connectors come from the sender, so they are not a label (unbounded).
        let connector = connector.unwrap_or_else(|| Arc::from("unknown"));
        observe::webhook(&connector, label);
        answer
    }

    async fn dispatch(
        &self,
        request: &InboundRequest,
    ) -> (Option<Arc<str>>, Result<WebhookOutcome, WebhookRouteError>) {
        let path = request.path.split('?').next().unwrap_or_default();
        let Some(rest) = path.strip_prefix(self.inner.prefix.as_str()) else {
            return (None, Err(unknown("path outside the webhook prefix")));
        };
        let mut segments = rest.trim_start_matches('/').splitn(2, '/');
        let name = segments.next().unwrap_or_default();
        let tail = segments.next().unwrap_or_default().trim_end_matches('/');
        let Some(route) = self.inner.routes.get(name) else {
            return (None, Err(unknown("no route for this connector")));
        };
        let connector = route.connector.clone();
        let answer = self.dispatch_route(route, tail, request).await;
        (Some(connector), answer)
    }

    /// Finds the connection a request is for, reading at most the routing field of the body.
    async fn resolve(
        &self,
        route: &WebhookRoute,
        tail: &str,
        request: &InboundRequest,
    ) -> Result<ConnectionRecord, WebhookRouteError> {
        let no_connection = |reason: &'static str| WebhookRouteError::UnknownConnection {
            connector: route.connector.clone(),
            reason,
        };
        let store_err = |error| WebhookRouteError::Store {
            connector: route.connector.clone(),
            error,
        };
        let connections = &self.inner.connections;
        let found = if route.payload_routed {
            if !tail.is_empty() {
                return Err(unknown(
                    "expected `/{connector}` for a payload-routed route",
                ));
            }
            let Some(routing) = connections.webhook_routing(&route.connector) else {
                return Err(no_connection("the integration names no routing field"));
            };
            let Some(key) = routing_field(&request.body, &routing.body_field) else {
                return Err(no_connection("the body has no single routing field"));
            };
            connections
                .find_by_routing_key(&route.connector, &key)
                .await
                .map_err(store_err)?
        } else {
            if tail.is_empty() || tail.contains('/') {
                return Err(unknown("expected `/{connector}/{webhook_token}`"));
            }
            if !is_webhook_token_shape(tail) {
                return Err(no_connection("not a webhook token"));
            }
            connections
                .find_by_webhook_token(tail)
                .await
                .map_err(store_err)?
        };
        let Some(record) = found else {
            return Err(no_connection("no such connection"));
        };
        if *record.template != *route.connector {
            return Err(no_connection("the connection is of another template"));
        }
        if record.status == ConnectionStatus::Disconnected {
            return Err(no_connection("the connection is disconnected"));
        }
        Ok(record)
    }

    async fn dispatch_route(
        &self,
        route: &WebhookRoute,
        tail: &str,
        request: &InboundRequest,
    ) -> Result<WebhookOutcome, WebhookRouteError> {
        // 1. The connection, from the token or the routing field only.
        let record = match self.resolve(route, tail, request).await {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(connector = %route.connector, error = %e, "webhook refused before verification");
                return Err(e);
            }
        };
        let target = WebhookTarget::new(record.tenant.clone(), record.id.clone());

        // 2. Verify the raw bytes with this connection's own secrets.
        let mut wr = WebhookRequest::new(&request.body, &request.headers);
        if let Some(u) = &request.url {
            wr = wr.with_url(u);
        }
        let verified = match self.inner.connections.verifier_for(&record).await {
            Ok(verifier) => verifier.verify(&wr),
            Err(e) if e.kind() == ErrorKind::Store || e.kind() == ErrorKind::Vault => {
                return Err(WebhookRouteError::Store {
                    connector: route.connector.clone(),
                    error: e,
                })
            }
            Err(e) => {
                // Fail closed: a connection without a usable webhook secret verifies nothing.
                tracing::warn!(connector = %route.connector, tenant = %target.tenant, connection = %target.connection, error = %e, "no webhook verifier for this connection");
                Err(WebhookError::SecretMissing)
            }
        };
        let verified = match verified {
            Ok(v) => v,
            Err(error) => {
                self.count_failure(&route.connector, &target);
                tracing::info!(connector = %route.connector, tenant = %target.tenant, connection = %target.connection, error = %error, "webhook failed verification");
                return Err(WebhookRouteError::Verification {
                    connector: route.connector.clone(),
                    target,
                    error,
                });
            }
        };

        // 3. Claim.
        let visibility_timeout = route
            .visibility_timeout
            .unwrap_or(self.inner.visibility_timeout);
        let event_id = verified
            .event_id
            .clone()
            .unwrap_or_else(|| body_digest(&request.body));
        let scope = scope(&route.connector, &target);
        let store_err = |error| WebhookRouteError::Store {
            connector: route.connector.clone(),
            error,
        };
        let token = match self
            .inner
            .dedup
            .claim(&scope, &event_id, visibility_timeout)
            .await
            .map_err(store_err)?
        {
            Claim::Fresh(t) => t,
            Claim::Done => return Ok(WebhookOutcome::Duplicate),
            Claim::InFlight => {
                return Ok(WebhookOutcome::InFlight {
                    retry_after: visibility_timeout,
                })
            }
        };

        // 4. Handle (extending the claim meanwhile), then complete or release.
        let (tenant, connection) = (target.tenant.clone(), target.connection.clone());
        let event = WebhookEvent {
            connector: route.connector.clone(),
            target,
            event_id,
            verified,
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        let handled = self
            .run_extending(route, event, &token, visibility_timeout)
            .await;
        match handled {
            Ok(()) => {
                if let Err(e) = self.inner.dedup.complete(token).await {
                    // Processed, but a redelivery after the visibility timeout would run again.
                    tracing::warn!(connector = %route.connector, error = %e, "webhook processed but not marked done");
                }
                // 5. Record the event on the connection only now: verified, first-time (a
                // duplicate or an in-flight redelivery returned above) and handled, so
                // `last_event` moves once per event. A failed handler's delivery does not move
                // it; the sender's retry does. Best effort: the event was processed.
                if let Err(e) = self
                    .inner
                    .connections
                    .record_event(&tenant, &connection)
                    .await
                {
                    tracing::warn!(connector = %route.connector, connection = %connection, error = %e, "could not record a webhook event on its connection");
                }
                Ok(WebhookOutcome::Processed)
            }
            Err(error) => {
                if let Err(e) = self.inner.dedup.release(token).await {
                    tracing::warn!(connector = %route.connector, error = %e, "could not release a failed webhook's claim; it lapses after the visibility timeout");
                }
                Err(WebhookRouteError::Handler {
                    connector: route.connector.clone(),
                    error,
                })
            }
        }
    }

    /// Runs the handler, extending the claim every third of the visibility timeout until it
    /// finishes (or the store says the claim can no longer be extended).
    async fn run_extending(
        &self,
        route: &WebhookRoute,
        event: WebhookEvent,
        token: &ClaimToken,
        visibility_timeout: Duration,
    ) -> Result<(), Error> {
        let every = (visibility_timeout / 3).max(MIN_HEARTBEAT);
        let mut ticks = tokio::time::interval_at(
            crate::clock::later(tokio::time::Instant::now(), every),
            every,
        );
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let handled = route.handler.handle(event);
        tokio::pin!(handled);
        let mut extending = true;
        loop {
            tokio::select! {
                result = &mut handled => return result,
                _ = ticks.tick(), if extending => {
                    match self.inner.dedup.extend(token, visibility_timeout).await {
                        Ok(true) => {}
                        Ok(false) => {
                            extending = false;
                            tracing::warn!(connector = %route.connector, "webhook claim could not be extended (lapsed, or the store cannot extend); a redelivery may run this event again");
                        }
                        Err(e) => {
                            tracing::warn!(connector = %route.connector, error = %e, "could not extend a webhook claim; will try again");
                        }
                    }
                }
            }
        }
    }

    fn count_failure(&self, connector: &Arc<str>, target: &WebhookTarget) {
        observe::webhook_verification_failure(connector);
        let key = (target.tenant.clone(), target.connection.clone());
        let mut map = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(&key) {
            c.fetch_add(1, Ordering::Relaxed);
        } else if map.len() < MAX_FAILURE_COUNTERS {
            map.insert(key, Arc::new(AtomicU64::new(1)));
        }
    }
}

fn unknown(reason: &str) -> WebhookRouteError {
    WebhookRouteError::UnknownRoute {
        reason: reason.to_string(),
    }
}

/// Whether a `Host`-style header value is a plain `host[:port]` (nothing that could add a
/// path, user or query to the URL built from it).
fn is_authority(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `{connector}:{tenant}:{connection}`, each part with `%` and `:` percent-encoded, so the
/// triple splits one way only and two tenants sharing a connection id never share a scope.
fn scope(connector: &str, target: &WebhookTarget) -> String {
    fn enc(s: &str) -> std::borrow::Cow<'_, str> {
        if s.contains([':', '%']) {
            s.replace('%', "%25").replace(':', "%3A").into()
        } else {
            s.into()
        }
    }
    format!(
        "{}:{}:{}",
        enc(connector),
        enc(target.tenant.as_str()),
        enc(target.connection.as_str())
    )
}

/// `sha256:{hex}` of the body: the event id of schemes that carry none.
fn body_digest(body: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body)))
}

/// The top-level string field `name` of a JSON object body, read without keeping anything
/// else (every other value is skipped unparsed into memory). `None` when the body is not a
/// JSON object, the field is missing, not a string, empty, or appears more than once (JSON
/// parsers disagree on which duplicate wins, so a duplicate is refused).
fn routing_field(body: &[u8], name: &str) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Field<'a>(&'a str);

    impl<'de> Visitor<'de> for Field<'_> {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found: Option<String> = None;
            let mut twice = false;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.0 {
                    let value: serde_json::Value = map.next_value()?;
                    twice |= found.is_some();
                    found = Some(value.as_str().unwrap_or_default().to_string());
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(if twice { None } else { found })
        }
    }

    impl<'de> DeserializeSeed<'de> for Field<'_> {
        type Value = Option<String>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let found = Field(name).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_digest_are_stable() {
        assert_eq!(
            scope("a:b", &WebhookTarget::new("t:1", "c")),
            "a%3Ab:t%3A1:c"
        );
        assert_ne!(
            scope("x", &WebhookTarget::new("a:b", "c")),
            scope("x", &WebhookTarget::new("a", "b:c"))
        );
        assert_eq!(
            body_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn statuses_tell_the_sender_what_to_do() {
        assert_eq!(WebhookOutcome::Duplicate.status(), StatusCode::OK);
        assert_eq!(unknown("x").status(), StatusCode::NOT_FOUND);
        assert!(!unknown("x").is_retryable());
        let e = WebhookRouteError::UnknownConnection {
            connector: Arc::from("x"),
            reason: "no such connection",
        };
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn routing_field_reads_one_top_level_string_and_nothing_else() {
        let body = br#"{"id":"evt_1","data":{"account":"acct_inner"},"account":"acct_1"}"#;
        assert_eq!(routing_field(body, "account").as_deref(), Some("acct_1"));
        assert_eq!(
            routing_field(br#"{"data":{"account":"acct_inner"}}"#, "account"),
            None
        );
        assert_eq!(
            routing_field(br#"{"account":"a","account":"b"}"#, "account"),
            None
        );
        assert_eq!(routing_field(br#"{"account":7}"#, "account"), None);
        assert_eq!(routing_field(br#"{"account":""}"#, "account"), None);
        assert_eq!(routing_field(br#"["account"]"#, "account"), None);
        assert_eq!(
            routing_field(br#"{"account":"a"} trailing"#, "account"),
            None
        );
        assert_eq!(routing_field(b"\xff", "account"), None);
        assert_eq!(
            routing_field(br#"{"acc\u006funt":"escaped"}"#, "account").as_deref(),
            Some("escaped")
        );
    }

    #[test]
    fn public_base_urls_are_checked() {
        assert!(parse_public_base("https://hooks.example.com/sb/").is_ok());
        assert!(parse_public_base("ftp://x").is_err());
        assert!(parse_public_base("https://x/?q=1").is_err());
        assert!(is_authority("hooks.example.com:8443"));
        assert!(!is_authority("evil.com/path"));
        assert!(!is_authority("user@evil.com"));
    }
}
