//! Deadlines: a hanging upstream never holds a call past its deadline.

use std::time::Duration;

use switchboard::test_util::{RawAction, RawServer};
use switchboard::ErrorKind;

use crate::support::{builder, connect, TestConnector};

#[tokio::test]
async fn hanging_upstream_ends_within_deadline_plus_50ms() {
    let server = RawServer::start(|_| RawAction::Hang).await;
    // Attempt timeout longer than the deadline: only the deadline can end the call.
    let sb = builder()
        .attempt_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let deadline = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = conn
        .get("/hang")
        .deadline(deadline)
        .send()
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Deadline, "{err:?}");
    assert!(err.is_timeout());
    assert!(err.may_have_been_sent());
    assert_eq!(
        server.requests(),
        1,
        "the request reached the hanging upstream"
    );
    // The bound the issue sets; the timer fires at 300 ms and the rest is bookkeeping.
    assert!(
        elapsed < deadline + Duration::from_millis(50),
        "took {elapsed:?}"
    );
    assert!(elapsed >= deadline, "returned early: {elapsed:?}");
}

#[tokio::test]
async fn per_attempt_timeout_retries_a_get_within_the_deadline() {
    let server = RawServer::start(|_| RawAction::Hang).await;
    let sb = builder()
        .attempt_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let err = conn
        .get("/hang")
        .deadline(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert_eq!(err.attempts(), 3);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn keyed_post_that_hits_the_deadline_carries_its_key() {
    let server = RawServer::start(|_| RawAction::Hang).await;
    let sb = builder()
        .attempt_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let err = conn
        .post("/charge")
        .idempotency_key("order-42")
        .deadline(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Deadline);
    assert_eq!(err.idempotency_key(), Some("order-42"));
    assert!(
        err.is_retryable(),
        "keyed, so safe to retry with the same key"
    );
}

/// "No deadline" written as `Duration::MAX` is a call bounded only by its attempts' timeouts,
/// not a panic adding it to the clock.
#[tokio::test]
async fn a_deadline_of_duration_max_is_a_call_without_one() {
    let server = RawServer::start(|_| RawAction::status(200, r#"{"ok":true}"#)).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let resp = conn
        .get("/v1/things")
        .deadline(Duration::MAX)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
