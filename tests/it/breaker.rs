//! Circuit breaker over real HTTP: opens, fails fast without calling upstream, half-opens with
//! exactly one probe, and closes again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchboard::test_util::{RawAction, RawServer};
use switchboard::{BreakerConfig, BreakerState, ErrorKind, RetryConfig};

use crate::support::{builder, connect, TestConnector};

#[tokio::test]
async fn opens_fails_fast_probes_once_and_closes() {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let server = RawServer::start(move |req| {
        if req.path == "/slow" {
            // Keeps the probe in flight while the other callers arrive.
            std::thread::sleep(Duration::from_millis(150));
        }
        if h.load(Ordering::SeqCst) {
            RawAction::status(200, "{}")
        } else {
            RawAction::status(500, "{}")
        }
    })
    .await;
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .breaker(BreakerConfig::default().cooldown(Duration::from_millis(300)))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());

    for i in 0..20 {
        let err = conn.get("/x").send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status, "call {i}");
    }
    assert_eq!(server.requests(), 20);
    assert_eq!(
        sb.breaker_state(conn.tenant(), conn.id(), conn.host()),
        Some(BreakerState::Open)
    );

    // Open: fails fast, nothing reaches the upstream.
    for _ in 0..5 {
        let err = conn.get("/x").send().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CircuitOpen);
        assert!(!err.may_have_been_sent());
        assert!(err.retry_after().is_some());
    }
    assert_eq!(server.requests(), 20);

    // After the cool-down exactly one probe goes through; concurrent callers fail fast.
    tokio::time::sleep(Duration::from_millis(350)).await;
    healthy.store(true, Ordering::SeqCst);
    let probe = tokio::spawn({
        let c = conn.clone();
        async move { c.get("/slow").send().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let others = futures_util::future::join_all((0..5).map(|_| conn.get("/x").send())).await;
    assert!(others.iter().all(|r| r
        .as_ref()
        .is_err_and(|e| e.kind() == ErrorKind::CircuitOpen)));
    assert!(probe.await.unwrap().is_ok());
    assert_eq!(
        server.requests(),
        21,
        "exactly one probe reached the upstream"
    );
    assert_eq!(
        sb.breaker_state(conn.tenant(), conn.id(), conn.host()),
        Some(BreakerState::Closed)
    );

    // Closed again: calls go through.
    conn.get("/x").send().await.unwrap();
    assert_eq!(server.requests(), 22);
    let reports = sb.breaker_reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].connection.as_str(), "c1");
    assert_eq!(reports[0].tenant.as_str(), "t1");
}

#[tokio::test]
async fn client_errors_do_not_open_the_breaker() {
    let server = RawServer::start(|_| RawAction::status(404, "{}")).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    for _ in 0..30 {
        let err = conn.get("/missing").send().await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(404));
    }
    assert_eq!(
        sb.breaker_state(conn.tenant(), conn.id(), conn.host()),
        Some(BreakerState::Closed)
    );
    assert_eq!(server.requests(), 30);
}

/// A host that writes "stay open until restarted" as a cooldown of `Duration::MAX`: the breaker
/// opens and fails fast; the instant it stays open until is clamped, never a panic.
#[tokio::test]
async fn a_cooldown_of_duration_max_opens_and_fails_fast_without_a_panic() {
    let server = RawServer::start(|_| RawAction::status(500, "{}")).await;
    let sb = builder()
        .retry(RetryConfig::default().max_attempts(1))
        .breaker(BreakerConfig::default().cooldown(Duration::MAX))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    for _ in 0..20 {
        let _ = conn.get("/x").send().await.unwrap_err();
    }
    assert_eq!(
        sb.breaker_state(conn.tenant(), conn.id(), conn.host()),
        Some(BreakerState::Open)
    );
    let before = server.requests();
    let err = conn.get("/x").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CircuitOpen, "{err:?}");
    assert!(err.retry_after().unwrap() > Duration::from_secs(365 * 24 * 3600));
    assert_eq!(server.requests(), before);
}
