//! The outbound SSRF guard: non-public targets are refused before any connection, and
//! redirects are never followed.

use std::time::Duration;

use switchboard::outbound::queue::sqlite::SqliteQueue;
use switchboard::outbound::ssrf::{AddressClass, SsrfGuard};
use switchboard::outbound::{Endpoint, EndpointId, MessageStatus, WebhookSender};
use switchboard::test_util::{RawAction, RawServer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The vault that seals the queue's endpoint secrets in these tests.
fn vault() -> switchboard::vault::Vault {
    use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
    Vault::new(KeyRing::new(
        KeyId::new("outbound-k1").unwrap(),
        MasterKey::from_bytes(&[3u8; 32]).unwrap(),
    ))
}

async fn sender(guard: SsrfGuard) -> WebhookSender {
    WebhookSender::builder(SqliteQueue::in_memory(vault()).await.unwrap())
        .ssrf_guard(guard)
        .schedule(Vec::new())
        .attempt_timeout(Duration::from_millis(500))
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap()
}

async fn wait_final(
    sender: &WebhookSender,
    id: &switchboard::outbound::MessageId,
) -> MessageStatus {
    for _ in 0..500 {
        let st = sender.message(id).await.unwrap().unwrap().status;
        if matches!(st, MessageStatus::Delivered | MessageStatus::Dead) {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("message {id} never reached a final state");
}

#[tokio::test]
async fn refuses_non_public_targets_with_their_class() {
    let guard = SsrfGuard::new();
    let cases = [
        ("http://127.0.0.1/hook", AddressClass::Loopback),
        ("http://[::1]/hook", AddressClass::Loopback),
        (
            "http://169.254.169.254/latest/meta-data",
            AddressClass::Metadata,
        ),
        ("http://10.0.0.1/hook", AddressClass::Private),
        ("http://localhost/hook", AddressClass::Loopback),
        ("http://[::ffff:10.0.0.1]/hook", AddressClass::Private),
        ("http://100.64.0.1/hook", AddressClass::SharedCgnat),
    ];
    for (url, class) in cases {
        let err = guard.check_url(&url.parse().unwrap()).await.expect_err(url);
        assert_eq!(err.class(), Some(class), "{url}: {err}");
        assert!(err.to_string().contains(class.as_str()), "{err}");
    }
    let allowed = SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap());
    assert!(allowed
        .check_url(&"http://127.0.0.1:9/".parse().unwrap())
        .await
        .is_ok());
    assert!(allowed
        .check_url(&"http://10.0.0.1/".parse().unwrap())
        .await
        .is_err());
}

#[tokio::test]
async fn delivery_to_a_private_literal_is_refused_before_connecting() {
    let s = sender(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap())).await;
    s.add_endpoint(Endpoint::new("private", "http://10.0.0.1/hook", SECRET))
        .await
        .unwrap();
    let _w = s.spawn_workers(1);
    let id = s
        .send(&EndpointId::new("private"), "t", "{}".into())
        .await
        .unwrap();
    assert_eq!(wait_final(&s, &id).await, MessageStatus::Dead);
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, None);
    let err = attempts[0].error.as_deref().unwrap();
    assert!(err.contains("private") && err.contains("10.0.0.1"), "{err}");
}

#[tokio::test]
async fn a_host_name_resolving_to_loopback_is_refused_by_the_resolver() {
    let server = RawServer::start(|_| RawAction::status(200, "")).await;
    let port = server.base_url().rsplit(':').next().unwrap().to_string();
    // No allow-list: the name resolves to loopback, which the resolver refuses.
    let s = sender(SsrfGuard::new()).await;
    s.add_endpoint(Endpoint::new(
        "named",
        format!("http://localhost:{port}/hook"),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let id = s
        .send(&EndpointId::new("named"), "t", "{}".into())
        .await
        .unwrap();
    assert_eq!(wait_final(&s, &id).await, MessageStatus::Dead);
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    let err = attempts[0].error.as_deref().unwrap();
    assert!(err.contains("loopback"), "{err}");
    assert_eq!(server.connections(), 0, "no connection may be made");
}

#[tokio::test]
async fn redirects_are_recorded_as_failures_and_not_followed() {
    let server = RawServer::start(|_| {
        RawAction::status(302, "").with_header("location", "http://10.0.0.1/")
    })
    .await;
    let s = sender(SsrfGuard::new().allow_ip("127.0.0.1".parse().unwrap())).await;
    s.add_endpoint(Endpoint::new(
        "redir",
        format!("{}/hook", server.base_url()),
        SECRET,
    ))
    .await
    .unwrap();
    let _w = s.spawn_workers(1);
    let id = s
        .send(&EndpointId::new("redir"), "t", "{}".into())
        .await
        .unwrap();
    assert_eq!(wait_final(&s, &id).await, MessageStatus::Dead);
    let attempts = s.queue().attempts_of(&id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, Some(302));
    assert!(!attempts[0].success);
    assert_eq!(server.requests(), 1);
}
