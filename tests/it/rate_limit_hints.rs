//! Provider rate-limit headers feed the limiter: a connector reads them into a `RateHint`
//! (`Connector::rate_hint`, with the toolkit helper), the rate-limit layer hands it to the
//! limiter after every answer, and a spent window refuses the same tenant's connection until it
//! resets, with nothing sent. Other tenants, even on a connection of the same id, go on.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};
use switchboard::rate_limit::{InMemoryRateLimiter, RateHint};
use switchboard::test_util::{freeze_clock_during_attempts, RawAction, RawRequest, RawServer};
use switchboard::toolkit::{rate_limit_window, rate_limit_window_per, ResetFormat};
use switchboard::{Connection, Connector, ErrorKind, Quota, Switchboard};

use crate::support::builder;

/// A connector whose provider sends an hourly window (`X-RateLimit-*`, reset in seconds from
/// now) and a 30 s burst window without a reset header (`X-Burst-*`).
#[derive(Debug)]
struct HintConnector;

impl Connector for HintConnector {
    fn name(&self) -> &str {
        "hinted"
    }

    fn rate_hint(&self, _status: StatusCode, headers: &HeaderMap) -> Option<RateHint> {
        let hourly = rate_limit_window(
            headers,
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            ResetFormat::Seconds,
            SystemTime::now(),
        );
        let burst = rate_limit_window_per(
            headers,
            "X-Burst-Limit",
            "X-Burst-Remaining",
            Duration::from_secs(30),
        );
        RateHint::from_windows([hourly, burst].into_iter().flatten())
    }
}

fn connect_as(sb: &Switchboard, base_url: &str, tenant: &str, id: &str) -> Connection {
    sb.connection(HintConnector)
        .tenant(tenant)
        .id(id)
        .base_url(base_url)
        .build()
        .expect("valid test connection")
}

fn ok_with(headers: &[(&str, &str)]) -> RawAction {
    headers.iter().fold(
        RawAction::status(200, r#"{"ok":true}"#),
        |action, (name, value)| action.with_header(name, value),
    )
}

/// One hour, as the provider's reset header says it.
const HOUR: &str = "3600";

#[tokio::test]
async fn a_spent_window_refuses_the_next_call_with_a_typed_wait_and_sends_nothing() {
    let server = RawServer::start(|_: &RawRequest| {
        ok_with(&[
            ("X-RateLimit-Limit", "1000"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", HOUR),
        ])
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect_as(&sb, &server.base_url(), "t1", "c1");

    let first = conn
        .get("/v1/things")
        .send()
        .await
        .expect("the call that spent the window");
    assert_eq!(first.status(), 200);

    let e = conn.get("/v1/things").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
    assert!(e.is_rate_limited());
    assert!(!e.may_have_been_sent(), "{e:?}");
    let wait = e.retry_after().expect("the wait until the window resets");
    assert!(
        wait > Duration::from_secs(3000) && wait <= Duration::from_secs(3600),
        "{wait:?}"
    );
    assert_eq!(server.requests(), 1, "the refused call was not sent");
}

#[tokio::test]
async fn windows_with_calls_left_do_not_block() {
    let server = RawServer::start(|_: &RawRequest| {
        ok_with(&[
            ("X-RateLimit-Remaining", "1"),
            ("X-RateLimit-Reset", HOUR),
            ("X-Burst-Remaining", "2"),
        ])
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect_as(&sb, &server.base_url(), "t1", "c1");
    for _ in 0..3 {
        conn.get("/v1/things").send().await.expect("calls are left");
    }
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn malformed_headers_are_ignored() {
    let server = RawServer::start(|_: &RawRequest| {
        ok_with(&[
            ("X-RateLimit-Remaining", "-1"),
            ("X-RateLimit-Reset", HOUR),
            ("X-Burst-Remaining", "none"),
        ])
    })
    .await;
    let bad_reset = RawServer::start(|_: &RawRequest| {
        ok_with(&[
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "in an hour"),
        ])
    })
    .await;
    let sb = builder().build().unwrap();
    for server in [&server, &bad_reset] {
        let conn = connect_as(&sb, &server.base_url(), "t1", "c1");
        for _ in 0..2 {
            conn.get("/v1/things")
                .send()
                .await
                .expect("a malformed header neither fails nor blocks a call");
        }
        assert_eq!(server.requests(), 2);
    }
}

#[tokio::test]
async fn a_429_with_spent_headers_blocks_later_calls() {
    let server = RawServer::start(|_: &RawRequest| {
        RawAction::status(429, r#"{"error":"hourly quota spent"}"#)
            .with_header("X-RateLimit-Remaining", "0")
            .with_header("X-RateLimit-Reset", HOUR)
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect_as(&sb, &server.base_url(), "t1", "c1");

    let e = conn.get("/v1/things").send().await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::TOO_MANY_REQUESTS), "{e:?}");
    let sent = server.requests();
    assert!(sent >= 1);

    let e = conn.get("/v1/things").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
    assert_eq!(
        e.status(),
        None,
        "refused locally, not by the provider: {e:?}"
    );
    assert!(!e.may_have_been_sent());
    assert_eq!(server.requests(), sent, "nothing more was sent");
}

#[tokio::test]
async fn two_tenants_sharing_a_connection_id_never_block_each_other() {
    // Tenant A's account is spent; tenant B's, on a connection of the same id, is not.
    let server = RawServer::start(|req: &RawRequest| {
        if req.path.starts_with("/a") {
            ok_with(&[("X-Burst-Limit", "30"), ("X-Burst-Remaining", "0")])
        } else {
            ok_with(&[("X-Burst-Limit", "30"), ("X-Burst-Remaining", "29")])
        }
    })
    .await;
    let quota = Quota::per_second(std::num::NonZeroU32::new(100).unwrap());
    for limiter in [
        InMemoryRateLimiter::new(),
        InMemoryRateLimiter::new().with_quota("hinted", "default", quota),
    ] {
        let sb = builder().rate_limiter(Arc::new(limiter)).build().unwrap();
        let a = connect_as(&sb, &server.base_url(), "tenant-a", "shared");
        let b = connect_as(&sb, &server.base_url(), "tenant-b", "shared");

        a.get("/a").send().await.expect("A's first call goes");
        let before = server.requests();
        let e = a.get("/a").send().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
        assert_eq!(server.requests(), before, "A's refused call was not sent");

        for _ in 0..3 {
            b.get("/b")
                .send()
                .await
                .expect("B is not blocked by A's headers");
        }
        assert_eq!(server.requests(), before + 3);
    }
}

#[tokio::test(start_paused = true)]
async fn a_short_block_is_waited_out_within_the_max_wait() {
    // The burst window is spent for 2 s; the second call waits it out instead of failing.
    let server = RawServer::start(|_: &RawRequest| {
        ok_with(&[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "2")])
    })
    .await;
    let sb = freeze_clock_during_attempts(builder().rate_limit_max_wait(Duration::from_secs(5)))
        .build()
        .unwrap();
    let conn = connect_as(&sb, &server.base_url(), "t1", "c1");
    conn.get("/v1/things").send().await.expect("first call");
    let started = tokio::time::Instant::now();
    conn.get("/v1/things")
        .send()
        .await
        .expect("waited, then sent");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "went before the window reset: {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests(), 2);
}

/// Two replicas (two switchboards, two limiters) on one Redis: a spent window seen through one
/// refuses the same tenant's calls through the other, and only that tenant's.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_block_seen_by_one_replica_refuses_calls_on_another() {
    use switchboard::rate_limit::RedisRateLimiter;

    async fn replica(prefix: &str) -> Switchboard {
        let limiter = RedisRateLimiter::connect(&crate::support::redis_url(), prefix)
            .await
            .expect("Redis at 127.0.0.1:6379 (scripts/test.sh starts it)");
        builder().rate_limiter(Arc::new(limiter)).build().unwrap()
    }

    let prefix = format!("switchboard-test:{:016x}", fastrand::u64(..));
    let (one, two) = (replica(&prefix).await, replica(&prefix).await);
    let server = RawServer::start(|req: &RawRequest| {
        if req.path.starts_with("/spend") {
            ok_with(&[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", HOUR)])
        } else {
            ok_with(&[
                ("X-RateLimit-Remaining", "500"),
                ("X-RateLimit-Reset", HOUR),
            ])
        }
    })
    .await;

    connect_as(&one, &server.base_url(), "tenant-a", "shared")
        .get("/spend")
        .send()
        .await
        .expect("the call that spent A's window");
    let e = connect_as(&two, &server.base_url(), "tenant-a", "shared")
        .get("/other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e:?}");
    assert!(e
        .retry_after()
        .is_some_and(|d| d > Duration::from_secs(3000)));
    assert_eq!(server.requests(), 1, "the other replica sent nothing");

    connect_as(&two, &server.base_url(), "tenant-b", "shared")
        .get("/other")
        .send()
        .await
        .expect("tenant B is not blocked");
    assert_eq!(server.requests(), 2);
}

/// A limiter (a host's own) that first asks for a short wait, then for one no clock can add:
/// the call is refused as rate-limited with that delay, nothing is sent, and neither the time
/// waited so far nor the deadline's instant overflows into a panic.
#[tokio::test(start_paused = true)]
async fn a_limiter_asking_for_a_wait_beyond_any_clock_refuses_the_call_without_a_panic() {
    use std::num::NonZeroU32;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard::rate_limit::{RateDecision, RateKey};

    #[derive(Debug, Default)]
    struct ShortThenForever(AtomicUsize);

    #[async_trait::async_trait]
    impl switchboard::RateLimiter for ShortThenForever {
        async fn acquire(
            &self,
            _: &RateKey,
            _: NonZeroU32,
        ) -> Result<RateDecision, switchboard::Error> {
            Ok(RateDecision::RetryAfter(
                match self.0.fetch_add(1, Ordering::SeqCst) {
                    0 => Duration::from_millis(1),
                    _ => Duration::MAX,
                },
            ))
        }
    }

    let server = RawServer::start(|_: &RawRequest| RawAction::status(200, "{}")).await;
    let limiter = Arc::new(ShortThenForever::default());
    let sb = builder().rate_limiter(limiter.clone()).build().unwrap();
    let conn = sb
        .connection(Arc::new(HintConnector))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let err = conn.get("/v1/things").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::MAX));
    assert_eq!(
        limiter.0.load(Ordering::SeqCst),
        2,
        "the short wait was waited out"
    );
    assert_eq!(server.requests(), 0);
}
