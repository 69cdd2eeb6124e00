//! Outbound webhooks: durable delivery, retries, disabling, dead letters, leases.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::SsrfGuard;
use switchboard::outbound::{
    Endpoint, EndpointId, MessageId, MessageStatus, OutboundEvent, WebhookSender,
    WebhookSenderBuilder,
};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use tokio::sync::broadcast::error::TryRecvError;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}

/// A sum of the default schedule (about 27.6 h) squeezed into about 1.5 s.
const SCALE: f64 = 1.5 / 99_305.0;

async fn builder() -> WebhookSenderBuilder {
    WebhookSender::builder(SqliteQueue::in_memory(vault()).await.unwrap())
        .ssrf_guard(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap()))
        .attempt_timeout(Duration::from_millis(500))
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(5))
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

fn ok_body() -> RawAction {
    RawAction::status(200, "ok")
}

#[tokio::test]
async fn signs_every_attempt_with_a_constant_id_and_fresh_timestamp() {
    let seen: Arc<Mutex<Vec<RawRequest>>> = Arc::default();
    let log = seen.clone();
    let server = RawServer::start(move |r| {
        let mut l = log.lock().unwrap();
        l.push(r.clone());
        if l.len() < 3 {
            RawAction::status(503, "")
        } else {
            ok_body()
        }
    })
    .await;
    let s = builder()
        .await
        .schedule(vec![Duration::from_millis(600); 3])
        .build()
        .unwrap();
    s.add_endpoint(Endpoint::new(
        "e",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let id = s
        .send(&EndpointId::new("e"), "invoice.paid", r#"{"a":1}"#.into())
        .await
        .unwrap();
    wait_status(&s, &id, MessageStatus::Delivered).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut stamps = Vec::new();
    for r in &seen {
        assert_eq!(r.header("webhook-id"), Some(id.as_str()));
        let ts = r.header("webhook-timestamp").unwrap();
        stamps.push(ts.to_string());
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("{}.{ts}.", id.as_str()).as_bytes());
        mac.update(&r.body);
        let want = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(r.header("webhook-signature"), Some(want.as_str()));
        assert_eq!(r.body, br#"{"a":1}"#);
    }
    assert_ne!(stamps[0], stamps[2], "a fresh timestamp per attempt");
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    let codes: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(codes, [Some(503), Some(503), Some(200)]);
}

#[derive(Default)]
struct Seen {
    /// webhook-id -> what the server did on each request: the status, 0 reset, 1 hang.
    by_id: HashMap<String, Vec<u16>>,
    /// payload -> the webhook-ids it arrived with.
    ids_by_body: HashMap<Vec<u8>, Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_loses_nothing_and_never_retries_after_a_2xx() {
    const MESSAGES: usize = 10_000;
    const ENDPOINTS: usize = 10;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut servers = Vec::new();
    for _ in 0..ENDPOINTS {
        let seen = seen.clone();
        servers.push(
            RawServer::start(move |r| {
                let roll = fastrand::u32(0..100);
                let (action, code) = match roll {
                    0..=29 => (RawAction::status(503, ""), 503),
                    30..=34 => (RawAction::Reset, 0),
                    35..=39 => (RawAction::Hang, 1),
                    _ => (ok_body(), 200),
                };
                let id = r.header("webhook-id").unwrap_or_default().to_string();
                let mut s = seen.lock().unwrap();
                s.by_id.entry(id.clone()).or_default().push(code);
                let ids = s.ids_by_body.entry(r.body.clone()).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
                action
            })
            .await,
        );
    }
    let s = builder()
        .await
        .schedule_scale(SCALE)
        // Long enough that a loaded machine cannot time out an attempt whose 200 is already
        // on its way (which would count as "an attempt after a 2xx"); hangs still end fast.
        .attempt_timeout(Duration::from_millis(1000))
        .lease(Duration::from_secs(5))
        .max_in_flight(128)
        .build()
        .unwrap();
    for (i, srv) in servers.iter().enumerate() {
        s.add_endpoint(Endpoint::new(
            format!("e{i}"),
            format!("{}/hook", srv.base_url()),
            SECRET,
        ))
        .await
        .unwrap();
    }
    let started = Instant::now();
    let workers = s.spawn_workers(2);
    let mut ids = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let ep = EndpointId::new(format!("e{}", i % ENDPOINTS));
        ids.push(
            s.send(&ep, "soak", format!("{{\"n\":{i}}}").into())
                .await
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let delivered = {
            let seen = seen.lock().unwrap();
            seen.by_id.values().filter(|v| v.contains(&200)).count()
        };
        let dead = s.dead_letters(usize::MAX).await.unwrap().len();
        if delivered + dead >= MESSAGES {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} delivered + {dead} dead of {MESSAGES}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    // Let in-flight acks land, and give any attempt after a 2xx time to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    workers.stop().await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let (mut delivered, mut dead, mut attempts) = (0, 0, 0);
    for (i, id) in ids.iter().enumerate() {
        let st = s.message(id).await.unwrap().unwrap();
        let got = seen.by_id.get(id.as_str()).cloned().unwrap_or_default();
        attempts += got.len();
        match st.status {
            MessageStatus::Delivered => {
                delivered += 1;
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
            }
            MessageStatus::Dead => {
                dead += 1;
                assert!(!got.contains(&200), "{id}: {got:?}");
                assert_eq!(st.attempts, 8, "{id}");
                assert_eq!(got.len(), 8, "{id}: {got:?}");
                assert!(st.dead_reason.unwrap().contains("gave up after 8 attempts"));
            }
            other => panic!("message {i} lost: {other:?}"),
        }
        let body = format!("{{\"n\":{i}}}").into_bytes();
        assert_eq!(
            seen.ids_by_body.get(&body).map(Vec::as_slice),
            Some(&[id.as_str().to_string()][..]),
            "one webhook-id per message"
        );
    }
    assert_eq!(delivered + dead, MESSAGES);
    eprintln!(
        "soak: {MESSAGES} messages, {delivered} delivered, {dead} dead, {attempts} attempts \
         in {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_a_lease_that_expires_and_is_delivered_again() {
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
            ok_body()
        }
    })
    .await;
    let s = builder()
        .await
        .attempt_timeout(Duration::from_millis(300))
        .lease(Duration::from_millis(500))
        .build()
        .unwrap();
    s.add_endpoint(Endpoint::new(
        "e",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let first = tokio::spawn(s.clone().run());
    let id = s
        .send(&EndpointId::new("e"), "t", "{}".into())
        .await
        .unwrap();
    rx.recv().await.unwrap();
    // Killed after the endpoint got the request, before the ack.
    first.abort();
    let _ = first.await;
    assert_eq!(status(&s, &id).await, MessageStatus::Inflight);
    let second = s.spawn_workers(1);
    wait_status(&s, &id, MessageStatus::Delivered).await;
    drop(second);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(*ids.lock().unwrap(), [id.to_string(), id.to_string()]);
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "the killed attempt was never acknowledged"
    );
    assert_eq!(attempts[0].attempt, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_alternating_500_and_200_is_never_disabled() {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    let server = RawServer::start(move |_| {
        if c.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            RawAction::status(500, "")
        } else {
            ok_body()
        }
    })
    .await;
    let s = builder()
        .await
        .schedule(vec![Duration::from_millis(10); 6])
        .disable_after(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut events = s.subscribe();
    let ep = EndpointId::new("alt");
    s.add_endpoint(Endpoint::new(
        "alt",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(s.send(&ep, "t", "{}".into()).await.unwrap());
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    for id in &ids {
        wait_status(&s, id, MessageStatus::Delivered).await;
    }
    assert!(s.endpoint(&ep).await.unwrap().unwrap().enabled);
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
    let health = s.endpoint_health(&ep).await.unwrap();
    assert!(health.attempts >= 40, "{health:?}");
    assert!((0.4..=0.6).contains(&health.success_rate), "{health:?}");
    assert!(!health.healthy);
    assert!(health.p50.is_some() && health.p95 >= health.p50);
}

#[tokio::test]
async fn a_410_disables_the_endpoint_at_once_with_one_event() {
    let server = RawServer::start(|_| RawAction::status(410, "")).await;
    let s = builder()
        .await
        .schedule(vec![Duration::from_millis(10); 6])
        .build()
        .unwrap();
    let mut events = s.subscribe();
    let ep = EndpointId::new("gone");
    s.add_endpoint(Endpoint::new(
        "gone",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let a = s.send(&ep, "t", "{}".into()).await.unwrap();
    let b = s.send(&ep, "t", "{}".into()).await.unwrap();
    wait_status(&s, &a, MessageStatus::Dead).await;
    wait_status(&s, &b, MessageStatus::Dead).await;
    let event = tokio::time::timeout(Duration::from_secs(2), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, OutboundEvent::EndpointDisabled { ref endpoint, .. } if *endpoint == ep)
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
    let stored = s.endpoint(&ep).await.unwrap().unwrap();
    assert!(!stored.enabled);
    assert!(stored.disabled_reason.unwrap().contains("410"));
    assert!(s.send(&ep, "t", "{}".into()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_failure_past_disable_after_disables_with_exactly_one_event() {
    let server = RawServer::start(|_| RawAction::status(500, "")).await;
    let s = builder()
        .await
        .schedule(vec![Duration::from_millis(40); 30])
        .disable_after(Duration::from_millis(300))
        .build()
        .unwrap();
    let mut events = s.subscribe();
    let ep = EndpointId::new("down");
    s.add_endpoint(Endpoint::new(
        "down",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(2);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(s.send(&ep, "t", "{}".into()).await.unwrap());
    }
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, OutboundEvent::EndpointDisabled { ref endpoint, .. } if *endpoint == ep)
    );
    for id in &ids {
        wait_status(&s, id, MessageStatus::Dead).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(events.try_recv(), Err(TryRecvError::Empty)));
    let dead = s.dead_letters(100).await.unwrap();
    assert_eq!(dead.len(), 5);
    assert!(
        dead.iter().all(|d| d.reason.contains("disabled")),
        "{dead:?}"
    );
}

#[tokio::test]
async fn redrive_of_a_dead_letter_delivers_it() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let server = RawServer::start(move |_| {
        if h.load(Ordering::SeqCst) {
            ok_body()
        } else {
            RawAction::status(503, "").with_header("retry-after", "3600")
        }
    })
    .await;
    let s = builder()
        .await
        .schedule(vec![Duration::from_millis(10); 2])
        .build()
        .unwrap();
    let ep = EndpointId::new("e");
    s.add_endpoint(Endpoint::new(
        "e",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let id = s.send(&ep, "t", "{}".into()).await.unwrap();
    // Retry-After: 3600 is clamped to the largest step (10 ms), so this ends quickly.
    wait_status(&s, &id, MessageStatus::Dead).await;
    let dead = s.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].attempts, 3);
    assert!(dead[0].reason.contains("503"), "{}", dead[0].reason);
    healthy.store(true, Ordering::SeqCst);
    s.redrive(&id).await.unwrap();
    wait_status(&s, &id, MessageStatus::Delivered).await;
    assert!(s.dead_letters(10).await.unwrap().is_empty());
    assert!(
        s.redrive(&id).await.is_err(),
        "only dead messages are redriven"
    );
    assert_eq!(server.requests(), 4);
}
