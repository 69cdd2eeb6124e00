//! The health monitor over a real loopback provider: scheduled checks, error backoff and
//! recovery, alerts (delayed and critical, once per episode), two tenants sharing a connection
//! id, two monitors over one store with one Redis lease, and the per-tenant summary.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::health::{HealthAlert, HealthMonitor, HealthPolicy};
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::test_util::{canary, LoopbackServer};
use switchboard::vault::Vault;
use switchboard::{ConnectionId, Error, Switchboard, TenantId};
use tokio::sync::broadcast::error::TryRecvError;
use tokio::time::Instant;

use crate::support::{builder, TestConnector};

/// A host integration whose check is `GET /health` with a bearer key.
#[derive(Debug)]
struct Crm(IntegrationTemplate);

#[async_trait::async_trait]
impl Integration for Crm {
    async fn check(&self, connection: &switchboard::Connection) -> Result<(), switchboard::Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let key = config.require_secret("apiKey")?.expose_secret().to_string();
        Ok(IntegrationBinding::new(
            Arc::new(TestConnector::default()),
            config.str("baseUrl").unwrap_or_default(),
            Some(Arc::new(BearerToken::new(key))),
        ))
    }
}

fn registry() -> Registry {
    let template = IntegrationTemplate::builder("crm")
        .display_name("CRM")
        .category("crm")
        .config_schema(json!({
            "type": "object",
            "required": ["apiKey", "baseUrl"],
            "properties": {
                "apiKey": {"type": "string", "format": "password"},
                "baseUrl": {"type": "string"}
            }
        }))
        .endpoint_url_field("baseUrl")
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(Crm(template))).unwrap();
    registry
}

fn vault() -> Vault {
    crate::support::test_vault(7)
}

fn switchboard() -> Switchboard {
    builder().allow_endpoint_host("127.0.0.1").build().unwrap()
}

fn service() -> Connections {
    Connections::new(switchboard(), vault(), registry())
}

/// A provider answering `/health` with the status in `status` (0: never answers), recording
/// when each request arrived.
struct Provider {
    server: LoopbackServer,
    status: Arc<AtomicU16>,
    hits: Arc<Mutex<Vec<Instant>>>,
}

impl Provider {
    async fn start(status: u16) -> Provider {
        let status = Arc::new(AtomicU16::new(status));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (s, h) = (status.clone(), hits.clone());
        let app = Router::new().route(
            "/health",
            get(move |headers: HeaderMap| {
                let (s, h) = (s.clone(), h.clone());
                async move {
                    h.lock().unwrap().push(Instant::now());
                    let code = s.load(Ordering::SeqCst);
                    if code == 0 {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    // A careless provider: its error body echoes the credential it was sent.
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let body = if code == 200 {
                        "{}".to_string()
                    } else {
                        format!("{{\"error\":\"rejected {auth}\"}}")
                    };
                    (StatusCode::from_u16(code.max(200)).unwrap(), body)
                }
            }),
        );
        Provider {
            server: LoopbackServer::start(app).await,
            status,
            hits,
        }
    }

    /// The start of each check (retries of one check, milliseconds apart, count once),
    /// relative to `t0`, in whole seconds rounded down.
    fn checks_since(&self, t0: Instant) -> Vec<u64> {
        let hits = self.hits.lock().unwrap();
        let mut out: Vec<u64> = Vec::new();
        let mut last: Option<Instant> = None;
        for &h in hits.iter() {
            if last.is_none_or(|l| h.duration_since(l) > Duration::from_millis(900)) {
                out.push(h.duration_since(t0).as_secs());
            }
            last = Some(h);
        }
        out
    }
}

async fn create(s: &Connections, tenant: &TenantId, id: &ConnectionId, p: &Provider) {
    create_with_key(s, tenant, id, p, "key-123456").await;
}

async fn create_with_key(
    s: &Connections,
    tenant: &TenantId,
    id: &ConnectionId,
    p: &Provider,
    key: &str,
) {
    s.create(
        tenant,
        id,
        "crm",
        "CRM",
        &json!({"apiKey": key, "baseUrl": p.server.base_url()}),
    )
    .await
    .unwrap();
}

fn gaps(times: &[u64]) -> Vec<u64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Drains every alert received so far.
fn drain(rx: &mut tokio::sync::broadcast::Receiver<HealthAlert>) -> Vec<HealthAlert> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(a) => out.push(a),
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("alert channel: {e}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_connection_is_retried_with_capped_backoff_and_comes_back_active() {
    let s = service();
    let mut events = s.subscribe();
    let provider = Provider::start(503).await;
    let (t, c): (TenantId, ConnectionId) = ("tenant-1".into(), "crm-1".into());
    create(&s, &t, &c, &provider).await;

    let monitor = HealthMonitor::builder(s.clone())
        .template_policy(
            "crm",
            HealthPolicy::new(Duration::from_secs(60), Duration::from_secs(5)),
        )
        .backoff(Duration::from_secs(10), Duration::from_secs(40))
        .jitter(0.0)
        .tick(Duration::from_secs(1))
        .tenant(t.clone())
        .build();
    let t0 = Instant::now();
    let task = monitor.start();

    // Failures at 0, then after 10, 20, 40 (doubling) and 40 (the cap); each wait starts when
    // the check ends and the next tick (1 s) runs it, so gaps may be a second longer.
    tokio::time::sleep(Duration::from_secs(118)).await;
    let failing = provider.checks_since(t0);
    assert_eq!(failing.len(), 5, "checks at {failing:?}");
    for (gap, want) in gaps(&failing).into_iter().zip([10, 20, 40, 40]) {
        assert!(
            (want..=want + 2).contains(&gap),
            "gap {gap} s, want {want} s: {failing:?}"
        );
    }
    let r = s.get(&t, &c).await.unwrap();
    assert_eq!(r.status, ConnectionStatus::Error);
    assert_eq!(r.consecutive_failures, 5);

    // The provider recovers: the next retry (40 s after the last) moves it back to active,
    // and from then on it is checked every interval.
    provider.status.store(200, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(110)).await;
    let all = provider.checks_since(t0);
    let after: Vec<u64> = all[5..].to_vec();
    let last_fail = failing[4];
    assert!(
        !after.is_empty() && (last_fail + 40..=last_fail + 42).contains(&after[0]),
        "recovery check at {after:?}, last failure at {last_fail}"
    );
    assert!(
        after.len() == 2 && (60..=62).contains(&(after[1] - after[0])),
        "healthy checks every 60 s: {after:?}"
    );
    assert_eq!(
        s.get(&t, &c).await.unwrap().status,
        ConnectionStatus::Active
    );
    let mut moves = Vec::new();
    while let Ok(e) = events.try_recv() {
        moves.push((e.from, e.to));
    }
    assert_eq!(
        moves,
        [
            (ConnectionStatus::Pending, ConnectionStatus::Error),
            (ConnectionStatus::Error, ConnectionStatus::Active)
        ]
    );

    // Disconnected connections are never checked.
    s.disconnect(&t, &c).await.unwrap();
    let before = provider.hits.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert_eq!(provider.hits.lock().unwrap().len(), before);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn alerts_come_after_the_configured_time_or_at_once_when_critical_once_per_episode() {
    let s = service();
    let provider = Provider::start(503).await;
    let t: TenantId = "tenant-1".into();
    let (plain, critical): (ConnectionId, ConnectionId) = ("plain".into(), "critical".into());
    let key = canary("health-key");
    create_with_key(&s, &t, &plain, &provider, &key).await;
    create_with_key(&s, &t, &critical, &provider, &key).await;
    let policy = HealthPolicy::new(Duration::from_secs(60), Duration::from_secs(5));
    let monitor = HealthMonitor::builder(s.clone())
        .template_policy("crm", policy)
        .connection_policy(t.clone(), critical.clone(), policy.critical(true))
        .backoff(Duration::from_secs(10), Duration::from_secs(20))
        .jitter(0.0)
        .alert_after(Duration::from_secs(90))
        .tenant(t.clone())
        .build();
    let mut alerts = monitor.subscribe();
    let task = monitor.start();

    // The critical connection alerts as soon as its first check fails; the other not yet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let first = drain(&mut alerts);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].connection, critical);
    assert!(first[0].critical);
    assert!(first[0].last_error.as_deref().unwrap_or("").contains("503"));
    // The alert and the summary carry the redacted error, never the key the provider echoed.
    let summary = monitor.summary(&t).await.unwrap();
    let shown = format!(
        "{:?} {:?} {summary:?} {monitor:?}",
        first[0], first[0].last_error
    );
    assert!(!shown.contains(&key), "{shown}");

    // The plain one alerts once it has been in error for 90 s, not before.
    tokio::time::sleep(Duration::from_secs(80)).await;
    assert!(drain(&mut alerts).is_empty());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let second = drain(&mut alerts);
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(second[0].connection, plain);
    assert!(!second[0].critical && second[0].in_error_for >= Duration::from_secs(90));

    // Once per episode: more failing checks raise nothing more.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(drain(&mut alerts).is_empty());

    // Recovery ends the episode; the next failure starts a new one and alerts again.
    provider.status.store(200, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(
        s.get(&t, &critical).await.unwrap().status,
        ConnectionStatus::Active
    );
    provider.status.store(503, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(65)).await;
    let again = drain(&mut alerts);
    assert_eq!(
        again.iter().map(|a| &a.connection).collect::<Vec<_>>(),
        [&critical]
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn two_tenants_sharing_a_connection_id_one_failing_never_delays_or_alerts_the_other() {
    let s = service();
    let hanging = Provider::start(0).await;
    let healthy = Provider::start(200).await;
    let (a, b): (TenantId, TenantId) = ("tenant-a".into(), "tenant-b".into());
    let id: ConnectionId = "crm".into();
    create(&s, &a, &id, &hanging).await;
    create(&s, &b, &id, &healthy).await;
    // A's own policy (critical, every 15 s) must not leak into B's (every 60 s, not critical).
    let monitor = HealthMonitor::builder(s.clone())
        .template_policy(
            "crm",
            HealthPolicy::new(Duration::from_secs(60), Duration::from_secs(5)),
        )
        .connection_policy(
            a.clone(),
            id.clone(),
            HealthPolicy::new(Duration::from_secs(15), Duration::from_secs(5)).critical(true),
        )
        .backoff(Duration::from_secs(10), Duration::from_secs(10))
        .jitter(0.0)
        .alert_after(Duration::from_secs(30))
        .tenant(a.clone())
        .tenant(b.clone())
        .build();
    let mut alerts = monitor.subscribe();
    let t0 = Instant::now();
    let task = monitor.start();
    tokio::time::sleep(Duration::from_secs(250)).await;

    // B: checked at 0, 60, 120, 180, 240, whatever A's hanging checks do.
    let b_checks = healthy.checks_since(t0);
    assert_eq!(b_checks.len(), 5, "{b_checks:?}");
    assert!(b_checks[0] <= 1, "{b_checks:?}");
    assert!(
        gaps(&b_checks).iter().all(|g| (60..=62).contains(g)),
        "{b_checks:?}"
    );
    let rb = s.get(&b, &id).await.unwrap();
    assert_eq!(rb.status, ConnectionStatus::Active);
    assert!(rb.last_error.is_none());
    // A: in error (its checks time out), retried, and alerted: only A.
    let ra = s.get(&a, &id).await.unwrap();
    assert_eq!(ra.status, ConnectionStatus::Error);
    assert!(hanging.checks_since(t0).len() >= 10);
    let got = drain(&mut alerts);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!((&got[0].tenant, &got[0].connection), (&a, &id));

    let sa = monitor.summary(&a).await.unwrap();
    let sb = monitor.summary(&b).await.unwrap();
    assert_eq!((sa.error, sa.active), (1, 0));
    assert_eq!((sb.error, sb.active), (0, 1));
    assert!(sb.oldest_error.is_none());
    task.abort();
}

#[tokio::test]
async fn the_summary_counts_a_tenants_connections_by_status_with_oldest_error_and_last_sync() {
    let s = service();
    let ok = Provider::start(200).await;
    let bad = Provider::start(401).await;
    let (t, u): (TenantId, TenantId) = ("tenant-1".into(), "tenant-2".into());
    for id in ["ok-1", "ok-2", "off"] {
        create(&s, &t, &id.into(), &ok).await;
    }
    create(&s, &t, &"bad-old".into(), &bad).await;
    create(&s, &t, &"bad-new".into(), &ok).await;
    create(&s, &t, &"new".into(), &ok).await;
    create(&s, &u, &"ok-1".into(), &bad).await;
    let monitor = HealthMonitor::builder(s.clone())
        .tenant(t.clone())
        .tenant(u.clone())
        .build();
    // One pass checks every never-checked connection.
    assert_eq!(monitor.run_once().await, 7);
    // "bad-new" succeeded once, then fails: "bad-old" (never succeeded) is the oldest error.
    ok.status.store(401, Ordering::SeqCst);
    s.test_connection(&t, &"bad-new".into()).await.unwrap();
    ok.status.store(200, Ordering::SeqCst);
    s.disconnect(&t, &"off".into()).await.unwrap();
    s.create(
        &t,
        &"pending".into(),
        "crm",
        "CRM",
        &json!({"apiKey": "key-123456", "baseUrl": ok.server.base_url()}),
    )
    .await
    .unwrap();
    s.record_sync(&t, &"ok-2".into()).await.unwrap();
    let synced = s.get(&t, &"ok-2".into()).await.unwrap().last_sync;

    let sum = monitor.summary(&t).await.unwrap();
    assert_eq!(
        (sum.pending, sum.active, sum.error, sum.disconnected),
        (1, 3, 2, 1),
        "{sum:?}"
    );
    let oldest = sum.oldest_error.unwrap();
    assert_eq!(oldest.connection, ConnectionId::new("bad-old"));
    assert!(oldest.last_success.is_none());
    assert!(oldest.last_error.unwrap().contains("401"));
    assert_eq!(sum.last_sync, synced);
    // The other tenant's failing connection of the same id is counted only there.
    let other = monitor.summary(&u).await.unwrap();
    assert_eq!((other.error, other.active, other.pending), (1, 0, 0));
}

/// Two replicas: two `Connections` over one store, each with a monitor, one Redis lease. Each
/// connection is checked once per interval, not once per monitor.
#[cfg(feature = "redis")]
#[tokio::test]
async fn two_monitors_over_one_store_with_one_redis_lease_check_each_connection_once_per_interval()
{
    use switchboard::connections::InMemoryConnectionStore;
    use switchboard::tokens::{RedisRefreshLock, RefreshLock};
    let prefix = format!("switchboard-test:{:016x}", fastrand::u64(..));
    let store = Arc::new(InMemoryConnectionStore::new());
    let sb = switchboard();
    let replicas: Vec<Connections> = (0..2)
        .map(|_| {
            Connections::new(sb.clone(), vault(), registry()).with_connection_store(store.clone())
        })
        .collect();
    let pa = Provider::start(200).await;
    let pb = Provider::start(200).await;
    let (a, b): (TenantId, TenantId) = ("tenant-a".into(), "tenant-b".into());
    let id: ConnectionId = "crm".into();
    create(&replicas[0], &a, &id, &pa).await;
    create(&replicas[1], &b, &id, &pb).await;

    let interval = Duration::from_millis(400);
    let mut tasks = Vec::new();
    let mut monitors = Vec::new();
    for r in &replicas {
        let lock = RedisRefreshLock::connect(&crate::support::redis_url())
            .await
            .expect("Redis at 127.0.0.1:6379")
            .key_prefix(prefix.clone())
            .poll_interval(Duration::from_millis(5));
        let m = HealthMonitor::builder(r.clone())
            .default_policy(HealthPolicy::new(interval, Duration::from_secs(2)))
            .tick(Duration::from_millis(10))
            .lock(Arc::new(lock) as Arc<dyn RefreshLock>)
            .tenant(a.clone())
            .tenant(b.clone())
            .build();
        tasks.push(m.start());
        monitors.push(m);
    }
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    for t in &tasks {
        t.abort();
    }
    for p in [&pa, &pb] {
        let hits = p.hits.lock().unwrap().clone();
        // 0, 0.4, ..., 2.0 s: six checks at most (twelve if each monitor checked).
        assert!((4..=6).contains(&hits.len()), "{} checks", hits.len());
        for w in hits.windows(2) {
            let gap = w[1].duration_since(w[0]);
            assert!(
                gap >= Duration::from_millis(380),
                "two checks {gap:?} apart"
            );
        }
    }
}

/// A store whose writes fail while `fail_saves` is set (a database that went read-only).
#[derive(Debug, Default)]
struct FlakyStore {
    inner: switchboard::connections::InMemoryConnectionStore,
    fail_saves: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl switchboard::connections::ConnectionStore for FlakyStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<switchboard::connections::ConnectionRecord>, Error> {
        self.inner.load(tenant, id).await
    }
    async fn save(
        &self,
        record: &switchboard::connections::ConnectionRecord,
    ) -> Result<u64, Error> {
        if self.fail_saves.load(Ordering::SeqCst) {
            return Err(Error::new(
                switchboard::ErrorKind::Store,
                "test store is read-only",
            ));
        }
        self.inner.save(record).await
    }
    async fn list(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<switchboard::connections::ConnectionRecord>, Error> {
        self.inner.list(tenant).await
    }
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        version: u64,
    ) -> Result<(), Error> {
        self.inner.delete(tenant, id, version).await
    }
    async fn find_by_webhook_token(
        &self,
        token: &str,
    ) -> Result<Option<switchboard::connections::ConnectionRecord>, Error> {
        self.inner.find_by_webhook_token(token).await
    }
    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<switchboard::connections::ConnectionRecord>, Error> {
        self.inner.find_by_routing_key(template, key).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_check_whose_outcome_cannot_be_recorded_backs_off_instead_of_retrying_every_tick() {
    let store = Arc::new(FlakyStore::default());
    let s = service().with_connection_store(store.clone());
    let provider = Provider::start(200).await;
    let (t, c): (TenantId, ConnectionId) = ("tenant-1".into(), "crm-1".into());
    create(&s, &t, &c, &provider).await;
    store.fail_saves.store(true, Ordering::SeqCst);
    let monitor = HealthMonitor::builder(s.clone())
        .backoff(Duration::from_secs(10), Duration::from_secs(40))
        .jitter(0.0)
        .tenant(t.clone())
        .build();
    let t0 = Instant::now();
    let task = monitor.start();
    tokio::time::sleep(Duration::from_secs(36)).await;
    let checks = provider.checks_since(t0);
    assert_eq!(checks.len(), 3, "{checks:?}");
    let g = gaps(&checks);
    assert!(
        (10..=12).contains(&g[0]) && (20..=22).contains(&g[1]),
        "{checks:?}"
    );
    // The store recovers: the next check is recorded and the connection is active.
    store.fail_saves.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(
        s.get(&t, &c).await.unwrap().status,
        ConnectionStatus::Active
    );
    task.abort();
}
