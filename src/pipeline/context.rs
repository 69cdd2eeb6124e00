//! [`CallContext`]: what one logical call carries through every layer.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderName;

use super::breaker::Breaker;
use super::cache::CacheKey;
use super::retry::Budget;
use crate::auth::Authenticator;
use crate::connector::Connector;
use crate::ids::{ConnectionId, TenantId};
use crate::observe::ConnectionMetrics;
use crate::redact::redact_uri;

/// How a call handles idempotency keys.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Idempotency {
    /// A key is generated once for the call when it has side effects and the connector
    /// supports keys; it is reused on every attempt.
    #[default]
    Auto,
    /// The caller's own key, reused on every attempt.
    Key(String),
    /// No key: a call with side effects is then retried only when nothing was sent.
    None,
}

impl fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Idempotency::Auto => f.write_str("Auto"),
            Idempotency::Key(k) => f.debug_tuple("Key").field(k).finish(),
            Idempotency::None => f.write_str("None"),
        }
    }
}

/// What every call of one connection shares: made once when the connection is built, so a
/// call's context takes one reference to it instead of a dozen.
pub(crate) struct ConnectionShared {
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) connector_name: Arc<str>,
    pub(crate) tenant: TenantId,
    pub(crate) connection: ConnectionId,
    pub(crate) auth: Option<Arc<dyn Authenticator>>,
    pub(crate) idempotency_header: Option<HeaderName>,
    pub(crate) host: Arc<str>,
    /// The connection's parsed base URL and its authority: the transport sets only the path and
    /// query on a copy, so a call's host is never parsed again.
    pub(crate) base_url: url::Url,
    pub(crate) authority: http::uri::Authority,
    /// The base URL came from tenant config: resolve through the SSRF guard.
    pub(crate) guarded: bool,
    pub(crate) breaker: Arc<Breaker>,
    pub(crate) budget: Arc<Budget>,
    /// The writes that invalidate this connection's cached answers (shared by tenant and id).
    pub(crate) write_log: Arc<crate::pipeline::cache::WriteLog>,
    /// The connection's metric handles.
    pub(crate) metrics: ConnectionMetrics,
    /// The rate-limit key of the connection's default bucket, made once: most calls spend
    /// it, and the rate-limit stage lends it instead of building a key (four `Arc` clones).
    pub(crate) default_rate_key: crate::rate_limit::RateKey,
}

/// Everything the layers know about one logical call. Read-only for host layers, found in the
/// request's extensions as `Arc<CallContext>` by a host's attempt layer and by an
/// authenticator that reads it ([`crate::auth::Authenticator::reads_call_context`]).
pub struct CallContext {
    /// What the connection's calls share.
    pub(crate) conn: Arc<ConnectionShared>,
    pub(crate) endpoint: Arc<str>,
    pub(crate) bucket: Arc<str>,
    pub(crate) idempotency: Idempotency,
    pub(crate) side_effects: bool,
    pub(crate) cache_ttl: Option<Duration>,
    /// Set for a cacheable call (a GET with a TTL): made from the request as the caller built
    /// it, before the auth layer adds credentials.
    pub(crate) cache_key: Option<CacheKey>,
    pub(crate) invalidates: Vec<String>,
    pub(crate) stream: bool,
    /// A non-success status this call takes as its answer (a Digest challenge's 401), handed
    /// back as a response instead of an error, never retried and never counted as a failure.
    pub(crate) accept_status: Option<http::StatusCode>,
    /// A body sent as these chunks (`RequestBuilder::body_parts`) instead of the request's.
    pub(crate) body_parts: Option<Arc<[Bytes]>>,
    pub(crate) deadline: tokio::time::Instant,
    /// The request URI as the caller built it, before auth added any credential.
    pub(crate) uri: http::Uri,
    /// Its redacted form, made on first use: most calls never need it (it goes into spans
    /// that are enabled and into errors).
    pub(crate) redacted_url: OnceLock<String>,
}

impl CallContext {
    /// The connector's name.
    pub fn connector(&self) -> &str {
        &self.conn.connector_name
    }

    /// The tenant making the call.
    pub fn tenant(&self) -> &TenantId {
        &self.conn.tenant
    }

    /// The connection the call uses.
    pub fn connection(&self) -> &ConnectionId {
        &self.conn.connection
    }

    /// The endpoint's label (for example `customers.create`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The request URL with secrets redacted.
    pub fn redacted_url(&self) -> &str {
        self.redacted_url
            .get_or_init(|| redact_uri(&self.uri, self.conn.connector.secret_query_params()))
    }

    /// Whether the call has side effects (POST, PATCH, or marked so).
    pub fn has_side_effects(&self) -> bool {
        self.side_effects
    }

    /// The body of a call made with
    /// [`RequestBuilder::body_parts`](crate::RequestBuilder::body_parts): the chunks the
    /// transport sends in order, in place of the request's (then empty) body.
    pub fn body_parts(&self) -> Option<&[Bytes]> {
        self.body_parts.as_deref()
    }

    /// The instant by which the whole call must end.
    pub fn deadline(&self) -> tokio::time::Instant {
        self.deadline
    }
}

impl fmt::Debug for CallContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallContext")
            .field("connector", &self.conn.connector_name)
            .field("tenant", &self.conn.tenant)
            .field("connection", &self.conn.connection)
            .field("endpoint", &self.endpoint)
            .field("url", &self.redacted_url())
            .field("side_effects", &self.side_effects)
            .field("cache_ttl", &self.cache_ttl)
            .field("stream", &self.stream)
            .field("body_parts", &self.body_parts.as_ref().map(|p| p.len()))
            .finish_non_exhaustive()
    }
}
