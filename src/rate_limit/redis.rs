//! A [`RateLimiter`] shared by every replica of a host, kept in Redis (feature `redis`).
//!
//! # Algorithm: GCRA
//!
//! The generic cell rate algorithm keeps one number per key, the *theoretical arrival time*
//! (TAT): the instant at which the key would be back to "no debt" if calls kept arriving at the
//! steady rate. With the emission interval `T = period / max` (see [`Quota::interval`]) and a
//! tolerance of `burst * T`, a call of cost `n` arriving at `now` is checked as
//!
//! ```text
//! tat     = max(stored TAT, now)
//! new_tat = tat + n * T
//! if new_tat - now > burst * T  ->  refused, retry after (new_tat - burst * T - now)
//! else                          ->  granted, store new_tat
//! ```
//!
//! so `burst` calls may go at once, then one every `T`. In any window of length `W` at most
//! `burst + floor(W / T)` calls are granted, wherever the window starts; a fixed window instead
//! admits twice its quota within moments around each of its edges. Note what this means for a
//! provider that counts `N` calls per sliding period `P`: a window of one period may hold
//! `burst + max` grants, so choose `burst + max <= N` (the default burst is `max`).
//!
//! The key's TTL is the time until the bucket is full again (`new_tat - now`), so idle tenants
//! cost no memory. It is the same [`Quota`] and the same
//! algorithm as [`super::InMemoryRateLimiter`] (governor), so switching backends keeps the
//! numbers.
//!
//! # One round trip, server time
//!
//! The check and the update run in one Lua script (`EVALSHA`, with the `redis` crate's automatic
//! fallback to loading the script when the server does not know it), so an acquire costs one
//! round trip and is atomic across replicas: no `WATCH`/`MULTI` retries, no lost updates. The
//! script reads the clock with `redis.call('TIME')`, so replicas whose clocks disagree still
//! agree on one timeline, and stores the TAT in whole microseconds (`SET key tat PX ttl`, which
//! is `SET` plus `PEXPIRE` in one command).
//!
//! Keys are `{prefix}:{connector}:{bucket}:{connection}:{tenant}` (`:` and `%` in the connector,
//! bucket and connection are percent-encoded and the tenant comes last, so two keys can never
//! collide). Tenant and connection ids are not secrets; nothing else reaches a key.
//!
//! # Provider hints
//!
//! When a provider's rate-limit headers say a window is spent ([`RateLimiter::observe`]), the
//! limiter sets a *block key* for that rate key, `{prefix}:%block:{connector}:{bucket}:{connection}:{tenant}`,
//! expiring (`PX`) when the window resets; a later hint only ever lengthens it. (`%block` is not
//! a segment the escaping above can produce, so block keys never meet counter keys.) Every
//! replica checks it: for a bucket with a quota the GCRA script reads it first (still one round
//! trip; a blocked call spends no quota), and for a bucket without one the acquire reads its
//! `PTTL` (one round trip that such calls did not make before). So a hint seen by one replica
//! blocks them all, for the same tenant and connection only. The script now touches two keys of
//! one rate key; the connection is a single-node one, and Redis Cluster, which would need both
//! in one hash slot, is not supported.
//!
//! # When Redis is unreachable
//!
//! Every acquire is bounded by a timeout (250 ms by default, [`RedisRateLimiter::timeout`]), so
//! a Redis that is down or hanging never stalls the pipeline longer than that. What happens then
//! is an explicit choice, [`FailMode`]:
//!
//! - [`FailMode::Closed`] (the default): the acquire fails with an [`Error`] of kind
//!   [`ErrorKind::Store`] (nothing was sent) and `switchboard_rate_limiter_fail_closed_total`
//!   is incremented.
//! - [`FailMode::Open`]: the call is granted without a limit, and the limiter says so every
//!   time: a `warn` log line and `switchboard_rate_limiter_fail_open_total`.
//!
//! Either way the failure is counted per connector; the limiter never fails open silently. The
//! connection reconnects in the background, so calls are limited again as soon as Redis is back.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use async_trait::async_trait;

use super::{Quota, RateDecision, RateHint, RateKey, RateLimiter};
use crate::error::{BoxError, ConfigError, Error};
use crate::observe;

/// The default bound on one acquire's Redis round trip.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// Bound on one TCP connect to Redis (initial and reconnects).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bound on the whole of [`RedisRateLimiter::connect`] (connect with retries, load the script).
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// GCRA, see the module docs. KEYS[1]: the key; KEYS[2]: its block key (provider hints).
/// ARGV: emission interval (us), burst, cost.
/// Returns `{1, 0}` when granted, `{0, retry_after_us}` when not.
const GCRA_LUA: &str = r"
-- A provider-reported block wins, and refuses without spending any of our quota.
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  return {0, blocked * 1000}
end
-- Redis < 5 replicates scripts verbatim unless told otherwise, and refuses writes after TIME.
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
local wait = new_tat - tolerance - now
if wait > 0 then
  return {0, wait}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
";

static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));

/// Sets a block key for ARGV[1] ms unless it already lasts longer (a hint never shortens a
/// block). KEYS[1]: the block key.
const BLOCK_LUA: &str = r"
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
";

static BLOCK: LazyLock<Script> = LazyLock::new(|| Script::new(BLOCK_LUA));

/// What a [`RedisRateLimiter`] does when Redis cannot be reached or does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailMode {
    /// Grant the call without a limit, with a `warn` log line and
    /// `switchboard_rate_limiter_fail_open_total{connector}`. Choose it when an outage of the
    /// provider's quota is cheaper than an outage of your integration.
    Open,
    /// Refuse the call with an [`ErrorKind::Store`] error (nothing was sent) and count
    /// `switchboard_rate_limiter_fail_closed_total{connector}`. The default.
    #[default]
    Closed,
}

/// One configured (connector, bucket).
#[derive(Debug, Clone)]
struct Limit {
    quota: Quota,
    /// `{prefix}:{connector}:{bucket}:`; the connection and tenant are appended per call.
    key_prefix: String,
    /// The emission interval in whole microseconds (rounded up, at least 1).
    interval_us: u64,
}

/// connector -> bucket -> limit.
type Limits = HashMap<Arc<str>, HashMap<Arc<str>, Limit>>;

/// connector -> bucket -> adopted default limit.
type AdoptedLimits = HashMap<Arc<str>, HashMap<Arc<str>, Arc<Limit>>>;

/// Adopted default quotas, and whether there are any (so a limiter without them never locks).
#[derive(Debug, Default)]
struct Defaults {
    any: std::sync::atomic::AtomicBool,
    limits: std::sync::RwLock<AdoptedLimits>,
}

/// A [`RateLimiter`] kept in Redis, so that every replica of a host spends one shared quota per
/// (tenant, connection, connector, bucket).
///
/// - **Same numbers as in memory.** Quotas are set per (connector, bucket) with the same
///   [`Quota`] and the same algorithm (GCRA) as [`super::InMemoryRateLimiter`]: `burst` calls at
///   once, then one per [`Quota::interval`]; in any window of length `W` at most
///   `burst + W / interval` calls, wherever it starts (no fixed-window edge that lets twice the
///   quota through in a moment). Against a provider that allows `N` per sliding period, keep
///   `burst + max <= N`. A key whose bucket has no quota is granted without asking Redis.
/// - **One round trip.** The check and the update are one Lua script (`EVALSHA`), atomic across
///   replicas. The script reads Redis's own clock (`TIME`), so replicas need not agree on the
///   time. It stores the theoretical arrival time in microseconds under
///   `{prefix}:{connector}:{bucket}:{connection}:{tenant}` (every segment but the last has `%`
///   and `:` percent-encoded, so no two keys collide), expiring when the bucket is full again.
/// - **Bounded and explicit when Redis is away.** Each acquire waits at most
///   [`Self::timeout`] (250 ms); then the [`FailMode`] applies, and is counted and (when open)
///   logged.
///
/// Cheap to clone: clones share one multiplexed, auto-reconnecting connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::num::NonZeroU32;
/// use std::sync::Arc;
/// use switchboard::rate_limit::{FailMode, RedisRateLimiter};
/// use switchboard::{Quota, Switchboard};
///
/// let limiter = RedisRateLimiter::connect("redis://127.0.0.1:6379/", "myapp:rl")
///     .await?
///     .with_quota("twilio", "messages", Quota::per_second(NonZeroU32::new(50).unwrap()))
///     .fail_mode(FailMode::Closed);
/// let sb = Switchboard::builder().rate_limiter(Arc::new(limiter)).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: Arc<str>,
    // Fixed after construction, so reads take no lock.
    limits: Arc<Limits>,
    /// Quotas connectors publish ([`RateLimiter::adopt_default`]) for buckets `limits` has no
    /// quota for; looked up (one read lock) only once some were adopted. Every replica adopts
    /// the same numbers, so they share one count as a host's own quotas do.
    defaults: Arc<Defaults>,
    fail_mode: FailMode,
    timeout: Duration,
}

impl RedisRateLimiter {
    /// Connects to Redis at `url` (`redis://[user:password@]host:port/db`, or `rediss://`
    /// where the `redis` crate is built with TLS) and loads the script. Keys start with
    /// `prefix`; limiters that share a prefix share their quotas. No quotas yet (everything is
    /// granted); add them with [`Self::with_quota`].
    ///
    /// Fails closed by default ([`FailMode::Closed`]); each acquire waits at most 250 ms for
    /// Redis ([`Self::timeout`]).
    ///
    /// # Errors
    /// - [`ErrorKind::Config`] if `url` is not a Redis URL (the URL itself is not repeated, as it
    ///   may hold a password).
    /// - [`ErrorKind::Store`] if Redis cannot be reached or refuses the script within 5 s.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url)
            .map_err(|_| ConfigError::new("redis.url", "not a valid Redis URL"))?;
        // Short reconnect backoff: a failed reconnect is retried on the next acquire anyway, and
        // each acquire is bounded by our own timeout, so the crate's response timeout is off.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None)
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connect = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            // Loaded now so that the first acquire is one round trip too.
            GCRA.prepare_invoke().load_async(&mut conn).await?;
            BLOCK.prepare_invoke().load_async(&mut conn).await?;
            Ok::<_, ::redis::RedisError>(conn)
        };
        let conn = match tokio::time::timeout(CONNECT_DEADLINE, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(
                    Error::store("cannot connect to the rate limiter's Redis").with_source(e)
                )
            }
            Err(_) => {
                return Err(Error::store(format!(
                    "cannot connect to the rate limiter's Redis within {CONNECT_DEADLINE:?}"
                )))
            }
        };
        Ok(RedisRateLimiter {
            conn,
            prefix: Arc::from(prefix),
            limits: Arc::default(),
            defaults: Arc::default(),
            fail_mode: FailMode::default(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Adds `quota` for `connector`'s `bucket`, counted per (tenant, connection) and shared by
    /// every limiter with the same prefix.
    #[must_use]
    pub fn with_quota(mut self, connector: &str, bucket: &str, quota: Quota) -> Self {
        let limit = self.new_limit(connector, bucket, quota);
        Arc::make_mut(&mut self.limits)
            .entry(Arc::from(connector))
            .or_default()
            .insert(Arc::from(bucket), limit);
        self
    }

    /// What to do when Redis is unreachable or slow (default [`FailMode::Closed`]).
    #[must_use]
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// The longest one acquire waits for Redis before the [`FailMode`] applies (default
    /// 250 ms). It bounds how much a Redis outage adds to each call.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn new_limit(&self, connector: &str, bucket: &str, quota: Quota) -> Limit {
        Limit {
            quota,
            key_prefix: format!(
                "{}:{}:{}:",
                self.prefix,
                escape_segment(connector),
                escape_segment(bucket)
            ),
            interval_us: micros_ceil(quota.interval()),
        }
    }

    fn limit(&self, key: &RateKey) -> Option<&Limit> {
        self.limits
            .get(&*key.connector)
            .and_then(|b| b.get(&*key.bucket))
    }

    /// The adopted default of `key`'s bucket, when the host set none.
    fn default_limit(&self, key: &RateKey) -> Option<Arc<Limit>> {
        if !self.defaults.any.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.defaults
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&*key.connector)
            .and_then(|b| b.get(&*key.bucket))
            .cloned()
    }

    /// Whether a provider hint blocks `key`, for a bucket without a quota (one with a quota has
    /// the check in its GCRA script). Such a bucket has no quota to protect, so when Redis
    /// cannot answer the call is granted (with a `warn` line) whatever the [`FailMode`].
    async fn blocked(&self, key: &RateKey) -> RateDecision {
        let mut conn = self.conn.clone();
        let mut pttl = ::redis::cmd("PTTL");
        pttl.arg(block_key(&self.prefix, key));
        let answer = tokio::time::timeout(self.timeout, pttl.query_async::<i64>(&mut conn)).await;
        match answer {
            Ok(Ok(ms)) if ms > 0 => {
                RateDecision::RetryAfter(Duration::from_millis(ms.unsigned_abs()))
            }
            Ok(Ok(_)) => RateDecision::Granted,
            Ok(Err(e)) => {
                self.hint_failed(key, &e, "read");
                RateDecision::Granted
            }
            Err(_) => {
                self.hint_failed(key, &TimedOut(self.timeout), "read");
                RateDecision::Granted
            }
        }
    }

    fn hint_failed(&self, key: &RateKey, error: &dyn std::error::Error, what: &'static str) {
        tracing::warn!(
            connector = %key.connector,
            bucket = %key.bucket,
            tenant = %key.tenant,
            connection = %key.connection,
            error = %error,
            "rate limiter backend unreachable; could not {what} the provider's rate-limit block"
        );
    }

    /// Applies the fail mode after Redis failed or timed out.
    fn backend_failed(&self, key: &RateKey, source: BoxError) -> Result<RateDecision, Error> {
        match self.fail_mode {
            FailMode::Open => {
                observe::rate_limiter_fail_open(&key.connector);
                tracing::warn!(
                    connector = %key.connector,
                    bucket = %key.bucket,
                    tenant = %key.tenant,
                    connection = %key.connection,
                    error = %source,
                    "rate limiter backend unreachable; failing open (call granted without a limit)"
                );
                Ok(RateDecision::Granted)
            }
            FailMode::Closed => {
                observe::rate_limiter_fail_closed(&key.connector);
                Err(
                    Error::store("rate limiter backend unreachable; failing closed")
                        .with_source(source)
                        .with_connector(key.connector.clone()),
                )
            }
        }
    }
}

impl fmt::Debug for RedisRateLimiter {
    // The URL (which may hold a password) is never kept, so it cannot be printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Quotas<'a>(&'a Limits);
        impl fmt::Debug for Quotas<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = f.debug_map();
                for (c, buckets) in self.0 {
                    for (b, limit) in buckets {
                        d.entry(&format_args!("{c}/{b}"), &limit.quota);
                    }
                }
                d.finish()
            }
        }
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .field("quotas", &Quotas(&self.limits))
            .field("fail_mode", &self.fail_mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn acquire(&self, key: &RateKey, cost: NonZeroU32) -> Result<RateDecision, Error> {
        let adopted;
        let limit = match self.limit(key) {
            Some(limit) => limit,
            None => match self.default_limit(key) {
                Some(limit) => {
                    adopted = limit;
                    &*adopted
                }
                None => return Ok(self.blocked(key).await),
            },
        };
        if cost > limit.quota.burst() {
            // More than the burst can ever hold: never granted at once (as in memory).
            return Ok(RateDecision::RetryAfter(limit.quota.period()));
        }
        let mut invocation = GCRA.prepare_invoke();
        invocation
            .key(redis_key(limit, key))
            .key(block_key(&self.prefix, key))
            .arg(limit.interval_us)
            .arg(limit.quota.burst().get())
            .arg(cost.get());
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((1, _))) => Ok(RateDecision::Granted),
            Ok(Ok((_, wait_us))) => Ok(RateDecision::RetryAfter(Duration::from_micros(
                u64::try_from(wait_us).unwrap_or(0).max(1),
            ))),
            Ok(Err(e)) => self.backend_failed(key, Box::new(e)),
            Err(_) => self.backend_failed(key, Box::new(TimedOut(self.timeout))),
        }
    }

    async fn observe(&self, key: &RateKey, hint: &RateHint) {
        let Some(wait) = hint.exhausted_for() else {
            return;
        };
        // Rounded up: a block ending a little late is harmless, one ending early is a 429.
        let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let mut invocation = BLOCK.prepare_invoke();
        invocation.key(block_key(&self.prefix, key)).arg(ms);
        let mut conn = self.conn.clone();
        let answer =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut conn)).await;
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.hint_failed(key, &e, "record"),
            Err(_) => self.hint_failed(key, &TimedOut(self.timeout), "record"),
        }
    }

    fn adopt_default(&self, connector: &str, bucket: &str, quota: Quota) {
        let has = |limits: &Limits| {
            limits
                .get(connector)
                .is_some_and(|b| b.contains_key(bucket))
        };
        if has(&self.limits) {
            return;
        }
        let defaults = &self.defaults;
        let adopted = |d: &AdoptedLimits| d.get(connector).is_some_and(|b| b.contains_key(bucket));
        if defaults.any.load(std::sync::atomic::Ordering::Acquire)
            && adopted(
                &defaults
                    .limits
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        {
            return;
        }
        let limit = Arc::new(self.new_limit(connector, bucket, quota));
        defaults
            .limits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(Arc::from(connector))
            .or_default()
            .entry(Arc::from(bucket))
            .or_insert(limit);
        defaults
            .any
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The source of a fail-mode decision when Redis did not answer in time.
#[derive(Debug)]
struct TimedOut(Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis did not answer within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

fn redis_key(limit: &Limit, key: &RateKey) -> String {
    let tenant = key.tenant.as_str();
    let connection = escape_segment(key.connection.as_str());
    let mut k = String::with_capacity(limit.key_prefix.len() + connection.len() + tenant.len() + 1);
    k.push_str(&limit.key_prefix);
    // The connection is escaped (it has no bare `:`), and the tenant is the last segment, so
    // neither id can make two keys collide.
    k.push_str(&connection);
    k.push(':');
    k.push_str(tenant);
    k
}

/// `{prefix}:%block:{connector}:{bucket}:{connection}:{tenant}`: the rate key's block key. The
/// segment after the prefix starts with a bare `%`, which [`escape_segment`] never produces, so
/// it cannot equal a counter key.
fn block_key(prefix: &str, key: &RateKey) -> String {
    let connector = escape_segment(&key.connector);
    let bucket = escape_segment(&key.bucket);
    let connection = escape_segment(key.connection.as_str());
    let tenant = key.tenant.as_str();
    let mut k = String::with_capacity(
        prefix.len() + 11 + connector.len() + bucket.len() + connection.len() + tenant.len(),
    );
    k.push_str(prefix);
    k.push_str(":%block:");
    k.push_str(&connector);
    k.push(':');
    k.push_str(&bucket);
    k.push(':');
    k.push_str(&connection);
    k.push(':');
    k.push_str(tenant);
    k
}

/// Percent-encodes `%` and `:` so that `{connector}:{bucket}` splits one way only.
fn escape_segment(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([':', '%']) {
        s.replace('%', "%25").replace(':', "%3A").into()
    } else {
        s.into()
    }
}

/// `d` in whole microseconds, rounded up (never faster than the quota), at least 1.
fn micros_ceil(d: Duration) -> u64 {
    let us = d.as_nanos().div_ceil(1_000).max(1);
    u64::try_from(us).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_with_separators_cannot_collide() {
        assert_eq!(escape_segment("twilio"), "twilio");
        assert_eq!(escape_segment("a:b"), "a%3Ab");
        assert_eq!(escape_segment("50%:x"), "50%25%3Ax");
        // ("a:b", "c") and ("a", "b:c") would both be "a:b:c" unescaped.
        assert_ne!(
            format!("{}:{}", escape_segment("a:b"), escape_segment("c")),
            format!("{}:{}", escape_segment("a"), escape_segment("b:c"))
        );
    }

    #[test]
    fn keys_separate_tenants_and_connections_without_collisions() {
        let limit = Limit {
            quota: Quota::per_second(std::num::NonZeroU32::MIN),
            key_prefix: "p:test:default:".to_string(),
            interval_us: 1,
        };
        let k = |t: &str, c: &str| {
            redis_key(&limit, &RateKey::new(t.into(), c.into(), "test", "default"))
        };
        assert_eq!(k("t1", "stripe"), "p:test:default:stripe:t1");
        assert_ne!(k("a", "stripe"), k("b", "stripe"));
        assert_ne!(k("a", "c1"), k("a", "c2"));
        // ("b:c", "a") and ("c", "a:b") would both be "a:b:c" unescaped.
        assert_ne!(k("c", "a:b"), k("b:c", "a"));
    }

    #[test]
    fn block_keys_never_meet_counter_keys_or_each_other() {
        let limit = Limit {
            quota: Quota::per_second(std::num::NonZeroU32::MIN),
            key_prefix: "p:test:default:".to_string(),
            interval_us: 1,
        };
        let rk = |t: &str, c: &str| RateKey::new(t.into(), c.into(), "test", "default");
        assert_eq!(
            block_key("p", &rk("t1", "c1")),
            "p:%block:test:default:c1:t1"
        );
        assert_ne!(block_key("p", &rk("a", "c")), block_key("p", &rk("b", "c")));
        assert_ne!(
            block_key("p", &rk("c", "a:b")),
            block_key("p", &rk("b:c", "a"))
        );
        // A connector named `%block` is escaped, so no counter key has `%block` after the prefix.
        assert_eq!(escape_segment("%block"), "%25block");
        assert_ne!(
            redis_key(&limit, &rk("t1", "c1")),
            block_key("p", &rk("t1", "c1"))
        );
    }

    #[test]
    fn interval_rounds_up_to_whole_microseconds() {
        assert_eq!(micros_ceil(Duration::from_millis(100)), 100_000);
        assert_eq!(micros_ceil(Duration::from_nanos(1_500)), 2);
        assert_eq!(micros_ceil(Duration::from_nanos(10)), 1);
    }

    #[test]
    fn fail_mode_defaults_to_closed() {
        assert_eq!(FailMode::default(), FailMode::Closed);
    }
}
