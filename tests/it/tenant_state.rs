//! Per-connection pipeline state is keyed by (tenant, connection): two tenants that both name a
//! connection `stripe`, calling the same host, never share a breaker, a retry budget, a
//! rate-limit bucket (in memory or in Redis) or a cache entry, and one tenant's failures never
//! move the other's connection to `error`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::rate_limit::{InMemoryRateLimiter, RateLimiter};
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::vault::Vault;
use switchboard::{
    BreakerConfig, BreakerState, ConnectionId, ErrorKind, Quota, RetryConfig, Switchboard, TenantId,
};

use crate::support::{builder, connect_as, TestConnector};

/// The connection id both tenants use.
const SHARED_ID: &str = "stripe";

/// A host's own integration: a bearer key (secret) and a base URL (an endpoint field).
#[derive(Debug)]
struct HostApi(IntegrationTemplate);

impl HostApi {
    fn new() -> Self {
        HostApi(
            IntegrationTemplate::builder("host-api")
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
                .unwrap(),
        )
    }
}

#[async_trait::async_trait]
impl Integration for HostApi {
    async fn check(&self, connection: &switchboard::Connection) -> Result<(), switchboard::Error> {
        crate::support::check_health(connection).await
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, switchboard::Error> {
        let key = config.require_secret("apiKey")?.expose_secret().to_string();
        Ok(IntegrationBinding::new(
            Arc::new(TestConnector::default()),
            config.str("baseUrl").unwrap_or_default(),
            Some(Arc::new(BearerToken::new(key))),
        ))
    }
}

fn vault() -> Vault {
    crate::support::test_vault(5)
}

/// A provider on one loopback host: tenant A's key gets 500 on `/work`, tenant B's key 200;
/// `/health` answers 200 to both.
async fn provider() -> RawServer {
    RawServer::start(|req: &RawRequest| {
        let a = req.header("authorization") == Some("Bearer key-of-tenant-a");
        if req.path.starts_with("/work") && a {
            RawAction::status(500, "{}")
        } else {
            RawAction::status(200, "{}")
        }
    })
    .await
}

async fn status_of(c: &Connections, tenant: &TenantId, id: &ConnectionId) -> ConnectionStatus {
    c.get(tenant, id).await.unwrap().status
}

#[tokio::test]
async fn one_tenants_failures_open_its_breaker_only_and_the_other_stays_active() {
    let server = provider().await;
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .breaker(
            BreakerConfig::default()
                .min_calls(5)
                .cooldown(Duration::from_secs(60)),
        )
        .allow_endpoint_host("127.0.0.1")
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(HostApi::new())).unwrap();
    let connections = Connections::new(sb.clone(), vault(), registry);
    let (a, b, id) = (
        TenantId::new("tenant-a"),
        TenantId::new("tenant-b"),
        ConnectionId::new(SHARED_ID),
    );
    for (tenant, key) in [(&a, "key-of-tenant-a"), (&b, "key-of-tenant-b")] {
        connections
            .create(
                tenant,
                &id,
                "host-api",
                "API",
                &json!({"apiKey": key, "baseUrl": server.base_url()}),
            )
            .await
            .unwrap();
        let r = connections.test_connection(tenant, &id).await.unwrap();
        assert_eq!(r.status, ConnectionStatus::Active);
    }

    let conn_a = connections.connection(&a, &id).await.unwrap();
    let conn_b = connections.connection(&b, &id).await.unwrap();
    assert_eq!(conn_a.host(), conn_b.host(), "same host on purpose");
    // Five calls in the window (the check counted one success) open A's breaker.
    let mut failed = 0;
    loop {
        let e = conn_a.get("/work").send().await.unwrap_err();
        if e.kind() == ErrorKind::CircuitOpen {
            break;
        }
        assert_eq!(e.status().map(|s| s.as_u16()), Some(500), "{e}");
        failed += 1;
        assert!(failed <= 5, "A's breaker never opened");
    }
    assert_eq!(conn_a.breaker_state(), BreakerState::Open);
    assert_eq!(
        sb.breaker_state(&a, &id, conn_a.host()),
        Some(BreakerState::Open)
    );

    // B, same connection id, same host: its breaker is its own.
    assert_eq!(conn_b.breaker_state(), BreakerState::Closed);
    conn_b.get("/work").send().await.expect("B is served");
    assert_eq!(
        sb.breaker_state(&b, &id, conn_b.host()),
        Some(BreakerState::Closed)
    );
    let reports = sb.breaker_reports();
    assert!(
        reports
            .iter()
            .any(|r| r.tenant == a && r.state == BreakerState::Open),
        "{reports:?}"
    );
    assert!(
        reports
            .iter()
            .any(|r| r.tenant == b && r.state == BreakerState::Closed),
        "{reports:?}"
    );

    // The lifecycle moved A to error (in the background) and left B active.
    let mut waited = Duration::ZERO;
    while status_of(&connections, &a, &id).await != ConnectionStatus::Error {
        assert!(waited < Duration::from_secs(5), "A never moved to error");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    // Give any (wrong) background transition of B the same chance to land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        status_of(&connections, &b, &id).await,
        ConnectionStatus::Active
    );
}

#[tokio::test]
async fn one_tenants_retries_spend_its_own_budget_only() {
    let server = RawServer::start(|_: &RawRequest| RawAction::status(503, "")).await;
    // No percent, a reserve of 2 retries per connection (min 2/s over a 1 s window).
    let sb = builder()
        .retry(
            RetryConfig::default()
                .max_attempts(3)
                .base_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(2))
                .budget(0.0, 2, Duration::from_secs(1)),
        )
        .breaker(BreakerConfig::default().min_calls(1_000))
        .build()
        .unwrap();
    let a = connect_as(
        &sb,
        TestConnector::default(),
        &server.base_url(),
        "tenant-a",
        SHARED_ID,
    );
    let b = connect_as(
        &sb,
        TestConnector::default(),
        &server.base_url(),
        "tenant-b",
        SHARED_ID,
    );
    let before = server.requests();
    a.get("/x").send().await.unwrap_err();
    assert_eq!(
        server.requests() - before,
        3,
        "A: two retries from its budget"
    );
    let before = server.requests();
    a.get("/x").send().await.unwrap_err();
    assert_eq!(server.requests() - before, 1, "A's budget is spent");
    let before = server.requests();
    b.get("/x").send().await.unwrap_err();
    assert_eq!(
        server.requests() - before,
        3,
        "B, same connection id and host, still has its own budget"
    );
}

/// Three calls through `limiter` (two per minute per bucket): A's `stripe` spends its bucket,
/// then A's third call is refused while B's `stripe` and A's other connection are served.
async fn buckets_are_per_tenant_and_connection(limiter: Arc<dyn RateLimiter>) {
    let server = RawServer::start(|_: &RawRequest| RawAction::status(200, "{}")).await;
    let sb = builder()
        .rate_limiter(limiter)
        .rate_limit_max_wait(Duration::ZERO)
        .build()
        .unwrap();
    let url = server.base_url();
    let a = connect_as(&sb, TestConnector::default(), &url, "tenant-a", SHARED_ID);
    let b = connect_as(&sb, TestConnector::default(), &url, "tenant-b", SHARED_ID);
    let a_other = connect_as(&sb, TestConnector::default(), &url, "tenant-a", "stripe-2");
    // Ids that hold each other's text with a separator must not share a bucket either.
    let tricky = connect_as(&sb, TestConnector::default(), &url, "tenant-a:stripe", "x");
    a.get("/x").send().await.unwrap();
    a.get("/x").send().await.unwrap();
    let e = a.get("/x").send().await.unwrap_err();
    assert!(e.is_rate_limited() && e.status().is_none(), "{e}");
    b.get("/x").send().await.expect("B's bucket is its own");
    a_other
        .get("/x")
        .send()
        .await
        .expect("A's other connection has its own bucket");
    tricky.get("/x").send().await.expect("no collision");
    assert_eq!(server.requests(), 5);
}

fn two_per_minute() -> Quota {
    Quota::new(NonZeroU32::new(2).unwrap(), Duration::from_secs(60)).unwrap()
}

#[tokio::test]
async fn in_memory_rate_limit_buckets_are_per_tenant_and_connection() {
    let limiter = InMemoryRateLimiter::new().with_quota("test", "default", two_per_minute());
    buckets_are_per_tenant_and_connection(Arc::new(limiter)).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_rate_limit_buckets_are_per_tenant_and_connection() {
    let prefix = format!("switchboard-test:{:016x}", fastrand::u64(..));
    let limiter =
        switchboard::rate_limit::RedisRateLimiter::connect(&crate::support::redis_url(), &prefix)
            .await
            .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)")
            .with_quota("test", "default", two_per_minute());
    buckets_are_per_tenant_and_connection(Arc::new(limiter)).await;
}

#[tokio::test]
async fn cache_entries_never_cross_tenants_even_when_ids_hold_separators() {
    let server = RawServer::start(|req: &RawRequest| {
        let who = req.header("x-who").unwrap_or("?").to_string();
        RawAction::status(200, &format!("{{\"who\":\"{who}\"}}"))
    })
    .await;
    let sb: Switchboard = builder().build().unwrap();
    let url = server.base_url();
    // Joined with a NUL, ("a\0b", "c") and ("a", "b\0c") would be one key.
    let first = connect_as(&sb, TestConnector::default(), &url, "a\0b", "c");
    let second = connect_as(&sb, TestConnector::default(), &url, "a", "b\0c");
    let ttl = Duration::from_secs(60);
    let r1 = first
        .get("/items")
        .header("x-who", "first")
        .cache_for(ttl)
        .send()
        .await
        .unwrap();
    assert_eq!(r1.bytes().await.unwrap(), "{\"who\":\"first\"}");
    let r2 = second
        .get("/items")
        .header("x-who", "second")
        .cache_for(ttl)
        .send()
        .await
        .unwrap();
    assert!(!r2.is_cache_hit(), "another tenant's entry was served");
    assert_eq!(r2.bytes().await.unwrap(), "{\"who\":\"second\"}");
    assert_eq!(server.requests(), 2);
    assert_eq!(
        switchboard::test_util::cache_keys(&sb).len(),
        2,
        "{:?}",
        switchboard::test_util::cache_keys(&sb)
    );
}

#[test]
fn the_breaker_gauge_counts_every_tenants_open_breaker() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = RawServer::start(|req: &RawRequest| {
                if req.path == "/fail" {
                    RawAction::status(500, "{}")
                } else {
                    RawAction::status(200, "{}")
                }
            })
            .await;
            let sb = builder()
                .retry(RetryConfig::default().max_attempts(1))
                .breaker(
                    BreakerConfig::default()
                        .min_calls(2)
                        .cooldown(Duration::from_millis(50)),
                )
                .build()
                .unwrap();
            let url = server.base_url();
            let a = connect_as(&sb, TestConnector::default(), &url, "tenant-a", SHARED_ID);
            let b = connect_as(&sb, TestConnector::default(), &url, "tenant-b", SHARED_ID);
            for conn in [&a, &b] {
                for _ in 0..2 {
                    let _ = conn.get("/fail").send().await;
                }
                assert_eq!(conn.breaker_state(), BreakerState::Open);
            }
            // A recovers (its probe succeeds); B stays open.
            tokio::time::sleep(Duration::from_millis(60)).await;
            a.get("/ok").send().await.unwrap();
            assert_eq!(a.breaker_state(), BreakerState::Closed);
        });
    });
    let open: Vec<f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, ..)| k.key().name() == switchboard::observe::names::BREAKERS_OPEN)
        .filter_map(|(.., v)| match v {
            DebugValue::Gauge(g) => Some(g.into_inner()),
            _ => None,
        })
        .collect();
    // A single state gauge would read "closed" here (A changed last) while B is open.
    assert_eq!(open, vec![1.0], "one breaker (B's) is still open");
}
