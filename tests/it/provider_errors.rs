//! What the connection lifecycle learns from typed clients' calls: every connection a typed
//! client builds (Twilio's Lookups one too) reports to the lifecycle, and `last_error` keeps
//! the provider's own explanation with the connection's secrets removed. Each test runs two
//! tenants sharing one connection id against loopback providers answering with the providers'
//! real error bodies; only the tenant whose key was revoked moves.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use base64::Engine;
use serde_json::json;
use switchboard::connections::{ConnectionEvent, ConnectionStatus};
use switchboard::stripe::{CustomerId, StripeClient};
use switchboard::test_util::LoopbackServer;
use switchboard::twilio::TwilioClient;
use switchboard::ProviderError;
use switchboard::{ConnectionId, TenantId};

/// Waits for `tenant`'s next status change, skipping the other tenant's.
async fn next_change(
    events: &mut tokio::sync::broadcast::Receiver<ConnectionEvent>,
    tenant: &TenantId,
) -> ConnectionEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("a status change within 5 s")
            .unwrap();
        if &e.tenant == tenant {
            return e;
        }
    }
}

fn auth_header(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// A Stripe stand-in: every path answers a customer for a key in `valid`, else Stripe's 401 body,
/// whose message echoes the key given (Stripe masks it; this one does not, to prove that
/// switchboard removes it).
async fn stripe(valid: Arc<std::sync::Mutex<Vec<String>>>) -> LoopbackServer {
    let app = Router::new().fallback(move |headers: HeaderMap| {
        let valid = valid.clone();
        async move {
            let auth = auth_header(&headers);
            let key = auth.strip_prefix("Bearer ").unwrap_or("").to_string();
            if valid.lock().unwrap().contains(&key) {
                return (
                    StatusCode::OK,
                    json!({"id": "cus_1", "object": "customer"}).to_string(),
                );
            }
            let body = json!({"error": {
                "message": format!("Invalid API Key provided: {key}"),
                "type": "invalid_request_error"
            }});
            (StatusCode::UNAUTHORIZED, body.to_string())
        }
    });
    LoopbackServer::start(app).await
}

#[tokio::test]
async fn stripe_last_error_keeps_the_provider_message_without_the_key() {
    let s = crate::support::stripe_and_twilio_connections();
    let valid = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = stripe(valid.clone()).await;
    let id = ConnectionId::new("payments");
    let (ta, tb) = (TenantId::new("ta"), TenantId::new("tb"));
    let key_a = format!("sk_test_CANARYa{:016x}", fastrand::u64(..));
    let key_b = format!("sk_test_CANARYb{:016x}", fastrand::u64(..));
    valid.lock().unwrap().extend([key_a.clone(), key_b.clone()]);
    for (t, k) in [(&ta, &key_a), (&tb, &key_b)] {
        s.create(
            t,
            &id,
            "stripe",
            "Stripe",
            &json!({"secret_key": k, "base_url": server.base_url()}),
        )
        .await
        .unwrap();
        assert_eq!(
            s.test_connection(t, &id).await.unwrap().status,
            ConnectionStatus::Active
        );
    }
    let client_a = StripeClient::from_connection(s.connection(&ta, &id).await.unwrap()).unwrap();
    let client_b = StripeClient::from_connection(s.connection(&tb, &id).await.unwrap()).unwrap();
    let mut events = s.subscribe();

    // Tenant a's key is revoked at Stripe.
    valid.lock().unwrap().retain(|k| k != &key_a);
    let err = client_a
        .customers()
        .retrieve(&CustomerId::new("cus_1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    let change = next_change(&mut events, &ta).await;
    assert_eq!(change.to, ConnectionStatus::Error);
    let record = s.get(&ta, &id).await.unwrap();
    let last = record.last_error.expect("last_error is recorded");
    assert!(last.contains("Invalid API Key provided"), "{last}");
    assert!(last.contains("401"), "{last}");
    assert!(!last.contains(&key_a) && !last.contains("CANARY"), "{last}");
    assert_eq!(change.error.as_deref(), Some(last.as_str()));

    // The same message from an explicit test, and tenant b is untouched throughout.
    let tested = s.test_connection(&ta, &id).await.unwrap();
    let last = tested.last_error.unwrap();
    assert!(
        last.contains("Invalid API Key provided") && !last.contains("CANARY"),
        "{last}"
    );
    client_b
        .customers()
        .retrieve(&CustomerId::new("cus_1"))
        .send()
        .await
        .unwrap();
    let b = s.get(&tb, &id).await.unwrap();
    assert_eq!(b.status, ConnectionStatus::Active);
    assert!(b.last_error.is_none());
}

const TWILIO_401: &str = r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#;

/// A Twilio stand-in: the REST API accepts any credentials; Lookups accepts only the auth
/// tokens in `valid` and otherwise answers Twilio's 20003 body.
async fn twilio(valid: Arc<std::sync::Mutex<Vec<String>>>) -> (LoopbackServer, LoopbackServer) {
    let api = Router::new().fallback(|| async {
        (
            StatusCode::OK,
            r#"{"sid":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"active"}"#,
        )
    });
    let lookups = Router::new().fallback(move |headers: HeaderMap| {
        let valid = valid.clone();
        async move {
            let auth = auth_header(&headers);
            let decoded = auth
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            let token = decoded
                .split_once(':')
                .map(|(_, t)| t.to_string())
                .unwrap_or_default();
            if valid.lock().unwrap().contains(&token) {
                return (
                    StatusCode::OK,
                    json!({"phone_number": "+15558675310", "valid": true}).to_string(),
                );
            }
            (StatusCode::UNAUTHORIZED, TWILIO_401.to_string())
        }
    });
    (
        LoopbackServer::start(api).await,
        LoopbackServer::start(lookups).await,
    )
}

#[tokio::test]
async fn a_401_on_twilio_lookups_moves_the_connection_to_error() {
    let s = crate::support::stripe_and_twilio_connections();
    let valid = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (api, lookups) = twilio(valid.clone()).await;
    let id = ConnectionId::new("sms");
    let (ta, tb) = (TenantId::new("ta"), TenantId::new("tb"));
    let (tok_a, tok_b) = (
        switchboard::test_util::canary("tw-a"),
        switchboard::test_util::canary("tw-b"),
    );
    valid.lock().unwrap().extend([tok_a.clone(), tok_b.clone()]);
    for (t, tok) in [(&ta, &tok_a), (&tb, &tok_b)] {
        let config = json!({
            "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "auth_token": tok,
            "base_url": api.base_url(),
            "lookups_base_url": lookups.base_url(),
        });
        s.create(t, &id, "twilio", "Twilio", &config).await.unwrap();
        assert_eq!(
            s.test_connection(t, &id).await.unwrap().status,
            ConnectionStatus::Active
        );
    }
    let client_a = TwilioClient::from_connection(s.connection(&ta, &id).await.unwrap()).unwrap();
    let client_b = TwilioClient::from_connection(s.connection(&tb, &id).await.unwrap()).unwrap();
    client_a
        .lookups()
        .phone_number("+15558675310")
        .await
        .unwrap();
    let mut events = s.subscribe();

    // Tenant a's token is revoked: its Lookups call is refused.
    valid.lock().unwrap().retain(|t| t != &tok_a);
    let err = client_a
        .lookups()
        .phone_number("+15558675310")
        .await
        .unwrap_err();
    assert!(
        format!("{err}").contains("20003") || format!("{err:?}").contains("20003"),
        "{err}"
    );
    let change = next_change(&mut events, &ta).await;
    assert_eq!(
        (change.from, change.to),
        (ConnectionStatus::Active, ConnectionStatus::Error)
    );
    let last = s.get(&ta, &id).await.unwrap().last_error.unwrap();
    assert!(last.contains("Authenticate"), "{last}");
    assert!(!last.contains("CANARY"), "{last}");

    // Tenant b, same connection id, is unaffected by a's failures.
    client_b
        .lookups()
        .phone_number("+15558675310")
        .await
        .unwrap();
    let b = s.get(&tb, &id).await.unwrap();
    assert_eq!(b.status, ConnectionStatus::Active);
    assert!(b.last_error.is_none());
}

/// A connection derived from one made from tenant config is held to the same endpoint policy:
/// a tenant cannot reach a host the switchboard does not allow through a derived connection.
#[tokio::test]
async fn a_derived_connection_keeps_the_endpoint_policy() {
    let s = crate::support::stripe_and_twilio_connections();
    let valid = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (api, lookups) = twilio(valid).await;
    let (t, id) = (TenantId::new("ta"), ConnectionId::new("sms"));
    let config = json!({
        "account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "auth_token": "tok",
        "base_url": api.base_url(),
        "lookups_base_url": lookups.base_url(),
    });
    s.create(&t, &id, "twilio", "Twilio", &config)
        .await
        .unwrap();
    let conn = s.connection(&t, &id).await.unwrap();
    let err = conn
        .derive_with_base_url("http://169.254.169.254/latest")
        .unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Config, "{err}");
    let derived = conn.derive_with_base_url(lookups.base_url()).unwrap();
    assert_eq!((derived.tenant(), derived.id()), (&t, &id));
}
