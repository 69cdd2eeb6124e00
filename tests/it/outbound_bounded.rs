//! Outbound webhooks stay bounded: a receiver's answer is read only up to
//! `MAX_ANSWER_BYTES` (a huge or endless answer neither grows memory nor holds the attempt
//! until its timeout), and delivered messages are deleted after the retention period.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{
    Endpoint, EndpointId, MessageId, MessageStatus, WebhookSender, MAX_ANSWER_BYTES,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}

/// What the streaming receiver saw: bytes of body written before the client went away, and
/// whether it went away.
#[derive(Default)]
struct Streamed {
    written: AtomicU64,
    client_closed: AtomicBool,
}

/// A loopback receiver that answers `200` and then streams a body of `total` bytes (`None`:
/// never ends), in 64 KiB chunks with chunked transfer encoding.
async fn streaming_receiver(total: Option<u64>) -> (String, Arc<Streamed>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Streamed::default());
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                // Read the request head and its small body (Content-Length).
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut tmp).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                if sock
                    .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk,
                    b"\r\n".to_vec(),
                ]
                .concat();
                loop {
                    if let Some(t) = total {
                        if log.written.load(Ordering::SeqCst) >= t {
                            let _ = sock.write_all(b"0\r\n\r\n").await;
                            return;
                        }
                    }
                    if sock.write_all(&framed).await.is_err() {
                        log.client_closed.store(true, Ordering::SeqCst);
                        return;
                    }
                    log.written.fetch_add(64 * 1024, Ordering::SeqCst);
                }
            });
        }
    });
    (format!("http://{addr}/hook"), seen)
}

async fn sender(queue: SqliteQueue) -> WebhookSender {
    WebhookSender::builder(queue)
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap()))
        // Long enough that an attempt which reads the whole answer is visibly slow.
        .attempt_timeout(Duration::from_secs(20))
        .lease(Duration::from_secs(40))
        .poll_interval(Duration::from_millis(5))
        .build()
        .unwrap()
}

async fn wait_status(s: &WebhookSender, id: &MessageId, want: MessageStatus, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = s.message(id).await.unwrap().unwrap().status;
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "message {id} is {now:?}, not {want:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_off_and_the_delivery_is_recorded_at_once() {
    let (url, seen) = streaming_receiver(None).await;
    let s = sender(SqliteQueue::in_memory(vault()).await.unwrap()).await;
    s.add_endpoint(Endpoint::new("e", url, SECRET))
        .await
        .unwrap();
    let _w = s.spawn_workers(1);
    let started = Instant::now();
    let id = s
        .send(&EndpointId::new("e"), "t", "{}".into())
        .await
        .unwrap();
    // Reading the whole answer would run into the 20 s attempt timeout.
    wait_status(&s, &id, MessageStatus::Delivered, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, Some(200));
    assert!(attempts[0].success);
    // The sender hung up: the receiver's writes fail soon after the socket buffers fill.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.client_closed.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the sender kept reading");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let written = seen.written.load(Ordering::SeqCst);
    // What was written is the sender's read (64 KiB and a chunk) plus the kernel's loopback
    // socket buffers, far below what an unbounded read would take in the same time.
    assert!(written < 32 << 20, "receiver wrote {written} bytes");
    assert_eq!(MAX_ANSWER_BYTES, 64 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_answer_is_not_read_to_its_end() {
    // 256 MiB: reading it all takes long and an unbounded reader takes every byte.
    let total = 256u64 << 20;
    let (url, seen) = streaming_receiver(Some(total)).await;
    let s = sender(SqliteQueue::in_memory(vault()).await.unwrap()).await;
    s.add_endpoint(Endpoint::new("e", url, SECRET))
        .await
        .unwrap();
    let _w = s.spawn_workers(1);
    let id = s
        .send(&EndpointId::new("e"), "t", "{}".into())
        .await
        .unwrap();
    wait_status(&s, &id, MessageStatus::Delivered, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !seen.client_closed.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the sender read the whole answer ({} bytes)",
            seen.written.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen.written.load(Ordering::SeqCst) < 32 << 20);
}
