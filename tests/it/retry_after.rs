//! `Retry-After`: honoured (seconds and HTTP-dates) up to the cap and the call's deadline,
//! otherwise handed to the caller without sleeping. Time is paused and measured in virtual time
//! (`tokio::time::Instant`); see `switchboard::test_util::freeze_clock_during_attempts` for how
//! real loopback I/O and a paused clock are made to agree.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use switchboard::test_util::{freeze_clock_during_attempts, RawAction, RawRequest, RawServer};
use switchboard::{AttemptOutcome, ErrorKind, RetryDecision};
use tokio::time::Instant;

use crate::support::{builder, connect, TestConnector};

/// A server that answers the first request with `first()` and every later one with 200.
async fn first_then_ok(first: impl Fn() -> RawAction + Send + Sync + 'static) -> RawServer {
    let n = Arc::new(AtomicUsize::new(0));
    RawServer::start(move |_: &RawRequest| {
        if n.fetch_add(1, Ordering::SeqCst) == 0 {
            first()
        } else {
            RawAction::status(200, r#"{"ok":true}"#)
        }
    })
    .await
}

fn unavailable(retry_after: &str) -> RawAction {
    RawAction::status(503, r#"{"error":"busy"}"#).with_header("Retry-After", retry_after)
}

fn too_many(retry_after: &str) -> RawAction {
    RawAction::status(429, r#"{"error":"slow down"}"#).with_header("Retry-After", retry_after)
}

#[tokio::test(start_paused = true)]
async fn get_503_retry_after_0_then_200_succeeds_on_second_attempt() {
    let server = first_then_ok(|| unavailable("0")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let resp = conn
        .get("/v1/things")
        .send()
        .await
        .expect("retried to success");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests(), 2);
    // "0" means now: no backoff on top of it.
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn get_503_retry_after_7_waits_7_seconds_then_succeeds() {
    let server = first_then_ok(|| unavailable("7")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let resp = conn
        .get("/v1/things")
        .send()
        .await
        .expect("retried to success");
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests(), 2);
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(8),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn get_503_retry_after_http_date_30s_ahead_waits_about_30_seconds() {
    // The date is made when the response is sent, from the real clock the parser also reads;
    // HTTP-dates have whole seconds, so the wait is within (29 s, 30 s].
    let server = first_then_ok(|| {
        unavailable(&httpdate::fmt_http_date(
            SystemTime::now() + Duration::from_secs(30),
        ))
    })
    .await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let resp = conn
        .get("/v1/things")
        .deadline(Duration::from_secs(120))
        .send()
        .await
        .expect("retried to success");
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests(), 2);
    assert!(
        waited >= Duration::from_secs(28) && waited <= Duration::from_secs(31),
        "waited {waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_cap_returns_rate_limited_at_once_without_sleeping() {
    let server = RawServer::start(|_: &RawRequest| too_many("36000")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let err = conn
        .get("/v1/things")
        .deadline(Duration::from_secs(48 * 3600))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(36_000)));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests(), 1);
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_past_the_deadline_returns_promptly_with_the_delay() {
    let server = RawServer::start(|_: &RawRequest| unavailable("20")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let err = conn
        .get("/v1/things")
        .deadline(Duration::from_secs(5))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), 1, "{err:?}");
    assert_eq!(server.requests(), 1);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    // A 5xx that asked for a delay we did not sleep is reported as a rate limit.
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn unkeyed_post_429_is_not_retried_because_the_request_was_received() {
    let server = first_then_ok(|| too_many("2")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let started = Instant::now();
    let err = conn
        .post("/v1/messages")
        .json(&serde_json::json!({"to": "+15550100"}))
        .without_idempotency_key()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

/// A Twilio-style classifier: a 429 means the request was never processed.
fn never_processed_on_429() -> TestConnector {
    TestConnector::with_classifier(|o: &AttemptOutcome<'_>| {
        if o.status().is_some_and(|s| s.as_u16() == 429) {
            RetryDecision::Retry { after: None }
        } else {
            RetryDecision::NoOpinion
        }
    })
}

#[tokio::test(start_paused = true)]
async fn unkeyed_post_429_is_retried_when_the_classifier_says_it_was_not_processed() {
    let server = first_then_ok(|| too_many("2")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, never_processed_on_429(), &server.base_url());
    let resp = conn
        .post("/v1/messages")
        .json(&serde_json::json!({"to": "+15550100"}))
        .without_idempotency_key()
        .send()
        .await
        .expect("retried to success");
    assert_eq!(resp.status(), 200);
    assert_eq!(server.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn classifier_retry_with_a_delay_waits_that_delay() {
    let server = first_then_ok(|| too_many("2")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let connector = TestConnector::with_classifier(|o: &AttemptOutcome<'_>| match o.status() {
        Some(s) if s.as_u16() == 429 => RetryDecision::Retry {
            after: Some(Duration::from_secs(3)),
        },
        _ => RetryDecision::NoOpinion,
    });
    let conn = connect(&sb, connector, &server.base_url());
    let started = Instant::now();
    conn.post("/v1/messages")
        .without_idempotency_key()
        .send()
        .await
        .expect("retried to success");
    let waited = started.elapsed();
    assert_eq!(server.requests(), 2);
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
        "waited {waited:?}"
    );
}

// `Retry { after: None }` means "no opinion on the delay": the provider's own Retry-After
// still applies (regression: it used to be dropped for the 10 ms backoff).
#[tokio::test(start_paused = true)]
async fn classifier_retry_without_a_delay_still_honours_the_retry_after_header() {
    let server = first_then_ok(|| too_many("2")).await;
    let sb = freeze_clock_during_attempts(builder()).build().unwrap();
    let conn = connect(&sb, never_processed_on_429(), &server.base_url());
    let started = Instant::now();
    conn.post("/v1/messages")
        .without_idempotency_key()
        .send()
        .await
        .expect("retried to success");
    let waited = started.elapsed();
    assert_eq!(server.requests(), 2);
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(3),
        "the retry ignored `Retry-After: 2`: waited {waited:?}"
    );
}

/// A host that always honours `Retry-After` (a cap of `Duration::MAX`) and a provider that
/// asks for more seconds than any clock holds: the caller gets the delay at once, and no
/// instant overflows into a panic.
#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_any_clock_under_an_unbounded_cap_is_handed_back_not_a_panic() {
    let huge = u64::MAX / 2;
    let server = RawServer::start(move |_: &RawRequest| too_many(&huge.to_string())).await;
    let retry = switchboard::RetryConfig::default().retry_after_cap(Duration::MAX);
    let sb = freeze_clock_during_attempts(builder().retry(retry))
        .build()
        .unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let err = conn.get("/v1/things").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(huge)));
    assert_eq!(err.attempts(), 1);
    assert_eq!(server.requests(), 1);
}
