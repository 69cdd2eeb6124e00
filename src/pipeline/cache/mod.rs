//! Stage 2, cache: GET responses cached in moka with a per-endpoint TTL, opt-in per endpoint.
//!
//! Concurrent identical misses are coalesced into one upstream call. Only 2xx answers are
//! stored. A successful write (any non-GET) invalidates cached entries under its own path and
//! under every path it names with `RequestBuilder::invalidates`.
//!
//! # The key
//!
//! The key covers everything that changes the answer:
//! - the tenant and the connection, as separate fields (connection ids are unique only within a
//!   tenant, and a joined string could make two pairs collide);
//! - the method;
//! - the full URL as the caller built it (before the auth layer adds credentials), with every
//!   query value. Values of secret parameters ([`crate::redact::DEFAULT_SECRET_PARAMS`] and the
//!   connector's [`crate::Connector::secret_query_params`]) appear only as a keyed hash
//!   (HMAC-SHA-256 under a random key made once per process), so two calls that differ only in
//!   a `code=` or `token=` value get two entries, and the secret is never in a key, not even
//!   as the redacted placeholder (which would make two different secrets share an entry);
//! - the request headers that change the answer: `Stripe-Account`, `Accept`,
//!   `Accept-Language`, and those the connector names in
//!   [`crate::Connector::cache_vary_headers`]. Their values are keyed hashes too.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::fmt;
use std::sync::LazyLock;

use bytes::Bytes;
use futures_util::FutureExt;
use hmac::{Hmac, Mac};
use http::header::{HeaderName, ACCEPT, ACCEPT_LANGUAGE};
use http::{HeaderMap, Method, StatusCode, Version};
use moka::future::Cache;
use moka::Expiry;
use sha2::Sha256;

use super::{Body, CacheStatus, CallContext, PipelineRequest, PipelineResponse};
use crate::error::{ConfigError, Error};
use crate::ids::{ConnectionId, TenantId};
use crate::redact::is_secret_param;

/// The headers that change the answer for every connector (a connector adds its own).
pub(crate) static CORE_VARY_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("stripe-account"),
    ACCEPT,
    ACCEPT_LANGUAGE,
];

/// The headers that change a connector's answers: the core's and the connector's own, sorted
/// by name without repeats, so every key lists them in one order. Made once per connection.
pub(crate) fn vary_headers(connector: &[HeaderName]) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = CORE_VARY_HEADERS.iter().chain(connector).cloned().collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

/// The key of the keyed hash that stands in for secret values in cache keys: random, made once
/// per process, never leaves it. A plain hash would let anyone who sees the keys test guesses
/// of a low-entropy secret; the redacted placeholder would make two secrets collide.
static KEY_HASH_KEY: LazyLock<[u8; 32]> = LazyLock::new(|| {
    use aes_gcm::aead::rand_core::RngCore;
    let mut k = [0u8; 32];
    aes_gcm::aead::OsRng.fill_bytes(&mut k);
    k
});

/// `#` and the first 128 bits of HMAC-SHA-256(`value`) in hex. `#` never occurs in a query
/// (it starts a fragment), so a hashed value cannot be mistaken for a literal one.
fn keyed_hash(value: &[u8]) -> String {
    // HMAC takes a key of any length; 32 bytes cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&*KEY_HASH_KEY)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(value);
    let tag = mac.finalize().into_bytes();
    format!("#{}", hex::encode(&tag[..16]))
}

/// What a cached answer depends on (see the module docs). Holds no secret in clear.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    tenant: TenantId,
    connection: ConnectionId,
    method: Method,
    /// `scheme://host[:port]/path?query`, secret values replaced by their keyed hash.
    url: String,
    /// (header, keyed hash of its values in order) for each vary header present.
    vary: Vec<(HeaderName, String)>,
}

impl CacheKey {
    /// The key of a call to `uri` with `headers`; `secret_params` is the connector's addition
    /// to the core list, `vary` the whole list of [`vary_headers`] (made once per connection).
    pub(crate) fn new(
        tenant: &TenantId,
        connection: &ConnectionId,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
        secret_params: &[&str],
        vary: &[HeaderName],
    ) -> Self {
        let mut url = String::with_capacity(
            uri.authority().map_or(0, |a| a.as_str().len())
                + uri.path_and_query().map_or(0, |p| p.as_str().len())
                + 48,
        );
        if let Some(scheme) = uri.scheme_str() {
            url.push_str(scheme);
            url.push_str("://");
        }
        if let Some(a) = uri.authority() {
            // Never the user-info (the base URL refuses it anyway).
            let a = a.as_str();
            url.push_str(a.rsplit_once('@').map_or(a, |(_, host)| host));
        }
        url.push_str(uri.path());
        if let Some(q) = uri.query() {
            url.push('?');
            for (i, pair) in q.split('&').enumerate() {
                if i > 0 {
                    url.push('&');
                }
                match pair.split_once('=') {
                    Some((name, value)) if is_secret_param(name, secret_params) => {
                        url.push_str(name);
                        url.push('=');
                        url.push_str(&keyed_hash(value.as_bytes()));
                    }
                    _ => url.push_str(pair),
                }
            }
        }
        let vary = vary
            .iter()
            .filter(|n| headers.contains_key(*n))
            .map(|n| {
                let mut joined = Vec::new();
                for v in headers.get_all(n) {
                    // Length-prefixed, so ("a,b") and ("a", "b") differ.
                    joined.extend_from_slice(&(v.len() as u64).to_be_bytes());
                    joined.extend_from_slice(v.as_bytes());
                }
                (n.clone(), keyed_hash(&joined))
            })
            .collect();
        CacheKey {
            tenant: tenant.clone(),
            connection: connection.clone(),
            method: method.clone(),
            url,
            vary,
        }
    }

    fn weight(&self) -> usize {
        self.tenant.as_str().len()
            + self.connection.as_str().len()
            + self.url.len()
            + self.vary.len() * 64
    }
}

/// For diagnostics ([`crate::Switchboard::cache_keys`]): ids quoted, secrets only as hashes.
impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {:?} {} {}",
            self.tenant.as_str(),
            self.connection.as_str(),
            self.method,
            self.url
        )?;
        for (name, hash) in &self.vary {
            write!(f, " {name}={hash}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

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
    // For invalidation: whose entry it is, and the URL path.
    scope: Arc<(TenantId, ConnectionId)>,
    path: Arc<str>,
}

impl Entry {
    fn to_response(&self) -> PipelineResponse {
        let mut r = http::Response::new(Body::Full(self.body.clone()));
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

struct PerEntryTtl;

impl Expiry<CacheKey, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &CacheKey,
        value: &Arc<Entry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The response cache of one switchboard.
#[derive(Clone)]
pub(crate) struct ResponseCache {
    // Arc: a hit clones a pointer, not the header map.
    cache: Cache<CacheKey, Arc<Entry>, KeyHasher>,
}

/// The cache's hasher: foldhash (already built for governor's maps), seeded at random per
/// cache. SipHash, the default, was a tenth of a hit's instructions over keys of 60+ bytes;
/// foldhash's `quality` variant keeps a random seed, so tenants cannot aim keys at one slot.
type KeyHasher = foldhash::quality::RandomState;

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
            .weigher(|k: &CacheKey, v: &Arc<Entry>| {
                u32::try_from(k.weight() + v.body.len() + 256).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build_with_hasher(KeyHasher::default());
        ResponseCache { cache }
    }

    /// Every key now in the cache (for tests and diagnostics), rendered as text.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn keys(&self) -> Vec<String> {
        self.cache.iter().map(|(k, _)| k.to_string()).collect()
    }

    fn invalidate(&self, scope: &Arc<(TenantId, ConnectionId)>, path: &str) {
        let scope = scope.clone();
        let path = path.to_string();
        // Fails only when invalidation closures are not enabled, which `new` always does.
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| *v.scope == *scope && v.path.starts_with(&path));
    }
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

fn scope_of(ctx: &CallContext) -> Arc<(TenantId, ConnectionId)> {
    Arc::new((ctx.conn.tenant.clone(), ctx.conn.connection.clone()))
}

/// What the cache stage does with one call.
pub(crate) enum Plan<'a> {
    /// A cacheable GET: answer from the cache or fetch (coalesced) and store.
    Lookup { key: &'a CacheKey, ttl: Duration },
    /// Not cached; `write` says a success must invalidate what it changed.
    Bypass { write: bool },
}

/// Decides what the cache stage does with `req`.
pub(crate) fn plan<'a>(ctx: &'a CallContext, req: &PipelineRequest) -> Plan<'a> {
    match (&ctx.cache_ttl, &ctx.cache_key) {
        (Some(ttl), Some(key)) if req.method() == Method::GET && !ctx.stream => {
            Plan::Lookup { key, ttl: *ttl }
        }
        _ => Plan::Bypass {
            write: req.method() != Method::GET,
        },
    }
}

impl ResponseCache {
    /// The fresh entry under `key` as a response, when the lookup answers without waiting
    /// (moka's lookup is async but only waits in rare housekeeping, and then this says no and
    /// the caller takes [`ResponseCache::get_or_fetch`]). A hit then needs no boxed future
    /// and no timer; a miss pays one more probe before the coalesced fetch.
    pub(crate) fn hit(&self, ctx: &CallContext, key: &CacheKey) -> Option<PipelineResponse> {
        let entry = self.cache.get(key).now_or_never()??;
        ctx.conn.metrics.cache(true);
        Some(entry.to_response())
    }

    /// The cached answer under `key`, or the answer of the future `upstream` makes, stored when
    /// it is a success.
    /// Concurrent misses of one key share one `upstream` call.
    pub(crate) async fn get_or_fetch<F, U>(
        &self,
        ctx: &CallContext,
        key: &CacheKey,
        ttl: Duration,
        req: &PipelineRequest,
        upstream: U,
    ) -> Result<(PipelineResponse, CacheStatus), Error>
    where
        U: FnOnce() -> F,
        F: Future<Output = Result<PipelineResponse, Error>>,
    {
        // `upstream` makes its future only here, so it is held once, inside `fetch`.
        let fetch = async {
            let resp = upstream().await.map_err(Uncached::Failed)?;
            let (parts, body) = resp.into_parts();
            let body = match body {
                Body::Full(b) => b,
                // Never reached: streamed calls bypass the cache (see `plan`).
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
                scope: scope_of(ctx),
                path: Arc::from(req.uri().path()),
            };
            if entry.status.is_success() {
                Ok(Arc::new(entry))
            } else {
                Err(Uncached::NotSuccess(Box::new(entry)))
            }
        };
        // One lookup for hit and miss alike: the entry API answers a hit without running
        // `fetch`, and clones the key only to insert.
        match self.cache.entry_by_ref(key).or_try_insert_with(fetch).await {
            Ok(e) => {
                let fresh = e.is_fresh();
                ctx.conn.metrics.cache(!fresh);
                let status = if fresh {
                    CacheStatus::Miss
                } else {
                    CacheStatus::Hit
                };
                Ok((e.into_value().to_response(), status))
            }
            Err(shared) => match &*shared {
                Uncached::NotSuccess(entry) => Ok((entry.to_response(), CacheStatus::Miss)),
                Uncached::Failed(err) => Err(err.clone()),
            },
        }
    }

    /// After a write to `path` answered `resp`: a success drops the entries under its path and
    /// under every path the call named with `RequestBuilder::invalidates`.
    pub(crate) fn after_write(&self, ctx: &CallContext, path: &str, resp: &PipelineResponse) {
        if !resp.status().is_success() {
            return;
        }
        let scope = scope_of(ctx);
        self.invalidate(&scope, path);
        for p in &ctx.invalidates {
            self.invalidate(&scope, p);
        }
    }
}
