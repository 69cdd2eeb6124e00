//! [`PostgresAdvisoryLock`]: a session-level advisory lock on a hash of the key, held on one
//! dedicated pooled connection.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Postgres;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{
    lock_lost, poll_delay, wait_timed_out, HeldLock, LockGuard, RefreshLock, DEFAULT_WAIT,
};
use crate::error::Error;

/// A refresh lock in PostgreSQL, for replicas that already share a database. Cheap to clone.
///
/// Taking the lock checks out one connection and polls `pg_try_advisory_lock(id)` every 25 ms
/// (with jitter) until it succeeds or the wait timeout (30 s) runs out; `id` is the first 8
/// bytes of SHA-256 of the key prefix and key. Releasing is `pg_advisory_unlock(id)` on the
/// same connection, which then goes back to the pool. The lock has no time-to-live: it ends
/// with its session, so a holder that dies releases it when its connection closes, and a guard
/// dropped without release closes its connection instead of returning it to the pool.
/// [`LockGuard::extend`] checks in `pg_locks` that the session still holds it (a session that
/// was cut and reconnected has lost it).
#[derive(Clone)]
pub struct PostgresAdvisoryLock {
    pool: PgPool,
    // Connections this lock may use at once (taking or holding), so that locks on a pool
    // shared with the stores cannot take every connection and leave a holder unable to
    // write the token it refreshed.
    slots: Arc<Semaphore>,
    prefix: String,
    wait_timeout: Duration,
    poll_interval: Duration,
}

impl fmt::Debug for PostgresAdvisoryLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresAdvisoryLock")
            .field("prefix", &self.prefix)
            .field("wait_timeout", &self.wait_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresAdvisoryLock {
    /// Connects a small pool (at most 4 connections) to `url` (`postgres://user@host/db`).
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the database cannot be reached. The URL (which may hold a
    /// password) is not in the message.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        const CONNECTIONS: u32 = 4;
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| pg_error("cannot connect to PostgreSQL for the refresh lock", &e))?;
        // The pool is the lock's own: every connection may hold a lock.
        Ok(Self::with_slots(pool, CONNECTIONS))
    }

    /// A lock over an existing pool, usually the one the stores use
    /// ([`PostgresBackend::token_locks`](crate::store::postgres::PostgresBackend::token_locks)).
    /// Each lock being taken or held uses one of its connections; at most half of the pool's
    /// connections (at least one) go to locks at once, and further callers wait their turn
    /// within the wait timeout, so the stores always have connections left.
    pub fn from_pool(pool: PgPool) -> Self {
        let half = (pool.options().get_max_connections() / 2).max(1);
        Self::with_slots(pool, half)
    }

    fn with_slots(pool: PgPool, slots: u32) -> Self {
        PostgresAdvisoryLock {
            pool,
            slots: Arc::new(Semaphore::new(usize::try_from(slots).unwrap_or(1))),
            prefix: "switchboard:lock:".to_string(),
            wait_timeout: DEFAULT_WAIT,
            poll_interval: Duration::from_millis(25),
        }
    }

    /// A prefix hashed with every key (`switchboard:lock:` by default), to keep apart
    /// deployments that share a database.
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

    fn lock_id(&self, key: &str) -> i64 {
        let digest = Sha256::new()
            .chain_update(self.prefix.as_bytes())
            .chain_update([0u8])
            .chain_update(key.as_bytes())
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        i64::from_be_bytes(id)
    }
}

#[async_trait]
impl RefreshLock for PostgresAdvisoryLock {
    async fn acquire(&self, key: &str, _ttl: Duration) -> Result<LockGuard, Error> {
        let id = self.lock_id(key);
        let deadline = crate::clock::later(tokio::time::Instant::now(), self.wait_timeout);
        let slot = tokio::time::timeout_at(deadline, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| wait_timed_out(self.wait_timeout))?
            .map_err(|_| lock_lost())?;
        let mut conn = tokio::time::timeout_at(deadline, self.pool.acquire())
            .await
            .map_err(|_| wait_timed_out(self.wait_timeout))?
            .map_err(|e| pg_error("cannot check out a connection for the refresh lock", &e))?;
        loop {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(id)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| pg_error("cannot take the refresh lock in PostgreSQL", &e))?;
            if taken {
                return Ok(LockGuard::new(PgHeld {
                    conn: Some(conn),
                    id,
                    _slot: slot,
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

struct PgHeld {
    conn: Option<PoolConnection<Postgres>>,
    id: i64,
    // Given back when the holder is dropped, after its connection.
    _slot: OwnedSemaphorePermit,
}

impl fmt::Debug for PgHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgHeld").field("id", &self.id).finish()
    }
}

#[async_trait]
impl HeldLock for PgHeld {
    async fn extend(&mut self, _ttl: Duration) -> Result<(), Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(lock_lost());
        };
        // A bigint advisory lock shows in pg_locks as classid (high 32 bits), objid (low 32
        // bits) and objsubid 1.
        let bits = u64::from_be_bytes(self.id.to_be_bytes());
        let high = i64::from(u32::try_from(bits >> 32).unwrap_or(0));
        let low = i64::from(u32::try_from(bits & 0xffff_ffff).unwrap_or(0));
        let held: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_backend_pid() AND granted AND objsubid = 1 \
             AND classid::bigint = $1 AND objid::bigint = $2)",
        )
        .bind(high)
        .bind(low)
        .fetch_one(&mut **conn)
        .await
        .map_err(|e| pg_error("cannot check the refresh lock in PostgreSQL", &e))?;
        if held {
            Ok(())
        } else {
            Err(lock_lost())
        }
    }

    async fn release(mut self: Box<Self>) -> Result<(), Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        let unlocked: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
                .bind(self.id)
                .fetch_one(&mut *conn)
                .await;
        match unlocked {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Not held by this session: never return a connection whose lock state we
                // are unsure of to the pool.
                drop(conn.detach());
                tracing::warn!("refresh lock was not held by its session at release");
                Ok(())
            }
            Err(e) => {
                // Closing the session releases its advisory locks.
                drop(conn.detach());
                Err(pg_error(
                    "cannot release the refresh lock in PostgreSQL",
                    &e,
                ))
            }
        }
    }
}

impl Drop for PgHeld {
    fn drop(&mut self) {
        // Dropped without `release` (a cancelled refresh): close the session, which releases
        // the lock, rather than return a connection that still holds it to the pool.
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// A database failure reduced to what is safe to show: sqlx errors may echo connection
/// details.
#[derive(Debug)]
struct PgFailure(&'static str);

impl fmt::Display for PgFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres error: {}", self.0)
    }
}

impl std::error::Error for PgFailure {}

fn pg_error(message: &str, e: &sqlx::Error) -> Error {
    let what = match e {
        sqlx::Error::Io(_) => "i/o",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::PoolTimedOut => "pool timed out",
        sqlx::Error::PoolClosed => "pool closed",
        sqlx::Error::Database(_) => "database",
        sqlx::Error::Configuration(_) => "configuration",
        sqlx::Error::Protocol(_) => "protocol",
        _ => "other",
    };
    Error::store(message).with_source(PgFailure(what))
}
