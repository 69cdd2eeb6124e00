//! [`SqliteDedupStore`]: event ids in a SQLite table (feature `sqlite`).
//!
//! One table, `switchboard_webhook_dedup`, keyed by `(scope, event_id)`, with a state
//! (`in_flight` or `done`), the claim's random token and an expiry in Unix milliseconds. A claim
//! is one statement, atomic across tasks and processes on the same file:
//!
//! ```sql
//! INSERT ... VALUES (.., 'in_flight', :token, :now + :visibility)
//! ON CONFLICT (scope, event_id) DO UPDATE SET ..
//!   WHERE switchboard_webhook_dedup.expires_at_ms <= :now
//! RETURNING token
//! ```
//!
//! A returned row is a fresh claim; no row means the id is held or done, and a second read says
//! which. Expired rows are overwritten in place by the next claim, and removed in bulk by
//! [`SqliteDedupStore::purge_expired`]. Times come from this process's clock, so processes
//! sharing the file should have synchronised clocks.
//!
//! The table is created by the one SQLite migration set, which
//! [`SqliteBackend`](crate::store::sqlite::SqliteBackend) runs; open the backend and call
//! [`dedup`](crate::store::sqlite::SqliteBackend::dedup) to share its file and pool.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::SqlitePool;

use super::{Claim, ClaimToken, DedupStore, DEFAULT_TTL};
use crate::error::Error;
use crate::store::row::backend_error;
use crate::store::sqlite::pool::SqliteSynchronous;
use crate::store::sqlite::SqliteBackend;
use crate::store::time::{millis_at_least_one, now_millis as now_ms};

/// Names this component in errors.
const COMPONENT: &str = "sqlite webhook-dedup";
// What `open` had before the backend existed: a lost id costs at most one reprocessed
// redelivery, so commits are not synced on every write.
const MAX_CONNECTIONS: u32 = 8;

/// Webhook event ids in SQLite. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use switchboard::webhook::dedup::SqliteDedupStore;
///
/// let dedup = SqliteDedupStore::open("switchboard.db").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteDedupStore {
    pool: SqlitePool,
    location: Arc<str>,
    ttl: Duration,
}

impl fmt::Debug for SqliteDedupStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDedupStore")
            .field("location", &self.location)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn store_error(what: &str, e: sqlx::Error) -> Error {
    backend_error(COMPONENT, what, e)
}

impl SqliteDedupStore {
    /// Opens (creating it if missing) the database file at `path` and brings every
    /// switchboard table in it up to date. Write-ahead logging, a 5 s busy timeout; commits
    /// are not synced to disk on every write (losing the last few ids in a power cut means at
    /// most a reprocessed redelivery). Open a
    /// [`SqliteBackend`](crate::store::sqlite::SqliteBackend) instead to share the file with
    /// the other stores over one pool.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the file cannot be opened or
    /// migrated.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let backend =
            SqliteBackend::open_file(path.as_ref(), SqliteSynchronous::Normal, MAX_CONNECTIONS)
                .await?;
        Ok(backend.dedup())
    }

    /// Shorthand for `SqliteBackend::in_memory().await?.dedup()`: a private in-memory
    /// database (one connection), for tests.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the database cannot be created.
    pub async fn in_memory() -> Result<Self, Error> {
        Ok(SqliteBackend::in_memory().await?.dedup())
    }

    pub(crate) fn from_backend(pool: SqlitePool, location: Arc<str>) -> Self {
        SqliteDedupStore {
            pool,
            location,
            ttl: DEFAULT_TTL,
        }
    }

    /// How long a completed id stays done (default 72 h).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Deletes every expired row and returns how many. Run it now and then (an hourly task is
    /// plenty); expired rows are harmless meanwhile.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the delete fails.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM switchboard_webhook_dedup WHERE expires_at_ms <= ?1")
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| store_error("purge expired event ids", e))?;
        Ok(done.rows_affected())
    }

    /// Waits for queries in flight, then closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl DedupStore for SqliteDedupStore {
    async fn claim(
        &self,
        scope: &str,
        event_id: &str,
        visibility_timeout: Duration,
    ) -> Result<Claim, Error> {
        let token = ClaimToken::new(scope, event_id);
        let now = now_ms();
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO switchboard_webhook_dedup (scope, event_id, state, token, expires_at_ms) \
             VALUES (?1, ?2, 'in_flight', ?3, ?4) \
             ON CONFLICT (scope, event_id) DO UPDATE SET \
               state = 'in_flight', token = excluded.token, expires_at_ms = excluded.expires_at_ms \
             WHERE switchboard_webhook_dedup.expires_at_ms <= ?5 \
             RETURNING token",
        )
        .bind(scope)
        .bind(event_id)
        .bind(token.nonce())
        .bind(now.saturating_add(millis_at_least_one(visibility_timeout)))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error("claim an event id", e))?;
        if claimed.as_deref() == Some(token.nonce()) {
            return Ok(Claim::Fresh(token));
        }
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM switchboard_webhook_dedup WHERE scope = ?1 AND event_id = ?2",
        )
        .bind(scope)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error("read an event id", e))?;
        // A row purged between the two statements reads as in flight: the sender retries.
        Ok(match state.as_deref() {
            Some("done") => Claim::Done,
            _ => Claim::InFlight,
        })
    }

    async fn complete(&self, token: ClaimToken) -> Result<(), Error> {
        let expires = now_ms().saturating_add(millis_at_least_one(self.ttl));
        sqlx::query(
            "INSERT INTO switchboard_webhook_dedup (scope, event_id, state, token, expires_at_ms) \
             VALUES (?1, ?2, 'done', ?3, ?4) \
             ON CONFLICT (scope, event_id) DO UPDATE SET \
               state = 'done', token = excluded.token, expires_at_ms = excluded.expires_at_ms",
        )
        .bind(token.scope())
        .bind(token.event_id())
        .bind(token.nonce())
        .bind(expires)
        .execute(&self.pool)
        .await
        .map_err(|e| store_error("complete an event id", e))?;
        Ok(())
    }

    async fn release(&self, token: ClaimToken) -> Result<(), Error> {
        sqlx::query(
            "DELETE FROM switchboard_webhook_dedup \
             WHERE scope = ?1 AND event_id = ?2 AND state = 'in_flight' AND token = ?3",
        )
        .bind(token.scope())
        .bind(token.event_id())
        .bind(token.nonce())
        .execute(&self.pool)
        .await
        .map_err(|e| store_error("release an event id", e))?;
        Ok(())
    }

    async fn extend(
        &self,
        token: &ClaimToken,
        visibility_timeout: Duration,
    ) -> Result<bool, Error> {
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE switchboard_webhook_dedup SET expires_at_ms = ?4 \
             WHERE scope = ?1 AND event_id = ?2 AND state = 'in_flight' AND token = ?3 \
               AND expires_at_ms > ?5",
        )
        .bind(token.scope())
        .bind(token.event_id())
        .bind(token.nonce())
        .bind(now.saturating_add(millis_at_least_one(visibility_timeout)))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| store_error("extend a claim", e))?;
        Ok(done.rows_affected() == 1)
    }
}
