//! Opening a SQLite pool and running the one migration set, the one way every SQLite-backed
//! part of switchboard does it (through [`SqliteBackend`](super::SqliteBackend)).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub(crate) use sqlx::sqlite::SqliteSynchronous;

use crate::error::Error;
use crate::store::row::{backend_error, with_source};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating it if missing) a database file with write-ahead logging, a 5 s busy timeout
/// and foreign keys. `sync` says what a commit survives: `Full`, a power cut; `Normal`, a
/// process crash. `component` names the caller in errors (`"sqlite outbound-queue"`; errors read "<component> store: …").
pub(crate) async fn open_file(
    path: &Path,
    sync: SqliteSynchronous,
    max_connections: u32,
    component: &str,
) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(max_connections)
        // A file connection cannot go stale, and a ping is one more round trip to the
        // connection's thread on every call.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .map_err(|e| backend_error(component, "open the database file", e))
}

/// A private in-memory database: one connection that is never recycled, because the database
/// lives in it (so everything sees the same data, and requests take turns).
pub(crate) async fn open_in_memory(component: &str) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::new()
        .in_memory(true)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .min_connections(1)
        .max_connections(1)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .map_err(|e| backend_error(component, "create an in-memory database", e))
}

/// Brings `pool`'s database up to date with the one SQLite migration set
/// (`src/store/sqlite/migrations`: every table of every SQLite-backed part). Migrations
/// applied by a newer build and unknown to this one are ignored: its tables are supersets.
pub(crate) async fn migrate(pool: &SqlitePool, location: &str) -> Result<(), Error> {
    let mut migrator = sqlx::migrate!("src/store/sqlite/migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await.map_err(|e| {
        with_source(
            format!("sqlite store: cannot migrate `{location}`"),
            Box::new(e),
        )
    })
}
