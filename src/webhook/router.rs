//! [`WebhookRouter`]: one framework-free entry point for every inbound webhook.
//!
//! The flow of [`WebhookRouter::handle`], in order:
//!
//! 1. **Route.** The path `{prefix}/{connector}[/{connection}]` (prefix `/webhooks` by default)
//!    picks the [`WebhookRoute`] registered for the connector.
//! 2. **Resolve the connection** from the path, a header, or — only after verification — the
//!    payload ([`ConnectionSource`]).
//! 3. **Verify** the raw bytes with the route's [`WebhookVerifier`]. Nothing reads the body
//!    before this step (except a route's own payload resolver, which runs after it).
//! 4. **Record** the event on the connection when a [`Connections`] service is attached and the
//!    tenant is known.
//! 5. **Claim** the event id in the [`DedupStore`] (scope: connector and connection; id: the
//!    verified event id, or `sha256:{hex}` of the body when the scheme carries none).
//! 6. **Handle**: the route's [`WebhookHandler`] runs; on success the claim is completed, on
//!    failure it is released so the sender's retry is processed.
//!
//! Every answer is a [`WebhookOutcome`] or a [`WebhookRouteError`], each with the HTTP status to
//! send back ([`WebhookOutcome::status`], [`WebhookRouteError::status`]).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};
use sha2::{Digest, Sha256};

use super::dedup::{Claim, DedupStore, InMemoryDedupStore};
use super::{Verified, WebhookError, WebhookRequest, WebhookVerifier};
use crate::connections::Connections;
use crate::error::{ConfigError, Error};
use crate::ids::{ConnectionId, TenantId};
use crate::observe::names;

/// Default visibility timeout of a claim: how long a handler may take before a redelivery of
/// the same event is processed again.
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(60);
/// At most this many connections get a verification-failure counter (the path is chosen by
/// whoever sends the request, so the map must stay bounded).
const MAX_FAILURE_COUNTERS: usize = 10_000;

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
    /// The public URL the sender used, for schemes that sign it.
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
    /// The tenant, when the source says (needed to record the event on the connection).
    pub tenant: Option<TenantId>,
    /// The connection.
    pub connection: ConnectionId,
}

impl WebhookTarget {
    /// A target with a connection and no tenant.
    pub fn new(connection: impl Into<ConnectionId>) -> Self {
        WebhookTarget {
            tenant: None,
            connection: connection.into(),
        }
    }

    /// Adds the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<TenantId>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
}

type PayloadFn = dyn Fn(&[u8], &HeaderMap) -> Option<WebhookTarget> + Send + Sync;
type TenantFn = dyn Fn(&ConnectionId) -> Option<TenantId> + Send + Sync;

/// Where a route finds the connection an event belongs to.
#[derive(Clone)]
#[non_exhaustive]
pub enum ConnectionSource {
    /// The path segment after the connector: `{prefix}/{connector}/{connection}`.
    Path,
    /// A request header holding the connection id.
    Header(HeaderName),
    /// A host closure reading the **verified** body (and headers). It runs after verification,
    /// so the route's verifier must not depend on the connection.
    Payload(Arc<PayloadFn>),
}

impl ConnectionSource {
    /// A payload resolver from a closure.
    pub fn payload(
        f: impl Fn(&[u8], &HeaderMap) -> Option<WebhookTarget> + Send + Sync + 'static,
    ) -> Self {
        ConnectionSource::Payload(Arc::new(f))
    }
}

impl fmt::Debug for ConnectionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionSource::Path => f.write_str("Path"),
            ConnectionSource::Header(h) => f.debug_tuple("Header").field(h).finish(),
            ConnectionSource::Payload(_) => f.write_str("Payload(..)"),
        }
    }
}

/// A verified, not yet processed event, handed to a [`WebhookHandler`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The connector the route is registered for.
    pub connector: Arc<str>,
    /// The tenant and connection.
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

/// One connector's webhooks: how to find the connection, how to verify, what to run.
#[derive(Clone)]
#[must_use]
pub struct WebhookRoute {
    connector: Arc<str>,
    source: ConnectionSource,
    verifier: Arc<dyn WebhookVerifier>,
    handler: Arc<dyn WebhookHandler>,
    tenant_of: Option<Arc<TenantFn>>,
}

impl fmt::Debug for WebhookRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRoute")
            .field("connector", &self.connector)
            .field("source", &self.source)
            .field("verifier", &self.verifier)
            .field("handler", &self.handler)
            .finish_non_exhaustive()
    }
}

impl WebhookRoute {
    /// A route for `connector`, with the connection taken from the path.
    pub fn new(
        connector: &str,
        verifier: Arc<dyn WebhookVerifier>,
        handler: Arc<dyn WebhookHandler>,
    ) -> Self {
        WebhookRoute {
            connector: Arc::from(connector),
            source: ConnectionSource::Path,
            verifier,
            handler,
            tenant_of: None,
        }
    }

    /// Where the connection comes from (default [`ConnectionSource::Path`]).
    pub fn connection_from(mut self, source: ConnectionSource) -> Self {
        self.source = source;
        self
    }

    /// Looks the tenant up when the source gives only a connection (needed for
    /// [`Connections::record_event`]).
    pub fn tenant_of(
        mut self,
        f: impl Fn(&ConnectionId) -> Option<TenantId> + Send + Sync + 'static,
    ) -> Self {
        self.tenant_of = Some(Arc::new(f));
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
    /// No route for the path, or the connection could not be resolved (404).
    #[error("no webhook route for this request: {reason}")]
    UnknownRoute {
        /// What was missing (never the body).
        reason: String,
    },
    /// The verifier rejected the request (401).
    #[error("webhook for `{connector}` failed verification: {error}")]
    Verification {
        /// The route's connector.
        connector: Arc<str>,
        /// The connection, when it was resolved before verification.
        connection: Option<ConnectionId>,
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
    /// The dedup store failed, so the event was not processed (503: the sender retries).
    #[error("webhook dedup store failed for `{connector}`")]
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
            WebhookRouteError::Verification { .. } => StatusCode::UNAUTHORIZED,
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
    connections: Option<Connections>,
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

    /// How long a handler may run before a redelivery is processed again (default 60 s).
    /// Keep it above the slowest handler's run time.
    pub fn visibility_timeout(mut self, timeout: Duration) -> Self {
        self.visibility_timeout = timeout;
        self
    }

    /// Records every verified event on its connection ([`Connections::record_event`]).
    pub fn connections(mut self, connections: Connections) -> Self {
        self.connections = Some(connections);
        self
    }

    /// Builds the router.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for two routes with one connector, a
    /// connector name that is empty or holds `/`, a prefix not starting with `/`, or a zero
    /// visibility timeout.
    pub fn build(self) -> Result<WebhookRouter, Error> {
        let prefix = self.prefix.trim_end_matches('/').to_string();
        if !prefix.is_empty() && !prefix.starts_with('/') {
            return Err(ConfigError::new("webhook_router.prefix", "must start with `/`").into());
        }
        if self.visibility_timeout.is_zero() {
            return Err(ConfigError::new(
                "webhook_router.visibility_timeout",
                "must be greater than zero",
            )
            .into());
        }
        let mut routes = HashMap::new();
        for route in self.routes {
            if route.connector.is_empty() || route.connector.contains('/') {
                return Err(ConfigError::new(
                    "webhook_router.route",
                    format!("invalid connector name `{}`", route.connector),
                )
                .into());
            }
            let name = route.connector.clone();
            if routes.insert(name.clone(), route).is_some() {
                return Err(ConfigError::new(
                    "webhook_router.route",
                    format!("two routes for connector `{name}`"),
                )
                .into());
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
                failures: Mutex::default(),
            }),
        })
    }
}

/// Routes, verifies, de-duplicates and dispatches inbound webhooks. Cheap to clone.
///
/// ```
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::webhook::router::{handler_fn, InboundRequest, WebhookRoute, WebhookRouter};
/// use switchboard::webhook::{HmacBodyVerifier, SignatureEncoding};
///
/// let verifier = HmacBodyVerifier::new("x-signature", SignatureEncoding::Hex).secret("s3cret");
/// let router = WebhookRouter::builder()
///     .route(WebhookRoute::new(
///         "acme",
///         Arc::new(verifier),
///         Arc::new(handler_fn(|_event| async { Ok(()) })),
///     ))
///     .build()?;
/// let answer = router
///     .handle(InboundRequest::new("/webhooks/acme/conn-1", Default::default(), "{}"))
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
    connections: Option<Connections>,
    failures: Mutex<HashMap<ConnectionId, Arc<AtomicU64>>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookRouter")
            .field("prefix", &self.prefix)
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("dedup", &self.dedup)
            .field("visibility_timeout", &self.visibility_timeout)
            .finish_non_exhaustive()
    }
}

impl WebhookRouter {
    /// A builder with prefix `/webhooks`, an in-memory dedup store and a 60 s visibility
    /// timeout.
    pub fn builder() -> WebhookRouterBuilder {
        WebhookRouterBuilder {
            prefix: "/webhooks".to_string(),
            routes: Vec::new(),
            dedup: None,
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            connections: None,
        }
    }

    /// The path prefix routes are mounted under (`/webhooks` by default, no trailing `/`).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The claim visibility timeout (also the `retry_after` of [`WebhookOutcome::InFlight`]).
    pub fn visibility_timeout(&self) -> Duration {
        self.inner.visibility_timeout
    }

    /// How many requests for `connection` failed verification since this router was built
    /// (for health checks: a sudden rise means a rotated secret or an attack).
    pub fn verification_failures(&self, connection: &str) -> u64 {
        self.inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&ConnectionId::new(connection))
            .map_or(0, |c| c.load(Ordering::Relaxed))
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
        metrics::counter!(names::WEBHOOKS, "connector" => connector, "outcome" => label)
            .increment(1);
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

    async fn dispatch_route(
        &self,
        route: &WebhookRoute,
        tail: &str,
        request: &InboundRequest,
    ) -> Result<WebhookOutcome, WebhookRouteError> {
        // 1. The connection, when it can be known before verification.
        let early = match &route.source {
            ConnectionSource::Path => {
                if tail.is_empty() || tail.contains('/') {
                    return Err(unknown("expected `/{connector}/{connection}`"));
                }
                Some(WebhookTarget::new(tail))
            }
            ConnectionSource::Header(h) => {
                let value = request
                    .headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|v| !v.is_empty());
                match value {
                    Some(v) => Some(WebhookTarget::new(v)),
                    None => return Err(unknown("connection header missing")),
                }
            }
            ConnectionSource::Payload(_) => None,
        };

        // 2. Verify the raw bytes.
        let mut wr = WebhookRequest::new(&request.body, &request.headers);
        if let Some(u) = &request.url {
            wr = wr.with_url(u);
        }
        let verified = match route.verifier.verify(&wr) {
            Ok(v) => v,
            Err(error) => {
                let connection = early.map(|t| t.connection);
                self.count_failure(&route.connector, connection.as_ref());
                tracing::info!(connector = %route.connector, connection = ?connection.as_ref().map(ConnectionId::as_str), error = %error, "webhook failed verification");
                return Err(WebhookRouteError::Verification {
                    connector: route.connector.clone(),
                    connection,
                    error,
                });
            }
        };

        // 3. The connection from the verified payload.
        let mut target = match (&route.source, early) {
            (_, Some(t)) => t,
            (ConnectionSource::Payload(f), None) => match f(&request.body, &request.headers) {
                Some(t) => t,
                None => return Err(unknown("payload names no connection")),
            },
            (_, None) => return Err(unknown("no connection")),
        };
        if target.tenant.is_none() {
            if let Some(f) = &route.tenant_of {
                target.tenant = f(&target.connection);
            }
        }

        // 4. Record the event on the connection (best effort: the event is still processed).
        if let (Some(connections), Some(tenant)) = (&self.inner.connections, &target.tenant) {
            if let Err(e) = connections.record_event(tenant, &target.connection).await {
                tracing::warn!(connector = %route.connector, connection = %target.connection, error = %e, "could not record a webhook event on its connection");
            }
        }

        // 5. Claim.
        let event_id = verified
            .event_id
            .clone()
            .unwrap_or_else(|| body_digest(&request.body));
        let scope = scope(&route.connector, &target.connection);
        let store_err = |error| WebhookRouteError::Store {
            connector: route.connector.clone(),
            error,
        };
        let token = match self
            .inner
            .dedup
            .claim(&scope, &event_id, self.inner.visibility_timeout)
            .await
            .map_err(store_err)?
        {
            Claim::Fresh(t) => t,
            Claim::Done => return Ok(WebhookOutcome::Duplicate),
            Claim::InFlight => {
                return Ok(WebhookOutcome::InFlight {
                    retry_after: self.inner.visibility_timeout,
                })
            }
        };

        // 6. Handle, then complete or release.
        let event = WebhookEvent {
            connector: route.connector.clone(),
            target,
            event_id,
            verified,
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        match route.handler.handle(event).await {
            Ok(()) => {
                if let Err(e) = self.inner.dedup.complete(token).await {
                    // Processed, but a redelivery after the visibility timeout would run again.
                    tracing::warn!(connector = %route.connector, error = %e, "webhook processed but not marked done");
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

    fn count_failure(&self, connector: &Arc<str>, connection: Option<&ConnectionId>) {
        metrics::counter!(names::WEBHOOK_VERIFICATION_FAILURES, "connector" => connector.clone())
            .increment(1);
        let Some(connection) = connection else {
            return;
        };
        let mut map = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(connection) {
            c.fetch_add(1, Ordering::Relaxed);
        } else if map.len() < MAX_FAILURE_COUNTERS {
            map.insert(connection.clone(), Arc::new(AtomicU64::new(1)));
        }
    }
}

fn unknown(reason: &str) -> WebhookRouteError {
    WebhookRouteError::UnknownRoute {
        reason: reason.to_string(),
    }
}

/// `{connector}:{connection}`, with `%` and `:` in the connector percent-encoded so the pair
/// splits one way only.
fn scope(connector: &str, connection: &ConnectionId) -> String {
    let c = if connector.contains([':', '%']) {
        connector.replace('%', "%25").replace(':', "%3A")
    } else {
        connector.to_string()
    };
    format!("{c}:{}", connection.as_str())
}

/// `sha256:{hex}` of the body: the event id of schemes that carry none.
fn body_digest(body: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(body);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_and_digest_are_stable() {
        assert_eq!(scope("a:b", &ConnectionId::new("c")), "a%3Ab:c");
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
    }
}
