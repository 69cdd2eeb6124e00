//! Credentials and connection records in PostgreSQL, for hosts that run several replicas.
//!
//! [`PostgresStore`] implements [`CredentialStore`] and [`ConnectionStore`] with the same
//! rules as the SQLite store: every write is one statement that checks the version it
//! replaces (`UPDATE ... WHERE version = $n`, or `INSERT ... ON CONFLICT DO NOTHING` for a new
//! record), so replicas racing on one record get [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) instead of a lost
//! update.
//!
//! Storage: sealed bytes as `BYTEA`, versions, counters and times as `BIGINT` (times in
//! milliseconds since the Unix epoch, rounded down), `config` as `JSONB` (so a config string
//! holding a NUL character, which `JSONB` refuses, cannot be saved), status as its
//! [`ConnectionStatus::as_str`] name. [`PostgresBackend`] connects one pool, runs the one
//! migration set (every table of every store; sqlx serializes it across replicas with an
//! advisory lock) and hands out every store that lives there ([`PostgresSyncStore`] keeps sync
//! jobs' state).
//!
//! [`ConnectionStatus::as_str`]: crate::connections::ConnectionStatus::as_str

mod backend;
mod sync;

pub use backend::PostgresBackend;
pub use sync::PostgresSyncStore;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgPool};
use sqlx::{Executor, Postgres};

use crate::connections::{
    connection_conflict, webhook_key_conflict, ConnectionRecord, ConnectionStore,
};
use crate::credentials::{
    version_conflict, CredentialKey, CredentialStore, SealedCredential, Versioned,
};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};
use crate::store::row::{
    backend_error, credential_version, is_unique_violation, stored_version, ConnectionColumns,
    ConnectionRow,
};

const BACKEND: &str = "postgres";
// PostgreSQL silently truncates longer identifiers, which could merge two schemas.
const MAX_SCHEMA_LEN: usize = 63;

const SELECT_CONNECTION: &str = "SELECT tenant, id, template, name, status, \
     config::text AS config, last_check_ms, last_success_ms, last_sync_ms, last_event_ms, \
     last_error, consecutive_failures, webhook_token, webhook_routing_key, config_generation, version \
     FROM switchboard_connections";

/// Credentials and connection records in PostgreSQL. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::store::postgres::PostgresStore;
///
/// let store =
///     PostgresStore::connect_with_schema("postgres://app@db/app", "switchboard").await?;
/// let credentials: Arc<dyn switchboard::CredentialStore> = Arc::new(store.clone());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
}

impl fmt::Debug for PostgresStore {
    // The URL may hold a password, so only the schema is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Shorthand for [`PostgresBackend::connect`]`(url)?.`[`store()`](PostgresBackend::store):
    /// connects to the database at `url` (`postgres://user:password@host/db`) and brings
    /// every switchboard table up to date in the connection's default schema (usually
    /// `public`). Connect a [`PostgresBackend`] instead to share one pool with the outbound
    /// queue and the token locks.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for a malformed URL; [`ErrorKind::Store`](crate::ErrorKind::Store) when the database
    /// cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Ok(PostgresBackend::connect(url).await?.store())
    }

    /// Shorthand for [`PostgresBackend::connect_with_schema`]`(url, schema)?.`
    /// [`store()`](PostgresBackend::store): everything (tables and sqlx's migration record)
    /// in `schema`, created if missing.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when `schema` is not 1 to 63 ASCII letters, digits or
    /// underscores, or the URL is malformed; [`ErrorKind::Store`](crate::ErrorKind::Store) as for `connect`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, Error> {
        Ok(PostgresBackend::connect_with_schema(url, schema)
            .await?
            .store())
    }

    pub(crate) fn from_backend(pool: PgPool, schema: Option<Arc<str>>) -> Self {
        PostgresStore { pool, schema }
    }

    /// Waits for queries in flight, then closes every connection. Later calls on this store
    /// or its clones fail with [`ErrorKind::Store`](crate::ErrorKind::Store).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn credential_version(&self, key: &CredentialKey) -> Result<Option<u64>, Error> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM switchboard_credentials \
             WHERE tenant = $1 AND connection = $2 AND kind = $3",
        )
        .bind(key.tenant.as_str())
        .bind(key.connection.as_str())
        .bind(&*key.kind)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "read a credential version", e))?;
        v.map(|v| credential_version(key, v)).transpose()
    }

    async fn connection_version(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<u64>, Error> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM switchboard_connections WHERE tenant = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "read a connection version", e))?;
        // A corrupt version reads as "some other version": still a conflict.
        Ok(v.map(|v| stored_version(v).unwrap_or(0)))
    }
}

/// Checks a schema name before it is spliced into SQL.
pub(crate) fn validate_schema(schema: &str) -> Result<(), Error> {
    let ok = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_LEN
        && schema
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "postgres.schema",
            format!("must be 1 to {MAX_SCHEMA_LEN} ASCII letters, digits or underscores"),
        ))
    }
}

pub(crate) async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), Error> {
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    match pool.execute(sql.as_str()).await {
        Ok(_) => Ok(()),
        // Two replicas creating the schema at once: `IF NOT EXISTS` can still lose the race
        // with a unique violation, and the schema exists either way.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "42P06")) => {
            Ok(())
        }
        Err(e) => Err(backend_error(BACKEND, "create the schema", e)),
    }
}

#[async_trait]
impl CredentialStore for PostgresStore {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, Error> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, sealed FROM switchboard_credentials \
             WHERE tenant = $1 AND connection = $2 AND kind = $3",
        )
        .bind(key.tenant.as_str())
        .bind(key.connection.as_str())
        .bind(&*key.kind)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "load a credential", e))?;
        row.map(|(version, sealed)| {
            Ok(Versioned {
                version: credential_version(key, version)?,
                value: SealedCredential::new(sealed),
            })
        })
        .transpose()
    }

    async fn save(
        &self,
        key: &CredentialKey,
        value: SealedCredential,
        expected: Option<u64>,
    ) -> Result<u64, Error> {
        let written = match expected {
            None => sqlx::query(
                "INSERT INTO switchboard_credentials (tenant, connection, kind, version, sealed) \
                 VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING",
            )
            .bind(key.tenant.as_str())
            .bind(key.connection.as_str())
            .bind(&*key.kind)
            .bind(value.as_bytes())
            .execute(&self.pool)
            .await
            .map_err(|e| backend_error(BACKEND, "insert a credential", e))?
            .rows_affected(),
            // No stored version is above i64::MAX, so such an expectation always loses.
            Some(v) => match i64::try_from(v) {
                Err(_) => 0,
                Ok(v) => sqlx::query(
                    "UPDATE switchboard_credentials SET sealed = $4, version = version + 1 \
                     WHERE tenant = $1 AND connection = $2 AND kind = $3 AND version = $5",
                )
                .bind(key.tenant.as_str())
                .bind(key.connection.as_str())
                .bind(&*key.kind)
                .bind(value.as_bytes())
                .bind(v)
                .execute(&self.pool)
                .await
                .map_err(|e| backend_error(BACKEND, "update a credential", e))?
                .rows_affected(),
            },
        };
        if written == 1 {
            return Ok(expected.unwrap_or(0) + 1);
        }
        let found = self.credential_version(key).await?;
        Err(version_conflict(key, expected, found))
    }

    async fn list_keys(&self) -> Result<Vec<CredentialKey>, Error> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT tenant, connection, kind FROM switchboard_credentials \
             ORDER BY tenant COLLATE \"C\", connection COLLATE \"C\", kind COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "list credential keys", e))?;
        Ok(rows
            .into_iter()
            .map(|(t, c, k)| CredentialKey::new(t.into(), c.into(), k))
            .collect())
    }

    async fn delete(&self, key: &CredentialKey, expected: u64) -> Result<(), Error> {
        let deleted = match i64::try_from(expected) {
            Err(_) => 0,
            Ok(v) => sqlx::query(
                "DELETE FROM switchboard_credentials \
                 WHERE tenant = $1 AND connection = $2 AND kind = $3 AND version = $4",
            )
            .bind(key.tenant.as_str())
            .bind(key.connection.as_str())
            .bind(&*key.kind)
            .bind(v)
            .execute(&self.pool)
            .await
            .map_err(|e| backend_error(BACKEND, "delete a credential", e))?
            .rows_affected(),
        };
        if deleted == 1 {
            return Ok(());
        }
        let found = self.credential_version(key).await?;
        Err(version_conflict(key, Some(expected), found))
    }
}

/// Binds a record's columns as `$1` to `$14`, in [`ConnectionColumns`] order.
fn bind_columns<'q>(
    q: sqlx::query::Query<'q, Postgres, PgArguments>,
    c: &'q ConnectionColumns<'q>,
) -> sqlx::query::Query<'q, Postgres, PgArguments> {
    q.bind(c.tenant)
        .bind(c.id)
        .bind(c.template)
        .bind(c.name)
        .bind(c.status)
        .bind(c.config.as_str())
        .bind(c.last_check_ms)
        .bind(c.last_success_ms)
        .bind(c.last_sync_ms)
        .bind(c.last_event_ms)
        .bind(c.last_error)
        .bind(c.consecutive_failures)
        .bind(c.webhook_token)
        .bind(c.webhook_routing_key)
        .bind(c.config_generation)
}

#[async_trait]
impl ConnectionStore for PostgresStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        let row: Option<ConnectionRow> = sqlx::query_as(&format!(
            "{SELECT_CONNECTION} WHERE tenant = $1 AND id = $2"
        ))
        .bind(tenant.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "load a connection", e))?;
        row.map(ConnectionRow::into_record).transpose()
    }

    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error> {
        let columns = ConnectionColumns::new(record)?;
        let written = if record.version == 0 {
            bind_columns(
                sqlx::query(
                    "INSERT INTO switchboard_connections (tenant, id, template, name, status, \
                     config, last_check_ms, last_success_ms, last_sync_ms, last_event_ms, \
                     last_error, consecutive_failures, webhook_token, webhook_routing_key, \
                     config_generation, version) \
                     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1) \
                     ON CONFLICT DO NOTHING",
                ),
                &columns,
            )
            .execute(&self.pool)
            .await
            .map_err(|e| backend_error(BACKEND, "insert a connection", e))?
            .rows_affected()
        } else {
            match i64::try_from(record.version) {
                Err(_) => 0,
                Ok(v) => bind_columns(
                    sqlx::query(
                        "UPDATE switchboard_connections SET template = $3, name = $4, \
                         status = $5, config = $6::jsonb, last_check_ms = $7, \
                         last_success_ms = $8, last_sync_ms = $9, last_event_ms = $10, \
                         last_error = $11, consecutive_failures = $12, \
                         webhook_token = $13, webhook_routing_key = $14, \
                         config_generation = $15, version = version + 1 \
                         WHERE tenant = $1 AND id = $2 AND version = $16",
                    ),
                    &columns,
                )
                .bind(v)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        webhook_key_conflict(record)
                    } else {
                        backend_error(BACKEND, "update a connection", e)
                    }
                })?
                .rows_affected(),
            }
        };
        if written == 1 {
            return Ok(record.version + 1);
        }
        let found = self.connection_version(&record.tenant, &record.id).await?;
        if record.version == 0 && found.is_none() {
            // The insert did nothing, yet no record has this key: a unique index refused it.
            return Err(webhook_key_conflict(record));
        }
        Err(connection_conflict(
            &record.tenant,
            &record.id,
            record.version,
            found,
        ))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        // Byte order, as the other stores sort.
        let rows: Vec<ConnectionRow> = sqlx::query_as(&format!(
            "{SELECT_CONNECTION} WHERE tenant = $1 ORDER BY id COLLATE \"C\""
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "list connections", e))?;
        rows.into_iter().map(ConnectionRow::into_record).collect()
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        version: u64,
    ) -> Result<(), Error> {
        let deleted = match i64::try_from(version) {
            Err(_) => 0,
            Ok(v) => sqlx::query(
                "DELETE FROM switchboard_connections \
                 WHERE tenant = $1 AND id = $2 AND version = $3",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(v)
            .execute(&self.pool)
            .await
            .map_err(|e| backend_error(BACKEND, "delete a connection", e))?
            .rows_affected(),
        };
        if deleted == 1 {
            return Ok(());
        }
        let found = self.connection_version(tenant, id).await?;
        Err(connection_conflict(tenant, id, version, found))
    }

    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error> {
        let row: Option<ConnectionRow> =
            sqlx::query_as(&format!("{SELECT_CONNECTION} WHERE webhook_token = $1"))
                .bind(token)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| backend_error(BACKEND, "find a connection by webhook token", e))?;
        row.map(ConnectionRow::into_record).transpose()
    }

    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        let row: Option<ConnectionRow> = sqlx::query_as(&format!(
            "{SELECT_CONNECTION} WHERE template = $1 AND webhook_routing_key = $2"
        ))
        .bind(template)
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| backend_error(BACKEND, "find a connection by routing key", e))?;
        row.map(ConnectionRow::into_record).transpose()
    }
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn CredentialStore>, _: Arc<dyn ConnectionStore>) {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn postgres_store_accepts_only_plain_schema_names() {
        for ok in ["switchboard", "sb_test_0af3", "A1", &"x".repeat(63)] {
            assert!(validate_schema(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a-b",
            "a b",
            "x\"; DROP TABLE t; --",
            "é",
            "public.x",
            &"x".repeat(64),
        ] {
            let err = validate_schema(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            assert!(err.to_string().contains("postgres.schema"), "{err}");
        }
    }

    #[tokio::test]
    async fn postgres_store_rejects_a_bad_url_without_echoing_it() {
        let err = PostgresStore::connect("postgres://u:hunter2@h:port/db")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
    }
}
