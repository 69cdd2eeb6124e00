//! The sync store contract (`switchboard::test_util::sync_store`, written once against the
//! `SyncStore` trait) on every store: in memory, SQLite in memory and in a file, and PostgreSQL
//! in a schema of its own (dropped after). Then what only a database has: state that survives
//! reopening the file or a second replica's pool, and rows this build cannot read (written
//! with raw SQL) coming back as typed store errors naming table and column, with nothing
//! written or lost on the way.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;
use serde_json::json;
use switchboard::sync::{
    Conflict, JobKey, Link, Mark, RunCounts, RunLog, RunStatus, SyncCursor, SyncRecord, SyncStore,
    Trigger, Version,
};
use switchboard::test_util::sync_store as contract;
use switchboard::ErrorKind;

// ------------------------------------------------------------------------------- fixtures

/// One store, and what to remove afterwards.
struct Fixture {
    store: Arc<dyn SyncStore>,
    teardown: Teardown,
}

enum Teardown {
    Nothing,
    #[cfg(feature = "sqlite")]
    Sqlite(
        switchboard::store::sqlite::SqliteBackend,
        Option<std::path::PathBuf>,
    ),
    #[cfg(feature = "postgres")]
    Postgres(switchboard::store::postgres::PostgresBackend, String),
}

impl Fixture {
    async fn memory() -> Fixture {
        Fixture {
            store: Arc::new(switchboard::sync::InMemorySyncStore::new()),
            teardown: Teardown::Nothing,
        }
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite_memory() -> Fixture {
        let db = switchboard::store::sqlite::SqliteBackend::in_memory()
            .await
            .unwrap();
        Fixture {
            store: Arc::new(db.sync_store()),
            teardown: Teardown::Sqlite(db, None),
        }
    }

    #[cfg(feature = "sqlite")]
    async fn sqlite_file() -> Fixture {
        let path = sqlite_support::temp_path();
        let db = switchboard::store::sqlite::SqliteBackend::open(&path)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e:?}", path.display()));
        Fixture {
            store: Arc::new(db.sync_store()),
            teardown: Teardown::Sqlite(db, Some(path)),
        }
    }

    #[cfg(feature = "postgres")]
    async fn postgres() -> Fixture {
        let schema = format!("sb_sync_{:016x}", fastrand::u64(..));
        let db = pg_support::connect(&schema).await;
        Fixture {
            store: Arc::new(db.sync_store()),
            teardown: Teardown::Postgres(db, schema),
        }
    }

    async fn teardown(self) {
        drop(self.store);
        match self.teardown {
            Teardown::Nothing => {}
            #[cfg(feature = "sqlite")]
            Teardown::Sqlite(db, path) => {
                db.close().await;
                if let Some(path) = path {
                    sqlite_support::remove(&path);
                }
            }
            #[cfg(feature = "postgres")]
            Teardown::Postgres(db, schema) => {
                db.close().await;
                pg_support::drop_schema(&schema).await;
            }
        }
    }
}

/// Runs `body` and then `cleanup`, even when `body` panics.
async fn guarded<F, C>(body: F, cleanup: C)
where
    F: std::future::Future<Output = ()>,
    C: std::future::Future<Output = ()>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    cleanup.await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// One test per contract check on a fresh store of `$backend`.
macro_rules! contract_on {
    ($backend:ident) => {
        mod $backend {
            use super::*;
            contract_on!(@checks $backend:
                fences_grow_and_begin_returns_the_saved_cursor,
                a_stale_fence_writes_nothing,
                concurrent_steps_are_atomic,
                running_runs_are_interrupted_by_the_next_begin,
                the_run_log_is_newest_first_and_capped,
                links_round_trip_every_version,
                conflicts_are_replaced_listed_oldest_first_and_taken,
                tenants_sharing_a_connection_share_nothing
            );
        }
    };
    (@checks $backend:ident: $($check:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let fx = Fixture::$backend().await;
            let store = Arc::clone(&fx.store);
            guarded(
                async move { contract::$check(&*store).await },
                fx.teardown(),
            )
            .await;
        }
    )*};
}

contract_on!(memory);
#[cfg(feature = "sqlite")]
contract_on!(sqlite_memory);
#[cfg(feature = "sqlite")]
contract_on!(sqlite_file);
#[cfg(feature = "postgres")]
contract_on!(postgres);

/// The checks share one store without stepping on each other (as a host running the whole
/// contract on its own store would).
#[tokio::test]
async fn the_whole_contract_runs_on_one_store() {
    contract::sync_store_contract(&switchboard::sync::InMemorySyncStore::new()).await;
}

// ------------------------------------------------------------------ what the tests write

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn job() -> JobKey {
    JobKey::new("tenant-a", "mls", "listings")
}

fn run(id: &str) -> RunLog {
    RunLog {
        id: id.into(),
        trigger: Trigger::Schedule,
        started_at: at(1),
        finished_at: None,
        status: RunStatus::Running,
        counts: RunCounts::default(),
        error: None,
    }
}

fn cursor(secs: u64) -> SyncCursor {
    SyncCursor {
        source: Some(Mark::new(at(secs), format!("k{secs}"))),
        sink: Some(Mark::start_of(at(secs + 1))),
    }
}

fn conflict(key: &str) -> Conflict {
    Conflict {
        key: key.into(),
        source: SyncRecord::new(key, json!({"status": "sold"}).as_object().unwrap().clone())
            .updated_at(at(5)),
        sink: SyncRecord::deleted(key).version(Version(u64::MAX)),
        detected_at: at(6),
    }
}

fn links() -> Vec<(String, Link)> {
    vec![(
        "k1".into(),
        Link {
            source: Some(Version(u64::MAX)),
            sink: None,
        },
    )]
}

/// Writes one of everything through `store`: a run (finished), a cursor, a link, a conflict.
/// Returns the fence it wrote with.
async fn write_everything(store: &dyn SyncStore) -> switchboard::sync::Fence {
    let begun = store.begin(&job(), &run("r1")).await.unwrap();
    store
        .save(&job(), begun.fence, &cursor(10), &links())
        .await
        .unwrap();
    store
        .park(&job(), begun.fence, &conflict("k1"))
        .await
        .unwrap();
    let done = RunLog {
        finished_at: Some(at(2)),
        status: RunStatus::Succeeded,
        counts: RunCounts {
            created: 3,
            ..RunCounts::default()
        },
        ..run("r1")
    };
    store.finish(&job(), &done).await.unwrap();
    begun.fence
}

/// Reads back what [`write_everything`] wrote through another pool on the same database,
/// then begins a new run there: it fences out the old runner.
async fn read_everything(store: &dyn SyncStore, old_fence: switchboard::sync::Fence) {
    assert_eq!(store.cursor(&job()).await.unwrap(), Some(cursor(10)));
    let runs = store.runs(&job(), 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].status, runs[0].counts.created),
        (RunStatus::Succeeded, 3)
    );
    assert_eq!(
        store.links(&job(), &["k1".into()]).await.unwrap()["k1"],
        links()[0].1
    );
    assert_eq!(store.conflicts(&job()).await.unwrap(), vec![conflict("k1")]);
    let begun = store.begin(&job(), &run("r2")).await.unwrap();
    assert!(begun.fence > old_fence);
    assert_eq!(begun.cursor, cursor(10));
    let err = store
        .save(&job(), old_fence, &cursor(20), &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

// --------------------------------------------------------------------- corrupt stored rows

/// One raw connection to a store's database, for writing what this build cannot read.
enum Raw {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqliteConnection),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgConnection),
}

impl Raw {
    async fn exec(&mut self, sql: &str) {
        match self {
            #[cfg(feature = "sqlite")]
            Raw::Sqlite(c) => sqlx::query(sql).execute(c).await.map(drop),
            #[cfg(feature = "postgres")]
            Raw::Postgres(c) => sqlx::query(sql).execute(c).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn count(&mut self, sql: &str) -> i64 {
        match self {
            #[cfg(feature = "sqlite")]
            Raw::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            #[cfg(feature = "postgres")]
            Raw::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// The error is a store error naming `table.column`, and shows none of the stored garbage.
fn assert_corrupt<T: std::fmt::Debug>(got: Result<T, switchboard::Error>, column: &str) {
    let err = got.expect_err(column);
    assert_eq!(err.kind(), ErrorKind::Store, "{column}: {err:?}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains(&format!("`{column}`")), "{column}: {shown}");
    assert!(shown.contains("tenant `tenant-a`"), "{shown}");
    assert!(
        !shown.contains("CANARY"),
        "the stored value leaked: {shown}"
    );
}

/// Each kind of unreadable row, one at a time: a typed error naming table and column, and a
/// failed `begin` or `take_conflict` writes (or removes) nothing.
async fn corrupt_rows_are_typed_store_errors(store: &dyn SyncStore, raw: &mut Raw) {
    write_everything(store).await;
    let valid_counts = serde_json::to_string(&RunCounts::default()).unwrap();

    raw.exec("UPDATE switchboard_sync_runs SET status = 'zombie'")
        .await;
    assert_corrupt(store.runs(&job(), 10).await, "switchboard_sync_runs.status");
    raw.exec("UPDATE switchboard_sync_runs SET status = 'running', triggered_by = 'cron'")
        .await;
    assert_corrupt(
        store.runs(&job(), 10).await,
        "switchboard_sync_runs.triggered_by",
    );
    raw.exec(
        "UPDATE switchboard_sync_runs SET triggered_by = 'manual', \
         counts = '{\"fetched\": \"CANARY-counts'",
    )
    .await;
    assert_corrupt(store.runs(&job(), 10).await, "switchboard_sync_runs.counts");
    raw.exec(&format!(
        "UPDATE switchboard_sync_runs SET counts = '{valid_counts}'"
    ))
    .await;
    assert_eq!(store.runs(&job(), 10).await.unwrap().len(), 1);

    raw.exec("UPDATE switchboard_sync_conflicts SET source_record = 'CANARY-not-json'")
        .await;
    assert_corrupt(
        store.conflicts(&job()).await,
        "switchboard_sync_conflicts.source_record",
    );
    assert_corrupt(
        store.take_conflict(&job(), "k1").await,
        "switchboard_sync_conflicts.source_record",
    );
    assert_eq!(
        raw.count("SELECT count(*) FROM switchboard_sync_conflicts")
            .await,
        1,
        "a conflict that cannot be read stays parked"
    );

    raw.exec("UPDATE switchboard_sync_jobs SET source_key = NULL")
        .await;
    assert_corrupt(
        store.cursor(&job()).await,
        "switchboard_sync_jobs.source_key",
    );
    assert_corrupt(
        store.begin(&job(), &run("r2")).await,
        "switchboard_sync_jobs.source_key",
    );
    raw.exec("UPDATE switchboard_sync_jobs SET source_key = 'k', fence = -5")
        .await;
    assert_corrupt(
        store.begin(&job(), &run("r3")).await,
        "switchboard_sync_jobs.fence",
    );
    // Neither failed begin took a fence or logged a run.
    assert_eq!(
        raw.count("SELECT count(*) FROM switchboard_sync_jobs WHERE fence = -5")
            .await,
        1
    );
    assert_eq!(
        raw.count("SELECT count(*) FROM switchboard_sync_runs")
            .await,
        1
    );
}

// ------------------------------------------------------------------------------- SQLite

#[cfg(feature = "sqlite")]
mod sqlite_support {
    use std::path::{Path, PathBuf};

    pub(super) fn temp_path() -> PathBuf {
        std::env::temp_dir().join(format!(
            "switchboard-sync-{}-{:016x}.db",
            std::process::id(),
            fastrand::u64(..)
        ))
    }

    /// Removes the database and its write-ahead log files; missing files are fine.
    pub(super) fn remove(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(feature = "sqlite")]
mod sqlite_only {
    use super::*;
    use sqlx::Connection;
    use switchboard::store::sqlite::SqliteBackend;
    use switchboard::sync::memory::{MemorySink, MemorySource};
    use switchboard::sync::SyncEngine;

    #[tokio::test]
    async fn everything_survives_reopening_the_file() {
        let path = sqlite_support::temp_path();
        guarded(
            async {
                let db = SqliteBackend::open(&path).await.unwrap();
                let fence = write_everything(&db.sync_store()).await;
                db.close().await;
                let again = SqliteBackend::open(&path).await.unwrap();
                read_everything(&again.sync_store(), fence).await;
                again.close().await;
            },
            async { sqlite_support::remove(&path) },
        )
        .await;
    }

    /// An engine on a reopened file goes on from the saved cursor: nothing applied before is
    /// applied again, and the run log holds both runs.
    #[tokio::test]
    async fn an_engine_resumes_from_the_cursor_in_a_reopened_file() {
        let path = sqlite_support::temp_path();
        guarded(
            async {
                let source = Arc::new(MemorySource::new());
                let sink = Arc::new(MemorySink::new());
                for i in 0..50 {
                    source.put(
                        SyncRecord::new(format!("k{i:02}"), serde_json::Map::new())
                            .updated_at(at(i * 1000)),
                    );
                }
                let job = switchboard::sync::SyncJob::new(job(), source.clone(), sink.clone())
                    .page_size(7)
                    .overlap(Duration::ZERO)
                    .safety_lag(Duration::ZERO);
                let db = SqliteBackend::open(&path).await.unwrap();
                let engine = SyncEngine::builder(Arc::new(db.sync_store())).build();
                let log = engine.run(&job, Trigger::Manual).await.unwrap();
                assert_eq!(log.counts.created, 50);
                db.close().await;

                source.put(SyncRecord::new("late", serde_json::Map::new()).updated_at(at(99_000)));
                let again = SqliteBackend::open(&path).await.unwrap();
                let engine = SyncEngine::builder(Arc::new(again.sync_store())).build();
                let log = engine.run(&job, Trigger::Manual).await.unwrap();
                assert_eq!(
                    (log.counts.created, log.counts.fetched),
                    (1, 1),
                    "only the record after the saved cursor is read"
                );
                let runs = engine.runs(job.key(), 10).await.unwrap();
                assert_eq!(runs.len(), 2);
                assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
                again.close().await;
            },
            async { sqlite_support::remove(&path) },
        )
        .await;
    }

    #[tokio::test]
    async fn corrupt_rows_in_the_file_are_typed_store_errors() {
        let path = sqlite_support::temp_path();
        guarded(
            async {
                let db = SqliteBackend::open(&path).await.unwrap();
                let mut raw = Raw::Sqlite(
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap(),
                );
                corrupt_rows_are_typed_store_errors(&db.sync_store(), &mut raw).await;
                db.close().await;
            },
            async { sqlite_support::remove(&path) },
        )
        .await;
    }
}

// ---------------------------------------------------------------------------- PostgreSQL

#[cfg(feature = "postgres")]
mod pg_support {
    use switchboard::store::postgres::PostgresBackend;

    pub(super) async fn connect(schema: &str) -> PostgresBackend {
        PostgresBackend::connect_with_schema(&crate::support::postgres_url(), schema)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL must be running at {} (scripts/test.sh starts it): {e:?}",
                    crate::support::postgres_url()
                )
            })
    }

    /// Drops a test schema; a failure only leaves a schema behind.
    pub(super) async fn drop_schema(schema: &str) {
        if let Ok(pool) = sqlx::PgPool::connect(&crate::support::postgres_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}

#[cfg(feature = "postgres")]
mod postgres_only {
    use super::*;
    use futures_util::future::join_all;
    use sqlx::Connection;
    use std::collections::BTreeSet;

    fn new_schema() -> String {
        format!("sb_sync_{:016x}", fastrand::u64(..))
    }

    /// A second replica (its own pool on the schema) reads what the first wrote, and its
    /// begin fences the first one out.
    #[tokio::test]
    async fn a_second_replica_sees_everything_and_fences_out_the_first() {
        let schema = new_schema();
        guarded(
            async {
                let one = pg_support::connect(&schema).await;
                let two = pg_support::connect(&schema).await;
                let fence = write_everything(&one.sync_store()).await;
                read_everything(&two.sync_store(), fence).await;
                one.close().await;
                two.close().await;
            },
            pg_support::drop_schema(&schema),
        )
        .await;
    }

    /// Three replicas begin one job at once, many times: every fence is distinct, and one
    /// run is left running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_beginning_one_job_at_once_take_distinct_fences() {
        let schema = new_schema();
        guarded(
            async {
                let mut replicas = Vec::new();
                for _ in 0..3 {
                    replicas.push(pg_support::connect(&schema).await.sync_store());
                }
                let runs: Vec<RunLog> = (0..30).map(|i| run(&format!("run-{i}"))).collect();
                let key = job();
                let begun = join_all(
                    runs.iter()
                        .enumerate()
                        .map(|(i, r)| replicas[i % 3].begin(&key, r)),
                )
                .await;
                let fences: BTreeSet<u64> = begun.into_iter().map(|b| b.unwrap().fence.0).collect();
                assert_eq!(fences.len(), runs.len());
                let log = replicas[0].runs(&job(), 100).await.unwrap();
                assert_eq!(
                    log.iter()
                        .filter(|r| r.status == RunStatus::Running)
                        .count(),
                    1
                );
            },
            pg_support::drop_schema(&schema),
        )
        .await;
    }

    #[tokio::test]
    async fn corrupt_rows_in_the_schema_are_typed_store_errors() {
        let schema = new_schema();
        guarded(
            async {
                let db = pg_support::connect(&schema).await;
                let mut conn = sqlx::PgConnection::connect(&crate::support::postgres_url())
                    .await
                    .unwrap();
                sqlx::query(&format!("SET search_path TO \"{schema}\""))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let mut raw = Raw::Postgres(conn);
                corrupt_rows_are_typed_store_errors(&db.sync_store(), &mut raw).await;
                db.close().await;
            },
            pg_support::drop_schema(&schema),
        )
        .await;
    }
}
