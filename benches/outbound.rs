//! Outbound webhook throughput: deliveries per second to a loopback endpoint answering 200,
//! from one process. Rows: the SQLite queue on a file; with feature `postgres`, the PostgreSQL
//! queue on `$SWITCHBOARD_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`; a fresh schema, dropped after) with one
//! replica, and with two replicas (two senders, each with its own pool). Custom harness:
//! `cargo bench --bench outbound --features sqlite[,postgres]`. Prints enqueue and delivery
//! rates.

use std::time::{Duration, Instant};

#[cfg(feature = "postgres")]
#[path = "../tests/it/support/addresses.rs"]
mod addresses;

use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{Endpoint, EndpointId, MessageStatus, OutboundQueue, WebhookSender};
use switchboard::test_util::{RawAction, RawServer};

const MESSAGES: usize = 5_000;

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

fn sender(queue: impl OutboundQueue + 'static) -> WebhookSender {
    WebhookSender::builder(queue)
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().expect("ip")))
        .attempt_timeout(Duration::from_secs(5))
        .lease(Duration::from_secs(30))
        .max_in_flight(64)
        .poll_interval(Duration::from_millis(5))
        .build()
        .expect("sender")
}

async fn run() {
    let dir =
        std::env::temp_dir().join(format!("switchboard-outbound-bench-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let queue = SqliteQueue::open(dir.join("outbound.db"), vault())
        .await
        .expect("open queue");
    measure("sqlite-file", &[sender(queue)]).await;
    let _ = std::fs::remove_dir_all(&dir);

    #[cfg(feature = "postgres")]
    for replicas in [1, 2] {
        use switchboard::outbound::queue::postgres::PostgresOutboundQueue;

        let schema = format!("sb_outbound_bench_{:016x}", fastrand::u64(..));
        let mut queues = Vec::new();
        for _ in 0..replicas {
            queues.push(
                PostgresOutboundQueue::connect_with_schema(
                    &addresses::postgres_url(),
                    &schema,
                    vault(),
                )
                .await
                .expect("connect"),
            );
        }
        let senders: Vec<_> = queues.iter().cloned().map(sender).collect();
        measure(&format!("postgres-{replicas}-replica"), &senders).await;
        for q in &queues {
            q.close().await;
        }
        if let Ok(pool) = sqlx::PgPool::connect(&addresses::postgres_url()).await {
            let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .execute(&pool)
                .await;
            pool.close().await;
        }
    }
}

/// Enqueues through the first sender, then runs two workers on every sender.
async fn measure(label: &str, senders: &[WebhookSender]) {
    let server = RawServer::start(|_| RawAction::status(200, "ok")).await;
    let sender = &senders[0];
    sender
        .add_endpoint(Endpoint::new(
            "bench",
            format!("{}/hook", server.base_url()),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ))
        .await
        .expect("endpoint");
    let ep = EndpointId::new("bench");
    let payload = bytes::Bytes::from_static(
        br#"{"type":"invoice.paid","data":{"id":"in_123","amount":4200}}"#,
    );

    let t0 = Instant::now();
    let mut ids = Vec::with_capacity(MESSAGES);
    for _ in 0..MESSAGES {
        ids.push(
            sender
                .send(&ep, "invoice.paid", payload.clone())
                .await
                .expect("send"),
        );
    }
    let enqueue = t0.elapsed();

    let t1 = Instant::now();
    let workers: Vec<_> = senders.iter().map(|s| s.spawn_workers(2)).collect();
    while server.requests() < MESSAGES {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Wait for every acknowledgement too.
    for id in &ids {
        while sender
            .message(id)
            .await
            .expect("state")
            .expect("exists")
            .status
            != MessageStatus::Delivered
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let deliver = t1.elapsed();
    drop(workers);
    let mut delivered = 0;
    for id in &ids {
        if sender
            .message(id)
            .await
            .expect("state")
            .expect("exists")
            .status
            == MessageStatus::Delivered
        {
            delivered += 1;
        }
    }
    println!(
        "outbound/{label}: enqueue {MESSAGES} in {enqueue:.2?} ({:.0}/s); deliver {MESSAGES} in {deliver:.2?} ({:.0}/s); {delivered} acknowledged, {} requests",
        MESSAGES as f64 / enqueue.as_secs_f64(),
        MESSAGES as f64 / deliver.as_secs_f64(),
        server.requests(),
    );
}
