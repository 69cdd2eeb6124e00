//! The outbound queue in PostgreSQL, shared by two "replicas" (two senders, each with its own
//! pool on one schema), on `postgres://postgres@127.0.0.1:5432/test`. Each test gets its own
//! schema, dropped at the end (a failing test leaves it behind).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::outbound::queue::postgres::PostgresOutboundQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{
    Endpoint, EndpointId, MessageId, MessageStatus, WebhookSender, WebhookSenderBuilder,
};
use switchboard::test_util::{RawAction, RawServer};

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn new_schema() -> String {
    format!("sb_outbound_{:016x}", fastrand::u64(..))
}

async fn drop_schema(schema: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(&crate::support::postgres_url()).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&pool)
            .await;
        pool.close().await;
    }
}

/// One replica: its own pool on the shared schema.
async fn replica(schema: &str) -> (PostgresOutboundQueue, WebhookSenderBuilder) {
    let queue = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        schema,
        vault(),
    )
    .await
    .unwrap();
    let builder = WebhookSender::builder(queue.clone())
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap()))
        .poll_interval(Duration::from_millis(5));
    (queue, builder)
}

async fn status(s: &WebhookSender, id: &MessageId) -> MessageStatus {
    s.message(id).await.unwrap().unwrap().status
}

async fn wait_status(s: &WebhookSender, id: &MessageId, want: MessageStatus) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if status(s, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("message {id} is {:?}, not {want:?}", status(s, id).await);
}

#[derive(Default)]
struct Seen {
    /// webhook-id -> the status the server answered each request with.
    by_id: HashMap<String, Vec<u16>>,
    /// payload -> the webhook-ids it arrived with.
    ids_by_body: HashMap<Vec<u8>, Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_every_message_exactly_once() {
    const MESSAGES: usize = 2_000;
    const ENDPOINTS: usize = 4;
    let schema = new_schema();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut servers = Vec::new();
    for _ in 0..ENDPOINTS {
        let seen = seen.clone();
        servers.push(
            RawServer::start(move |r| {
                let code = if fastrand::u32(0..100) < 20 { 503 } else { 200 };
                let id = r.header("webhook-id").unwrap_or_default().to_string();
                let mut s = seen.lock().unwrap();
                s.by_id.entry(id.clone()).or_default().push(code);
                let ids = s.ids_by_body.entry(r.body.clone()).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
                RawAction::status(code, if code == 200 { "ok" } else { "" })
            })
            .await,
        );
    }
    // Nothing fails ambiguously: no resets or hangs, and leases far longer than an attempt,
    // so any second 2xx for one webhook-id would be a double lease.
    let build = |b: WebhookSenderBuilder| {
        b.schedule(vec![Duration::from_millis(20); 12])
            .attempt_timeout(Duration::from_secs(5))
            .lease(Duration::from_secs(60))
            .max_in_flight(64)
            .build()
            .unwrap()
    };
    let (qa, ba) = replica(&schema).await;
    let (qb, bb) = replica(&schema).await;
    let (a, b) = (build(ba), build(bb));
    let mut eps = Vec::new();
    for (i, srv) in servers.iter().enumerate() {
        a.add_endpoint(Endpoint::new(
            format!("e{i}"),
            format!("{}/hook", srv.base_url()),
            SECRET,
        ))
        .await
        .unwrap();
        eps.push(EndpointId::new(format!("e{i}")));
    }
    let started = Instant::now();
    let workers = (a.spawn_workers(2), b.spawn_workers(2));
    // Half the messages enter through each replica, concurrently.
    let send_half = |s: WebhookSender, parity: usize, eps: Vec<EndpointId>| async move {
        let mut ids = Vec::new();
        for i in (parity..MESSAGES).step_by(2) {
            let id = s
                .send(&eps[i % ENDPOINTS], "pg", format!("{{\"n\":{i}}}").into())
                .await
                .unwrap();
            ids.push((i, id));
        }
        ids
    };
    let (even, odd) = tokio::join!(
        send_half(a.clone(), 0, eps.clone()),
        send_half(b.clone(), 1, eps.clone())
    );
    let ids: Vec<(usize, MessageId)> = even.into_iter().chain(odd).collect();
    assert_eq!(ids.len(), MESSAGES);
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let delivered = {
            let seen = seen.lock().unwrap();
            seen.by_id.values().filter(|v| v.contains(&200)).count()
        };
        if delivered >= MESSAGES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {MESSAGES} delivered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    // Let in-flight acks land, and give any second delivery time to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    workers.0.stop().await;
    workers.1.stop().await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut attempts = 0;
    for (i, id) in &ids {
        let got = seen.by_id.get(id.as_str()).cloned().unwrap_or_default();
        attempts += got.len();
        assert_eq!(
            got.iter().filter(|c| **c == 200).count(),
            1,
            "{id}: {got:?}"
        );
        assert_eq!(
            got.last(),
            Some(&200),
            "{id}: attempts after a 2xx: {got:?}"
        );
        let st = b.message(id).await.unwrap().unwrap();
        assert_eq!(st.status, MessageStatus::Delivered, "{id}");
        assert_eq!(st.attempts as usize, got.len(), "{id}: {got:?}");
        let body = format!("{{\"n\":{i}}}").into_bytes();
        assert_eq!(
            seen.ids_by_body.get(&body).map(Vec::as_slice),
            Some(&[id.as_str().to_string()][..]),
            "one webhook-id per message"
        );
    }
    assert_eq!(seen.by_id.len(), MESSAGES, "no unknown webhook-ids");
    assert!(a.dead_letters(10).await.unwrap().is_empty());
    eprintln!("postgres, two replicas: {MESSAGES} messages, {attempts} attempts in {elapsed:?}");
    qa.close().await;
    qb.close().await;
    drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_on_one_replica_is_delivered_by_the_other_after_the_lease() {
    let schema = new_schema();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let hits = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let (h, log) = (hits.clone(), ids.clone());
    let server = RawServer::start(move |r| {
        log.lock()
            .unwrap()
            .push(r.header("webhook-id").unwrap_or_default().to_string());
        if h.fetch_add(1, Ordering::SeqCst) == 0 {
            let _ = tx.send(());
            RawAction::Hang
        } else {
            RawAction::status(200, "ok")
        }
    })
    .await;
    let build = |b: WebhookSenderBuilder| {
        b.attempt_timeout(Duration::from_millis(300))
            .lease(Duration::from_millis(500))
            .build()
            .unwrap()
    };
    let (qa, ba) = replica(&schema).await;
    let (qb, bb) = replica(&schema).await;
    let (a, b) = (build(ba), build(bb));
    a.add_endpoint(Endpoint::new(
        "e",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let first = tokio::spawn(a.clone().run());
    let id = a
        .send(&EndpointId::new("e"), "t", "{}".into())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    // Replica A's worker is killed after the endpoint got the request, before the ack.
    first.abort();
    let _ = first.await;
    assert_eq!(status(&b, &id).await, MessageStatus::Inflight);
    let started = Instant::now();
    let second = b.spawn_workers(1);
    wait_status(&b, &id, MessageStatus::Delivered).await;
    let waited = started.elapsed();
    drop(second);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(*ids.lock().unwrap(), [id.to_string(), id.to_string()]);
    let attempts = b.queue().attempts_of(&id).await.unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "the killed attempt was never acknowledged"
    );
    assert_eq!(attempts[0].attempt, 2);
    assert_eq!(attempts[0].status, Some(200));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    qa.close().await;
    qb.close().await;
    drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_leasing_at_once_get_disjoint_batches() {
    use std::time::SystemTime;
    use switchboard::outbound::queue::OutboundQueue;

    const MESSAGES: usize = 600;
    let schema = new_schema();
    let qa = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        &schema,
        vault(),
    )
    .await
    .unwrap();
    let qb = PostgresOutboundQueue::connect_with_schema(
        &crate::support::postgres_url(),
        &schema,
        vault(),
    )
    .await
    .unwrap();
    // Enqueued through a sender with no workers running.
    let (_, builder) = replica(&schema).await;
    let s = builder.build().unwrap();
    s.add_endpoint(Endpoint::new("e", "http://127.0.0.1:9/hook", SECRET))
        .await
        .unwrap();
    let mut first = None;
    for _ in 0..MESSAGES {
        let id = s
            .send(&EndpointId::new("e"), "t", "{}".into())
            .await
            .unwrap();
        first.get_or_insert(id);
    }
    // Four leasers per replica, small batches, racing for the same rows. They start
    // together: spawned one after the other, the first replica's leasers could drain all 600
    // rows before the second's first lease on a loaded machine (seen once), and the race this
    // test is about would not happen.
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for (n, q) in [qa.clone(), qb.clone()].into_iter().enumerate() {
        for w in 0..4 {
            let q = q.clone();
            let start = start.clone();
            tasks.push(tokio::spawn(async move {
                let owner = format!("r{n}-w{w}");
                let mut got = Vec::new();
                start.wait().await;
                loop {
                    let batch = q
                        .lease(&owner, 7, Duration::from_secs(60), SystemTime::now())
                        .await
                        .unwrap();
                    if batch.is_empty() {
                        return (n, got);
                    }
                    got.extend(batch.into_iter().map(|m| m.id.to_string()));
                }
            }));
        }
    }
    let mut all = Vec::new();
    let mut per_replica = [0usize; 2];
    for t in tasks {
        let (n, got) = t.await.unwrap();
        per_replica[n] += got.len();
        all.extend(got);
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, MESSAGES, "a message was leased twice");
    assert_eq!(all.len(), MESSAGES);
    assert!(per_replica.iter().all(|n| *n > 0), "{per_replica:?}");
    let st = qb.message(&first.unwrap()).await.unwrap().unwrap();
    assert_eq!((st.status, st.attempts), (MessageStatus::Inflight, 1));
    qa.close().await;
    qb.close().await;
    drop_schema(&schema).await;
}
