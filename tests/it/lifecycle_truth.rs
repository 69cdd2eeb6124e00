//! The status a tenant sees tells the truth: long-lived clients act on the connection's
//! current status, a disconnected connection sends nothing (clients made before the
//! disconnect included) and only an explicit `enable` turns it back on, and a replica whose
//! key ring cannot open a record never marks the connection `error` in the shared store.
//! Driven the way a host does: the Stripe template, `Connections`, `StripeClient`, and a
//! loopback provider that counts what reaches it. Two tenants share one connection id.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::stripe::{CreatePaymentIntent, StripeClient, StripeIntegration};
use switchboard::templates::Registry;
use switchboard::test_util::LoopbackServer;
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::ProviderError;
use switchboard::{ConnectionId, ErrorKind, TenantId};

use crate::support::builder;

/// A Stripe stand-in: counts requests per (bearer key, method, path); answers 401 "Invalid API
/// Key provided" for revoked keys, a balance for `GET /v1/balance` and a payment intent for
/// `POST /v1/payment_intents`.
#[derive(Clone, Default)]
struct Provider {
    hits: Arc<Mutex<HashMap<(String, String), usize>>>,
    revoked: Arc<Mutex<HashSet<String>>>,
}

impl Provider {
    async fn start(&self) -> LoopbackServer {
        let me = self.clone();
        let app = Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let me = me.clone();
            async move {
                let key = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .trim_start_matches("Bearer ")
                    .to_string();
                let call = format!("{method} {}", uri.path());
                *me.hits
                    .lock()
                    .unwrap()
                    .entry((key.clone(), call.clone()))
                    .or_default() += 1;
                if me.revoked.lock().unwrap().contains(&key) {
                    return (
                        StatusCode::UNAUTHORIZED,
                        json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
                            .to_string(),
                    );
                }
                let body = match call.as_str() {
                    "POST /v1/payment_intents" => json!({
                        "id": "pi_1", "object": "payment_intent", "amount": 2000,
                        "currency": "usd", "status": "requires_payment_method"
                    }),
                    _ => json!({"object": "balance", "available": [], "pending": []}),
                };
                (StatusCode::OK, body.to_string())
            }
        });
        LoopbackServer::start(app).await
    }

    fn hits(&self, key: &str, call: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .get(&(key.to_string(), call.to_string()))
            .copied()
            .unwrap_or(0)
    }

    fn revoke(&self, key: &str) {
        self.revoked.lock().unwrap().insert(key.to_string());
    }

    fn restore(&self, key: &str) {
        self.revoked.lock().unwrap().remove(key);
    }
}

fn ring(id: &str, byte: u8) -> KeyRing {
    KeyRing::new(
        KeyId::new(id).unwrap(),
        MasterKey::from_bytes(&[byte; 32]).unwrap(),
    )
}

fn stripe_registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(StripeIntegration::new()))
        .unwrap();
    registry
}

/// A service in memory with key ring `k1`.
fn service() -> Connections {
    Connections::new(
        builder().allow_endpoint_host("127.0.0.1").build().unwrap(),
        Vault::new(ring("k1", 7)),
        stripe_registry(),
    )
}

fn intent() -> CreatePaymentIntent {
    CreatePaymentIntent::new().amount(2000).currency("usd")
}

const ID: &str = "stripe";
const TENANTS: [&str; 2] = ["tenant-a", "tenant-b"];

fn key_of(tenant: &str) -> String {
    format!("sk_test_{}", tenant.replace('-', "_"))
}

/// Creates the shared connection id for both tenants, each with its own key; left `pending`.
async fn create_both(s: &Connections, base_url: &str) {
    for t in TENANTS {
        s.create(
            &t.into(),
            &ID.into(),
            "stripe",
            "Stripe",
            &json!({"secret_key": key_of(t), "base_url": base_url}),
        )
        .await
        .unwrap();
    }
}

/// Waits (up to 5 s) until the stored status is `want`.
async fn wait_for(s: &Connections, t: &TenantId, want: ConnectionStatus) {
    let c: ConnectionId = ID.into();
    for _ in 0..500 {
        if s.get(t, &c).await.unwrap().status == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{t}: status stayed {} instead of {want}",
        s.get(t, &c).await.unwrap().status
    );
}

#[tokio::test]
async fn long_lived_clients_act_on_the_current_status_not_the_one_they_were_made_with() {
    let provider = Provider::default();
    let server = provider.start().await;
    let s = service();
    create_both(&s, &server.base_url()).await;
    let (a, b): (TenantId, TenantId) = (TENANTS[0].into(), TENANTS[1].into());
    let c: ConnectionId = ID.into();

    // Tenant A's client is made while `pending`, and kept.
    let stripe_a = StripeClient::from_connection(s.connection(&a, &c).await.unwrap()).unwrap();
    for t in [&a, &b] {
        assert_eq!(
            s.test_connection(t, &c).await.unwrap().status,
            ConnectionStatus::Active
        );
    }
    // Tenant B's client is made while `active`.
    let stripe_b = StripeClient::from_connection(s.connection(&b, &c).await.unwrap()).unwrap();

    // A's key is revoked: the next call through the pending-made client moves A to `error`,
    // with the provider's explanation; B (same connection id) is untouched.
    provider.revoke(&key_of(TENANTS[0]));
    let err = stripe_a
        .payment_intents()
        .create(intent())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err}");
    wait_for(&s, &a, ConnectionStatus::Error).await;
    let ra = s.get(&a, &c).await.unwrap();
    assert!(ra.last_error.unwrap().contains("401"));
    stripe_b.payment_intents().create(intent()).await.unwrap();
    assert_eq!(
        s.get(&b, &c).await.unwrap().status,
        ConnectionStatus::Active
    );

    // B goes to `error` (a failed check elsewhere); the active-made client's next success
    // brings it back. A stays in error: its key is still revoked, and B's success is not A's.
    s.transition(&b, &c, ConnectionStatus::Error, Some("a failed check"))
        .await
        .unwrap();
    stripe_b.payment_intents().create(intent()).await.unwrap();
    wait_for(&s, &b, ConnectionStatus::Active).await;
    assert_eq!(s.get(&a, &c).await.unwrap().status, ConnectionStatus::Error);

    // A's key comes back: the pending-made client's success moves A to `active` too.
    provider.restore(&key_of(TENANTS[0]));
    stripe_a.payment_intents().create(intent()).await.unwrap();
    wait_for(&s, &a, ConnectionStatus::Active).await;

    // Writes only on change: further successes through several clients write nothing.
    let versions: Vec<u64> = {
        let mut v = Vec::new();
        for t in [&a, &b] {
            v.push(s.get(t, &c).await.unwrap().version);
        }
        v
    };
    let again_a = StripeClient::from_connection(s.connection(&a, &c).await.unwrap()).unwrap();
    for _ in 0..5 {
        stripe_a.payment_intents().create(intent()).await.unwrap();
        again_a.payment_intents().create(intent()).await.unwrap();
        stripe_b.payment_intents().create(intent()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for (t, v) in [&a, &b].into_iter().zip(versions) {
        assert_eq!(s.get(t, &c).await.unwrap().version, v, "{t}: no write");
    }

    // Many clients seeing the same 401 at once make one transition, not one each.
    let mut events = s.subscribe();
    provider.revoke(&key_of(TENANTS[0]));
    let _ = tokio::join!(
        stripe_a.payment_intents().create(intent()),
        again_a.payment_intents().create(intent()),
        stripe_a.payment_intents().create(intent())
    );
    wait_for(&s, &a, ConnectionStatus::Error).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut moves = 0;
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.tenant, a, "only A moved");
        moves += 1;
    }
    assert_eq!(moves, 1);
}

#[tokio::test]
async fn a_disconnected_connection_sends_nothing_and_stays_disconnected_until_enabled() {
    let provider = Provider::default();
    let server = provider.start().await;
    let s = service();
    create_both(&s, &server.base_url()).await;
    let (a, b): (TenantId, TenantId) = (TENANTS[0].into(), TENANTS[1].into());
    let c: ConnectionId = ID.into();
    for t in [&a, &b] {
        s.test_connection(t, &c).await.unwrap();
    }
    let (key_a, key_b) = (key_of(TENANTS[0]), key_of(TENANTS[1]));
    const CREATE: &str = "POST /v1/payment_intents";

    // A client made before the disconnect, and kept.
    let before = StripeClient::from_connection(s.connection(&a, &c).await.unwrap()).unwrap();
    let stripe_b = StripeClient::from_connection(s.connection(&b, &c).await.unwrap()).unwrap();
    before.payment_intents().create(intent()).await.unwrap();
    assert_eq!(provider.hits(&key_a, CREATE), 1);

    s.disconnect(&a, &c).await.unwrap();
    let after = StripeClient::from_connection(s.connection(&a, &c).await.unwrap()).unwrap();
    for client in [&before, &after] {
        let err = client.payment_intents().create(intent()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::State, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("disconnected") && text.contains("tenant-a") && text.contains(ID),
            "{text}"
        );
    }
    assert_eq!(
        provider.hits(&key_a, CREATE),
        1,
        "no payment intent reached the provider through a disconnected connection"
    );
    // Tenant B, same connection id, is not disconnected.
    stripe_b.payment_intents().create(intent()).await.unwrap();
    assert_eq!(provider.hits(&key_b, CREATE), 1);

    // A check records its outcome and leaves the connection disconnected.
    let r = s.test_connection(&a, &c).await.unwrap();
    assert_eq!(r.status, ConnectionStatus::Disconnected);
    assert!(r.last_check.is_some() && r.last_success.is_some());
    provider.revoke(&key_a);
    let r = s.test_connection(&a, &c).await.unwrap();
    assert_eq!(r.status, ConnectionStatus::Disconnected);
    assert_eq!(r.consecutive_failures, 1);
    assert!(r.last_error.unwrap().contains("401"));
    provider.restore(&key_a);
    assert!(before.payment_intents().create(intent()).await.is_err());
    assert_eq!(provider.hits(&key_a, CREATE), 1);

    // Only enable turns it back on; then the client made before the disconnect works again.
    let err = s.enable(&b, &c).await.map(|r| r.status);
    assert_eq!(
        err.unwrap(),
        ConnectionStatus::Active,
        "active stays active"
    );
    assert_eq!(
        s.enable(&a, &c).await.unwrap().status,
        ConnectionStatus::Active
    );
    before.payment_intents().create(intent()).await.unwrap();
    assert_eq!(provider.hits(&key_a, CREATE), 2);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_replica_whose_key_ring_cannot_open_the_record_does_not_mark_it_error() {
    use switchboard::store::sqlite::SqliteStore;

    let provider = Provider::default();
    let server = provider.start().await;
    let path = std::env::temp_dir().join(format!("sb-truth-{:016x}.db", fastrand::u64(..)));
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let replica = |ring: KeyRing| {
        let sb = builder()
            .allow_endpoint_host("127.0.0.1")
            .credential_store(store.clone())
            .build()
            .unwrap();
        Connections::new(sb, Vault::new(ring), stripe_registry())
            .with_connection_store(store.clone())
    };
    let good = replica(ring("k1", 7));
    create_both(&good, &server.base_url()).await;
    let (a, b): (TenantId, TenantId) = (TENANTS[0].into(), TENANTS[1].into());
    let c: ConnectionId = ID.into();
    for t in [&a, &b] {
        good.test_connection(t, &c).await.unwrap();
    }

    // Another key id; the same id with other key bytes; the right key, but retired.
    let wrong_rings = [
        ("another key id", ring("k2", 8)),
        ("same id, other bytes", ring("k1", 8)),
        (
            "retired",
            ring("k2", 8).with_retired(
                KeyId::new("k1").unwrap(),
                MasterKey::from_bytes(&[7; 32]).unwrap(),
            ),
        ),
    ];
    for (case, wrong) in wrong_rings {
        let bad = replica(wrong);
        for t in [&a, &b] {
            let before = good.get(t, &c).await.unwrap();
            let err = bad.test_connection(t, &c).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Vault, "{case}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("`k1`") && text.contains("key ring") && text.contains(t.as_str()),
                "{case}: {text}"
            );
            assert!(!text.contains("sk_test"), "{case}: {text}");
            let err = bad.connection(t, &c).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Vault, "{case}: {err}");
            let after = good.get(t, &c).await.unwrap();
            assert_eq!(after.status, ConnectionStatus::Active, "{case}: {t}");
            assert_eq!(
                after.version, before.version,
                "{case}: {t}: nothing written"
            );
            assert_eq!(after.last_error, None, "{case}: {t}");
        }
    }
    // The replica with the right ring still works both tenants.
    for t in [&a, &b] {
        assert_eq!(
            good.test_connection(t, &c).await.unwrap().status,
            ConnectionStatus::Active
        );
    }
    drop(store);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_disconnect_through_another_replica_stops_calls_within_the_refresh_period() {
    use switchboard::connections::InMemoryConnectionStore;
    use switchboard::credentials::InMemoryCredentialStore;

    let provider = Provider::default();
    let server = provider.start().await;
    let records = Arc::new(InMemoryConnectionStore::new());
    let secrets = Arc::new(InMemoryCredentialStore::new());
    let replica = || {
        let sb = builder()
            .allow_endpoint_host("127.0.0.1")
            .credential_store(secrets.clone())
            .build()
            .unwrap();
        Connections::new(sb, Vault::new(ring("k1", 7)), stripe_registry())
            .with_connection_store(records.clone())
    };
    let (one, two) = (replica(), replica());
    create_both(&one, &server.base_url()).await;
    let (a, b): (TenantId, TenantId) = (TENANTS[0].into(), TENANTS[1].into());
    let c: ConnectionId = ID.into();
    for t in [&a, &b] {
        one.test_connection(t, &c).await.unwrap();
    }
    let on_one_a = StripeClient::from_connection(one.connection(&a, &c).await.unwrap()).unwrap();
    let on_one_b = StripeClient::from_connection(one.connection(&b, &c).await.unwrap()).unwrap();
    on_one_a.payment_intents().create(intent()).await.unwrap();

    // Replica two disconnects A. Replica one's client learns it from the store within a
    // second, without a read per call: its credentials come from the config cache, which
    // re-reads the record at most a second after it last did, and the very first call after
    // that is refused before anything is sent.
    let sent = provider.hits(&key_of(TENANTS[0]), "POST /v1/payment_intents");
    two.disconnect(&a, &c).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = on_one_a
        .payment_intents()
        .create(intent())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::State, "{err}");
    assert_eq!(
        provider.hits(&key_of(TENANTS[0]), "POST /v1/payment_intents"),
        sent
    );
    // B, same connection id, still sends.
    on_one_b.payment_intents().create(intent()).await.unwrap();

    // Enabled on replica two: replica one's client sends again after the next refresh.
    two.enable(&a, &c).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let _ = on_one_a.payment_intents().create(intent()).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    on_one_a.payment_intents().create(intent()).await.unwrap();
}
