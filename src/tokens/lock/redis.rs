//! [`RedisRefreshLock`]: `SET key holder NX PX ttl`, released by a compare-and-delete script.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use super::{
    holder_token, lock_lost, poll_delay, wait_timed_out, HeldLock, LockGuard, RefreshLock,
    DEFAULT_WAIT,
};
use crate::error::{Error, ErrorKind};
use crate::store::time::millis_at_least_one;

/// Deletes the key only if it still names this holder, so a holder whose lock expired cannot
/// release the next holder's lock.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
else
    return 0
end
";

/// Extends the key's ttl only if it still names this holder.
const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
    return 0
end
";

/// A refresh lock in Redis, shared by every replica that uses the same Redis and key prefix.
/// Cheap to clone.
///
/// Taking the lock is `SET <prefix><key> <random holder> NX PX <ttl>`, polled every 25 ms
/// (with jitter) until it succeeds or the wait timeout (30 s) runs out; releasing is a Lua
/// compare-and-delete. A holder that dies keeps others out for at most the ttl; a holder that
/// is alive extends it with a compare-and-`PEXPIRE` ([`LockGuard::extend`]).
#[derive(Clone)]
pub struct RedisRefreshLock {
    conn: ConnectionManager,
    prefix: String,
    wait_timeout: Duration,
    poll_interval: Duration,
    script: std::sync::Arc<redis::Script>,
    extend: std::sync::Arc<redis::Script>,
}

impl fmt::Debug for RedisRefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRefreshLock")
            .field("prefix", &self.prefix)
            .field("wait_timeout", &self.wait_timeout)
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl RedisRefreshLock {
    /// Connects to Redis at `url` (`redis://host:6379/0`). The connection reconnects by
    /// itself after failures.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an invalid URL, [`ErrorKind::Store`] when Redis cannot be
    /// reached. The URL (which may hold a password) is not in the message.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let client = redis::Client::open(url).map_err(|e| {
            Error::new(ErrorKind::Config, "invalid Redis URL for the refresh lock")
                .with_source(RedisFailure(e.kind()))
        })?;
        let conn = client
            .get_connection_manager()
            .await
            .map_err(|e| redis_error("cannot connect to Redis for the refresh lock", &e))?;
        Ok(Self::new(conn))
    }

    /// A lock over an existing connection manager.
    pub fn new(conn: ConnectionManager) -> Self {
        RedisRefreshLock {
            conn,
            prefix: "switchboard:lock:".to_string(),
            wait_timeout: DEFAULT_WAIT,
            poll_interval: Duration::from_millis(25),
            script: std::sync::Arc::new(redis::Script::new(RELEASE)),
            extend: std::sync::Arc::new(redis::Script::new(EXTEND)),
        }
    }

    /// The prefix of every lock key (`switchboard:lock:` by default).
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long `acquire` waits for a taken lock (30 s by default).
    #[must_use]
    pub fn wait_timeout(mut self, wait: Duration) -> Self {
        self.wait_timeout = wait;
        self
    }

    /// How often a waiter tries again (25 ms by default, plus up to half of it as jitter).
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }
}

#[async_trait]
impl RefreshLock for RedisRefreshLock {
    async fn acquire(&self, key: &str, ttl: Duration) -> Result<LockGuard, Error> {
        let full_key = format!("{}{key}", self.prefix);
        let holder = holder_token();
        let ttl_ms = millis_at_least_one(ttl);
        let deadline = crate::clock::later(tokio::time::Instant::now(), self.wait_timeout);
        let mut conn = self.conn.clone();
        loop {
            let set: Option<String> = redis::cmd("SET")
                .arg(&full_key)
                .arg(&holder)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await
                .map_err(|e| redis_error("cannot take the refresh lock in Redis", &e))?;
            if set.is_some() {
                return Ok(LockGuard::new(RedisHeld {
                    conn: Some(conn),
                    key: full_key,
                    holder,
                    script: self.script.clone(),
                    extend: self.extend.clone(),
                }));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(wait_timed_out(self.wait_timeout));
            }
            tokio::time::sleep(poll_delay(self.poll_interval).min(deadline - now)).await;
        }
    }
}

struct RedisHeld {
    conn: Option<ConnectionManager>,
    key: String,
    holder: String,
    script: std::sync::Arc<redis::Script>,
    extend: std::sync::Arc<redis::Script>,
}

impl fmt::Debug for RedisHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHeld").field("key", &self.key).finish()
    }
}

impl RedisHeld {
    async fn delete(
        mut conn: ConnectionManager,
        script: &redis::Script,
        key: &str,
        holder: &str,
    ) -> Result<(), Error> {
        let deleted: i64 = script
            .key(key)
            .arg(holder)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| redis_error("cannot release the refresh lock in Redis", &e))?;
        if deleted == 0 {
            tracing::warn!(
                key,
                "refresh lock had expired before it was released; raise the lock ttl"
            );
        }
        Ok(())
    }
}

#[async_trait]
impl HeldLock for RedisHeld {
    async fn extend(&mut self, ttl: Duration) -> Result<(), Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(lock_lost());
        };
        let ttl_ms = millis_at_least_one(ttl);
        let extended: i64 = self
            .extend
            .key(&self.key)
            .arg(&self.holder)
            .arg(ttl_ms)
            .invoke_async(conn)
            .await
            .map_err(|e| redis_error("cannot extend the refresh lock in Redis", &e))?;
        if extended == 1 {
            Ok(())
        } else {
            Err(lock_lost())
        }
    }

    async fn release(mut self: Box<Self>) -> Result<(), Error> {
        match self.conn.take() {
            Some(conn) => Self::delete(conn, &self.script, &self.key, &self.holder).await,
            None => Ok(()),
        }
    }
}

impl Drop for RedisHeld {
    fn drop(&mut self) {
        // Dropped without `release` (a cancelled refresh): release in the background, or let
        // the ttl end it if there is no runtime.
        if let Some(conn) = self.conn.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let (script, key, holder) = (
                    self.script.clone(),
                    std::mem::take(&mut self.key),
                    std::mem::take(&mut self.holder),
                );
                rt.spawn(async move {
                    let _ = RedisHeld::delete(conn, &script, &key, &holder).await;
                });
            }
        }
    }
}

/// A Redis failure reduced to its kind: Redis error texts may echo connection details.
#[derive(Debug)]
struct RedisFailure(redis::ErrorKind);

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis error: {:?}", self.0)
    }
}

impl std::error::Error for RedisFailure {}

fn redis_error(message: &str, e: &redis::RedisError) -> Error {
    Error::store(message).with_source(RedisFailure(e.kind()))
}
