//! [`PostgresDedupStore`]: event ids in a PostgreSQL table, shared by every replica (feature
//! `postgres`).
//!
//! The same table and rules as the SQLite store: `switchboard_webhook_dedup`, keyed by
//! `(scope, event_id)` (the router's scope names connector, tenant and connection), with a
//! state (`in_flight` or `done`), the claim's random token and an expiry in Unix milliseconds.
//! A claim is one statement:
//!
//! ```sql
//! INSERT ... VALUES (.., 'in_flight', $3, $4)
//! ON CONFLICT (scope, event_id) DO UPDATE SET ..
//!   WHERE switchboard_webhook_dedup.expires_at_ms <= $5
//! RETURNING token
//! ```
//!
//! PostgreSQL makes concurrent inserts of one key wait for each other and re-checks the
//! `WHERE` against the row the winner wrote, so of many replicas claiming one id at once exactly
//! one gets a row back. No row means the id is held or done, and a second read says which.
//! Expired rows are overwritten in place by the next claim, and removed in bulk by
//! [`PostgresDedupStore::purge_expired`]. Times come from each replica's clock (as in every
//! switchboard store), so replicas should have synchronised clocks: a replica whose clock runs
//! ahead sees claims lapse early.
//!
//! The table is created by the one PostgreSQL migration set, which
//! [`PostgresBackend`](crate::store::postgres::PostgresBackend) runs; connect the backend and
//! call [`dedup`](crate::store::postgres::PostgresBackend::dedup) to share its pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPool;

use super::{Claim, ClaimToken, DedupStore, DEFAULT_TTL};
use crate::error::Error;
use crate::store::postgres::PostgresBackend;
use crate::store::row::backend_error;
use crate::store::time::{millis_at_least_one, now_millis as now_ms};

/// Names this component in errors.
const COMPONENT: &str = "postgres webhook-dedup";

/// Webhook event ids in PostgreSQL. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use switchboard::store::postgres::PostgresBackend;
///
/// let db = PostgresBackend::connect_with_schema("postgres://app@db/app", "switchboard").await?;
/// let dedup = db.dedup();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresDedupStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
    ttl: Duration,
}

impl fmt::Debug for PostgresDedupStore {
    // The URL may hold a password, so only the schema is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresDedupStore")
            .field("schema", &self.schema)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn store_error(what: &str, e: sqlx::Error) -> Error {
    backend_error(COMPONENT, what, e)
}

impl PostgresDedupStore {
    /// Shorthand for [`PostgresBackend::connect`]`(url)?.`[`dedup()`](PostgresBackend::dedup):
    /// connects to the database at `url` and brings every switchboard table up to date in the
    /// connection's default schema. Connect a [`PostgresBackend`] instead to share one pool
    /// with the other stores.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a malformed URL;
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the database cannot be reached or
    /// migrated.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Ok(PostgresBackend::connect(url).await?.dedup())
    }

    /// Shorthand for [`PostgresBackend::connect_with_schema`]`(url, schema)?.`
    /// [`dedup()`](PostgresBackend::dedup): everything in `schema`, created if missing.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `schema` is not 1 to 63 ASCII
    /// letters, digits or underscores, or the URL is malformed;
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) as for `connect`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, Error> {
        Ok(PostgresBackend::connect_with_schema(url, schema)
            .await?
            .dedup())
    }

    pub(crate) fn from_backend(pool: PgPool, schema: Option<Arc<str>>) -> Self {
        PostgresDedupStore {
            pool,
            schema,
            ttl: DEFAULT_TTL,
        }
    }

    /// How long a completed id stays done (default 72 h).
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Deletes every expired row and returns how many. Run it now and then (an hourly task on
    /// one replica is plenty); expired rows are harmless meanwhile.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the delete fails.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let done = sqlx::query("DELETE FROM switchboard_webhook_dedup WHERE expires_at_ms <= $1")
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(|e| store_error("purge expired event ids", e))?;
        Ok(done.rows_affected())
    }

    /// Waits for queries in flight, then closes every connection of the pool (shared with the
    /// backend's other stores, which fail from then on too).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl DedupStore for PostgresDedupStore {
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
             VALUES ($1, $2, 'in_flight', $3, $4) \
             ON CONFLICT (scope, event_id) DO UPDATE SET \
               state = 'in_flight', token = excluded.token, expires_at_ms = excluded.expires_at_ms \
             WHERE switchboard_webhook_dedup.expires_at_ms <= $5 \
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
            "SELECT state FROM switchboard_webhook_dedup WHERE scope = $1 AND event_id = $2",
        )
        .bind(scope)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| store_error("read an event id", e))?;
        // A row purged or released between the two statements reads as in flight: the sender
        // retries, and the retry claims it.
        Ok(match state.as_deref() {
            Some("done") => Claim::Done,
            _ => Claim::InFlight,
        })
    }

    async fn complete(&self, token: ClaimToken) -> Result<(), Error> {
        let expires = now_ms().saturating_add(millis_at_least_one(self.ttl));
        sqlx::query(
            "INSERT INTO switchboard_webhook_dedup (scope, event_id, state, token, expires_at_ms) \
             VALUES ($1, $2, 'done', $3, $4) \
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
             WHERE scope = $1 AND event_id = $2 AND state = 'in_flight' AND token = $3",
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
            "UPDATE switchboard_webhook_dedup SET expires_at_ms = $4 \
             WHERE scope = $1 AND event_id = $2 AND state = 'in_flight' AND token = $3 \
               AND expires_at_ms > $5",
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
