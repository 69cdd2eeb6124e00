//! The outbound queue in PostgreSQL, for hosts that run several replicas.
//!
//! Same rules as the SQLite queue (`SqliteQueue`: statuses, leases, the attempt
//! log, the endpoint failure clock, dead letters, redrive). Leasing is one statement whose
//! inner `SELECT ... FOR UPDATE SKIP LOCKED` picks due rows no other transaction has locked,
//! so workers on any number of replicas never lease the same message while its lease is live.
//! Completing an attempt is one transaction: log the attempt, apply the outcome if the lease
//! is still ours, move the endpoint's failure clock. Endpoint signing secrets are sealed with
//! the [`Vault`] (bound to the endpoint's tenant and id); rows written in clear by an older
//! build are sealed on connect. The tables come from the one PostgreSQL migration set, which
//! [`PostgresBackend`] runs; connect the backend and
//! call [`outbound_queue`](crate::store::postgres::PostgresBackend::outbound_queue) to share
//! its pool with the other stores.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sqlx::postgres::PgPool;

use super::rows::{self, AttemptRow, DeadRow, LeasedRow, StateRow};
use super::{
    open_secrets, seal_clear_secrets, seal_secrets, AttemptRecord, Completion, DeadLetter,
    FinishOutcome, LeasedMessage, MessageState, NewMessage, OutboundQueue, PurgeReport,
};
use crate::error::Error;
use crate::outbound::{Endpoint, EndpointId, MessageId};
use crate::store::postgres::PostgresBackend;
use crate::store::row::backend_error;
use crate::store::time::millis as ms;
use crate::vault::Vault;

/// The outbound queue in PostgreSQL. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use switchboard::outbound::{queue::postgres::PostgresOutboundQueue, WebhookSender};
///
/// use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
///
/// // Endpoint signing secrets are sealed with the vault at rest.
/// let vault = Vault::new(KeyRing::new(
///     KeyId::new("k1")?,
///     MasterKey::from_env("SWITCHBOARD_MASTER_KEY")?,
/// ));
/// let queue =
///     PostgresOutboundQueue::connect_with_schema("postgres://app@db/app", "switchboard", vault)
///         .await?;
/// let sender = WebhookSender::builder(queue).build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresOutboundQueue {
    pool: PgPool,
    schema: Option<Arc<str>>,
    vault: Vault,
}

impl fmt::Debug for PostgresOutboundQueue {
    // The URL may hold a password, so only the schema is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresOutboundQueue")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

fn db_error(op: &str, e: sqlx::Error) -> Error {
    backend_error("postgres outbound-queue", op, e)
}

impl PostgresOutboundQueue {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings the
    /// queue's tables up to date in the connection's default schema (usually `public`).
    /// Endpoint secrets are sealed with `vault`; any an older build stored in clear are
    /// sealed now.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a malformed URL; [`ErrorKind::Store`](crate::ErrorKind::Store) when the database
    /// cannot be reached or migrated; [`ErrorKind::Vault`](crate::ErrorKind::Vault) when a clear secret cannot be
    /// sealed.
    pub async fn connect(url: &str, vault: Vault) -> Result<Self, Error> {
        PostgresBackend::connect(url)
            .await?
            .outbound_queue(vault)
            .await
    }

    /// Shorthand for `PostgresBackend::connect_with_schema(url, schema).await?
    /// .outbound_queue(vault)`: everything (tables and sqlx's migration record) in `schema`,
    /// created if missing.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `schema` is not 1 to 63 ASCII
    /// letters, digits or underscores, or the URL is malformed;
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) as for `connect`.
    pub async fn connect_with_schema(url: &str, schema: &str, vault: Vault) -> Result<Self, Error> {
        PostgresBackend::connect_with_schema(url, schema)
            .await?
            .outbound_queue(vault)
            .await
    }

    pub(crate) async fn from_backend(
        pool: PgPool,
        schema: Option<Arc<str>>,
        vault: Vault,
    ) -> Result<Self, Error> {
        let queue = PostgresOutboundQueue {
            pool,
            schema,
            vault,
        };
        queue.seal_legacy_secrets().await?;
        Ok(queue)
    }

    /// Seals the secrets of endpoints stored in clear before secrets were sealed, and clears
    /// the clear copy. Each row is one guarded update, so replicas connecting at once seal
    /// each row once.
    async fn seal_legacy_secrets(&self) -> Result<(), Error> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT tenant, id, legacy_secrets FROM switchboard_outbound_endpoints \
             WHERE legacy_secrets IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read clear endpoint secrets", e))?;
        for (tenant, id, clear) in rows {
            let eid = EndpointId::for_tenant(tenant, id);
            let sealed = seal_clear_secrets(&self.vault, &eid, zeroize::Zeroizing::new(clear))?;
            sqlx::query(
                "UPDATE switchboard_outbound_endpoints \
                 SET secrets = $3, legacy_secrets = NULL \
                 WHERE tenant = $1 AND id = $2 AND legacy_secrets IS NOT NULL",
            )
            .bind(eid.tenant().as_str())
            .bind(eid.as_str())
            .bind(sealed)
            .execute(&self.pool)
            .await
            .map_err(|e| db_error("seal clear endpoint secrets", e))?;
        }
        Ok(())
    }

    /// Waits for queries in flight, then closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

const ATTEMPT_COLUMNS: &str =
    "message_id, endpoint_tenant, endpoint_id, attempt, at_ms, status, latency_us, success, error";

#[async_trait]
impl OutboundQueue for PostgresOutboundQueue {
    async fn put_endpoint(&self, endpoint: &Endpoint) -> Result<(), Error> {
        let secrets = seal_secrets(&self.vault, &endpoint.id, &endpoint.secrets)?;
        sqlx::query(
            "INSERT INTO switchboard_outbound_endpoints AS e \
             (tenant, id, url, secrets, enabled, disabled_reason, failing_since_ms) \
             VALUES ($6, $1, $2, $3, $4, $5, NULL) \
             ON CONFLICT (tenant, id) DO UPDATE SET url = excluded.url, \
             secrets = excluded.secrets, legacy_secrets = NULL, \
             enabled = excluded.enabled, disabled_reason = excluded.disabled_reason, \
             failing_since_ms = CASE WHEN excluded.enabled AND NOT e.enabled THEN NULL \
             ELSE e.failing_since_ms END",
        )
        .bind(endpoint.id.as_str())
        .bind(&endpoint.url)
        .bind(secrets)
        .bind(endpoint.enabled)
        .bind(&endpoint.disabled_reason)
        .bind(endpoint.id.tenant().as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("save an endpoint", e))?;
        Ok(())
    }

    async fn endpoint(&self, id: &EndpointId) -> Result<Option<Endpoint>, Error> {
        let row: Option<(String, Option<Vec<u8>>, bool, Option<String>)> = sqlx::query_as(
            "SELECT url, secrets, enabled, disabled_reason \
             FROM switchboard_outbound_endpoints WHERE tenant = $2 AND id = $1",
        )
        .bind(id.as_str())
        .bind(id.tenant().as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error("load an endpoint", e))?;
        row.map(|(url, secrets, enabled, disabled_reason)| {
            let secrets = match secrets {
                Some(sealed) => open_secrets(&self.vault, id, &sealed)?,
                None => return Err(rows::no_secrets(id)),
            };
            Ok(Endpoint {
                id: id.clone(),
                url,
                secrets,
                enabled,
                disabled_reason,
            })
        })
        .transpose()
    }

    async fn disable_endpoint(&self, id: &EndpointId, reason: &str) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE switchboard_outbound_endpoints SET enabled = FALSE, disabled_reason = $2 \
             WHERE tenant = $3 AND id = $1 AND enabled",
        )
        .bind(id.as_str())
        .bind(reason)
        .bind(id.tenant().as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("disable an endpoint", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn enqueue(&self, m: &NewMessage) -> Result<(), Error> {
        let now = ms(m.created_at);
        sqlx::query(
            "INSERT INTO switchboard_outbound_messages \
             (id, endpoint_tenant, endpoint_id, event_type, payload, status, attempts, \
              next_attempt_ms, created_ms, updated_ms) \
             VALUES ($1, $6, $2, $3, $4, 'pending', 0, $5, $5, $5)",
        )
        .bind(m.id.as_str())
        .bind(m.endpoint.as_str())
        .bind(&m.event_type)
        .bind(&m.payload[..])
        .bind(now)
        .bind(m.endpoint.tenant().as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("enqueue a message", e))?;
        Ok(())
    }

    async fn lease(
        &self,
        owner: &str,
        max: usize,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Vec<LeasedMessage>, Error> {
        let now_ms = ms(now);
        let expiry = now.checked_add(lease).map_or(i64::MAX, ms);
        // The inner SELECT locks the rows it picks and skips rows another transaction holds,
        // so two replicas leasing at once get disjoint batches.
        let rows: Vec<LeasedRow> = sqlx::query_as(
            "UPDATE switchboard_outbound_messages \
             SET status = 'inflight', lease_owner = $1, lease_expiry_ms = $2, \
                 attempts = attempts + 1, updated_ms = $3 \
             WHERE id IN (SELECT id FROM switchboard_outbound_messages \
                 WHERE (status = 'pending' AND next_attempt_ms <= $3) \
                    OR (status = 'inflight' AND lease_expiry_ms < $3) \
                 ORDER BY next_attempt_ms \
                 LIMIT $4 \
                 FOR UPDATE SKIP LOCKED) \
             RETURNING id, endpoint_tenant, endpoint_id, event_type, payload, attempts",
        )
        .bind(owner)
        .bind(expiry)
        .bind(now_ms)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("lease messages", e))?;
        rows.into_iter().map(LeasedRow::into_leased).collect()
    }

    async fn finish(
        &self,
        owner: &str,
        a: &AttemptRecord,
        completion: &Completion,
    ) -> Result<FinishOutcome, Error> {
        let at_ms = ms(a.at);
        let now_ms = ms(SystemTime::now());
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("begin a transaction", e))?;
        sqlx::query(
            "INSERT INTO switchboard_outbound_attempts \
             (message_id, endpoint_id, attempt, at_ms, status, latency_us, success, error, \
              endpoint_tenant) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.message.as_str())
        .bind(a.endpoint.as_str())
        .bind(i64::from(a.attempt))
        .bind(at_ms)
        .bind(a.status.map(i64::from))
        .bind(i64::try_from(a.latency.as_micros()).unwrap_or(i64::MAX))
        .bind(a.success)
        .bind(&a.error)
        .bind(a.endpoint.tenant().as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("log an attempt", e))?;
        let (status, next, reason) = match completion {
            Completion::Delivered => ("delivered", now_ms, None),
            Completion::Retry { at } => ("pending", ms(*at), None),
            Completion::Dead { reason } => ("dead", now_ms, Some(reason.as_str())),
        };
        let done = sqlx::query(
            "UPDATE switchboard_outbound_messages \
             SET status = $3, next_attempt_ms = $4, dead_reason = $5, lease_owner = NULL, \
                 lease_expiry_ms = NULL, updated_ms = $6 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'inflight'",
        )
        .bind(a.message.as_str())
        .bind(owner)
        .bind(status)
        .bind(next)
        .bind(reason)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("complete a message", e))?;
        let failing_since = if a.success {
            sqlx::query(
                "UPDATE switchboard_outbound_endpoints SET failing_since_ms = NULL \
                 WHERE tenant = $2 AND id = $1 AND failing_since_ms IS NOT NULL",
            )
            .bind(a.endpoint.as_str())
            .bind(a.endpoint.tenant().as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("reset an endpoint's failure clock", e))?;
            None
        } else {
            let since: Option<Option<i64>> = sqlx::query_scalar(
                "UPDATE switchboard_outbound_endpoints \
                 SET failing_since_ms = COALESCE(failing_since_ms, $2) \
                 WHERE tenant = $3 AND id = $1 \
                 RETURNING failing_since_ms",
            )
            .bind(a.endpoint.as_str())
            .bind(at_ms)
            .bind(a.endpoint.tenant().as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("start an endpoint's failure clock", e))?;
            rows::failing_since(&a.endpoint, since.flatten())?
        };
        tx.commit()
            .await
            .map_err(|e| db_error("commit an attempt", e))?;
        Ok(FinishOutcome {
            acked: done.rows_affected() == 1,
            failing_since,
        })
    }

    async fn message(&self, id: &MessageId) -> Result<Option<MessageState>, Error> {
        let row: Option<StateRow> = sqlx::query_as(
            "SELECT endpoint_tenant, endpoint_id, status, attempts, dead_reason \
             FROM switchboard_outbound_messages WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error("load a message", e))?;
        row.map(|r| r.into_state(id)).transpose()
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, Error> {
        let rows: Vec<DeadRow> = sqlx::query_as(
            "SELECT id, endpoint_tenant, endpoint_id, event_type, attempts, dead_reason \
             FROM switchboard_outbound_messages WHERE status = 'dead' \
             ORDER BY updated_ms LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("list dead letters", e))?;
        rows.into_iter().map(DeadRow::into_dead_letter).collect()
    }

    async fn redrive(&self, id: &MessageId, now: SystemTime) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE switchboard_outbound_messages \
             SET status = 'pending', attempts = 0, next_attempt_ms = $2, dead_reason = NULL, \
                 updated_ms = $2 \
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id.as_str())
        .bind(ms(now))
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("redrive a message", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn attempts_since(
        &self,
        endpoint: &EndpointId,
        since: SystemTime,
    ) -> Result<Vec<AttemptRecord>, Error> {
        let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM switchboard_outbound_attempts \
             WHERE endpoint_tenant = $3 AND endpoint_id = $1 AND at_ms >= $2 ORDER BY seq"
        ))
        .bind(endpoint.as_str())
        .bind(ms(since))
        .bind(endpoint.tenant().as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read attempts", e))?;
        rows.into_iter().map(AttemptRow::into_record).collect()
    }

    async fn attempts_of(&self, message: &MessageId) -> Result<Vec<AttemptRecord>, Error> {
        let rows: Vec<AttemptRow> = sqlx::query_as(&format!(
            "SELECT {ATTEMPT_COLUMNS} FROM switchboard_outbound_attempts \
             WHERE message_id = $1 ORDER BY seq"
        ))
        .bind(message.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read attempts", e))?;
        rows.into_iter().map(AttemptRow::into_record).collect()
    }

    async fn purge_delivered(
        &self,
        before: SystemTime,
        limit: usize,
    ) -> Result<PurgeReport, Error> {
        // One statement: the batch is chosen once (rows another replica's purge holds are
        // skipped), and its attempts and messages go together.
        let (messages, attempts): (i64, i64) = sqlx::query_as(
            "WITH doomed AS ( \
                 SELECT id FROM switchboard_outbound_messages \
                 WHERE status = 'delivered' AND updated_ms < $1 \
                 ORDER BY updated_ms, id LIMIT $2 \
                 FOR UPDATE SKIP LOCKED), \
             gone_attempts AS ( \
                 DELETE FROM switchboard_outbound_attempts \
                 WHERE message_id IN (SELECT id FROM doomed) RETURNING 1), \
             gone AS ( \
                 DELETE FROM switchboard_outbound_messages \
                 WHERE id IN (SELECT id FROM doomed) RETURNING 1) \
             SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM gone_attempts)",
        )
        .bind(ms(before))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| db_error("delete delivered messages", e))?;
        Ok(PurgeReport {
            messages: u64::try_from(messages).unwrap_or(0),
            attempts: u64::try_from(attempts).unwrap_or(0),
        })
    }
}
