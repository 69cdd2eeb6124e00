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
//! It is the same [`Quota`] and the same algorithm as [`super::InMemoryRateLimiter`]
//! (governor), so switching backends keeps the numbers.
//!
//! # One round trip, server time
//!
//! The check and the update run in one Lua script (`EVALSHA`, loading the script again when the
//! server has lost it), so an acquire costs one round trip and is atomic across replicas: no
//! `WATCH`/`MULTI` retries, no lost updates. The script reads the clock with
//! `redis.call('TIME')`, so replicas whose clocks disagree still agree on one timeline, and
//! stores the TAT in whole microseconds. A granted call runs three commands (`TIME`, `GET`,
//! `SET`) and a refused one two: inside a script each `redis.call` costs about as much again as
//! the script itself, so the script makes no other.
//!
//! Concurrent acquires share a script: each limiter (and its clones) has one task that sends
//! acquires to Redis, and the acquires that queue while a script is out go together in the next
//! one (at most 64 per script and two scripts out at once; nothing ever waits for a batch to
//! fill, so a lone acquire goes at once, as a batch of one). The script's own cost and its
//! `TIME` are then paid once per batch, which is most of what an acquire costs Redis. A batch
//! is one script, so it is atomic too, and decides as the same acquires one after another
//! would; an acquire whose caller has given up (timed out) is dropped from the batch rather than
//! spending quota. One key's trouble stays its own: a key that holds another type (another
//! program wrote it) answers its own acquire with the fail mode, and the batch's other keys,
//! other tenants' among them, are decided as usual.
//!
//! Keys expire once their bucket is full again, so idle tenants cost no memory, but a key's TTL
//! is not rewritten on every call (`SET … PX` costs noticeably more than
//! `SET … KEEPTTL`): with the tolerance `tol = burst * T`, a write sets the TTL to `2 * tol`
//! only when the new TAT enters another multiple of `tol` (or the key is new), and keeps it
//! otherwise. A granted TAT is at most `tol` ahead of now, so every TAT written under a kept TTL
//! is still before the key expires; an idle key lives at most `2 * tol` (twice the time a full
//! burst takes to refill). `KEEPTTL` needs Redis 6.0 or later.
//!
//! Keys are `{prefix}:{connector}:{bucket}:{connection}:{tenant}` (`:` and `%` in the connector,
//! bucket and connection are percent-encoded and the tenant comes last, so two keys can never
//! collide). Tenant and connection ids are not secrets; nothing else reaches a key.
//!
//! # Provider hints
//!
//! When a provider's rate-limit headers say a window is spent ([`RateLimiter::observe`]), the
//! limiter writes the instant the window resets (server time) into the rate key itself, after
//! its TAT (`{tat};{until}`), and makes the key's TTL last at least that long; a later hint only
//! ever lengthens the block. Every replica's GCRA script reads it with the TAT (same `GET`, no
//! extra command; a blocked call spends no quota), and a bucket without a quota runs the same
//! script with a cost of 0, which only checks the block. So a hint seen by one replica blocks
//! them all, for the same tenant and connection only. One key per rate key also means the
//! script touches a single key.
//!
//! # Refusals remembered on each replica
//!
//! A refusal moves nothing in Redis (the TAT only ever grows, a block only lengthens), so a key
//! Redis refused until `t` stays refused until `t`. Each limiter therefore remembers, per rate
//! key (tenant, connection, connector, bucket), until when Redis refused it, and refuses later
//! acquires of that key itself, without a round trip, until then
//! ([`RateLimiter::try_acquire_now`] answers them, so the pipeline does not even box a future).
//! The wait is counted from the instant the request was *sent*, so the memory never refuses a
//! call Redis would already grant: it may let a call through a moment early, which Redis then
//! refuses. A quota refusal for a cost of `n` answers smaller costs with a wait shorter by one
//! interval per unit; a provider block answers every cost. Hints this replica observes are
//! remembered the same way. The memory holds at most 10,000 keys by default
//! ([`RedisRateLimiter::refusal_memory`]; moka drops the least useful past that, which only
//! costs those keys their round trip again), and entries expire when their wait is over.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Quota, RateDecision, RateHint, RateKey, RateLimiter};
use crate::error::{BoxError, ConfigError, Error};
use crate::observe;

/// The default bound on one acquire's Redis round trip.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// Bound on one TCP connect to Redis (initial and reconnects).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Bound on the whole of [`RedisRateLimiter::connect`] (connect with retries, load the script).
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// GCRA, see the module docs, for one or more rate keys at once (a batch, see
/// [`batch_acquires`]). KEYS[i]: a rate key, whose value is `{tat}` or `{tat};{block}`
/// (microseconds of server time; `tat` may be empty). ARGV[3i-2..3i]: its emission interval
/// (us), burst and cost; a cost of 0 only checks the provider block (a bucket without a quota).
/// The answer for a key is 0 when granted, the wait in microseconds when our quota refuses, and
/// minus the wait when a provider block refuses, and [`KEY_NOT_A_STRING`] when the key holds
/// another type; one integer for one key, else an array.
/// A granted key costs `GET` and `SET`, and the batch one `TIME`: inside a script each
/// `redis.call` costs about as much as the script's own overhead, so there is no other.
const GCRA_LUA: &str = r"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local out = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  -- pcall: a key another program wrote with another type answers for itself, and the rest of
  -- the batch (other tenants' keys) is decided as usual.
  local v = redis.pcall('GET', key)
  local old, fresh, r
  if type(v) == 'table' then
    r = -4611686018427387904
    v = false
  end
  if v then
    local sep = string.find(v, ';', 1, true)
    if sep then
      -- A provider-reported block wins, and refuses without spending any of our quota.
      local block = tonumber(string.sub(v, sep + 1))
      if block and block > now then r = now - block end
      old = tonumber(string.sub(v, 1, sep - 1))
      fresh = true
    else
      old = tonumber(v)
    end
  end
  local cost = tonumber(ARGV[3 * i])
  if r == nil and cost == 0 then r = 0 end
  if r == nil then
    local interval = tonumber(ARGV[3 * i - 2])
    local tol = interval * ARGV[3 * i - 1]
    local tat = now
    if old and old > now then tat = old end
    local new_tat = tat + interval * cost
    local wait = new_tat - tol - now
    if wait > 0 then
      r = wait
    else
      -- The TTL is set to twice the tolerance only when the TAT enters another multiple of
      -- the tolerance; in between it is kept, and still outlasts the TAT (see the module docs).
      if old and not fresh and math.floor(old / tol) == math.floor(new_tat / tol) then
        redis.call('SET', key, string.format('%d', new_tat), 'KEEPTTL')
      else
        redis.call('SET', key, string.format('%d', new_tat), 'PX', math.ceil(tol / 500) + 1)
      end
      r = 0
    end
  end
  out[i] = r
end
if #KEYS == 1 then return out[1] end
return out
";

static GCRA: LazyLock<Script> = LazyLock::new(|| Script::new(GCRA_LUA));

/// The GCRA script's answer for a key whose value is not a string (another program wrote it):
/// -2^62, exact as a Lua number and far beyond any block (146,000 years in microseconds).
const KEY_NOT_A_STRING: i64 = -(1 << 62);

/// Blocks a rate key for ARGV[1] ms unless it is already blocked for longer (a hint never
/// shortens a block), keeping its TAT and a TTL at least as long as before. KEYS[1]: the key.
const BLOCK_LUA: &str = r"
local t = redis.call('TIME')
local ms = tonumber(ARGV[1])
local block = t[1] * 1000000 + t[2] + ms * 1000
local v = redis.call('GET', KEYS[1])
local tat = ''
if v then
  local sep = string.find(v, ';', 1, true)
  if sep then
    local held = tonumber(string.sub(v, sep + 1))
    if held and held >= block then return 0 end
    tat = string.sub(v, 1, sep - 1)
  else
    tat = v
  end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < ms + 1 then ttl = ms + 1 end
redis.call('SET', KEYS[1], tat .. ';' .. string.format('%d', block), 'PX', ttl)
return 0
";

static BLOCK: LazyLock<Script> = LazyLock::new(|| Script::new(BLOCK_LUA));

/// The most acquires one script runs: it holds Redis for about a microsecond or two each.
const MAX_BATCH: usize = 64;
/// Batches sent and not yet answered, at most: while they are out, the next batch fills.
const MAX_IN_FLIGHT: usize = 2;

/// How many rate keys a limiter remembers refusals for, by default.
const DEFAULT_REFUSAL_MEMORY: u64 = 10_000;

/// What a [`RedisRateLimiter`] does when Redis cannot be reached or does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailMode {
    /// Grant the call without a limit, with a `warn` log line and
    /// `switchboard_rate_limiter_fail_open_total{connector}`. Choose it when an outage of the
    /// provider's quota is cheaper than an outage of your integration.
    Open,
    /// Refuse the call with an [`ErrorKind::Store`](crate::ErrorKind::Store) error (nothing was sent) and count
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
///   replicas; acquires made at the same time share one script run (batching). The script
///   reads Redis's own clock (`TIME`), so replicas need not agree on the time. It stores the
///   theoretical arrival time in microseconds under
///   `{prefix}:{connector}:{bucket}:{connection}:{tenant}` (every segment but the last has `%`
///   and `:` percent-encoded, so no two keys collide), expiring within twice the time a full
///   burst takes to refill once the key is idle. Needs Redis 6.0 or later.
/// - **No round trip for a key Redis just refused.** Each limiter remembers, per rate key, until
///   when Redis refused it, and answers that key itself until then
///   ([`Self::refusal_memory`]).
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
    /// To the task that sends acquires to Redis in batches ([`batch_acquires`]).
    batches: mpsc::UnboundedSender<Job>,
    prefix: Arc<str>,
    // Fixed after construction, so reads take no lock.
    limits: Arc<Limits>,
    /// Quotas connectors publish ([`RateLimiter::adopt_default`]) for buckets `limits` has no
    /// quota for; looked up (one read lock) only once some were adopted. Every replica adopts
    /// the same numbers, so they share one count as a host's own quotas do.
    defaults: Arc<Defaults>,
    fail_mode: FailMode,
    timeout: Duration,
    /// This replica's memory of refusals (`None` when turned off).
    refusals: Option<Arc<Refusals>>,
}

impl RedisRateLimiter {
    /// Connects to Redis at `url` (`redis://[user:password@]host:port/db`, or `rediss://`
    /// where the `redis` crate is built with TLS) and loads the script. Keys start with
    /// `prefix`; limiters that share a prefix share their quotas. No quotas yet (everything is
    /// granted); add them with [`Self::with_quota`].
    ///
    /// Fails closed by default ([`FailMode::Closed`]); each acquire waits at most 250 ms for
    /// Redis ([`Self::timeout`]). Spawns the task that sends acquires in batches on the current
    /// Tokio runtime, which the limiter then needs, as its connection does.
    ///
    /// # Errors
    /// - [`ErrorKind::Config`](crate::ErrorKind::Config) if `url` is not a Redis URL (the URL itself is not repeated, as it
    ///   may hold a password).
    /// - [`ErrorKind::Store`](crate::ErrorKind::Store) if Redis cannot be reached or refuses the script within 5 s.
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
        let (batches, jobs) = mpsc::unbounded_channel();
        // Ends when the last clone of this limiter is dropped (the channel closes).
        tokio::spawn(batch_acquires(conn.clone(), jobs));
        Ok(RedisRateLimiter {
            conn,
            batches,
            prefix: Arc::from(prefix),
            limits: Arc::default(),
            defaults: Arc::default(),
            fail_mode: FailMode::default(),
            timeout: DEFAULT_TIMEOUT,
            refusals: Some(Arc::new(Refusals::new(DEFAULT_REFUSAL_MEMORY))),
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

    /// How many rate keys this limiter remembers refusals for (default 10,000; 0 turns the
    /// memory off). While Redis's answer for a key says it is refused (our quota, or a
    /// provider's block), later acquires of that key on this replica are refused without a
    /// round trip until the wait Redis gave has passed; see the module docs. Past the bound,
    /// the least useful entries are dropped, which only costs those keys a round trip.
    #[must_use]
    pub fn refusal_memory(mut self, max_keys: u64) -> Self {
        self.refusals = (max_keys > 0).then(|| Arc::new(Refusals::new(max_keys)));
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
        let redis_key = redis_key(&self.key_prefix(key), key);
        let sent = Instant::now();
        let cmd = gcra_cmd([(redis_key.as_str(), 1, 1, 0)]);
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(self.timeout, eval::<i64>(&mut conn, &cmd)).await;
        match answer {
            Ok(Ok(KEY_NOT_A_STRING)) => {
                self.hint_failed(
                    key,
                    Failure::KeyNotAString,
                    &KeyNotAString(redis_key),
                    "read",
                );
                RateDecision::Granted
            }
            Ok(Ok(w)) if w < 0 => {
                let wait = Duration::from_micros(w.unsigned_abs());
                if let Some(refusals) = &self.refusals {
                    refusals.block(key, sent, wait);
                }
                RateDecision::RetryAfter(wait)
            }
            Ok(Ok(_)) => RateDecision::Granted,
            Ok(Err(e)) => {
                self.hint_failed(key, Failure::Unreachable, &e, "read");
                RateDecision::Granted
            }
            Err(_) => {
                self.hint_failed(key, Failure::Unreachable, &TimedOut(self.timeout), "read");
                RateDecision::Granted
            }
        }
    }

    /// `{prefix}:{connector}:{bucket}:` for a bucket that may have no [`Limit`].
    fn key_prefix(&self, key: &RateKey) -> String {
        format!(
            "{}:{}:{}:",
            self.prefix,
            escape_segment(&key.connector),
            escape_segment(&key.bucket)
        )
    }

    /// The answer this replica's memory of refusals gives for `key`, without I/O.
    fn remembered(&self, key: &RateKey, cost: NonZeroU32, interval_us: u64) -> Option<Duration> {
        self.refusals.as_ref()?.remaining(key, cost, interval_us)
    }

    fn hint_failed(
        &self,
        key: &RateKey,
        cause: Failure,
        error: &dyn std::error::Error,
        what: &'static str,
    ) {
        tracing::warn!(
            connector = %key.connector,
            bucket = %key.bucket,
            tenant = %key.tenant,
            connection = %key.connection,
            error = %error,
            "{}; could not {what} the provider's rate-limit block",
            cause.as_str()
        );
    }

    /// Applies the fail mode after Redis failed, timed out, or held something else at the key.
    fn backend_failed(
        &self,
        key: &RateKey,
        cause: Failure,
        source: BoxError,
    ) -> Result<RateDecision, Error> {
        match self.fail_mode {
            FailMode::Open => {
                observe::rate_limiter_fail_open(&key.connector);
                tracing::warn!(
                    connector = %key.connector,
                    bucket = %key.bucket,
                    tenant = %key.tenant,
                    connection = %key.connection,
                    error = %source,
                    "{}; failing open (call granted without a limit)",
                    cause.as_str()
                );
                Ok(RateDecision::Granted)
            }
            FailMode::Closed => {
                observe::rate_limiter_fail_closed(&key.connector);
                Err(Error::store(format!("{}; failing closed", cause.as_str()))
                    .with_source(source)
                    .with_connector(key.connector.clone()))
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
            .field(
                "refusal_memory",
                &self
                    .refusals
                    .as_ref()
                    .map_or(0, |r| r.cache.policy().max_capacity().unwrap_or(u64::MAX)),
            )
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
                None => {
                    if let Some(wait) = self.remembered(key, cost, 0) {
                        return Ok(RateDecision::RetryAfter(wait));
                    }
                    return Ok(self.blocked(key).await);
                }
            },
        };
        if cost > limit.quota.burst() {
            // More than the burst can ever hold: never granted at once (as in memory).
            return Ok(RateDecision::RetryAfter(limit.quota.period()));
        }
        if let Some(wait) = self.remembered(key, cost, limit.interval_us) {
            return Ok(RateDecision::RetryAfter(wait));
        }
        let (answer, rx) = oneshot::channel();
        let job = Job {
            key: redis_key(&limit.key_prefix, key),
            interval_us: limit.interval_us,
            burst: limit.quota.burst().get(),
            cost: cost.get(),
            timeout: self.timeout,
            answer,
        };
        // Taken before sending, so that a remembered refusal never outlasts Redis's own.
        let sent = Instant::now();
        if self.batches.send(job).is_err() {
            return self.backend_failed(key, Failure::Unreachable, Box::new(BatchLost));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(Ok(0))) => Ok(RateDecision::Granted),
            Ok(Ok(Ok(KEY_NOT_A_STRING))) => self.backend_failed(
                key,
                Failure::KeyNotAString,
                Box::new(KeyNotAString(redis_key(&limit.key_prefix, key))),
            ),
            Ok(Ok(Ok(w))) => {
                let wait = Duration::from_micros(w.unsigned_abs());
                if let Some(refusals) = &self.refusals {
                    if w > 0 {
                        refusals.quota(key, sent, wait, cost, limit.interval_us);
                    } else {
                        refusals.block(key, sent, wait);
                    }
                }
                Ok(RateDecision::RetryAfter(wait))
            }
            Ok(Ok(Err(e))) => self.backend_failed(key, Failure::Unreachable, Box::new(e)),
            Ok(Err(_)) => self.backend_failed(key, Failure::Unreachable, Box::new(BatchLost)),
            Err(_) => {
                self.backend_failed(key, Failure::Unreachable, Box::new(TimedOut(self.timeout)))
            }
        }
    }

    /// Answers from this replica's memory of refusals (and for a cost above the burst); `None`
    /// means "ask Redis".
    fn try_acquire_now(&self, key: &RateKey, cost: NonZeroU32) -> Option<RateDecision> {
        let refusals = self.refusals.as_ref()?;
        if !refusals.may_refuse() {
            return None;
        }
        let interval_us = match self.limit(key) {
            Some(limit) => limit.interval_us,
            None => self.default_limit(key).map_or(0, |l| l.interval_us),
        };
        refusals
            .remaining(key, cost, interval_us)
            .map(RateDecision::RetryAfter)
    }

    async fn observe(&self, key: &RateKey, hint: &RateHint) {
        let Some(wait) = hint.exhausted_for() else {
            return;
        };
        if let Some(refusals) = &self.refusals {
            refusals.block(key, Instant::now(), wait);
        }
        // Rounded up: a block ending a little late is harmless, one ending early is a 429.
        let ms = u64::try_from(wait.as_nanos().div_ceil(1_000_000))
            .unwrap_or(u64::MAX)
            .max(1);
        let mut invocation = BLOCK.prepare_invoke();
        invocation
            .key(redis_key(&self.key_prefix(key), key))
            .arg(ms);
        let mut conn = self.conn.clone();
        let answer =
            tokio::time::timeout(self.timeout, invocation.invoke_async::<i64>(&mut conn)).await;
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.hint_failed(key, Failure::Unreachable, &e, "record"),
            Err(_) => {
                self.hint_failed(key, Failure::Unreachable, &TimedOut(self.timeout), "record")
            }
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

/// Why the fail mode applies: the headline of its error and log line (the source says more).
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// Redis failed, timed out, or the batch got no answer.
    Unreachable,
    /// Redis answered, but the rate key holds another type (another program wrote it).
    KeyNotAString,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Failure::Unreachable => "rate limiter backend unreachable",
            Failure::KeyNotAString => "rate key in Redis holds another type",
        }
    }
}

/// The source of a fail-mode decision when a rate key in Redis holds something other than a
/// string (another program wrote it). Names the key, which holds ids but no secret.
#[derive(Debug)]
struct KeyNotAString(String);

impl fmt::Display for KeyNotAString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the rate key `{}` in Redis is not a string", self.0)
    }
}

impl std::error::Error for KeyNotAString {}

/// The source of a fail-mode decision when the batch an acquire was in got no answer.
#[derive(Debug)]
struct BatchLost;

impl fmt::Display for BatchLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the rate limiter's batch to Redis got no answer")
    }
}

impl std::error::Error for BatchLost {}

/// One acquire waiting for the next batch.
struct Job {
    key: String,
    interval_us: u64,
    burst: u32,
    cost: u32,
    /// The acquiring limiter's timeout; a batch waits for Redis at most the longest of them.
    timeout: Duration,
    answer: oneshot::Sender<::redis::RedisResult<i64>>,
}

/// Sends acquires to Redis in batches, one GCRA script per batch, on one task per connection.
///
/// A script's fixed cost (running it, `TIME`, the command and its reply) is most of what a
/// single acquire costs Redis, so under concurrency sharing it matters. Nothing waits to fill a
/// batch: a batch is sent as soon as the task takes an acquire, with every other acquire
/// already queued, as long as fewer than [`MAX_IN_FLIGHT`] batches are out; while they are,
/// new acquires queue and go together in the next one. A lone acquire is a batch of one.
/// One script is atomic, and keys are checked in the order they came, so a batch decides as
/// the same scripts run one after another would.
async fn batch_acquires(conn: ConnectionManager, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv(), if in_flight.len() < MAX_IN_FLIGHT => {
                let Some(job) = job else { break };
                let mut batch = Vec::with_capacity(8);
                batch.push(job);
                while batch.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                // A caller that gave up (timed out, dropped) must not spend quota.
                batch.retain(|job| !job.answer.is_closed());
                if !batch.is_empty() {
                    in_flight.spawn(run_batch(conn.clone(), batch));
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Runs one batch and hands each caller its answer. Bounded in time like a single acquire, so a
/// hung Redis cannot hold a batch slot for good.
async fn run_batch(mut conn: ConnectionManager, batch: Vec<Job>) {
    let timeout = batch
        .iter()
        .map(|j| j.timeout)
        .max()
        .unwrap_or(DEFAULT_TIMEOUT);
    let cmd = gcra_cmd(
        batch
            .iter()
            .map(|j| (j.key.as_str(), j.interval_us, j.burst, j.cost)),
    );
    let answers = async {
        if batch.len() == 1 {
            eval::<i64>(&mut conn, &cmd).await.map(|a| vec![a])
        } else {
            eval::<Vec<i64>>(&mut conn, &cmd).await
        }
    };
    match tokio::time::timeout(timeout, answers).await {
        Ok(Ok(answers)) if answers.len() == batch.len() => {
            for (job, a) in batch.into_iter().zip(answers) {
                let _ = job.answer.send(Ok(a));
            }
        }
        Ok(Err(e)) => {
            for job in batch {
                let _ = job.answer.send(Err(e.clone()));
            }
        }
        // A timeout, or a reply of the wrong shape: the callers see `BatchLost` (or time out).
        _ => {}
    }
}

/// `EVALSHA` of the GCRA script over `(key, interval_us, burst, cost)`s, built directly rather
/// than through a `ScriptInvocation`, which copies every key and argument once more.
fn gcra_cmd<'a>(keys: impl IntoIterator<Item = (&'a str, u64, u32, u32)> + Clone) -> ::redis::Cmd {
    let n = keys.clone().into_iter().count();
    let mut cmd = ::redis::Cmd::with_capacity(3 + 4 * n, 64 + 96 * n);
    cmd.arg("EVALSHA").arg(GCRA.get_hash()).arg(n);
    for (key, ..) in keys.clone() {
        cmd.arg(key);
    }
    for (_, interval_us, burst, cost) in keys {
        cmd.arg(interval_us).arg(burst).arg(cost);
    }
    cmd
}

/// Runs `cmd` (an `EVALSHA` of the GCRA script), loading the script first if the server lost it.
async fn eval<T: ::redis::FromRedisValue>(
    conn: &mut ConnectionManager,
    cmd: &::redis::Cmd,
) -> ::redis::RedisResult<T> {
    match cmd.query_async(conn).await {
        Err(e) if e.kind() == ::redis::ErrorKind::Server(::redis::ServerErrorKind::NoScript) => {
            GCRA.prepare_invoke().load_async(conn).await?;
            cmd.query_async(conn).await
        }
        answer => answer,
    }
}

/// This replica's memory of Redis's refusals: rate key -> until when Redis will refuse it.
///
/// Safe because a refusal moves nothing in Redis: a TAT only ever grows (other replicas' grants
/// push it later, nothing pulls it earlier but expiry, which needs it to be past) and a
/// provider block only lengthens, so a key Redis refused until `t` stays refused until `t`.
/// Every `until` is counted from an instant taken *before* the request was sent, so it is never
/// later than Redis's own. Bounded by moka (entries also expire at their `until`).
struct Refusals {
    cache: moka::sync::Cache<RateKey, Refusal>,
    /// Origin of `latest`.
    base: Instant,
    /// Nanoseconds after `base` up to which some entry may still refuse: a limiter with no live
    /// refusal (the usual state) never hashes the key.
    latest: AtomicU64,
}

/// What [`Refusals`] knows about one key.
#[derive(Debug, Clone, Copy, Default)]
struct Refusal {
    /// A provider's block (from a hint): every cost refused until then.
    block: Option<Instant>,
    /// Our quota: a cost of 1 refused until then, a cost of `n` until `n - 1` intervals later
    /// (GCRA's wait grows by one interval per unit of cost).
    quota: Option<Instant>,
}

impl Refusal {
    fn until(&self) -> Option<Instant> {
        self.block.max(self.quota)
    }

    fn merge(self, other: Refusal) -> Refusal {
        Refusal {
            block: self.block.max(other.block),
            quota: self.quota.max(other.quota),
        }
    }
}

/// Expires a [`Refusal`] when it refuses nothing any more.
struct RefusalExpiry;

impl moka::Expiry<RateKey, Refusal> for RefusalExpiry {
    fn expire_after_create(&self, _: &RateKey, v: &Refusal, at: Instant) -> Option<Duration> {
        Some(
            v.until()
                .map_or(Duration::ZERO, |u| u.saturating_duration_since(at)),
        )
    }

    fn expire_after_update(
        &self,
        key: &RateKey,
        v: &Refusal,
        at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, v, at)
    }
}

impl Refusals {
    fn new(max_keys: u64) -> Self {
        Refusals {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_keys)
                .expire_after(RefusalExpiry)
                .build(),
            base: Instant::now(),
            latest: AtomicU64::new(0),
        }
    }

    /// Whether any entry may still refuse (a cheap check before hashing a key).
    fn may_refuse(&self) -> bool {
        nanos(self.base.elapsed()) < self.latest.load(Ordering::Acquire)
    }

    /// How long `key` is still refused for `cost`, if this replica knows.
    fn remaining(&self, key: &RateKey, cost: NonZeroU32, interval_us: u64) -> Option<Duration> {
        if !self.may_refuse() {
            return None;
        }
        let r = self.cache.get(key)?;
        let extra = Duration::from_micros(interval_us.saturating_mul(u64::from(cost.get() - 1)));
        let quota = r.quota.and_then(|q| q.checked_add(extra));
        let until = r.block.max(quota)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Redis refused `cost` for `key` for `wait`, on a request sent at `sent`.
    fn quota(
        &self,
        key: &RateKey,
        sent: Instant,
        wait: Duration,
        cost: NonZeroU32,
        interval_us: u64,
    ) {
        let extra = Duration::from_micros(interval_us.saturating_mul(u64::from(cost.get() - 1)));
        let Some(until) = sent.checked_add(wait).and_then(|u| u.checked_sub(extra)) else {
            return;
        };
        if until > sent {
            self.insert(
                key,
                Refusal {
                    block: None,
                    quota: Some(until),
                },
            );
        }
    }

    /// A provider's block of `key` for `wait`, as of `sent`.
    fn block(&self, key: &RateKey, sent: Instant, wait: Duration) {
        if let Some(until) = sent.checked_add(wait) {
            self.insert(
                key,
                Refusal {
                    block: Some(until),
                    quota: None,
                },
            );
        }
    }

    fn insert(&self, key: &RateKey, refusal: Refusal) {
        let Some(until) = refusal.until() else {
            return;
        };
        self.cache
            .entry_by_ref(key)
            .and_upsert_with(|old| old.map_or(refusal, |e| e.into_value().merge(refusal)));
        self.latest.fetch_max(
            nanos(until.saturating_duration_since(self.base)),
            Ordering::AcqRel,
        );
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `{key_prefix}{connection}:{tenant}`, where `key_prefix` is `{prefix}:{connector}:{bucket}:`.
fn redis_key(key_prefix: &str, key: &RateKey) -> String {
    let tenant = key.tenant.as_str();
    let connection = escape_segment(key.connection.as_str());
    let mut k = String::with_capacity(key_prefix.len() + connection.len() + tenant.len() + 1);
    k.push_str(key_prefix);
    // The connection is escaped (it has no bare `:`), and the tenant is the last segment, so
    // neither id can make two keys collide.
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
        let k = |t: &str, c: &str| {
            redis_key(
                "p:test:default:",
                &RateKey::new(t.into(), c.into(), "test", "default"),
            )
        };
        assert_eq!(k("t1", "stripe"), "p:test:default:stripe:t1");
        assert_ne!(k("a", "stripe"), k("b", "stripe"));
        assert_ne!(k("a", "c1"), k("a", "c2"));
        // ("b:c", "a") and ("c", "a:b") would both be "a:b:c" unescaped.
        assert_ne!(k("c", "a:b"), k("b:c", "a"));
    }

    fn rk(tenant: &str) -> RateKey {
        RateKey::new(tenant.into(), "c1".into(), "test", "default")
    }

    #[test]
    fn a_remembered_refusal_scales_with_cost_and_never_outlasts_redis() {
        let refusals = Refusals::new(100);
        let one = NonZeroU32::MIN;
        let three = NonZeroU32::new(3).unwrap();
        assert!(!refusals.may_refuse());
        let sent = Instant::now();
        // Cost 3 refused for 10 s at 1 s per cell: cost 1 is free 2 s earlier.
        refusals.quota(&rk("a"), sent, Duration::from_secs(10), three, 1_000_000);
        let left = refusals.remaining(&rk("a"), three, 1_000_000).unwrap();
        assert!(
            left <= Duration::from_secs(10) && left > Duration::from_secs(9),
            "{left:?}"
        );
        let left = refusals.remaining(&rk("a"), one, 1_000_000).unwrap();
        assert!(
            left <= Duration::from_secs(8) && left > Duration::from_secs(7),
            "{left:?}"
        );
        // Another tenant on a connection of the same id is not refused.
        assert_eq!(refusals.remaining(&rk("b"), one, 1_000_000), None);
        // A block refuses every cost; a shorter later block does not shorten it.
        refusals.block(&rk("b"), sent, Duration::from_secs(60));
        refusals.block(&rk("b"), sent, Duration::from_secs(1));
        let left = refusals.remaining(&rk("b"), three, 0).unwrap();
        assert!(left > Duration::from_secs(59), "{left:?}");
        // A refusal already over refuses nothing.
        refusals.quota(&rk("c"), sent, Duration::from_micros(1), one, 1);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(refusals.remaining(&rk("c"), one, 1), None);
    }

    #[test]
    fn the_memory_of_refusals_stays_bounded() {
        let refusals = Refusals::new(100);
        let sent = Instant::now();
        for i in 0..10_000 {
            refusals.quota(
                &rk(&format!("t{i}")),
                sent,
                Duration::from_secs(600),
                NonZeroU32::MIN,
                1,
            );
        }
        refusals.cache.run_pending_tasks();
        assert!(
            refusals.cache.entry_count() <= 100,
            "{}",
            refusals.cache.entry_count()
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
