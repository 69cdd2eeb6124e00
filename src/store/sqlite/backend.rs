//! [`SqliteBackend`]: one SQLite file (one pool, one migration set) for every store that lives
//! in it.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::SqlitePool;

use super::pool::{self, SqliteSynchronous};
use super::{SqliteStore, SqliteSyncStore};
use crate::error::Error;
use crate::outbound::queue::sqlite::SqliteQueue;
use crate::vault::Vault;
use crate::webhook::dedup::SqliteDedupStore;

// Readers run in parallel under WAL; writers queue on SQLite's single write lock anyway.
const MAX_CONNECTIONS: u32 = 8;

/// One SQLite database file and the stores that live in it, sharing one pool.
///
/// Opening it brings every switchboard table up to date (one migration set, in
/// `src/store/sqlite/migrations`); each accessor then hands out a store over the same pool:
/// credentials and connection records ([`SqliteBackend::store`]), webhook de-duplication
/// ([`SqliteBackend::dedup`]), the outbound queue ([`SqliteBackend::outbound_queue`]) and
/// sync jobs' state ([`SqliteBackend::sync_store`]).
/// Cheap to clone: clones share the pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::store::sqlite::SqliteBackend;
/// use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
///
/// let vault = Vault::new(KeyRing::new(
///     KeyId::new("k1")?,
///     MasterKey::from_env("SWITCHBOARD_MASTER_KEY")?,
/// ));
/// let db = SqliteBackend::open("switchboard.db").await?;
/// let credentials: Arc<dyn switchboard::CredentialStore> = Arc::new(db.store());
/// let dedup = db.dedup();
/// let queue = db.outbound_queue(vault).await?;
/// # Ok(()) }
/// ```
///
/// Give switchboard its own file: sqlx records applied migrations in one
/// `_sqlx_migrations` table per database, which the host's own sqlx migrations would share.
#[derive(Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
    location: Arc<str>,
}

impl fmt::Debug for SqliteBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl SqliteBackend {
    /// Opens (creating it if missing) the database file at `path` and brings its tables up
    /// to date. The file uses write-ahead logging (readers never wait for a writer), a 5 s
    /// busy timeout and foreign keys, and syncs every commit to disk: a rotated refresh token
    /// must survive a power cut, and the other stores in the file get the same guarantee.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the file cannot be opened or
    /// migrated (a database written by a build whose migrations differ from this one's).
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_file(path.as_ref(), SqliteSynchronous::Full, MAX_CONNECTIONS).await
    }

    /// A private in-memory database: one connection that lives as long as the backend and
    /// its stores, so everything sees the same data (and requests take turns). For tests.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the database cannot be created.
    pub async fn in_memory() -> Result<Self, Error> {
        let pool = pool::open_in_memory("sqlite").await?;
        Self::migrated(pool, ":memory:".to_string()).await
    }

    /// Opens a file with a given durability and pool size: the stores' own `open`
    /// shorthands keep the settings they had before the backend existed.
    pub(crate) async fn open_file(
        path: &Path,
        sync: SqliteSynchronous,
        max_connections: u32,
    ) -> Result<Self, Error> {
        let pool = pool::open_file(path, sync, max_connections, "sqlite").await?;
        Self::migrated(pool, path.display().to_string()).await
    }

    async fn migrated(pool: SqlitePool, location: String) -> Result<Self, Error> {
        pool::migrate(&pool, &location).await?;
        Ok(SqliteBackend {
            pool,
            location: location.into(),
        })
    }

    /// Credentials and connection records in this file: a
    /// [`CredentialStore`](crate::CredentialStore) and a
    /// [`ConnectionStore`](crate::connections::ConnectionStore).
    pub fn store(&self) -> SqliteStore {
        SqliteStore::from_backend(self.pool.clone(), Arc::clone(&self.location))
    }

    /// Webhook event-id de-duplication in this file, remembering completed ids for the
    /// default TTL (72 h; change it with [`SqliteDedupStore::ttl`]).
    pub fn dedup(&self) -> SqliteDedupStore {
        SqliteDedupStore::from_backend(self.pool.clone(), Arc::clone(&self.location))
    }

    /// The outbound webhook queue in this file; endpoint signing secrets are sealed with
    /// `vault`. The first call after an upgrade seals any secrets an older build stored in
    /// clear.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when clear secrets cannot be read or
    /// rewritten; [`ErrorKind::Vault`](crate::ErrorKind::Vault) when one cannot be sealed.
    pub async fn outbound_queue(&self, vault: Vault) -> Result<SqliteQueue, Error> {
        SqliteQueue::from_backend(self.pool.clone(), Arc::clone(&self.location), vault).await
    }

    /// Sync jobs' cursors, fences, run log, links and parked conflicts in this file: a
    /// [`SyncStore`](crate::sync::SyncStore) for a [`SyncEngine`](crate::sync::SyncEngine).
    pub fn sync_store(&self) -> SqliteSyncStore {
        SqliteSyncStore::from_backend(self.pool.clone(), Arc::clone(&self.location))
    }

    /// Waits for queries in flight, then closes every connection. Every store handed out by
    /// this backend (and its clones) fails with
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) from then on.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
