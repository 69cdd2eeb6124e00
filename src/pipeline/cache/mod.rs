//! Stage 2, cache: GET responses cached in memory (quick_cache) with a per-endpoint TTL, opt-in
//! per endpoint.
//!
//! Concurrent identical misses are coalesced into one upstream call, whose outcome (failures
//! included) every waiting caller receives. Only 2xx answers are
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::fmt;
use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, ACCEPT, ACCEPT_LANGUAGE};
use http::{HeaderMap, Method, StatusCode, Version};
use sha2::Sha256;

mod writes;

pub(crate) use writes::WriteLog;

use super::registry::{ConnectionKey, Registry};
use super::{Body, CacheStatus, CallContext, PipelineRequest, PipelineResponse};
use crate::error::{ConfigError, Error, ErrorKind};
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
///
/// Its hash is computed once, when the key is made: moka hashes a key on every probe and
/// again for every live key each time its table is rebuilt, which under steady eviction it
/// is, so hashing the 60+ bytes each time was a tenth of the full cache's miss path.
#[derive(Clone)]
pub(crate) struct CacheKey {
    tenant: TenantId,
    connection: ConnectionId,
    method: Method,
    /// `scheme://host[:port]/path?query`, secret values replaced by their keyed hash.
    url: String,
    /// Where the path is in `url` (for invalidation by path prefix).
    path: std::ops::Range<usize>,
    /// (header, keyed hash of its values in order) for each vary header present.
    vary: Vec<(HeaderName, String)>,
    /// The hash of every field above, under the process's random seed.
    hash: u64,
}

/// Seeds the keys' hashes: random per process, so tenants cannot aim keys at one slot.
static KEY_SEED: LazyLock<KeyHasher> = LazyLock::new(KeyHasher::default);

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        // `path` is derived from `url`, so it needs no comparison.
        self.hash == other.hash
            && self.url == other.url
            && self.tenant == other.tenant
            && self.connection == other.connection
            && self.method == other.method
            && self.vary == other.vary
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
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
        let path_start = url.len();
        url.push_str(uri.path());
        let path = path_start..url.len();
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
        let hash = {
            use std::hash::BuildHasher;
            KEY_SEED.hash_one((tenant, connection, method, &url, &vary))
        };
        CacheKey {
            tenant: tenant.clone(),
            connection: connection.clone(),
            method: method.clone(),
            url,
            path,
            vary,
            hash,
        }
    }

    /// The URL path the key is for.
    fn path(&self) -> &str {
        &self.url[self.path.clone()]
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

/// A stored success: the answer, copied compact ([`compact`]), and when it goes stale.
pub(crate) struct Entry {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    /// What the entry weighs against the cache's bound: its body and header bytes in the one
    /// buffer [`compact`] copies them into, and a fixed allowance for the rest.
    weight: usize,
    /// When it was stored, and when it stops being served.
    stored: Instant,
    expires: Instant,
    /// The number of the last write anywhere when it was fetched (moved on once a later
    /// write of its connection is known not to cover it): a write numbered after it may have
    /// changed it (the `writes` module).
    writes_seen: AtomicU64,
}

/// What an entry's bookkeeping costs beside its bytes (the header map, the key, the store's
/// own slot), as a round allowance; the bound is on memory, not on body bytes alone.
const ENTRY_OVERHEAD: usize = 256;

/// The body and header values of an answer copied into one buffer of exactly their size.
///
/// As hyper hands them out, both are slices of its connection's read buffer (8 KiB and more),
/// so a kept 1 KiB answer pinned the whole buffer: a cache bounded at 64 MiB held 350 MB. The
/// copy is one allocation and one pass over the answer's bytes; the header map is kept and its
/// values are replaced in place.
fn compact(mut headers: HeaderMap, body: &[u8]) -> (HeaderMap, Bytes, usize) {
    let header_bytes: usize = headers.values().map(HeaderValue::len).sum();
    let mut buf = BytesMut::with_capacity(body.len() + header_bytes);
    buf.extend_from_slice(body);
    for v in headers.values() {
        buf.extend_from_slice(v.as_bytes());
    }
    let buf = buf.freeze();
    let mut at = body.len();
    for value in headers.values_mut() {
        let end = at + value.len();
        // The bytes are a valid value's own, so this never fails; if it ever did, the
        // original value is kept (correct, only not compact).
        if let Ok(mut copy) = HeaderValue::from_maybe_shared(buf.slice(at..end)) {
            copy.set_sensitive(value.is_sensitive());
            *value = copy;
        }
        at = end;
    }
    let weight = buf.len() + ENTRY_OVERHEAD;
    (headers, buf.slice(..body.len()), weight)
}

impl Entry {
    fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires
    }

    fn to_response(&self) -> PipelineResponse {
        let mut r = http::Response::new(Body::Full(self.body.clone()));
        *r.status_mut() = self.status;
        *r.version_mut() = self.version;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry({}, {} bytes)", self.status, self.body.len())
    }
}

/// An answer a coalesced fetch got but does not store.
#[derive(Debug)]
enum Uncached {
    /// A non-success answer, handed to every waiting caller as it is (not compacted: it is
    /// dropped when they have it).
    NotSuccess(Entry),
    /// The call failed.
    Failed(Error),
}

impl Uncached {
    /// This outcome as the answer to one of the callers that shared the fetch.
    fn answer(&self) -> Result<(PipelineResponse, CacheStatus), Error> {
        match self {
            Uncached::NotSuccess(entry) => Ok((entry.to_response(), CacheStatus::Miss)),
            Uncached::Failed(err) => Err(err.clone()),
        }
    }
}

/// What the store holds under a key.
#[derive(Clone)]
enum Slot {
    /// A stored success.
    Entry(Arc<Entry>),
    /// The outcome of a fetch that stores nothing: put in only so that the callers waiting on
    /// that fetch receive it (the store hands a placeholder's value to its waiters), and taken
    /// out again at once.
    Uncached(Arc<Uncached>),
}

/// Weighs a slot against the cache's bound (quick_cache calls it on insert and eviction, so it
/// reads a stored figure).
#[derive(Clone)]
struct SlotWeigher;

impl quick_cache::Weighter<CacheKey, Slot> for SlotWeigher {
    fn weight(&self, key: &CacheKey, slot: &Slot) -> u64 {
        let value = match slot {
            Slot::Entry(e) => e.weight,
            Slot::Uncached(_) => ENTRY_OVERHEAD,
        };
        (key.weight() + value) as u64
    }
}

/// The response cache of one switchboard.
///
/// The store is quick_cache (CLOCK-Pro eviction, sharded, no background work). moka was here
/// before; at its bound, evicting on every insert, its miss path (its concurrent table's
/// rebuilds, epoch reclamation, timer wheel and housekeeping queues) cost more than the HTTP
/// call around it (see docs/performance.md). TTLs are per entry and checked when an entry is
/// read; an expired entry still weighs until it is read or evicted.
#[derive(Clone)]
pub(crate) struct ResponseCache {
    store: Arc<Store>,
    /// Each connection's writes, keyed by tenant and connection id.
    writes: Arc<Registry<WriteLog>>,
}

type Store = quick_cache::sync::Cache<CacheKey, Slot, SlotWeigher, KeyHasher>;

/// The store's hasher. Keys carry their own hash ([`CacheKey`]), so this only mixes one `u64`.
type KeyHasher = foldhash::quality::RandomState;

/// The store keeps one share of the bound per shard, and an answer heavier than a share is
/// served but not kept: shares are at least this big, so a small cache has fewer shards.
const MIN_SHARD_BYTES: u64 = 4 * 1024 * 1024;

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.store.len())
            .finish()
    }
}

impl ResponseCache {
    pub(crate) fn new(config: &CacheConfig) -> Self {
        let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
        let shards = (config.max_bytes / MIN_SHARD_BYTES).clamp(1, 4 * parallelism as u64);
        let options = quick_cache::OptionsBuilder::new()
            .weight_capacity(config.max_bytes)
            // Only what the tables reserve up front; they grow to what the bound admits.
            .estimated_items_capacity(
                usize::try_from(config.max_bytes / 8192)
                    .unwrap_or(usize::MAX)
                    .max(64),
            )
            .shards(shards as usize)
            .build()
            // Both required settings are set above.
            .unwrap_or_else(|_| unreachable!("weight and item capacity are set"));
        let store = Store::with_options(
            options,
            SlotWeigher,
            KeyHasher::default(),
            Default::default(),
        );
        ResponseCache {
            store: Arc::new(store),
            writes: Arc::default(),
        }
    }

    /// The write log of `tenant`'s `connection`, which every connection made for them shares.
    pub(crate) fn write_log(&self, tenant: &TenantId, connection: &ConnectionId) -> Arc<WriteLog> {
        // Keyed without a host: a write invalidates the connection's entries whatever host
        // they came from, as the pass over the store did.
        let key = ConnectionKey::new(tenant, connection, "");
        // Logs no connection holds any more are dropped as new ones are made: a host that
        // makes connections for ever-new ids would otherwise keep a log for each. A log made
        // again starts at the last write of every dropped one (`WriteLog::new`), so entries
        // its predecessor's writes invalidated are fetched again, not served.
        self.writes.get_or_insert_pruning(&key, WriteLog::new)
    }

    /// Every key now in the cache (for tests and diagnostics), rendered as text; an entry a
    /// write has invalidated stays until it is next read or evicted.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn keys(&self) -> Vec<String> {
        self.store
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Entry(_)))
            .map(|(k, _)| k.to_string())
            .collect()
    }
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
    /// The fresh entry under `key` as a response, if there is one. A hit takes a shard's read
    /// lock and never waits, so it needs no boxed future and no timer; a miss pays one more
    /// probe before the coalesced fetch.
    pub(crate) fn hit(&self, ctx: &CallContext, key: &CacheKey) -> Option<PipelineResponse> {
        let entry = self.fresh(ctx, key)?;
        Some(Self::serve(ctx, &entry))
    }

    /// The fresh entry under `key`, counted nowhere yet: the caller may still turn the call
    /// down (credentials refused) before serving it with [`Self::serve`]. One a write has
    /// invalidated is taken out.
    pub(crate) fn fresh(&self, ctx: &CallContext, key: &CacheKey) -> Option<Arc<Entry>> {
        let Slot::Entry(e) = self.store.get(key)? else {
            return None;
        };
        if !e.is_fresh(Instant::now()) {
            return None;
        }
        if !unwritten(ctx, key, &e) {
            self.remove_entry(key, &e);
            return None;
        }
        Some(e)
    }

    /// Takes `entry` out from under `key`, unless another has been put in its place.
    fn remove_entry(&self, key: &CacheKey, entry: &Arc<Entry>) {
        self.store.remove_if(
            key,
            |slot| matches!(slot, Slot::Entry(x) if Arc::ptr_eq(x, entry)),
        );
    }

    /// `entry` as this call's answer, counted as a hit.
    pub(crate) fn serve(ctx: &CallContext, entry: &Entry) -> PipelineResponse {
        ctx.conn.metrics.cache(true);
        entry.to_response()
    }

    /// The cached answer under `key`, or the answer of the future `upstream` makes, stored when
    /// it is a success.
    /// Concurrent misses of one key share one `upstream` call, and its outcome, failures
    /// included, except the fetching caller's own deadline: when that passes (or the caller
    /// is dropped), one of those waiting takes over the fetch.
    pub(crate) async fn get_or_fetch<F, U>(
        &self,
        ctx: &CallContext,
        key: &CacheKey,
        ttl: Duration,
        upstream: U,
    ) -> Result<(PipelineResponse, CacheStatus), Error>
    where
        U: FnOnce() -> F,
        F: Future<Output = Result<PipelineResponse, Error>>,
    {
        let started = Instant::now();
        let guard = loop {
            match self.store.get_value_or_guard_async(key).await {
                Ok(Slot::Entry(e)) => {
                    // Fresh, or stored by a fetch this call waited on (a TTL shorter than the
                    // wait), and in both cases not written since its fetch began (a write this
                    // call may have followed): the answer to this call.
                    if (e.stored >= started || e.is_fresh(Instant::now()))
                        && unwritten(ctx, key, &e)
                    {
                        ctx.conn.metrics.cache(true);
                        return Ok((e.to_response(), CacheStatus::Hit));
                    }
                    // Stale or written: out, unless another caller has put a new one in, and
                    // look again. What comes next is this call's own fetch, or an entry stored
                    // since; only another write can send it round again.
                    self.remove_entry(key, &e);
                }
                Ok(Slot::Uncached(outcome)) => return outcome.answer(),
                Err(guard) => break guard,
            }
        };
        // Read before the provider is asked: a write that lands while the answer is on its
        // way may have changed it.
        let writes_seen = writes::now();
        match fetch(upstream, ttl, writes_seen).await {
            Ok(entry) => {
                ctx.conn.metrics.cache(false);
                let resp = entry.to_response();
                // Refused only when the placeholder was taken out meanwhile; the waiters have
                // the answer either way, it is then only not kept.
                let _ = guard.insert(Slot::Entry(entry));
                Ok((resp, CacheStatus::Miss))
            }
            // This caller's own deadline is no answer for the others, who may have longer:
            // the placeholder is released and one of them fetches.
            Err(Uncached::Failed(err)) if err.kind() == ErrorKind::Deadline => {
                drop(guard);
                Err(err)
            }
            Err(outcome) => {
                let outcome = Arc::new(outcome);
                if guard.insert(Slot::Uncached(outcome.clone())).is_ok() {
                    self.store.remove_if(
                        key,
                        |slot| matches!(slot, Slot::Uncached(x) if Arc::ptr_eq(x, &outcome)),
                    );
                }
                outcome.answer()
            }
        }
    }

    /// After a write to `path` answered `resp`: a success invalidates the connection's entries
    /// under its path and under every path the call named with `RequestBuilder::invalidates`.
    ///
    /// Recorded in the connection's write log (the `writes` module), not by a pass over the
    /// store: an entry is checked against the log when it is next read.
    pub(crate) fn after_write(ctx: &CallContext, path: &str, resp: &PipelineResponse) {
        if !resp.status().is_success() {
            return;
        }
        ctx.conn.write_log.record(path);
        for p in &ctx.invalidates {
            ctx.conn.write_log.record(p);
        }
    }
}

/// Whether no write of the caller's connection since `entry` was fetched covers its path.
/// Once the log's last write is known to leave it alone, the entry remembers that write's
/// number, so the log is consulted once per write, not on every hit.
fn unwritten(ctx: &CallContext, key: &CacheKey, entry: &Entry) -> bool {
    let log = &ctx.conn.write_log;
    let last = log.last();
    let seen = entry.writes_seen.load(Ordering::Relaxed);
    if seen >= last {
        return true;
    }
    if log.covers(key.path(), seen) {
        return false;
    }
    entry.writes_seen.fetch_max(last, Ordering::Relaxed);
    true
}

/// When an entry stored at `stored` for `ttl` goes stale. A TTL past what the clock can count
/// (`Duration::MAX`) is a century; a clock that cannot count that far gets an entry that is
/// stale at once (served to the callers that waited for it, then fetched again).
fn expiry(stored: Instant, ttl: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    stored
        .checked_add(ttl)
        .or_else(|| stored.checked_add(CENTURY))
        .unwrap_or(stored)
}

/// Runs `upstream` and makes a storable entry of a success; `writes_seen` is the number of
/// the last write recorded before `upstream` was asked.
async fn fetch<F, U>(upstream: U, ttl: Duration, writes_seen: u64) -> Result<Arc<Entry>, Uncached>
where
    U: FnOnce() -> F,
    F: Future<Output = Result<PipelineResponse, Error>>,
{
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
    let stored = Instant::now();
    if !parts.status.is_success() {
        // Handed back, never stored: no copy.
        return Err(Uncached::NotSuccess(Entry {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
            weight: 0,
            stored,
            expires: stored,
            writes_seen: AtomicU64::new(writes_seen),
        }));
    }
    let (headers, body, weight) = compact(parts.headers, &body);
    Ok(Arc::new(Entry {
        status: parts.status,
        version: parts.version,
        headers,
        body,
        weight,
        stored,
        expires: expiry(stored, ttl),
        writes_seen: AtomicU64::new(writes_seen),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body and header value as hyper hands them out: slices of one larger read buffer.
    fn sliced_answer() -> (Bytes, HeaderMap, Bytes) {
        let mut raw = vec![b'x'; 8192];
        raw[..5].copy_from_slice(b"hello");
        raw[100..116].copy_from_slice(b"application/json");
        let read_buffer = Bytes::from(raw);
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::CONTENT_TYPE,
            HeaderValue::from_maybe_shared(read_buffer.slice(100..116)).unwrap(),
        );
        headers.append("x-set", HeaderValue::from_static("a"));
        let mut secret = HeaderValue::from_static("b");
        secret.set_sensitive(true);
        headers.append("x-set", secret);
        let body = read_buffer.slice(..1024);
        (read_buffer, headers, body)
    }

    #[test]
    fn compact_copies_out_of_the_read_buffer_and_keeps_every_header() {
        let (read_buffer, headers, body) = sliced_answer();
        let (kept_headers, kept_body, weight) = compact(headers, &body);
        drop(body);
        // Nothing kept points into the read buffer any more: it is this handle's alone.
        let read_buffer = read_buffer
            .try_into_mut()
            .expect("the kept entry must not pin the read buffer");
        assert_eq!(read_buffer.len(), 8192);

        assert_eq!(&kept_body[..5], b"hello");
        assert_eq!(kept_body.len(), 1024);
        assert_eq!(kept_headers[http::header::CONTENT_TYPE], "application/json");
        let set: Vec<_> = kept_headers.get_all("x-set").iter().collect();
        assert_eq!(set, ["a", "b"], "repeated headers keep their order");
        assert!(!set[0].is_sensitive());
        assert!(set[1].is_sensitive(), "a sensitive value stays sensitive");
        assert_eq!(weight, 1024 + 16 + 2 + ENTRY_OVERHEAD);
    }
}
