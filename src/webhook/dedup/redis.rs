//! [`RedisDedupStore`]: event ids in Redis, shared by every replica (feature `redis`).
//!
//! One key per id, `{prefix}:{scope}:{event_id}` (`%` and `:` in the scope percent-encoded, the
//! event id last, so two pairs never collide). Its value is `p:{token}` while a worker holds the
//! claim and `d` once the event is done; its expiry (`PX`) is the visibility timeout or the
//! TTL, so a lapsed claim or an old id simply disappears. A claim is one Lua script
//! (`SET NX PX`, else report the value), so it is atomic across replicas and touches one key
//! (valid on Redis Cluster).

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::Script;
use async_trait::async_trait;

use super::{Claim, ClaimToken, DedupStore, DEFAULT_TTL};
use crate::error::{ConfigError, Error};
use crate::store::time::millis_at_least_one;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// KEYS[1]: the key. ARGV[1]: `p:{token}`, ARGV[2]: visibility timeout (ms).
/// Returns 0 fresh, 1 in flight, 2 done.
const CLAIM_LUA: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
if redis.call('GET', KEYS[1]) == 'd' then
  return 2
end
return 1
";

/// KEYS[1]: the key. ARGV[1]: `p:{token}`. Deletes the key only while that token holds it.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// KEYS[1]: the key. ARGV[1]: `p:{token}`, ARGV[2]: visibility timeout (ms). Pushes the
/// expiry only while that token holds the key; returns 1 if it did.
const EXTEND_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(EXTEND_LUA));
static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_LUA));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));

/// Webhook event ids in Redis. Cheap to clone: clones share one multiplexed,
/// auto-reconnecting connection.
///
/// Every call waits at most [`Self::timeout`] (2 s) for Redis and then fails with
/// [`ErrorKind::Store`](crate::ErrorKind::Store), which the router turns into a retryable answer to the sender.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use switchboard::webhook::dedup::RedisDedupStore;
///
/// let dedup = RedisDedupStore::connect("redis://127.0.0.1:6379/", "myapp:webhooks").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisDedupStore {
    conn: ConnectionManager,
    prefix: Arc<str>,
    ttl: Duration,
    timeout: Duration,
}

impl fmt::Debug for RedisDedupStore {
    // The URL (which may hold a password) is never kept, so it cannot be printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDedupStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisDedupStore {
    /// Connects to Redis at `url` and loads the scripts. Keys start with `prefix`; stores that
    /// share a prefix share their ids.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) if `url` is not a Redis URL (not repeated: it may hold a
    /// password); [`ErrorKind::Store`](crate::ErrorKind::Store) if Redis cannot be reached within 5 s.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, Error> {
        let client = ::redis::Client::open(url)
            .map_err(|_| ConfigError::new("redis.url", "not a valid Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(None)
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connect = async {
            let mut conn = ConnectionManager::new_with_config(client, config).await?;
            CLAIM.prepare_invoke().load_async(&mut conn).await?;
            RELEASE.prepare_invoke().load_async(&mut conn).await?;
            EXTEND.prepare_invoke().load_async(&mut conn).await?;
            Ok::<_, ::redis::RedisError>(conn)
        };
        let conn = match tokio::time::timeout(CONNECT_DEADLINE, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(
                    Error::store("cannot connect to the webhook dedup store's Redis")
                        .with_source(e),
                )
            }
            Err(_) => {
                return Err(Error::store(format!(
                    "cannot connect to the webhook dedup store's Redis within {CONNECT_DEADLINE:?}"
                )))
            }
        };
        Ok(RedisDedupStore {
            conn,
            prefix: Arc::from(prefix),
            ttl: DEFAULT_TTL,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// How long a completed id stays done (default 72 h).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The longest one call waits for Redis (default 2 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Redis key holding `event_id` in `scope` (for operators and tests).
    pub fn key(&self, scope: &str, event_id: &str) -> String {
        let scope = if scope.contains([':', '%']) {
            scope.replace('%', "%25").replace(':', "%3A")
        } else {
            scope.to_string()
        };
        format!("{}:{scope}:{event_id}", self.prefix)
    }

    async fn run<T: ::redis::FromRedisValue>(
        &self,
        what: &str,
        invocation: ::redis::ScriptInvocation<'_>,
    ) -> Result<T, Error> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(self.timeout, invocation.invoke_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                Err(Error::store(format!("redis dedup store: cannot {what}")).with_source(e))
            }
            Err(_) => Err(Error::store(format!(
                "redis dedup store: cannot {what}: no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

#[async_trait]
impl DedupStore for RedisDedupStore {
    async fn claim(
        &self,
        scope: &str,
        event_id: &str,
        visibility_timeout: Duration,
    ) -> Result<Claim, Error> {
        let token = ClaimToken::new(scope, event_id);
        let mut invocation = CLAIM.prepare_invoke();
        invocation
            .key(self.key(scope, event_id))
            .arg(format!("p:{}", token.nonce()))
            .arg(millis_at_least_one(visibility_timeout));
        let answer: i64 = self.run("claim an event id", invocation).await?;
        Ok(match answer {
            0 => Claim::Fresh(token),
            2 => Claim::Done,
            _ => Claim::InFlight,
        })
    }

    async fn complete(&self, token: ClaimToken) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let key = self.key(token.scope(), token.event_id());
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(key)
            .arg("d")
            .arg("PX")
            .arg(millis_at_least_one(self.ttl));
        match tokio::time::timeout(self.timeout, cmd.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                Err(Error::store("redis dedup store: cannot complete an event id").with_source(e))
            }
            Err(_) => Err(Error::store(format!(
                "redis dedup store: cannot complete an event id: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    async fn release(&self, token: ClaimToken) -> Result<(), Error> {
        let mut invocation = RELEASE.prepare_invoke();
        invocation
            .key(self.key(token.scope(), token.event_id()))
            .arg(format!("p:{}", token.nonce()));
        let _: i64 = self.run("release an event id", invocation).await?;
        Ok(())
    }

    async fn extend(
        &self,
        token: &ClaimToken,
        visibility_timeout: Duration,
    ) -> Result<bool, Error> {
        let mut invocation = EXTEND.prepare_invoke();
        invocation
            .key(self.key(token.scope(), token.event_id()))
            .arg(format!("p:{}", token.nonce()))
            .arg(millis_at_least_one(visibility_timeout));
        let extended: i64 = self.run("extend a claim", invocation).await?;
        Ok(extended == 1)
    }
}
