//! The embedded default: one SQLite file for everything switchboard stores.
//!
//! [`SqliteBackend`] opens the file (one pool, one migration set) and hands out every store
//! that lives there ([`SqliteSyncStore`] keeps sync jobs' state). [`SqliteStore`] implements
//! [`CredentialStore`] and [`ConnectionStore`]. Every write is one
//! statement that checks the version it replaces (`UPDATE ... WHERE version = ?`, or
//! `INSERT ... ON CONFLICT DO NOTHING` for a new record), so two writers — two tasks, or two
//! processes on the same file — cannot both win. The file uses write-ahead logging, so reads
//! never wait for a writer, and a writer waits up to five seconds for another one.
//!
//! Storage: sealed bytes as `BLOB`, times as integer milliseconds since the Unix epoch
//! (rounded down), `config` as JSON text, status as its [`ConnectionStatus::as_str`] name.
//! Migrations (every table of every store, one folder) are compiled in and run by
//! [`SqliteBackend::open`].
//!
//! [`ConnectionStatus::as_str`]: crate::connections::ConnectionStatus::as_str

mod backend;
pub(crate) mod pool;
mod sync;

pub use backend::SqliteBackend;
pub use sync::SqliteSyncStore;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteArguments, SqlitePool};
use sqlx::Sqlite;

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

const BACKEND: &str = "sqlite";

const SELECT_CONNECTION: &str = "SELECT tenant, id, template, name, status, config, \
     last_check_ms, last_success_ms, last_sync_ms, last_event_ms, last_error, \
     consecutive_failures, webhook_token, webhook_routing_key, config_generation, version \
     FROM switchboard_connections";

/// Credentials and connection records in SQLite. Cheap to clone: clones share one pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::store::sqlite::SqliteStore;
///
/// let store = SqliteStore::open("switchboard.db").await?;
/// let credentials: Arc<dyn switchboard::CredentialStore> = Arc::new(store.clone());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    location: Arc<str>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Shorthand for [`SqliteBackend::open`]`(path)?.`[`store()`](SqliteBackend::store):
    /// opens (creating it if missing) the database file at `path` and brings every
    /// switchboard table in it up to date. Open a [`SqliteBackend`] instead to share the file
    /// with the de-duplication store and the outbound queue over one pool.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the file cannot be opened or
    /// migrated.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Ok(SqliteBackend::open(path).await?.store())
    }

    /// Shorthand for [`SqliteBackend::in_memory`]`()?.`[`store()`](SqliteBackend::store): a
    /// private in-memory database, for tests.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the database cannot be created.
    pub async fn in_memory() -> Result<Self, Error> {
        Ok(SqliteBackend::in_memory().await?.store())
    }

    pub(crate) fn from_backend(pool: SqlitePool, location: Arc<str>) -> Self {
        SqliteStore { pool, location }
    }

    /// Waits for queries in flight, then closes every connection. Later calls on this store
    /// or its clones fail with [`ErrorKind::Store`](crate::ErrorKind::Store).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn credential_version(&self, key: &CredentialKey) -> Result<Option<u64>, Error> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM switchboard_credentials \
             WHERE tenant = ?1 AND connection = ?2 AND kind = ?3",
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
            "SELECT version FROM switchboard_connections WHERE tenant = ?1 AND id = ?2",
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

#[async_trait]
impl CredentialStore for SqliteStore {
    async fn load(
        &self,
        key: &CredentialKey,
    ) -> Result<Option<Versioned<SealedCredential>>, Error> {
        let row: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT version, sealed FROM switchboard_credentials \
             WHERE tenant = ?1 AND connection = ?2 AND kind = ?3",
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
                 VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT DO NOTHING",
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
                    "UPDATE switchboard_credentials SET sealed = ?4, version = version + 1 \
                     WHERE tenant = ?1 AND connection = ?2 AND kind = ?3 AND version = ?5",
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
             ORDER BY tenant, connection, kind",
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
                 WHERE tenant = ?1 AND connection = ?2 AND kind = ?3 AND version = ?4",
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

/// Binds a record's columns as `?1` to `?14`, in [`ConnectionColumns`] order.
fn bind_columns<'q>(
    q: sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>,
    c: &'q ConnectionColumns<'q>,
) -> sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>> {
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
impl ConnectionStore for SqliteStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        let row: Option<ConnectionRow> = sqlx::query_as(&format!(
            "{SELECT_CONNECTION} WHERE tenant = ?1 AND id = ?2"
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
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 1) \
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
                        "UPDATE switchboard_connections SET template = ?3, name = ?4, \
                         status = ?5, config = ?6, last_check_ms = ?7, last_success_ms = ?8, \
                         last_sync_ms = ?9, last_event_ms = ?10, last_error = ?11, \
                         consecutive_failures = ?12, \
                         webhook_token = ?13, webhook_routing_key = ?14, \
                         config_generation = ?15, version = version + 1 \
                         WHERE tenant = ?1 AND id = ?2 AND version = ?16",
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
        let rows: Vec<ConnectionRow> = sqlx::query_as(&format!(
            "{SELECT_CONNECTION} WHERE tenant = ?1 ORDER BY id"
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
                 WHERE tenant = ?1 AND id = ?2 AND version = ?3",
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
            sqlx::query_as(&format!("{SELECT_CONNECTION} WHERE webhook_token = ?1"))
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
            "{SELECT_CONNECTION} WHERE template = ?1 AND webhook_routing_key = ?2"
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

    fn key() -> CredentialKey {
        CredentialKey::new("t1".into(), "c1".into(), "oauth_token")
    }

    #[tokio::test]
    async fn sqlite_store_in_memory_keeps_one_database_across_calls() {
        let s = SqliteStore::in_memory().await.unwrap();
        let v = CredentialStore::save(&s, &key(), SealedCredential::new(&b"a"[..]), None)
            .await
            .unwrap();
        assert_eq!(v, 1);
        let clone = s.clone();
        let got = CredentialStore::load(&clone, &key())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((got.version, got.value.as_bytes()), (1, &b"a"[..]));
        let err = CredentialStore::save(&s, &key(), SealedCredential::new(&b"b"[..]), Some(7))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("expected 7, found 1"), "{err}");
        let err =
            CredentialStore::save(&s, &key(), SealedCredential::new(&b"b"[..]), Some(u64::MAX))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
    }

    #[tokio::test]
    async fn sqlite_store_errors_name_the_operation_not_the_contents() {
        let s = SqliteStore::in_memory().await.unwrap();
        s.close().await;
        let err = CredentialStore::save(
            &s,
            &key(),
            SealedCredential::new(&b"top-secret-ciphertext"[..]),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("insert a credential"), "{shown}");
        assert!(!shown.contains("top-secret"), "{shown}");
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            format!("{s:?}"),
            r#"SqliteStore { location: ":memory:", .. }"#
        );
    }

    #[tokio::test]
    async fn sqlite_store_open_fails_fast_with_a_store_error() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-missing-{:016x}", fastrand::u64(..)));
        let err = SqliteStore::open(dir.join("x.db")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(err.to_string().contains("open the database file"), "{err}");
    }

    #[tokio::test]
    async fn sqlite_store_reports_corrupt_rows_as_store_errors() {
        let s = SqliteStore::in_memory().await.unwrap();
        let rec = ConnectionRecord::new("t1".into(), "c1".into(), "stripe", "Stripe");
        ConnectionStore::save(&s, &rec).await.unwrap();
        sqlx::query("UPDATE switchboard_connections SET config = '{oops'")
            .execute(&s.pool)
            .await
            .unwrap();
        let err = ConnectionStore::load(&s, &"t1".into(), &"c1".into())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store);
        assert!(
            err.to_string().contains("`switchboard_connections.config`"),
            "{err}"
        );
    }
}
