//! `WebhookRouter`: routing by webhook token, verification on the raw bytes with the
//! connection's own secrets, de-duplication across replicas sharing Redis, failed handlers
//! retried by redelivery, slow handlers kept claimed, failure counters, the connection's
//! `last_event`, and the axum glue's status codes.
//!
//! The harness here (a host integration `test` whose webhooks are signed with a per-connection
//! `secret`) is shared with `webhook_tenants.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, StatusCode};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;
use switchboard::connections::Connections;
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
    WebhookRouting,
};
use switchboard::vault::Vault;
use switchboard::webhook::dedup::{DedupStore, InMemoryDedupStore};
use switchboard::webhook::router::{
    handler_fn, InboundRequest, WebhookEvent, WebhookHandler, WebhookOutcome, WebhookRoute,
    WebhookRouteError, WebhookRouter,
};
use switchboard::webhook::{
    StandardWebhooks, Verified, WebhookError, WebhookRequest, WebhookVerifier,
};
use switchboard::{ConnectionId, Error, ErrorKind, TenantId};

/// The host integration whose webhooks go to `{prefix}/test/{token}`.
pub(crate) const TEMPLATE: &str = "test";
/// The same scheme, payload-routed by `locationId` (like GoHighLevel).
pub(crate) const ROUTED: &str = "routed";
/// An integration whose webhooks use the Standard Webhooks scheme.
pub(crate) const STANDARD: &str = "sw";

/// A test scheme with an id and a timestamp: `x-sig = hex(HMAC(secret, "{id}.{ts}.{body}"))`,
/// keyed with the connection's own `secret`.
#[derive(Debug)]
pub(crate) struct IdVerifier {
    pub(crate) secret: Vec<u8>,
}

pub(crate) fn sign(secret: &str, id: &str, ts: u64, body: &[u8]) -> HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = hex::encode(mac.finalize().into_bytes());
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
        let secret = std::str::from_utf8(&self.secret).unwrap();
        let expected = sign(secret, id, ts, r.body);
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

/// A host's own integration: `secret` (sealed) signs its webhooks; `location_id` routes them
/// when `routed`; `sw` uses Standard Webhooks with the same secret field.
#[derive(Debug)]
pub(crate) struct Hooks {
    template: IntegrationTemplate,
    kind: &'static str,
}

impl Hooks {
    pub(crate) fn new(kind: &'static str) -> Self {
        let template = IntegrationTemplate::builder(kind)
            .config_schema(json!({
                "type": "object",
                "required": ["secret"],
                "properties": {
                    "secret": {"type": "string", "format": "password"},
                    "location_id": {"type": "string"}
                }
            }))
            .webhooks(true)
            .build()
            .unwrap();
        Hooks { template, kind }
    }
}

#[async_trait::async_trait]
impl Integration for Hooks {
    async fn check(&self, connection: &switchboard::Connection) -> Result<(), switchboard::Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    fn bind(&self, _: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        Ok(IntegrationBinding::new(
            Arc::new(crate::support::TestConnector::default()),
            "http://127.0.0.1:1",
            None,
        ))
    }

    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let secret = config.require_secret("secret")?.expose_secret();
        if self.kind == STANDARD {
            return Ok(Arc::new(StandardWebhooks::new(secret)?));
        }
        Ok(Arc::new(IdVerifier {
            secret: secret.as_bytes().to_vec(),
        }))
    }

    fn webhook_routing(&self) -> Option<WebhookRouting> {
        (self.kind == ROUTED).then(|| WebhookRouting::new("location_id", "locationId"))
    }
}

pub(crate) fn vault() -> Vault {
    crate::support::test_vault(7)
}

/// Every integration the webhook tests use, ours included where the feature is on.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    for kind in [TEMPLATE, ROUTED, STANDARD] {
        registry.register(Arc::new(Hooks::new(kind))).unwrap();
    }
    #[cfg(feature = "stripe")]
    registry
        .register(Arc::new(switchboard::stripe::StripeIntegration::new()))
        .unwrap();
    #[cfg(feature = "twilio")]
    registry
        .register(Arc::new(switchboard::twilio::TwilioIntegration::new()))
        .unwrap();
    registry
}

/// A connection service with records in memory.
pub(crate) fn connections() -> Connections {
    Connections::new(
        crate::support::builder().build().unwrap(),
        vault(),
        registry(),
    )
}

/// Creates a `test` connection signed with `secret` and returns its webhook path.
pub(crate) async fn connect(
    connections: &Connections,
    tenant: &str,
    id: &str,
    secret: &str,
) -> String {
    let (t, c) = (TenantId::new(tenant), ConnectionId::new(id));
    connections
        .create(&t, &c, TEMPLATE, "Test", &json!({ "secret": secret }))
        .await
        .unwrap();
    connections.webhook_path(&t, &c, "/webhooks").await.unwrap()
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub(crate) fn counting_handler(runs: Arc<AtomicUsize>) -> Arc<dyn WebhookHandler> {
    Arc::new(handler_fn(move |_e: WebhookEvent| {
        let runs = runs.clone();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }))
}

fn router_with(
    connections: &Connections,
    dedup: Arc<dyn DedupStore>,
    runs: Arc<AtomicUsize>,
) -> WebhookRouter {
    WebhookRouter::builder(connections.clone())
        .dedup(dedup)
        .route(WebhookRoute::new(TEMPLATE, counting_handler(runs)))
        .build()
        .unwrap()
}

const SECRET: &str = "secret-of-t1";

fn event(path: &str, id: &str, ts: u64, body: &'static [u8]) -> InboundRequest {
    InboundRequest::new(path, sign(SECRET, id, ts, body), Bytes::from_static(body))
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_five_deliveries_three_replicas_run_exactly_once() {
    use switchboard::webhook::dedup::RedisDedupStore;
    use tokio::task::JoinSet;

    let prefix = format!("switchboard-test:webhooks:{:016x}", fastrand::u64(..));
    let runs = Arc::new(AtomicUsize::new(0));
    let connections = connections();
    let path = connect(&connections, "t1", "conn-1", SECRET).await;
    let mut routers = Vec::new();
    let mut stores = Vec::new();
    for _ in 0..3 {
        let store = RedisDedupStore::connect(&crate::support::redis_url(), &prefix)
            .await
            .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)");
        stores.push(store.clone());
        routers.push(router_with(&connections, Arc::new(store), runs.clone()));
    }
    let ts = now_secs();
    // Deliveries race each other across the three replicas, but at most 64 at a time: 5,000
    // claims at once only measure how long Redis takes to answer a burst on a loaded machine
    // (the store's 2 s answer timeout), not exactly-once.
    let in_flight_cap = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = JoinSet::new();
    // The five deliveries of one event are spawned side by side, so they do race.
    for n in 0..1000 {
        for delivery in 0..5 {
            let router = routers[(n + delivery) % 3].clone();
            let path = path.clone();
            let cap = in_flight_cap.clone();
            tasks.spawn(async move {
                let _permit = cap.acquire_owned().await.expect("never closed");
                let body = format!("{{\"n\":{n}}}");
                let id = format!("evt_{n}");
                let req = InboundRequest::new(path, sign(SECRET, &id, ts, body.as_bytes()), body);
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
    let body = "{\"n\":0}";
    let later = InboundRequest::new(
        path.clone(),
        sign(SECRET, "evt_0", ts + 30 * 3600, body.as_bytes()),
        body,
    );
    assert_eq!(
        routers[2].handle(later).await.unwrap(),
        WebhookOutcome::Duplicate
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1000);
    // The scope is (connector, tenant, connection).
    let key = stores[0].key("test:t1:conn-1", "evt_0");
    let mut raw = redis::Client::open(crate::support::redis_url())
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
            .arg(stores[0].key("test:t1:conn-1", &format!("evt_{n}")))
            .query_async(&mut raw)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn failed_handler_is_retried_by_redelivery_and_succeeds_once() {
    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let successes = Arc::new(AtomicUsize::new(0));
    let (a, s) = (attempts.clone(), successes.clone());
    let router = WebhookRouter::builder(connections)
        .route(WebhookRoute::new(
            TEMPLATE,
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
        .handle(event(&path, "evt_1", ts, b"{}"))
        .await
        .unwrap_err();
    assert!(matches!(err, WebhookRouteError::Handler { .. }), "{err:?}");
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(err.is_retryable());
    // The provider retries: processed now (the claim was released), then a duplicate.
    let redelivered = router.handle(event(&path, "evt_1", ts + 60, b"{}"));
    assert_eq!(redelivered.await.unwrap(), WebhookOutcome::Processed);
    assert_eq!(
        router
            .handle(event(&path, "evt_1", ts + 120, b"{}"))
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
    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let dedup = InMemoryDedupStore::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let stuck = WebhookRouter::builder(connections.clone())
        .dedup(Arc::new(dedup.clone()))
        .visibility_timeout(Duration::from_secs(30))
        .route(WebhookRoute::new(
            TEMPLATE,
            Arc::new(handler_fn(|_e: WebhookEvent| std::future::pending())),
        ))
        .build()
        .unwrap();
    let healthy = router_with(&connections, Arc::new(dedup), runs.clone());
    let ts = now_secs();
    let crashed = tokio::spawn({
        let (stuck, path) = (stuck.clone(), path.clone());
        async move { stuck.handle(event(&path, "e", ts, b"x")).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let answer = healthy.handle(event(&path, "e", ts, b"x")).await.unwrap();
    assert_eq!(
        answer,
        WebhookOutcome::InFlight {
            retry_after: Duration::from_secs(60)
        }
    );
    // The worker dies: nobody extends its claim any more.
    crashed.abort();
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(
        healthy.handle(event(&path, "e", ts, b"x")).await.unwrap(),
        WebhookOutcome::Processed
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn handler_slower_than_the_visibility_timeout_runs_once() {
    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let router = WebhookRouter::builder(connections)
        .route(
            WebhookRoute::new(
                TEMPLATE,
                Arc::new(handler_fn(move |_e: WebhookEvent| {
                    let r = r.clone();
                    async move {
                        r.fetch_add(1, Ordering::SeqCst);
                        // Three times the route's visibility timeout.
                        tokio::time::sleep(Duration::from_secs(90)).await;
                        Ok(())
                    }
                })),
            )
            .visibility_timeout(Duration::from_secs(30)),
        )
        .build()
        .unwrap();
    let ts = now_secs();
    let first = tokio::spawn({
        let (router, path) = (router.clone(), path.clone());
        async move { router.handle(event(&path, "slow", ts, b"{}")).await }
    });
    // The provider times out and redelivers well after the visibility timeout.
    tokio::time::sleep(Duration::from_secs(50)).await;
    assert_eq!(
        router
            .handle(event(&path, "slow", ts, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::InFlight {
            retry_after: Duration::from_secs(30)
        },
        "the running handler's claim is extended"
    );
    assert_eq!(first.await.unwrap().unwrap(), WebhookOutcome::Processed);
    assert_eq!(
        router
            .handle(event(&path, "slow", ts, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn router_verifies_the_raw_bytes_and_hands_them_on_unchanged() {
    // Pretty-printed, odd key order, trailing whitespace, a raw non-UTF-8 byte: any parse and
    // re-serialize would change it and break the HMAC over the raw bytes.
    let sent: &'static [u8] = b"{\n  \"z\": 1,   \"a\" : \"\xff\",\n  \"locationId\": \"c9\" }\n\n";
    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let seen = Arc::new(std::sync::Mutex::new(None::<Bytes>));
    let seen_for_handler = seen.clone();
    let router = WebhookRouter::builder(connections)
        .route(WebhookRoute::new(
            TEMPLATE,
            Arc::new(handler_fn(move |e: WebhookEvent| {
                let seen = seen_for_handler.clone();
                async move {
                    assert_eq!(e.target.connection.as_str(), "c1");
                    assert_eq!(e.target.tenant.as_str(), "t1");
                    *seen.lock().unwrap() = Some(e.body);
                    Ok(())
                }
            })),
        ))
        .build()
        .unwrap();
    let req = event(&path, "raw-1", now_secs(), sent);
    assert_eq!(router.handle(req).await.unwrap(), WebhookOutcome::Processed);
    assert_eq!(seen.lock().unwrap().as_deref(), Some(sent));
}

#[tokio::test]
async fn rejects_unknown_routes_and_bad_signatures_and_counts_failures_per_connection() {
    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let router = router_with(
        &connections,
        Arc::new(InMemoryDedupStore::new()),
        runs.clone(),
    );
    let ts = now_secs();
    let token = path.rsplit('/').next().unwrap().to_string();
    for bad in [
        format!("/webhooks/nope/{token}"),
        format!("/other/test/{token}"),
        "/webhooks/test".to_string(),
        format!("/webhooks/test/{token}/b"),
    ] {
        let err = router
            .handle(event(&bad, "e", ts, b"{}"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND, "{bad}: {err:?}");
    }
    let mut forged = sign(SECRET, "e", ts, b"{}");
    forged.insert("x-sig", HeaderValue::from_static("00"));
    for _ in 0..2 {
        let req = InboundRequest::new(path.clone(), forged.clone(), "{}");
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
    let (t1, c1) = (TenantId::new("t1"), ConnectionId::new("c1"));
    assert_eq!(router.verification_failures(&t1, &c1), 2);
    assert_eq!(
        router.verification_failures(&t1, &ConnectionId::new("c2")),
        0
    );
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_eq!(
        router.handle(event(&path, "e", ts, b"{}")).await.unwrap(),
        WebhookOutcome::Processed
    );

    // Two routes for one connector are a config error.
    let dup = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new(TEMPLATE, counting_handler(runs.clone())))
        .route(WebhookRoute::new(TEMPLATE, counting_handler(runs)))
        .build()
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn verified_event_is_recorded_on_its_connection() {
    let connections = connections();
    let path = connect(&connections, "t1", "conn-1", SECRET).await;
    let (tenant, id) = (TenantId::new("t1"), ConnectionId::new("conn-1"));
    let last_event = || async { connections.get(&tenant, &id).await.unwrap().last_event };
    assert!(last_event().await.is_none());

    let runs = Arc::new(AtomicUsize::new(0));
    let router = router_with(&connections, Arc::new(InMemoryDedupStore::new()), runs);
    let mut forged = sign(SECRET, "e", now_secs(), b"{}");
    forged.insert("x-sig", HeaderValue::from_static("00"));
    let _ = router
        .handle(InboundRequest::new(path.clone(), forged, "{}"))
        .await
        .unwrap_err();
    assert!(
        last_event().await.is_none(),
        "an unverified request must not count as an event"
    );
    router
        .handle(event(&path, "e", now_secs(), b"{}"))
        .await
        .unwrap();
    assert!(last_event().await.is_some());
}

/// `last_event` moves once per verified, first-time, handled event: a duplicate delivery and
/// a delivery whose handler failed leave it where it was. Two tenants share the connection id:
/// one tenant's deliveries never move the other's `last_event`.
#[tokio::test]
async fn duplicates_and_failed_handlers_leave_last_event_unchanged() {
    let connections = connections();
    let path_a = connect(&connections, "ta", "shared", SECRET).await;
    let path_b = connect(&connections, "tb", "shared", SECRET).await;
    let id = ConnectionId::new("shared");
    let (ta, tb) = (TenantId::new("ta"), TenantId::new("tb"));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = fail.clone();
    let router = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new(
            TEMPLATE,
            Arc::new(handler_fn(move |_e: WebhookEvent| {
                let f = f.clone();
                async move {
                    if f.load(Ordering::SeqCst) {
                        return Err(Error::new(ErrorKind::Transport, "downstream is down"));
                    }
                    Ok(())
                }
            })),
        ))
        .build()
        .unwrap();
    let last = |t: &TenantId| {
        let (connections, t, id) = (connections.clone(), t.clone(), id.clone());
        async move { connections.get(&t, &id).await.unwrap().last_event }
    };
    let ts = now_secs();
    assert_eq!(
        router
            .handle(event(&path_a, "evt_1", ts, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::Processed
    );
    let first = last(&ta).await.expect("a processed event is recorded");
    assert!(last(&tb).await.is_none(), "tenant b's record moved");

    // Far enough apart that a second write would show (stores keep milliseconds).
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        router
            .handle(event(&path_a, "evt_1", ts + 5, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::Duplicate
    );
    assert_eq!(last(&ta).await, Some(first), "a duplicate moved last_event");

    fail.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = router
        .handle(event(&path_a, "evt_2", ts + 6, b"{}"))
        .await
        .unwrap_err();
    assert_eq!(
        last(&ta).await,
        Some(first),
        "a failed handler moved last_event"
    );
    // Tenant b's own event id equal to tenant a's is first-time for b.
    fail.store(false, Ordering::SeqCst);
    assert_eq!(
        router
            .handle(event(&path_b, "evt_1", ts + 7, b"{}"))
            .await
            .unwrap(),
        WebhookOutcome::Processed
    );
    assert!(last(&tb).await.is_some());
    assert_eq!(last(&ta).await, Some(first));
}

#[tokio::test]
async fn missing_connections_are_not_found() {
    let connections = connections();
    let (t, c) = (TenantId::new("t1"), ConnectionId::new("ghost"));
    let err = connections.get(&t, &c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    for err in [
        connections
            .webhook_path(&t, &c, "/webhooks")
            .await
            .unwrap_err(),
        connections
            .webhook_verifier(&t, &c)
            .await
            .map(|_| ())
            .unwrap_err(),
        connections
            .record_event(&t, &c)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_routes_map_outcomes_to_status_codes() {
    use std::sync::atomic::AtomicBool;
    use switchboard::test_util::LoopbackServer;

    let connections = connections();
    let path = connect(&connections, "t1", "c1", SECRET).await;
    let fail_next = Arc::new(AtomicBool::new(false));
    let flag = fail_next.clone();
    let router = WebhookRouter::builder(connections)
        .visibility_timeout(Duration::from_secs(7))
        .route(WebhookRoute::new(
            TEMPLATE,
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
            .headers(sign(SECRET, id, ts, body.as_bytes()))
            .body(body)
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(post(&path, "a", "{}").await.unwrap()), 200);
    assert_eq!(status(post(&path, "a", "{}").await.unwrap()), 200);
    let token = path.rsplit('/').next().unwrap();
    assert_eq!(
        status(
            post(&format!("/webhooks/nope/{token}"), "a", "{}")
                .await
                .unwrap()
        ),
        404
    );
    let forged = client
        .post(format!("{base}{path}"))
        .header("x-id", "b")
        .header("x-ts", ts.to_string())
        .header("x-sig", "00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    fail_next.store(true, Ordering::SeqCst);
    assert_eq!(status(post(&path, "c", "{}").await.unwrap()), 500);
    assert_eq!(status(post(&path, "c", "{}").await.unwrap()), 200);
    // In flight on another request: 429 with Retry-After.
    let slow = tokio::spawn(post(&path, "slow", "{}"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let busy = post(&path, "slow", "{}").await.unwrap();
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
            let connections = connections();
            let path = connect(&connections, "t1", "c1", SECRET).await;
            let router = router_with(
                &connections,
                Arc::new(InMemoryDedupStore::new()),
                Arc::new(AtomicUsize::new(0)),
            );
            let ts = now_secs();
            for _ in 0..2 {
                router.handle(event(&path, "m", ts, b"{}")).await.unwrap();
            }
            let mut forged = sign(SECRET, "m", ts, b"{}");
            forged.insert("x-sig", HeaderValue::from_static("00"));
            let _ = router
                .handle(InboundRequest::new(path.clone(), forged, "{}"))
                .await;
            let _ = router
                .handle(event("/webhooks/attacker-chosen/c1", "m", ts, b"{}"))
                .await;
            let _ = router
                .handle(event(
                    "/webhooks/test/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                    "m",
                    ts,
                    b"{}",
                ))
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
        get("switchboard_webhooks_total{connector=test,outcome=unknown_connection}"),
        1
    );
    assert_eq!(
        get("switchboard_webhook_verification_failures_total{connector=test}"),
        1,
        "an unknown token is not a verification failure of any connection"
    );
    // A connector name chosen by the sender never becomes a label.
    assert_eq!(
        get("switchboard_webhooks_total{connector=unknown,outcome=unknown_route}"),
        1
    );
}

#[tokio::test]
async fn webhook_secrets_and_tokens_stay_out_of_logs_and_errors() {
    use switchboard::test_util::{canary, LogCapture};

    let (logs, _guard) = LogCapture::start();
    let connections = connections();
    let secret = canary("webhook-secret");
    let path = connect(&connections, "t1", "c1", &secret).await;
    let token = path.rsplit('/').next().unwrap().to_string();
    let runs = Arc::new(AtomicUsize::new(0));
    let router = router_with(&connections, Arc::new(InMemoryDedupStore::new()), runs);
    let ts = now_secs();
    let mut shown = Vec::new();
    let mut forged = sign(&secret, "e", ts, b"{}");
    forged.insert("x-sig", HeaderValue::from_static("00"));
    let err = router
        .handle(InboundRequest::new(path.clone(), forged, "{}"))
        .await
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let err = router
        .handle(InboundRequest::new(
            format!(
                "/webhooks/test/{}",
                canary("guessed-token").replace('-', "_")
            ),
            HeaderMap::new(),
            "{}",
        ))
        .await
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let ok = router
        .handle(InboundRequest::new(
            path.clone(),
            sign(&secret, "e", ts, b"{}"),
            "{}",
        ))
        .await;
    assert_eq!(ok.unwrap(), WebhookOutcome::Processed);
    shown.push(format!("{router:?}"));
    let text = logs.contents();
    assert!(
        text.contains("webhook failed verification")
            && text.contains("refused before verification"),
        "the refusals are logged: {text}"
    );
    logs.assert_absent(&secret);
    logs.assert_absent(&token);
    logs.assert_absent("guessed_token");
    for text in shown {
        assert!(
            !text.contains(&secret) && !text.contains(&token) && !text.contains("guessed_token"),
            "{text}"
        );
    }
}
