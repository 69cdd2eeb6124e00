//! The HTTP pipeline every connector call goes through: fixed stages run as one future
//! (`orchestrator.rs`), with tower kept around each attempt for the host's layers.
//!
//! # Order (outermost first)
//!
//! ```text
//!  Connection::send ── call span + metrics; the deadline bounds every stage that waits
//!    │
//!    ├─ auth          pipeline/auth.rs        add credentials (sensitive headers / secret query)
//!    ├─ cache         pipeline/cache/         GET only, opt-in per endpoint; coalesces misses
//!    ├─ rate limit    pipeline/rate_limit.rs  RateLimiter says go or "after d"; waits up to a max;
//!    │                                        then hands it the provider's rate-limit headers
//!    ├─ breaker       pipeline/breaker/       per tenant, connection and host; fails fast while open
//!    ├─ retry         pipeline/retry/         backoff + jitter, Retry-After, budget, idempotency
//!    │    └─ [host attempt layers]            added with SwitchboardBuilder::attempt_layer
//!    ├─ timeout       pipeline/timeout.rs     per attempt, never past the call's deadline
//!    └─ transport     pipeline/transport/     hyper (rustls); body cap; streaming bodies
//! ```
//!
//! The cache sits *before* the rate limiter (the issue sketched it after): a cache hit makes no
//! upstream call, so it must not spend the tenant's quota or wait for it. Auth stays first so a
//! connection without credentials is refused before anything, cached data included, is served.
//! The breaker sits outside retry so that one logical call counts once, whatever its attempts.
//!
//! Each stage is a file of its own with a plain async function (or, for the cache, a method)
//! that the orchestrator awaits in this order. The request is an `http::Request<Bytes>`
//! carrying a [`CallContext`] in its extensions; stages read it by reference, so an attempt is
//! replayed without copying it. A host's attempt layers ([`HttpService`], added with
//! `SwitchboardBuilder::attempt_layer`) are tower layers around the timeout and transport.

pub(crate) mod auth;
pub mod body;
pub mod breaker;
pub mod cache;
mod context;
pub(crate) mod rate_limit;
pub(crate) mod registry;
pub mod retry;

pub(crate) mod orchestrator;
pub(crate) mod timeout;
pub(crate) mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

pub use body::Body;
pub(crate) use context::ConnectionShared;
pub use context::{CallContext, Idempotency};

use crate::error::{Error, ErrorKind};

/// The request type every layer handles.
pub type PipelineRequest = http::Request<Bytes>;
/// The response type every layer returns.
pub type PipelineResponse = http::Response<Body>;
/// The service type a host's attempt layer wraps and returns.
pub type HttpService = tower::util::BoxCloneSyncService<PipelineRequest, PipelineResponse, Error>;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'static>>;

/// Whether a response came from the cache (see [`crate::Response::is_cache_hit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from the cache without an upstream call.
    Hit,
    /// Fetched upstream (and stored, if it was cacheable).
    Miss,
}

/// The context of a request, which every layer needs; a request without one did not come
/// through a [`crate::Connection`], which is a bug in the caller.
pub(crate) fn context_of(req: &PipelineRequest) -> Result<Arc<CallContext>, Error> {
    req.extensions()
        .get::<Arc<CallContext>>()
        .cloned()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Config,
                "request has no call context; send it through a Connection",
            )
        })
}

/// Copies a request so an attempt can be replayed: headers and extensions are cloned, the body
/// is a reference-counted `Bytes`.
pub(crate) fn clone_request(req: &PipelineRequest) -> PipelineRequest {
    let mut r = http::Request::new(req.body().clone());
    *r.method_mut() = req.method().clone();
    *r.uri_mut() = req.uri().clone();
    *r.version_mut() = req.version();
    *r.headers_mut() = req.headers().clone();
    *r.extensions_mut() = req.extensions().clone();
    r
}
