//! One pool and one migration set per backend: a host opens one SQLite file
//! (`SqliteBackend`) or one PostgreSQL pool (`PostgresBackend`) and hands it to every store
//! that lives there. Each test writes through every store of one backend (two tenants sharing
//! a connection id), then reads everything back through a second, independent open of the
//! same file or schema. Databases made by the code before the backends existed (fixtures in
//! `tests/fixtures/backend-before-one-pool.*.sql`, dumped from files and schemas that code
//! wrote) open as they are and keep their records. A corrupt column is a typed store error
//! naming the table and the column.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use switchboard::connections::{ConnectionRecord, ConnectionStore};
use switchboard::credentials::{CredentialKey, CredentialStore, SealedCredential};
use switchboard::outbound::{Endpoint, EndpointId, OutboundQueue};
use switchboard::vault::Vault;
use switchboard::ErrorKind;

/// The key ring the fixtures were sealed with.
fn vault() -> Vault {
    crate::support::test_vault(7)
}

const TENANTS: [&str; 2] = ["tenant-a", "tenant-b"];
/// The connection id both tenants use.
const SHARED: &str = "shared";

fn key(tenant: &str) -> CredentialKey {
    CredentialKey::new(tenant.into(), SHARED.into(), "config")
}

fn record(tenant: &str) -> ConnectionRecord {
    let mut r = ConnectionRecord::new(tenant.into(), SHARED.into(), "test", format!("{tenant}'s"));
    r.webhook_token = Some(format!("token-of-{tenant}-0123456789"));
    r
}

fn endpoint(tenant: &str) -> Endpoint {
    Endpoint::for_tenant(
        tenant,
        SHARED,
        format!("http://127.0.0.1:1/{tenant}"),
        "whsec_c2hhcmVkLXNlY3JldC1vZi1ib3Ro",
    )
}

/// Writes one record per tenant through every store given.
async fn write_all(
    creds: &dyn CredentialStore,
    conns: &dyn ConnectionStore,
    queue: &dyn OutboundQueue,
) {
    for t in TENANTS {
        creds
            .save(&key(t), SealedCredential::new(t.as_bytes().to_vec()), None)
            .await
            .unwrap();
        conns.save(&record(t)).await.unwrap();
        queue.put_endpoint(&endpoint(t)).await.unwrap();
    }
}

/// Reads back what [`write_all`] wrote, each tenant seeing only its own.
async fn read_all(
    creds: &dyn CredentialStore,
    conns: &dyn ConnectionStore,
    queue: &dyn OutboundQueue,
) {
    for t in TENANTS {
        let c = creds.load(&key(t)).await.unwrap().expect("credential");
        assert_eq!((c.version, c.value.as_bytes()), (1, t.as_bytes()));
        let r = conns
            .load(&t.into(), &SHARED.into())
            .await
            .unwrap()
            .expect("connection record");
        assert_eq!(r.name, format!("{t}'s"));
        let found = conns
            .find_by_webhook_token(&format!("token-of-{t}-0123456789"))
            .await
            .unwrap()
            .expect("found by token");
        assert_eq!(found.tenant.as_str(), t);
        let e = queue
            .endpoint(&EndpointId::for_tenant(t, SHARED))
            .await
            .unwrap()
            .expect("endpoint");
        assert_eq!(e.url, format!("http://127.0.0.1:1/{t}"));
    }
    let keys = creds.list_keys().await.unwrap();
    for t in TENANTS {
        assert!(keys.contains(&key(t)), "{t}: {keys:?}");
    }
    for t in TENANTS {
        assert_eq!(conns.list(&t.into()).await.unwrap().len(), 1);
    }
}

/// Runs `body`, then `cleanup` whether or not it panicked.
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

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/backend-before-one-pool.{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::{Path, PathBuf};

    use bytes::Bytes;
    use switchboard::outbound::WebhookSender;
    use switchboard::store::sqlite::SqliteBackend;
    use switchboard::webhook::dedup::{Claim, DedupStore};

    use super::*;

    fn temp_path() -> PathBuf {
        std::env::temp_dir().join(format!(
            "switchboard-backend-{}-{:016x}.db",
            std::process::id(),
            fastrand::u64(..)
        ))
    }

    fn remove(path: &Path) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }

    async fn raw(path: &Path) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn one_file_serves_every_store_and_a_second_open_sees_every_write() {
        let path = temp_path();
        let db = SqliteBackend::open(&path).await.unwrap();
        guarded(
            async {
                let store = db.store();
                let dedup = db.dedup();
                let queue = db.outbound_queue(vault()).await.unwrap();
                write_all(&store, &store, &queue).await;
                // Two tenants' webhooks with one event id: dedup scopes keep them apart.
                for t in TENANTS {
                    let Claim::Fresh(token) = dedup
                        .claim(
                            &format!("test:{t}:{SHARED}"),
                            "evt_1",
                            Duration::from_secs(60),
                        )
                        .await
                        .unwrap()
                    else {
                        panic!("first claim of {t} is fresh");
                    };
                    dedup.complete(token).await.unwrap();
                }

                let again = SqliteBackend::open(&path).await.unwrap();
                let store2 = again.store();
                let queue2 = again.outbound_queue(vault()).await.unwrap();
                read_all(&store2, &store2, &queue2).await;
                for t in TENANTS {
                    let claim = again
                        .dedup()
                        .claim(
                            &format!("test:{t}:{SHARED}"),
                            "evt_1",
                            Duration::from_secs(60),
                        )
                        .await
                        .unwrap();
                    assert_eq!(claim, Claim::Done, "{t}");
                }
                // One migration record for the whole file, one row per migration.
                let raw = raw(&path).await;
                let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
                    .fetch_one(&raw)
                    .await
                    .unwrap();
                let files = std::fs::read_dir(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/src/store/sqlite/migrations"
                ))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".sql")
                })
                .count();
                assert_eq!(usize::try_from(applied).unwrap(), files);
                raw.close().await;
                again.close().await;
            },
            async {
                db.close().await;
                remove(&path);
            },
        )
        .await;
    }

    #[tokio::test]
    async fn closing_the_backend_closes_every_store_it_handed_out() {
        let db = SqliteBackend::in_memory().await.unwrap();
        let store = db.store();
        let queue = db.outbound_queue(vault()).await.unwrap();
        db.close().await;
        let err = CredentialStore::load(&store, &key("tenant-a"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store, "{err}");
        let err = queue
            .endpoint(&EndpointId::for_tenant("tenant-a", SHARED))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Store, "{err}");
    }

    #[tokio::test]
    async fn a_corrupt_column_is_a_store_error_naming_table_and_column() {
        let path = temp_path();
        let db = SqliteBackend::open(&path).await.unwrap();
        guarded(
            async {
                let store = db.store();
                let queue = db.outbound_queue(vault()).await.unwrap();
                write_all(&store, &store, &queue).await;
                let sender = WebhookSender::builder(queue.clone()).build().unwrap();
                let a = EndpointId::for_tenant("tenant-a", SHARED);
                let id = sender
                    .send(&a, "thing.happened", Bytes::from_static(b"{}"))
                    .await
                    .unwrap();

                // Written behind the stores' backs, as a bad migration or a hand edit would.
                let raw = raw(&path).await;
                for sql in [
                    "UPDATE switchboard_connections SET consecutive_failures = -1 \
                     WHERE tenant = 'tenant-a'",
                    "UPDATE switchboard_outbound_messages SET attempts = -5",
                ] {
                    sqlx::query(sql).execute(&raw).await.unwrap();
                }
                raw.close().await;

                let err = ConnectionStore::load(&store, &"tenant-a".into(), &SHARED.into())
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
                assert!(
                    err.to_string()
                        .contains("`switchboard_connections.consecutive_failures`"),
                    "{err}"
                );
                assert!(err.to_string().contains("tenant-a"), "{err}");
                // The other tenant's record with the same id is untouched and still loads.
                assert!(
                    ConnectionStore::load(&store, &"tenant-b".into(), &SHARED.into(),)
                        .await
                        .unwrap()
                        .is_some()
                );

                let err = queue.message(&id).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
                assert!(
                    err.to_string()
                        .contains("`switchboard_outbound_messages.attempts`"),
                    "{err}"
                );
            },
            async {
                db.close().await;
                remove(&path);
            },
        )
        .await;
    }

    /// A file the previous code wrote (store, dedup and queue opened on it separately, each
    /// running its own migration folder): the backend opens it without re-running or
    /// refusing a migration, and every record is still there.
    #[tokio::test]
    async fn a_file_written_before_the_backend_existed_opens_with_its_records() {
        let path = temp_path();
        let raw = raw(&path).await;
        sqlx::raw_sql(&fixture("sqlite"))
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let db = SqliteBackend::open(&path).await.unwrap();
        guarded(
            async {
                let store = db.store();
                let c = CredentialStore::load(
                    &store,
                    &CredentialKey::new("t1".into(), "c1".into(), "config"),
                )
                .await
                .unwrap()
                .unwrap();
                assert_eq!(c.value.as_bytes(), b"old-sealed");
                let r = store
                    .find_by_webhook_token("old-token-0123456789abcdef")
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((r.tenant.as_str(), r.id.as_str()), ("t1", "c1"));
                let claim = db
                    .dedup()
                    .claim("s", "evt_old", Duration::from_secs(60))
                    .await
                    .unwrap();
                assert_eq!(claim, Claim::Done);
                let queue = db.outbound_queue(vault()).await.unwrap();
                let e = queue
                    .endpoint(&EndpointId::for_tenant("t1", "ep1"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(e.url, "http://127.0.0.1:1/hook");
                // And the stores still write.
                write_all(&store, &store, &queue).await;
                read_all(&store, &store, &queue).await;
            },
            async {
                db.close().await;
                remove(&path);
            },
        )
        .await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::Connection;
    use switchboard::store::postgres::PostgresBackend;
    use switchboard::tokens::RefreshLock;
    use switchboard::webhook::dedup::{Claim, DedupStore};

    use super::*;
    use crate::support::postgres_url;

    fn schema() -> String {
        format!("sb_test_{:016x}", fastrand::u64(..))
    }

    async fn drop_schema(schema: &str) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }

    #[tokio::test]
    async fn one_pool_serves_every_store_and_a_second_pool_sees_every_write() {
        let schema = schema();
        let db = PostgresBackend::connect_with_schema(&postgres_url(), &schema)
            .await
            .expect("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL (scripts/test.sh starts it)");
        guarded(
            async {
                let store = db.store();
                let dedup = db.dedup();
                let queue = db.outbound_queue(vault()).await.unwrap();
                write_all(&store, &store, &queue).await;
                // Two tenants' webhooks with one event id: dedup scopes keep them apart.
                for t in TENANTS {
                    let Claim::Fresh(token) = dedup
                        .claim(
                            &format!("test:{t}:{SHARED}"),
                            "evt_1",
                            Duration::from_secs(60),
                        )
                        .await
                        .unwrap()
                    else {
                        panic!("first claim of {t} is fresh");
                    };
                    dedup.complete(token).await.unwrap();
                }

                let again = PostgresBackend::connect_with_schema(&postgres_url(), &schema)
                    .await
                    .unwrap();
                let store2 = again.store();
                let queue2 = again.outbound_queue(vault()).await.unwrap();
                read_all(&store2, &store2, &queue2).await;
                for t in TENANTS {
                    let claim = again
                        .dedup()
                        .claim(
                            &format!("test:{t}:{SHARED}"),
                            "evt_1",
                            Duration::from_secs(60),
                        )
                        .await
                        .unwrap();
                    assert_eq!(claim, Claim::Done, "{t}");
                }

                // Token locks over the shared pool: one tenant's lock on the shared id keeps
                // the other replica out of that tenant's, and not out of the other tenant's.
                let locks = db.token_locks();
                let held = locks
                    .acquire("tenant-a/shared", Duration::from_secs(30))
                    .await
                    .unwrap();
                let other = again.token_locks().wait_timeout(Duration::from_millis(200));
                let err = other
                    .acquire("tenant-a/shared", Duration::from_secs(30))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
                let b = other
                    .acquire("tenant-b/shared", Duration::from_secs(30))
                    .await
                    .unwrap();
                b.release().await.unwrap();
                held.release().await.unwrap();
                other
                    .acquire("tenant-a/shared", Duration::from_secs(30))
                    .await
                    .unwrap()
                    .release()
                    .await
                    .unwrap();
                again.close().await;
            },
            async {
                db.close().await;
                drop_schema(&schema).await;
            },
        )
        .await;
    }

    /// `dedup()` hands out a store over the backend's own pool, not a pool of its own:
    /// closing the backend closes it too, and a dedup claim and a credential write share it.
    #[tokio::test]
    async fn dedup_shares_the_pool_of_the_other_stores() {
        let schema = schema();
        let db = PostgresBackend::connect_with_schema(&postgres_url(), &schema)
            .await
            .expect("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL (scripts/test.sh starts it)");
        guarded(
            async {
                let dedup = db.dedup();
                let store = db.store();
                let claim = dedup
                    .claim("test:tenant-a:shared", "evt_1", Duration::from_secs(60))
                    .await
                    .unwrap();
                assert!(matches!(claim, Claim::Fresh(_)), "{claim:?}");
                CredentialStore::save(
                    &store,
                    &key("tenant-a"),
                    SealedCredential::new(&b"x"[..]),
                    None,
                )
                .await
                .unwrap();
                db.close().await;
                let err = dedup
                    .claim("test:tenant-a:shared", "evt_2", Duration::from_secs(60))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Store, "{err}");
                let err = CredentialStore::load(&store, &key("tenant-a"))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Store, "{err}");
            },
            async {
                db.close().await;
                drop_schema(&schema).await;
            },
        )
        .await;
    }

    /// Locks on the shared pool never take every connection: with the pool's share of lock
    /// connections held, the stores still read and write, and a further lock waits its turn.
    #[tokio::test]
    async fn token_locks_leave_connections_for_the_stores() {
        let schema = schema();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&postgres_url())
            .await
            .expect("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let set = format!("SET search_path TO \"{schema}\"");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .after_connect(move |conn, _| {
                let set = set.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(conn, set.as_str()).await?;
                    Ok(())
                })
            })
            .connect(&postgres_url())
            .await
            .unwrap();
        let db = PostgresBackend::from_pool(pool).await.unwrap();
        guarded(
            async {
                let locks = db.token_locks().wait_timeout(Duration::from_millis(300));
                let held = locks.acquire("a", Duration::from_secs(30)).await.unwrap();
                let err = locks
                    .acquire("b", Duration::from_secs(30))
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
                let store = db.store();
                CredentialStore::save(
                    &store,
                    &key("tenant-a"),
                    SealedCredential::new(&b"x"[..]),
                    None,
                )
                .await
                .unwrap();
                assert!(CredentialStore::load(&store, &key("tenant-a"))
                    .await
                    .unwrap()
                    .is_some());
                held.release().await.unwrap();
                locks
                    .acquire("b", Duration::from_secs(30))
                    .await
                    .unwrap()
                    .release()
                    .await
                    .unwrap();
            },
            async {
                db.close().await;
                drop_schema(&schema).await;
            },
        )
        .await;
    }

    #[tokio::test]
    async fn a_corrupt_column_is_a_store_error_naming_table_and_column() {
        let schema = schema();
        let db = PostgresBackend::connect_with_schema(&postgres_url(), &schema)
            .await
            .unwrap();
        guarded(
            async {
                let store = db.store();
                let queue = db.outbound_queue(vault()).await.unwrap();
                write_all(&store, &store, &queue).await;
                let mut raw = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
                sqlx::query(&format!(
                    "UPDATE \"{schema}\".switchboard_connections SET last_check_ms = -1, \
                     consecutive_failures = -1 WHERE tenant = 'tenant-b'"
                ))
                .execute(&mut raw)
                .await
                .unwrap();
                raw.close().await.unwrap();
                let err = ConnectionStore::list(&store, &"tenant-b".into())
                    .await
                    .unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Store, "{err:?}");
                assert!(
                    err.to_string()
                        .contains("`switchboard_connections.consecutive_failures`"),
                    "{err}"
                );
                assert_eq!(
                    ConnectionStore::list(&store, &"tenant-a".into())
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            },
            async {
                db.close().await;
                drop_schema(&schema).await;
            },
        )
        .await;
    }

    /// A schema the previous code wrote (store and queue connected separately, each running
    /// its own migration folder) opens without re-running or refusing a migration, and every
    /// record is still there.
    #[tokio::test]
    async fn a_schema_written_before_the_backend_existed_opens_with_its_records() {
        let schema = schema();
        let mut raw = sqlx::PgConnection::connect(&postgres_url())
            .await
            .expect("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL");
        sqlx::raw_sql(&fixture("postgres").replace("sb_old_fixture", &schema))
            .execute(&mut raw)
            .await
            .unwrap();
        raw.close().await.unwrap();
        let db = PostgresBackend::connect_with_schema(&postgres_url(), &schema)
            .await
            .unwrap();
        guarded(
            async {
                let store = db.store();
                let c = CredentialStore::load(
                    &store,
                    &CredentialKey::new("t1".into(), "c1".into(), "config"),
                )
                .await
                .unwrap()
                .unwrap();
                assert_eq!(c.value.as_bytes(), b"old-sealed");
                let r = store
                    .find_by_webhook_token("old-token-0123456789abcdef")
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!((r.tenant.as_str(), r.id.as_str()), ("t1", "c1"));
                let queue = db.outbound_queue(vault()).await.unwrap();
                let e = queue
                    .endpoint(&EndpointId::for_tenant("t1", "ep1"))
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(e.url, "http://127.0.0.1:1/hook");
                write_all(&store, &store, &queue).await;
                read_all(&store, &store, &queue).await;
            },
            async {
                db.close().await;
                drop_schema(&schema).await;
            },
        )
        .await;
    }
}
