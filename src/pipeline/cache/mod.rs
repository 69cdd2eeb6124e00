//! Layer 2, cache: GET responses cached in moka with a per-endpoint TTL, opt-in per endpoint.
//!
//! Concurrent identical misses are coalesced into one upstream call. The key holds tenant,
//! connection, method and the *redacted* URL, so no API key or token is ever part of a key, and
//! two tenants never share an entry. Only 2xx answers are stored. A successful write (any
//! non-GET) invalidates cached entries under its own path and under every path it names with
//! `RequestBuilder::invalidates`.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use moka::future::Cache;
use moka::Expiry;
use tower::{Layer, Service, ServiceExt};

use super::{
    context_of, Body, BoxFuture, CacheStatus, CallContext, PipelineRequest, PipelineResponse,
};
use crate::error::{ConfigError, Error};
use crate::observe;

/// Cache size settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub(crate) max_bytes: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl CacheConfig {
    /// The most body bytes the cache holds (default 64 MiB); least-used entries go first.
    #[must_use]
    pub fn max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_bytes == 0 {
            return Err(ConfigError::new(
                "cache.max_bytes",
                "must be greater than zero",
            ));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct Entry {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    ttl: Duration,
    // For invalidation: "tenant\0connection" and the URL path.
    scope: Arc<str>,
    path: Arc<str>,
}

impl Entry {
    fn to_response(&self, status: CacheStatus) -> PipelineResponse {
        let mut r = http::Response::new(Body::Full(self.body.clone()));
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        r.extensions_mut().insert(status);
        r
    }
}

struct PerEntryTtl;

impl Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The response cache of one switchboard.
#[derive(Clone)]
pub(crate) struct ResponseCache {
    // Arc: a hit clones a pointer, not the header map.
    cache: Cache<String, Arc<Entry>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl ResponseCache {
    pub(crate) fn new(config: &CacheConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|k: &String, v: &Arc<Entry>| {
                u32::try_from(k.len() + v.body.len() + 256).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        ResponseCache { cache }
    }

    /// The cache key: never holds a secret, because the URL in the context is redacted.
    pub(crate) fn key(ctx: &CallContext, method: &Method) -> String {
        let mut k = String::with_capacity(ctx.redacted_url.len() + 64);
        k.push_str(ctx.tenant.as_str());
        k.push('\u{0}');
        k.push_str(ctx.connection.as_str());
        k.push('\u{0}');
        k.push_str(method.as_str());
        k.push('\u{0}');
        k.push_str(&ctx.redacted_url);
        k
    }

    /// Every key now in the cache (for tests and diagnostics).
    pub(crate) fn keys(&self) -> Vec<String> {
        self.cache.iter().map(|(k, _)| (*k).clone()).collect()
    }

    fn invalidate(&self, scope: &str, path: &str) {
        let scope: Arc<str> = Arc::from(scope);
        let path = path.to_string();
        // Fails only when invalidation closures are not enabled, which `new` always does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| *v.scope == *scope && v.path.starts_with(&path));
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CacheLayer {
    pub(crate) cache: ResponseCache,
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            cache: self.cache.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct CacheService<S> {
    inner: S,
    cache: ResponseCache,
}

/// Why a coalesced miss produced nothing to store.
#[derive(Debug)]
enum Uncached {
    NotSuccess(Box<Entry>),
    Failed(Error),
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({}, {} bytes)", self.status, self.body.len())
    }
}

fn scope_of(ctx: &CallContext) -> String {
    format!("{}\u{0}{}", ctx.tenant, ctx.connection)
}

impl<S> Service<PipelineRequest> for CacheService<S>
where
    S: Service<PipelineRequest, Response = PipelineResponse, Error = Error>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = PipelineResponse;
    type Error = Error;
    type Future = BoxFuture<PipelineResponse>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: PipelineRequest) -> Self::Future {
        let inner = self.inner.clone();
        let cache = self.cache.clone();
        Box::pin(async move {
            let ctx = context_of(&req)?;
            let method = req.method().clone();
            let ttl = match ctx.cache_ttl {
                Some(ttl) if method == Method::GET && !ctx.stream => ttl,
                _ => {
                    let path = req.uri().path().to_string();
                    let resp = inner.oneshot(req).await?;
                    if method != Method::GET && resp.status().is_success() {
                        let scope = scope_of(&ctx);
                        cache.invalidate(&scope, &path);
                        for p in &ctx.invalidates {
                            cache.invalidate(&scope, p);
                        }
                    }
                    return Ok(resp);
                }
            };
            let key = ResponseCache::key(&ctx, &method);
            if let Some(hit) = cache.cache.get(&key).await {
                observe::cache(&ctx, true);
                return Ok(hit.to_response(CacheStatus::Hit));
            }
            let scope: Arc<str> = Arc::from(scope_of(&ctx));
            let path: Arc<str> = Arc::from(req.uri().path());
            let fetch = async move {
                let resp = inner.oneshot(req).await.map_err(Uncached::Failed)?;
                let (parts, body) = resp.into_parts();
                let body = match body {
                    Body::Full(b) => b,
                    // Never reached: streamed calls bypass the cache above.
                    Body::Stream(s) => Body::Stream(s)
                        .collect(usize::MAX)
                        .await
                        .map_err(Uncached::Failed)?,
                };
                let entry = Entry {
                    status: parts.status,
                    version: parts.version,
                    headers: parts.headers,
                    body,
                    ttl,
                    scope,
                    path,
                };
                if entry.status.is_success() {
                    Ok(Arc::new(entry))
                } else {
                    Err(Uncached::NotSuccess(Box::new(entry)))
                }
            };
            let result = cache.cache.entry(key).or_try_insert_with(fetch).await;
            match result {
                Ok(e) => {
                    let fresh = e.is_fresh();
                    observe::cache(&ctx, !fresh);
                    Ok(e.into_value().to_response(if fresh {
                        CacheStatus::Miss
                    } else {
                        CacheStatus::Hit
                    }))
                }
                Err(shared) => match &*shared {
                    Uncached::NotSuccess(entry) => Ok(entry.to_response(CacheStatus::Miss)),
                    Uncached::Failed(err) => Err(err.clone()),
                },
            }
        })
    }
}
