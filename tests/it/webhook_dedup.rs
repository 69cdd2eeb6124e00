//! One suite for every `DedupStore`: fresh / in flight / done, a lapsed claim is fresh again,
//! a released claim is fresh at once, done lasts for the TTL, and one winner among concurrent
//! claims, and a claim is extended only by its holder. Runs on memory, SQLite (a temp file), Redis (a random key prefix; the shared
//! Redis is never flushed and every key expires on its own) and PostgreSQL (a schema of its
//! own per test, dropped after). PostgreSQL also gets the multi-replica cases: claims racing
//! from two pools, a lapsed claim taken over by the other pool, and two tenants sharing a
//! connection id and an event id through the router. Short real timeouts, since the
//! SQLite and Redis backends read real clocks.

use std::sync::Arc;
use std::time::Duration;

use switchboard::webhook::dedup::{Claim, ClaimToken, DedupStore, InMemoryDedupStore};

const VISIBILITY: Duration = Duration::from_millis(300);
const TTL: Duration = Duration::from_millis(1500);

fn scope() -> String {
    format!("test:{:016x}", fastrand::u64(..))
}

/// Claims `id` and asserts the claim is fresh.
async fn fresh(store: &dyn DedupStore, scope: &str, id: &str, vt: Duration) -> ClaimToken {
    match store.claim(scope, id, vt).await.unwrap() {
        Claim::Fresh(t) => t,
        other => panic!("{id}: expected fresh, got {other:?}"),
    }
}

/// The suite; `store` must have a TTL of [`TTL`].
async fn suite(store: Arc<dyn DedupStore>) {
    let s = &*store;
    let scope = scope();
    let long = Duration::from_secs(60);

    // Fresh, then in flight while held, then done once completed.
    let t = fresh(s, &scope, "evt-1", long).await;
    assert_eq!(t.event_id(), "evt-1");
    assert_eq!(
        s.claim(&scope, "evt-1", long).await.unwrap(),
        Claim::InFlight
    );
    s.complete(t).await.unwrap();
    assert_eq!(s.claim(&scope, "evt-1", long).await.unwrap(), Claim::Done);
    // Ids are per scope.
    let _ = fresh(s, &format!("{scope}-other"), "evt-1", long).await;

    // A claim never completed (a crashed handler) is fresh again after its visibility timeout.
    let _crashed = fresh(s, &scope, "evt-2", VISIBILITY).await;
    assert_eq!(
        s.claim(&scope, "evt-2", VISIBILITY).await.unwrap(),
        Claim::InFlight
    );
    tokio::time::sleep(VISIBILITY + Duration::from_millis(150)).await;
    let t2 = fresh(s, &scope, "evt-2", long).await;

    // A released claim is fresh at once; a stale token releases nothing.
    let t3 = fresh(s, &scope, "evt-3", long).await;
    s.release(t3.clone()).await.unwrap();
    let t3b = fresh(s, &scope, "evt-3", long).await;
    s.release(t3).await.unwrap();
    assert_eq!(
        s.claim(&scope, "evt-3", long).await.unwrap(),
        Claim::InFlight
    );
    s.complete(t3b).await.unwrap();

    // Done stays done past any visibility timeout, and release cannot undo it.
    s.complete(t2.clone()).await.unwrap();
    s.release(t2).await.unwrap();
    tokio::time::sleep(VISIBILITY + Duration::from_millis(150)).await;
    assert_eq!(
        s.claim(&scope, "evt-2", VISIBILITY).await.unwrap(),
        Claim::Done
    );
    assert_eq!(
        s.claim(&scope, "evt-1", VISIBILITY).await.unwrap(),
        Claim::Done
    );

    // An extended claim outlives its first visibility timeout; a lapsed or someone else's
    // claim cannot be extended, and a done one neither.
    let t5 = fresh(s, &scope, "evt-5", VISIBILITY).await;
    tokio::time::sleep(VISIBILITY / 2).await;
    assert!(s.extend(&t5, VISIBILITY).await.unwrap());
    tokio::time::sleep(VISIBILITY / 2 + Duration::from_millis(100)).await;
    assert_eq!(
        s.claim(&scope, "evt-5", VISIBILITY).await.unwrap(),
        Claim::InFlight,
        "extended past its first timeout"
    );
    tokio::time::sleep(VISIBILITY + Duration::from_millis(150)).await;
    assert!(!s.extend(&t5, VISIBILITY).await.unwrap(), "lapsed");
    let t5b = fresh(s, &scope, "evt-5", long).await;
    assert!(!s.extend(&t5, long).await.unwrap(), "someone else's claim");
    s.complete(t5b.clone()).await.unwrap();
    assert!(!s.extend(&t5b, long).await.unwrap(), "done");

    // Of many concurrent claims of one id, exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (store, scope) = (store.clone(), scope.clone());
        tasks.spawn(async move { store.claim(&scope, "evt-4", long).await.unwrap() });
    }
    let mut winners = 0;
    while let Some(c) = tasks.join_next().await {
        match c.unwrap() {
            Claim::Fresh(_) => winners += 1,
            Claim::InFlight => {}
            Claim::Done => panic!("never completed"),
        }
    }
    assert_eq!(winners, 1);

    // After the TTL, a done id is forgotten.
    tokio::time::sleep(TTL).await;
    let _ = fresh(s, &scope, "evt-1", long).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_dedup_suite() {
    suite(Arc::new(InMemoryDedupStore::new().ttl(TTL))).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_the_dedup_suite() {
    use switchboard::webhook::dedup::SqliteDedupStore;
    let dir = std::env::temp_dir().join(format!("switchboard-dedup-{:016x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dedup.db");
    let store = SqliteDedupStore::open(&path).await.unwrap().ttl(TTL);
    suite(Arc::new(store.clone())).await;
    // Expired rows can be purged; reopening the same file keeps the table and its rows.
    assert!(store.purge_expired().await.unwrap() > 0);
    store.close().await;
    let again = SqliteDedupStore::open(&path).await.unwrap();
    let scope = scope();
    let _ = fresh(&again, &scope, "x", Duration::from_secs(1)).await;
    again.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_dedup_table_shares_a_file_with_the_credential_store() {
    use switchboard::store::sqlite::SqliteStore;
    use switchboard::webhook::dedup::SqliteDedupStore;
    let dir = std::env::temp_dir().join(format!("switchboard-dedup-{:016x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shared.db");
    let creds = SqliteStore::open(&path).await.unwrap();
    let dedup = SqliteDedupStore::open(&path).await.unwrap();
    // Either may be opened first on a file the other migrated.
    let creds2 = SqliteStore::open(&path).await.unwrap();
    let _ = fresh(&dedup, "s", "e", Duration::from_secs(1)).await;
    creds.close().await;
    creds2.close().await;
    dedup.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_dedup_suite() {
    use switchboard::webhook::dedup::RedisDedupStore;
    let prefix = format!("switchboard-test:dedup:{:016x}", fastrand::u64(..));
    let store = RedisDedupStore::connect(&crate::support::redis_url(), &prefix)
        .await
        .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)")
        .ttl(TTL);
    suite(Arc::new(store)).await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::panic::AssertUnwindSafe;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::FutureExt;
    use sqlx::Connection;
    use switchboard::store::postgres::PostgresBackend;
    use switchboard::webhook::dedup::PostgresDedupStore;
    use switchboard::webhook::router::{
        InboundRequest, WebhookOutcome, WebhookRoute, WebhookRouter,
    };

    use super::*;
    use crate::support::postgres_url;

    fn schema() -> String {
        format!("sb_test_{:016x}", fastrand::u64(..))
    }

    async fn backend(schema: &str) -> PostgresBackend {
        PostgresBackend::connect_with_schema(&postgres_url(), schema)
            .await
            .expect("PostgreSQL at SWITCHBOARD_TEST_POSTGRES_URL (scripts/test.sh starts it)")
    }

    /// Runs `body` against a fresh schema, then drops the schema whether or not it panicked.
    async fn in_schema<F, Fut>(body: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let schema = schema();
        let outcome = AssertUnwindSafe(body(schema.clone())).catch_unwind().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_store_passes_the_dedup_suite() {
        in_schema(|schema| async move {
            let db = backend(&schema).await;
            let store = db.dedup().ttl(TTL);
            suite(Arc::new(store.clone())).await;
            // Expired rows can be purged; a second connect to the schema keeps table and rows.
            assert!(store.purge_expired().await.unwrap() > 0);
            let again = PostgresDedupStore::connect_with_schema(&postgres_url(), &schema)
                .await
                .unwrap();
            let scope = scope();
            let t = fresh(&again, &scope, "x", Duration::from_secs(60)).await;
            assert_eq!(
                store
                    .claim(&scope, "x", Duration::from_secs(60))
                    .await
                    .unwrap(),
                Claim::InFlight,
                "the first pool sees the second pool's claim"
            );
            again.complete(t).await.unwrap();
            again.close().await;
            db.close().await;
        })
        .await;
    }

    /// Two replicas (two pools on one schema) race on one event id: exactly one wins. A claim
    /// of one replica that lapses is taken by the other, and the first can then neither
    /// release nor extend it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claims_from_two_pools_have_one_winner_and_a_lapsed_claim_is_taken_over() {
        in_schema(|schema| async move {
            let (a, b) = (backend(&schema).await, backend(&schema).await);
            let pools = [Arc::new(a.dedup()), Arc::new(b.dedup())];
            let scope = scope();
            let long = Duration::from_secs(60);
            for round in 0..5 {
                let id = format!("evt-race-{round}");
                let mut tasks = tokio::task::JoinSet::new();
                for n in 0..16 {
                    let (store, scope, id) = (pools[n % 2].clone(), scope.clone(), id.clone());
                    tasks.spawn(async move { store.claim(&scope, &id, long).await.unwrap() });
                }
                let mut winners = 0;
                while let Some(c) = tasks.join_next().await {
                    match c.unwrap() {
                        Claim::Fresh(_) => winners += 1,
                        Claim::InFlight => {}
                        Claim::Done => panic!("never completed"),
                    }
                }
                assert_eq!(winners, 1, "{id}");
            }

            // Replica A claims and "crashes"; B sees it in flight, then takes it once lapsed.
            let (sa, sb) = (&*pools[0], &*pools[1]);
            let crashed = fresh(sa, &scope, "evt-lapse", VISIBILITY).await;
            assert_eq!(
                sb.claim(&scope, "evt-lapse", VISIBILITY).await.unwrap(),
                Claim::InFlight
            );
            tokio::time::sleep(VISIBILITY + Duration::from_millis(150)).await;
            let taken = fresh(sb, &scope, "evt-lapse", long).await;
            assert!(
                !sa.extend(&crashed, long).await.unwrap(),
                "A's claim lapsed"
            );
            sa.release(crashed).await.unwrap();
            assert_eq!(
                sa.claim(&scope, "evt-lapse", long).await.unwrap(),
                Claim::InFlight,
                "A's stale release left B's claim alone"
            );
            assert!(sb.extend(&taken, long).await.unwrap());
            sb.complete(taken).await.unwrap();
            assert_eq!(
                sa.claim(&scope, "evt-lapse", long).await.unwrap(),
                Claim::Done
            );
            a.close().await;
            b.close().await;
        })
        .await;
    }

    /// Two tenants connect the same connection id and deliver the same event id through one
    /// router backed by the PostgreSQL store: each is processed once, and each redelivery is a
    /// duplicate of its own tenant's event only.
    #[tokio::test]
    async fn two_tenants_sharing_a_connection_id_and_event_id_are_processed_apart() {
        use crate::webhook_router::{
            connect, connections, counting_handler, now_secs, sign, TEMPLATE,
        };
        in_schema(|schema| async move {
            let db = backend(&schema).await;
            let connections = connections();
            let runs = Arc::new(AtomicUsize::new(0));
            let router = WebhookRouter::builder(connections.clone())
                .dedup(Arc::new(db.dedup()))
                .route(WebhookRoute::new(TEMPLATE, counting_handler(runs.clone())))
                .build()
                .unwrap();
            let secrets = [("tenant-a", "secret-of-a"), ("tenant-b", "secret-of-b")];
            let mut paths = Vec::new();
            for (tenant, secret) in secrets {
                paths.push(connect(&connections, tenant, "shared", secret).await);
            }
            let ts = now_secs();
            let body = "{\"n\":1}";
            let deliver = |path: &String, secret: &str| {
                InboundRequest::new(
                    path.clone(),
                    sign(secret, "evt_1", ts, body.as_bytes()),
                    body,
                )
            };
            for expected in [WebhookOutcome::Processed, WebhookOutcome::Duplicate] {
                for (path, (tenant, secret)) in paths.iter().zip(secrets) {
                    assert_eq!(
                        router.handle(deliver(path, secret)).await.unwrap(),
                        expected,
                        "{tenant}"
                    );
                }
            }
            assert_eq!(runs.load(Ordering::SeqCst), 2);
            let rows: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM \"{schema}\".switchboard_webhook_dedup \
                 WHERE event_id = 'evt_1' AND state = 'done'"
            ))
            .fetch_one(&mut sqlx::PgConnection::connect(&postgres_url()).await.unwrap())
            .await
            .unwrap();
            assert_eq!(rows, 2, "one row per tenant");
            db.close().await;
        })
        .await;
    }
}

/// "Keep forever" written as `Duration::MAX`, for the TTL and for a claim's visibility: the
/// in-memory store clamps the instants it computes instead of panicking.
#[tokio::test]
async fn memory_store_takes_duration_max_for_its_ttl_and_a_claims_visibility() {
    let store = InMemoryDedupStore::new().ttl(Duration::MAX);
    let scope = scope();
    let t = fresh(&store, &scope, "evt-forever", Duration::MAX).await;
    assert_eq!(
        store
            .claim(&scope, "evt-forever", Duration::MAX)
            .await
            .unwrap(),
        Claim::InFlight
    );
    assert!(store.extend(&t, Duration::MAX).await.unwrap());
    store.complete(t).await.unwrap();
    assert_eq!(
        store
            .claim(&scope, "evt-forever", Duration::MAX)
            .await
            .unwrap(),
        Claim::Done
    );
}
