//! Delivered outbound messages and their attempts are deleted after the retention period, on
//! SQLite and PostgreSQL, by the workers (at most once per interval) or on demand; recent
//! deliveries, pending messages and dead letters stay. Old rows are made by moving their
//! timestamps back in the database.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{
    Endpoint, EndpointId, MessageId, MessageStatus, OutboundQueue, WebhookSender,
};
use switchboard::test_util::{RawAction, RawServer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}
const DAY: Duration = Duration::from_secs(24 * 3600);

fn builder(queue: Arc<dyn OutboundQueue>) -> switchboard::outbound::WebhookSenderBuilder {
    WebhookSender::builder_dyn(queue)
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap()))
        .attempt_timeout(Duration::from_millis(500))
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(5))
        .schedule(vec![Duration::from_millis(50); 3])
}

async fn wait_status(s: &WebhookSender, id: &MessageId, want: MessageStatus) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = s.message(id).await.unwrap().map(|m| m.status);
        if now == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} is {now:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The messages of the scenario.
struct Ids {
    old: MessageId,
    recent: MessageId,
    dead: MessageId,
    pending: MessageId,
}

/// Runs the scenario over `queue`. `age(ids, millis)` moves the given messages' timestamps
/// (and their attempts') back to `millis` since the epoch; `postpone(id, millis)` sets a
/// pending message's next attempt.
async fn scenario<A, AF, P, PF>(queue: Arc<dyn OutboundQueue>, age: A, postpone: P)
where
    A: Fn(Vec<String>, i64) -> AF,
    AF: Future<Output = ()>,
    P: Fn(String, i64) -> PF,
    PF: Future<Output = ()>,
{
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    // The first request fails, so the old message has two attempts to purge.
    let ok = RawServer::start(move |_| {
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            RawAction::status(503, "")
        } else {
            RawAction::status(200, "ok")
        }
    })
    .await;
    let gone = RawServer::start(|_| RawAction::status(410, "")).await;
    // A sender that never purges on its own, to set the scene.
    let s = builder(queue.clone()).retention(None).build().unwrap();
    s.add_endpoint(Endpoint::new("ok", format!("{}/h", ok.base_url()), SECRET))
        .await
        .unwrap();
    s.add_endpoint(Endpoint::new(
        "gone",
        format!("{}/h", gone.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let ep = EndpointId::new("ok");
    let workers = s.spawn_workers(1);
    let old = s.send(&ep, "t", "{}".into()).await.unwrap();
    wait_status(&s, &old, MessageStatus::Delivered).await;
    let recent = s.send(&ep, "t", "{}".into()).await.unwrap();
    let dead = s
        .send(&EndpointId::new("gone"), "t", "{}".into())
        .await
        .unwrap();
    wait_status(&s, &recent, MessageStatus::Delivered).await;
    wait_status(&s, &dead, MessageStatus::Dead).await;
    workers.stop().await;
    let pending = s.send(&ep, "t", "{}".into()).await.unwrap();
    let ids = Ids {
        old,
        recent,
        dead,
        pending,
    };
    assert_eq!(queue.attempts_of(&ids.old).await.unwrap().len(), 2);

    // 40 days ago: past the 30-day default.
    let forty_days_ago = SystemTime::now() - 40 * DAY;
    let millis = forty_days_ago
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    age(
        vec![
            ids.old.to_string(),
            ids.dead.to_string(),
            ids.pending.to_string(),
        ],
        millis,
    )
    .await;
    // The pending message waits for a retry far ahead, so the new workers leave it alone.
    let next_year = SystemTime::now() + 365 * DAY;
    postpone(
        ids.pending.to_string(),
        next_year
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .await;

    // A sender with the default retention: its worker purges on start.
    let s2 = builder(queue.clone()).build().unwrap();
    assert_eq!(s2.config().retention, Some(30 * DAY));
    let _w = s2.spawn_workers(2);
    let deadline = Instant::now() + Duration::from_secs(10);
    while s2.message(&ids.old).await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the old delivery was not purged");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(queue.attempts_of(&ids.old).await.unwrap().is_empty());
    let recent = s2
        .message(&ids.recent)
        .await
        .unwrap()
        .expect("recent stays");
    assert_eq!(recent.status, MessageStatus::Delivered);
    assert_eq!(queue.attempts_of(&ids.recent).await.unwrap().len(), 1);
    let dead = s2.message(&ids.dead).await.unwrap().expect("dead stays");
    assert_eq!(dead.status, MessageStatus::Dead);
    assert_eq!(s2.dead_letters(10).await.unwrap().len(), 1);
    assert_eq!(queue.attempts_of(&ids.dead).await.unwrap().len(), 1);
    let pending = s2
        .message(&ids.pending)
        .await
        .unwrap()
        .expect("pending stays");
    assert_eq!(pending.status, MessageStatus::Pending);

    // On demand, in bounded batches: a cut-off in the future takes the recent delivery too,
    // one message per batch, and still leaves the dead and pending ones.
    let tomorrow = SystemTime::now() + DAY;
    let batch = queue.purge_delivered(tomorrow, 1).await.unwrap();
    assert_eq!((batch.messages, batch.attempts), (1, 1));
    assert!(s2.message(&ids.recent).await.unwrap().is_none());
    let again = s2.purge_delivered_before(tomorrow).await.unwrap();
    assert_eq!(again.messages, 0);
    assert!(s2.message(&ids.dead).await.unwrap().is_some());
    assert!(s2.message(&ids.pending).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_purges_old_deliveries_and_keeps_recent_pending_and_dead() {
    let path = std::env::temp_dir().join(format!("sb-retention-{:016x}.db", fastrand::u64(..)));
    let queue = SqliteQueue::open(&path, vault()).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let raw2 = raw.clone();
    scenario(
        Arc::new(queue.clone()),
        move |ids, millis| {
            let raw = raw.clone();
            async move {
                for id in ids {
                    sqlx::query(
                        "UPDATE switchboard_outbound_messages \
                         SET created_ms = ?2, updated_ms = ?2, next_attempt_ms = ?2 WHERE id = ?1",
                    )
                    .bind(&id)
                    .bind(millis)
                    .execute(&raw)
                    .await
                    .unwrap();
                    sqlx::query(
                        "UPDATE switchboard_outbound_attempts SET at_ms = ?2 WHERE message_id = ?1",
                    )
                    .bind(&id)
                    .bind(millis)
                    .execute(&raw)
                    .await
                    .unwrap();
                }
            }
        },
        move |id, millis| {
            let raw = raw2.clone();
            async move {
                sqlx::query(
                    "UPDATE switchboard_outbound_messages SET next_attempt_ms = ?2 WHERE id = ?1",
                )
                .bind(&id)
                .bind(millis)
                .execute(&raw)
                .await
                .unwrap();
            }
        },
    )
    .await;
    queue.close().await;
    let _ = std::fs::remove_file(&path);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_purges_old_deliveries_and_keeps_recent_pending_and_dead() {
    use switchboard::outbound::queue::postgres::PostgresOutboundQueue;
    let schema = format!("sb_retention_{:016x}", fastrand::u64(..));
    let queue = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        &schema,
        vault(),
    )
    .await
    .unwrap();
    let raw = sqlx::PgPool::connect(&crate::support::postgres_url())
        .await
        .unwrap();
    let (raw1, raw2, s1, s2) = (raw.clone(), raw.clone(), schema.clone(), schema.clone());
    scenario(
        Arc::new(queue.clone()),
        move |ids, millis| {
            let (raw, schema) = (raw1.clone(), s1.clone());
            async move {
                for id in ids {
                    sqlx::query(&format!(
                        "UPDATE \"{schema}\".switchboard_outbound_messages \
                         SET created_ms = $2, updated_ms = $2, next_attempt_ms = $2 WHERE id = $1"
                    ))
                    .bind(&id)
                    .bind(millis)
                    .execute(&raw)
                    .await
                    .unwrap();
                    sqlx::query(&format!(
                        "UPDATE \"{schema}\".switchboard_outbound_attempts \
                         SET at_ms = $2 WHERE message_id = $1"
                    ))
                    .bind(&id)
                    .bind(millis)
                    .execute(&raw)
                    .await
                    .unwrap();
                }
            }
        },
        move |id, millis| {
            let (raw, schema) = (raw2.clone(), s2.clone());
            async move {
                sqlx::query(&format!(
                    "UPDATE \"{schema}\".switchboard_outbound_messages \
                     SET next_attempt_ms = $2 WHERE id = $1"
                ))
                .bind(&id)
                .bind(millis)
                .execute(&raw)
                .await
                .unwrap();
            }
        },
    )
    .await;
    queue.close().await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&raw)
        .await;
    raw.close().await;
}
