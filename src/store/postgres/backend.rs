//! [`PostgresBackend`]: one PostgreSQL pool (one schema, one migration set) for every store
//! that lives in it.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Executor;

use super::{create_schema, validate_schema, PostgresStore, PostgresSyncStore};
use crate::error::{Error, ErrorKind, ErrorParts};
use crate::outbound::queue::postgres::PostgresOutboundQueue;
use crate::store::row::{backend_error, with_source};
use crate::tokens::PostgresAdvisoryLock;
use crate::vault::Vault;
use crate::webhook::dedup::PostgresDedupStore;

/// One PostgreSQL pool and the stores that live behind it, for hosts that run several
/// replicas.
///
/// Connecting brings every switchboard table up to date (one migration set, in
/// `src/store/postgres/migrations`; sqlx serializes it across replicas with an advisory
/// lock); each accessor then hands out a store over the same pool: credentials and connection
/// records ([`PostgresBackend::store`]), webhook event-id de-duplication
/// ([`PostgresBackend::dedup`]), the outbound queue ([`PostgresBackend::outbound_queue`]),
/// token refresh locks ([`PostgresBackend::token_locks`]) and sync jobs' state
/// ([`PostgresBackend::sync_store`]). Cheap to clone: clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::store::postgres::PostgresBackend;
/// use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
///
/// let vault = Vault::new(KeyRing::new(
///     KeyId::new("k1")?,
///     MasterKey::from_env("SWITCHBOARD_MASTER_KEY")?,
/// ));
/// let db = PostgresBackend::connect_with_schema("postgres://app@db/app", "switchboard").await?;
/// let credentials: Arc<dyn switchboard::CredentialStore> = Arc::new(db.store());
/// let dedup = db.dedup();
/// let queue = db.outbound_queue(vault).await?;
/// let locks = db.token_locks();
/// # Ok(()) }
/// ```
///
/// Give switchboard its own schema ([`PostgresBackend::connect_with_schema`]) when the host
/// uses sqlx migrations too: sqlx records applied migrations in one `_sqlx_migrations`
/// table per schema.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    schema: Option<Arc<str>>,
}

impl fmt::Debug for PostgresBackend {
    // The URL may hold a password, so only the schema is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings
    /// its tables up to date in the connection's default schema (usually `public`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a malformed URL; [`ErrorKind::Store`] when the database
    /// cannot be reached or migrated. The URL (which may hold a password) is never in the
    /// message.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        Self::open(url, None).await
    }

    /// Like [`PostgresBackend::connect`], but keeps everything (tables and sqlx's migration
    /// record) in `schema`, created if missing: every pooled connection gets
    /// `SET search_path TO "schema"`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when `schema` is not 1 to 63 ASCII letters, digits or
    /// underscores, or the URL is malformed; [`ErrorKind::Store`] as for `connect`.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, Error> {
        validate_schema(schema)?;
        Self::open(url, Some(schema)).await
    }

    /// Uses a pool the host configured (size, timeouts, TLS, its own `search_path`) and
    /// brings the tables up to date in the schema its connections use.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the database cannot be migrated.
    pub async fn from_pool(pool: PgPool) -> Result<Self, Error> {
        migrate(&pool).await?;
        Ok(PostgresBackend { pool, schema: None })
    }

    async fn open(url: &str, schema: Option<&str>) -> Result<Self, Error> {
        // The URL is not repeated in the message: it may hold a password.
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            ErrorParts::new(ErrorKind::Config, "invalid PostgreSQL URL")
                .source(e)
                .build()
        })?;
        let mut pool_options = PgPoolOptions::new();
        if let Some(schema) = schema {
            // Validated by the caller: only letters, digits and underscores reach this SQL.
            let set: Arc<str> = format!("SET search_path TO \"{schema}\"").into();
            pool_options = pool_options.after_connect(move |conn, _meta| {
                let set = Arc::clone(&set);
                Box::pin(async move {
                    conn.execute(&*set).await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(|e| backend_error("postgres", "connect", e))?;
        if let Some(schema) = schema {
            create_schema(&pool, schema).await?;
        }
        migrate(&pool).await?;
        Ok(PostgresBackend {
            pool,
            schema: schema.map(Arc::from),
        })
    }

    /// Credentials and connection records: a [`CredentialStore`](crate::CredentialStore)
    /// and a [`ConnectionStore`](crate::connections::ConnectionStore).
    pub fn store(&self) -> PostgresStore {
        PostgresStore::from_backend(self.pool.clone(), self.schema.clone())
    }

    /// Webhook event-id de-duplication in this schema, remembering completed ids for the
    /// default TTL (72 h; change it with [`PostgresDedupStore::ttl`]).
    pub fn dedup(&self) -> PostgresDedupStore {
        PostgresDedupStore::from_backend(self.pool.clone(), self.schema.clone())
    }

    /// The outbound webhook queue; endpoint signing secrets are sealed with `vault`. The
    /// first call after an upgrade seals any secrets an older build stored in clear.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when clear secrets cannot be read or rewritten;
    /// [`ErrorKind::Vault`] when one cannot be sealed.
    pub async fn outbound_queue(&self, vault: Vault) -> Result<PostgresOutboundQueue, Error> {
        PostgresOutboundQueue::from_backend(self.pool.clone(), self.schema.clone(), vault).await
    }

    /// Token refresh locks (session advisory locks, no table) over this pool. A lock being
    /// taken or held uses one pooled connection, so at most half the pool's connections go
    /// to locks and the stores always have connections left for the refresh itself.
    pub fn token_locks(&self) -> PostgresAdvisoryLock {
        PostgresAdvisoryLock::from_pool(self.pool.clone())
    }

    /// Sync jobs' cursors, fences, run log, links and parked conflicts in this schema, shared
    /// by every replica: a [`SyncStore`](crate::sync::SyncStore) for a
    /// [`SyncEngine`](crate::sync::SyncEngine).
    pub fn sync_store(&self) -> PostgresSyncStore {
        PostgresSyncStore::from_backend(self.pool.clone(), self.schema.clone())
    }

    /// Waits for queries in flight, then closes every connection. Every store handed out by
    /// this backend (and its clones) fails with [`ErrorKind::Store`] from then on.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Brings the schema `pool`'s connections use up to date with the one PostgreSQL migration
/// set. A newer build may have applied migrations this one does not know; its tables are a
/// superset, so those are ignored.
async fn migrate(pool: &PgPool) -> Result<(), Error> {
    let mut migrator = sqlx::migrate!("src/store/postgres/migrations");
    migrator.set_ignore_missing(true);
    migrator
        .run(pool)
        .await
        .map_err(|e| with_source("postgres store: cannot migrate".to_string(), Box::new(e)))
}
