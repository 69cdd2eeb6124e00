//! `WebhookRouter`: routing, verification on the raw bytes, de-duplication across replicas
//! sharing Redis, failed handlers retried by redelivery, failure counters, the connection's
//! `last_event`, and the axum glue's status codes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode};
use sha2::Sha256;
use switchboard::webhook::dedup::{DedupStore, InMemoryDedupStore};
use switchboard::webhook::router::{
    handler_fn, ConnectionSource, InboundRequest, WebhookEvent, WebhookOutcome, WebhookRoute,
    WebhookRouteError, WebhookRouter, WebhookTarget,
};
use switchboard::webhook::{
    HmacBodyVerifier, SignatureEncoding, Verified, WebhookError, WebhookRequest, WebhookVerifier,
};
use switchboard::{Error, ErrorKind};

const SECRET: &[u8] = b"whsec-test";

/// A test scheme with an id and a timestamp: `x-sig = hex(HMAC(secret, "{id}.{ts}.{body}"))`.
#[derive(Debug)]
struct IdVerifier;

fn sign(id: &str, ts: u64, body: &[u8]) -> HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut h = HeaderMap::new();
    h.insert("x-id", HeaderValue::from_str(id).unwrap());
    h.insert("x-ts", HeaderValue::from_str(&ts.to_string()).unwrap());
    h.insert("x-sig", HeaderValue::from_str(&sig).unwrap());
    h
}

impl WebhookVerifier for IdVerifier {
    fn verify(&self, r: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        let get = |name: &'static str| {
            r.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(WebhookError::MissingHeader { header: name })
        };
        let (id, ts, sig) = (get("x-id")?, get("x-ts")?, get("x-sig")?);
        let ts: u64 = ts.parse().map_err(|_| WebhookError::InvalidHeader {
            header: "x-ts",
            reason: "not a number".into(),
        })?;
        let expected = sign(id, ts, r.body);
        if expected.get("x-sig").unwrap() != sig {
            return Err(WebhookError::NoSignatureMatched {
                header: "x-sig",
                hint: String::new(),
            });
        }
        let mut v = Verified::default();
        v.event_id = Some(id.to_string());
        v.timestamp = Some(UNIX_EPOCH + Duration::from_secs(ts));
        Ok(v)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn counting_handler(
    runs: Arc<AtomicUsize>,
) -> Arc<dyn switchboard::webhook::router::WebhookHandler> {
    Arc::new(handler_fn(move |_e: WebhookEvent| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }))
}

fn router_with(dedup: Arc<dyn DedupStore>, runs: Arc<AtomicUsize>) -> WebhookRouter {
    WebhookRouter::builder()
        .dedup(dedup)
        .route(WebhookRoute::new(
            "test",
            Arc::new(IdVerifier),
            counting_handler(runs),
        ))
        .build()
        .unwrap()
}

fn event(path: &str, id: &str, ts: u64, body: &'static [u8]) -> InboundRequest {
    InboundRequest::new(path, sign(id, ts, body), Bytes::from_static(body))
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_five_deliveries_three_replicas_run_exactly_once() {
    use switchboard::webhook::dedup::RedisDedupStore;
    use tokio::task::JoinSet;

    let prefix = format!("switchboard-test:webhooks:{:016x}", fastrand::u64(..));
    let runs = Arc::new(AtomicUsize::new(0));
    let mut routers = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..3 {
        let store = RedisDedupStore::connect("redis://127.0.0.1:6379/", &prefix)
            .await
            .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)");
        stores.push(store.clone());
        routers.push(router_with(Arc::new(store), runs.clone()));
    }
    let ts = now_secs();
    let mut tasks = JoinSet::new();
    for delivery in 0..5 {
        for n in 0..1000 {
            let router = routers[(n + delivery) % 3].clone();
            tasks.spawn(async move {
                let body = format!("{{\"n\":{n}}}");
                let id = format!("evt_{n}");
                let req = InboundRequest::new(
                    "/webhooks/test/conn-1",
                    sign(&id, ts, body.as_bytes()),
                    Bytes::from(body),
                );
                router.handle(req).await
            });
        }
    }
    let (mut processed, mut duplicate, mut in_flight) = (0, 0, 0);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap().expect("every delivery is accepted") {
            WebhookOutcome::Processed => processed += 1,
            WebhookOutcome::Duplicate => duplicate += 1,
            WebhookOutcome::InFlight { .. } => in_flight += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1000);
    assert_eq!(processed, 1000);
    assert_eq!(processed + duplicate + in_flight, 5000);

    // "30 h later": the provider redelivers evt_0 with a fresh timestamp and signature. Still
    // a duplicate, because the id is remembered for 72 h (checked via the key's PTTL rather
    // than by sleeping).
    let later = event_owned(0, ts + 30 * 3600);
    assert_eq!(
        routers[2].handle(later).await.unwrap(),
        WebhookOutcome::Duplicate
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1000);
    let key = stores[0].key("test:conn-1", "evt_0");
    let mut raw = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        pttl > 30 * 3600 * 1000 && pttl <= 72 * 3600 * 1000,
        "PTTL of {key}: {pttl} ms"
    );
    // Don't leave 1,000 keys for 72 h in the shared Redis.
    for n in 0..1000 {
        let _: i64 = redis::cmd("DEL")
            .arg(stores[0].key("test:conn-1", &format!("evt_{n}")))
            .query_async(&mut raw)
            .await
            .unwrap();
    }
}

#[cfg(feature = "redis")]
fn event_owned(n: usize, ts: u64) -> InboundRequest {
    let body = format!("{{\"n\":{n}}}");
    InboundRequest::new(
        "/webhooks/test/conn-1",
        sign(&format!("evt_{n}"), ts, body.as_bytes()),
        Bytes::from(body),
    )
}

#[tokio::test]
async fn failed_handler_is_retried_by_redelivery_and_succeeds_once() {
    let attempts = Arc::new(AtomicUsize::new(0));
    let successes = Arc::new(AtomicUsize::new(0));
    let (a, s) = (attempts.clone(), successes.clone());
    let router = WebhookRouter::builder()
        .route(WebhookRoute::new(
            "test",
            Arc::new(IdVerifier),
            Arc::new(handler_fn(move |_e: WebhookEvent| {
                let (a, s) = (a.clone(), s.clone());
                async move {
                    if a.fetch_add(1, Ordering::SeqCst) == 0 {
                        return Err(Error::new(ErrorKind::Transport, "downstream is down"));
                    }
                    s.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })),
        ))
        .build()
        .unwrap();
    let ts = now_secs();
    let err = router
        .handle(event("/webhooks/test/c1", "evt_1", ts, b"{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookRouteError::Handler { .. }), "{err:?}");
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err.is_retryable());
    // The provider retries: processed now (the claim was released), then a duplicate.
    let redelivered = router.handle(event("/webhooks/test/c1", "evt_1", ts + 60, b"{}"));
    assert_eq!(redelivered.await.unwrap(), WebhookOutcome::Processed);
    assert_eq!(
        router
            .handle(event("/webhooks/test/c1", "evt_1", ts + 120, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(successes.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn crashed_handler_claim_lapses_and_redelivery_is_processed() {
    // A handler that never finishes (a crashed worker): its claim is left to time out.
    let dedup = InMemoryDedupStore::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let stuck = WebhookRouter::builder()
        .dedup(Arc::new(dedup.clone()))
        .visibility_timeout(Duration::from_secs(30))
        .route(WebhookRoute::new(
            "test",
            Arc::new(IdVerifier),
            Arc::new(handler_fn(|_e: WebhookEvent| std::future::pending())),
        ))
        .build()
        .unwrap();
    let healthy = router_with(Arc::new(dedup), runs.clone());
    let ts = now_secs();
    let crashed = tokio::spawn({
        let stuck = stuck.clone();
        async move {
            stuck
                .handle(event("/webhooks/test/c1", "e", ts, b"x"))
                .await
        }
    });
    tokio::task::yield_now().await;
    let answer = healthy
        .handle(event("/webhooks/test/c1", "e", ts, b"x"))
        .await
        .unwrap();
    assert_eq!(
        answer,
        WebhookOutcome::InFlight {
            retry_after: Duration::from_secs(60)
        }
    );
    crashed.abort();
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(
        healthy
            .handle(event("/webhooks/test/c1", "e", ts, b"x"))
            .await
            .unwrap(),
        WebhookOutcome::Processed
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

/// Checks that the bytes it is given are exactly the bytes that were sent, and notes that it
/// ran (so the payload resolver can check it runs after verification).
#[derive(Debug)]
struct ExactBytes {
    sent: Bytes,
    ran: Arc<AtomicBool>,
}

impl WebhookVerifier for ExactBytes {
    fn verify(&self, r: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        assert_eq!(
            r.body,
            &self.sent[..],
            "the verifier must see the raw bytes"
        );
        self.ran.store(true, Ordering::SeqCst);
        Ok(Verified::default())
    }
}

#[tokio::test]
async fn router_never_parses_the_body_before_verification() {
    // Pretty-printed, odd key order, trailing whitespace, a raw non-UTF-8 byte: any parse and
    // re-serialize would change it.
    let sent =
        Bytes::from_static(b"{\n  \"z\": 1,   \"a\" : \"\xff\",\n  \"connection\": \"c9\" }\n\n");
    let ran = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(std::sync::Mutex::new(None::<Bytes>));
    let ran_for_resolver = ran.clone();
    let seen_for_handler = seen.clone();
    let router = WebhookRouter::builder()
        .route(
            WebhookRoute::new(
                "raw",
                Arc::new(ExactBytes {
                    sent: sent.clone(),
                    ran: ran.clone(),
                }),
                Arc::new(handler_fn(move |e: WebhookEvent| {
                    let seen = seen_for_handler.clone();
                    async move {
                        assert_eq!(e.target.connection.as_str(), "c9");
                        assert!(e.event_id.starts_with("sha256:"));
                        *seen.lock().unwrap() = Some(e.body);
                        Ok(())
                    }
                })),
            )
            .connection_from(ConnectionSource::payload(move |body, _| {
                assert!(
                    ran_for_resolver.load(Ordering::SeqCst),
                    "payload read before verification"
                );
                body.windows(4)
                    .any(|w| w == b"\"c9\"")
                    .then(|| WebhookTarget::new("c9"))
            })),
        )
        .build()
        .unwrap();
    let req = InboundRequest::new("/webhooks/raw", HeaderMap::new(), sent.clone());
    assert_eq!(router.handle(req).await.unwrap(), WebhookOutcome::Processed);
    assert_eq!(seen.lock().unwrap().as_ref(), Some(&sent));
    // No event id in the scheme: the body's digest de-duplicates.
    let again = InboundRequest::new("/webhooks/raw", HeaderMap::new(), sent.clone());
    assert_eq!(
        router.handle(again).await.unwrap(),
        WebhookOutcome::Duplicate
    );
}

#[tokio::test]
async fn rejects_unknown_routes_and_bad_signatures_and_counts_failures_per_connection() {
    let runs = Arc::new(AtomicUsize::new(0));
    let hmac = HmacBodyVerifier::new("x-signature", SignatureEncoding::Hex).secret("s");
    let router = WebhookRouter::builder()
        .route(WebhookRoute::new(
            "test",
            Arc::new(IdVerifier),
            counting_handler(runs.clone()),
        ))
        .route(
            WebhookRoute::new("hdr", Arc::new(hmac), counting_handler(runs.clone()))
                .connection_from(ConnectionSource::Header("x-connection".parse().unwrap())),
        )
        .build()
        .unwrap();
    let ts = now_secs();
    for path in [
        "/webhooks/nope/c1",
        "/other/test/c1",
        "/webhooks/test",
        "/webhooks/test/a/b",
    ] {
        let err = router
            .handle(event(path, "e", ts, b"{}"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND, "{path}: {err:?}");
    }
    let mut forged = sign("e", ts, b"{}");
    forged.insert("x-sig", HeaderValue::from_static("00"));
    for _ in 0..2 {
        let req = InboundRequest::new("/webhooks/test/c1", forged.clone(), "{}");
        let err = router.handle(req).await.unwrap_err();
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            err.webhook_error(),
            Some(&WebhookError::NoSignatureMatched {
                header: "x-sig",
                hint: String::new()
            })
        );
    }
    assert_eq!(router.verification_failures("c1"), 2);
    assert_eq!(router.verification_failures("c2"), 0);

    // Connection from a header; a missing header is a 404, a bad signature counts.
    let mut h = HeaderMap::new();
    h.insert("x-connection", HeaderValue::from_static("c7"));
    let err = router
        .handle(InboundRequest::new("/webhooks/hdr", h.clone(), "{}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(router.verification_failures("c7"), 1);
    let signer = HmacBodyVerifier::new("x-signature", SignatureEncoding::Hex).secret("s");
    h.insert(
        "x-signature",
        HeaderValue::from_str(&signer.sign(b"{}").unwrap()).unwrap(),
    );
    let ok = router
        .handle(InboundRequest::new("/webhooks/hdr", h, "{}"))
        .await
        .unwrap();
    assert_eq!(ok, WebhookOutcome::Processed);
    let err = router
        .handle(InboundRequest::new("/webhooks/hdr", HeaderMap::new(), "{}"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), StatusCode::NOT_FOUND);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Two routes for one connector are a config error.
    let dup = WebhookRouter::builder()
        .route(WebhookRoute::new(
            "x",
            Arc::new(IdVerifier),
            counting_handler(runs.clone()),
        ))
        .route(WebhookRoute::new(
            "x",
            Arc::new(IdVerifier),
            counting_handler(runs),
        ))
        .build()
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn verified_event_is_recorded_on_its_connection() {
    use serde_json::json;
    use switchboard::connections::Connections;
    use switchboard::templates::{
        ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
    };
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};

    #[derive(Debug)]
    struct Hook(IntegrationTemplate);
    impl Integration for Hook {
        fn template(&self) -> &IntegrationTemplate {
            &self.0
        }
        fn bind(&self, _: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
            Ok(IntegrationBinding::new(
                Arc::new(crate::support::TestConnector::default()),
                "http://127.0.0.1:1",
                None,
            ))
        }
    }
    let template = IntegrationTemplate::builder("hook")
        .display_name("Hook")
        .category("test")
        .config_schema(json!({"type": "object"}))
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(Hook(template))).unwrap();
    let vault = Vault::new(KeyRing::new(
        KeyId::new("k1").unwrap(),
        MasterKey::from_bytes(&[7u8; 32]).unwrap(),
    ));
    let connections = Connections::new(crate::support::builder().build().unwrap(), vault, registry);
    let (tenant, id) = (
        switchboard::TenantId::new("t1"),
        switchboard::ConnectionId::new("conn-1"),
    );
    connections
        .create(&tenant, &id, "hook", "Hook", &json!({}))
        .await
        .unwrap();
    assert!(connections
        .get(&tenant, &id)
        .await
        .unwrap()
        .last_event
        .is_none());

    let runs = Arc::new(AtomicUsize::new(0));
    let router = WebhookRouter::builder()
        .connections(connections.clone())
        .route(
            WebhookRoute::new("test", Arc::new(IdVerifier), counting_handler(runs)).tenant_of(
                |c| (c.as_str() == "conn-1").then_some(switchboard::TenantId::new("t1")),
            ),
        )
        .build()
        .unwrap();
    let mut forged = sign("e", now_secs(), b"{}");
    forged.insert("x-sig", HeaderValue::from_static("00"));
    let _ = router
        .handle(InboundRequest::new("/webhooks/test/conn-1", forged, "{}"))
        .await
        .unwrap_err();
    assert!(
        connections
            .get(&tenant, &id)
            .await
            .unwrap()
            .last_event
            .is_none(),
        "an unverified request must not count as an event"
    );
    router
        .handle(event("/webhooks/test/conn-1", "e", now_secs(), b"{}"))
        .await
        .unwrap();
    assert!(connections
        .get(&tenant, &id)
        .await
        .unwrap()
        .last_event
        .is_some());
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_map_outcomes_to_status_codes() {
    use switchboard::test_util::LoopbackServer;

    let fail_next = Arc::new(AtomicBool::new(false));
    let flag = fail_next.clone();
    let router = WebhookRouter::builder()
        .visibility_timeout(Duration::from_secs(7))
        .route(WebhookRoute::new(
            "test",
            Arc::new(IdVerifier),
            Arc::new(handler_fn(move |e: WebhookEvent| {
                let flag = flag.clone();
                async move {
                    if e.event_id == "slow" {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    if flag.swap(false, Ordering::SeqCst) {
                        return Err(Error::new(ErrorKind::Transport, "boom"));
                    }
                    Ok(())
                }
            })),
        ))
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router)).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr());
    let ts = now_secs();
    let post = |path: &str, id: &str, body: &'static str| {
        client
            .post(format!("{base}{path}"))
            .headers(sign(id, ts, body.as_bytes()))
            .body(body)
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(post("/webhooks/test/c1", "a", "{}").await.unwrap()),
        200
    );
    assert_eq!(
        status(post("/webhooks/test/c1", "a", "{}").await.unwrap()),
        200
    );
    assert_eq!(
        status(post("/webhooks/nope/c1", "a", "{}").await.unwrap()),
        404
    );
    let forged = client
        .post(format!("{base}/webhooks/test/c1"))
        .header("x-id", "b")
        .header("x-ts", ts.to_string())
        .header("x-sig", "00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    fail_next.store(true, Ordering::SeqCst);
    assert_eq!(
        status(post("/webhooks/test/c1", "c", "{}").await.unwrap()),
        500
    );
    assert_eq!(
        status(post("/webhooks/test/c1", "c", "{}").await.unwrap()),
        200
    );
    // In flight on another request: 429 with Retry-After.
    let slow = tokio::spawn(post("/webhooks/test/c1", "slow", "{}"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let busy = post("/webhooks/test/c1", "slow", "{}").await.unwrap();
    assert_eq!(busy.status().as_u16(), 429);
    assert_eq!(busy.headers()["retry-after"], "7");
    assert_eq!(slow.await.unwrap().unwrap().status().as_u16(), 200);
}

#[test]
fn metrics_count_outcomes_and_verification_failures_by_connector() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let router = router_with(
                Arc::new(InMemoryDedupStore::new()),
                Arc::new(AtomicUsize::new(0)),
            );
            let ts = now_secs();
            for _ in 0..2 {
                router
                    .handle(event("/webhooks/test/c1", "m", ts, b"{}"))
                    .await
                    .unwrap();
            }
            let mut forged = sign("m", ts, b"{}");
            forged.insert("x-sig", HeaderValue::from_static("00"));
            let _ = router
                .handle(InboundRequest::new("/webhooks/test/c1", forged, "{}"))
                .await;
            let _ = router
                .handle(event("/webhooks/attacker-chosen/c1", "m", ts, b"{}"))
                .await;
        });
    });
    let mut counters = std::collections::HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (_, key) = key.into_parts();
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        if let DebugValue::Counter(v) = value {
            counters.insert(format!("{}{{{}}}", key.name(), labels.join(",")), v);
        }
    }
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    assert_eq!(
        get("switchboard_webhooks_total{connector=test,outcome=processed}"),
        1,
        "{counters:?}"
    );
    assert_eq!(
        get("switchboard_webhooks_total{connector=test,outcome=duplicate}"),
        1
    );
    assert_eq!(
        get("switchboard_webhooks_total{connector=test,outcome=verification_failed}"),
        1
    );
    assert_eq!(
        get("switchboard_webhook_verification_failures_total{connector=test}"),
        1
    );
    // A connector name chosen by the sender never becomes a label.
    assert_eq!(
        get("switchboard_webhooks_total{connector=unknown,outcome=unknown_route}"),
        1
    );
}
