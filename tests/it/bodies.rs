//! Bad provider bodies (not JSON, truncated, too large) and invalid settings: typed errors,
//! never panics.

use std::time::Duration;

use futures_util::StreamExt;
use switchboard::test_util::{RawAction, RawServer};
use switchboard::{BreakerConfig, CacheConfig, ErrorKind, RetryConfig, Switchboard};

use crate::support::{builder, connect, TestConnector};

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Item {
    id: String,
    count: u32,
}

async fn serve(body: &'static str) -> RawServer {
    RawServer::start(move |_| RawAction::status(200, body)).await
}

#[tokio::test]
async fn non_json_truncated_and_misshapen_bodies_are_decode_errors_with_pointers() {
    for (body, pointer, reason) in [
        ("<html>oops</html>", "", "not valid JSON"),
        ("{\"id\":\"a\",\"cou", "", "truncated JSON"),
        (
            "{\"id\":\"a\",\"count\":\"many\"}",
            "/count",
            "invalid type",
        ),
        ("{\"id\":\"a\"}", "", "missing field `count`"),
    ] {
        let server = serve(body).await;
        let sb = builder().build().unwrap();
        let conn = connect(&sb, TestConnector::default(), &server.base_url());
        let err = conn
            .get("/item")
            .send()
            .await
            .unwrap()
            .json::<Item>()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{body}");
        let decode = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<switchboard::DecodeError>())
            .expect("DecodeError source");
        assert_eq!(decode.pointer, pointer, "{body}");
        assert!(decode.reason.contains(reason), "{body}: {}", decode.reason);
        assert!(!decode.reason.contains("many"), "values are not echoed");
    }
}

#[tokio::test]
async fn bodies_over_the_cap_are_typed_errors_buffered_and_streamed() {
    let big: &'static str = Box::leak("x".repeat(4096).into_boxed_str());
    let server = serve(big).await;
    let sb = builder().body_cap(1024).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let err = conn.get("/big").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BodyTooLarge);

    // A streamed body under the cap arrives whole; over the cap the stream ends in an error.
    let sb = builder().body_cap(8192).build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let mut stream = conn
        .get("/big")
        .stream()
        .send()
        .await
        .unwrap()
        .into_stream();
    let mut total = 0;
    while let Some(chunk) = stream.next().await {
        total += chunk.unwrap().len();
    }
    assert_eq!(total, 4096);
}

#[test]
fn invalid_settings_name_the_setting_at_build() {
    let cases: Vec<(&str, switchboard::SwitchboardBuilder)> = vec![
        (
            "retry.max_attempts",
            Switchboard::builder().retry(RetryConfig::default().max_attempts(0)),
        ),
        (
            "retry.base_delay",
            Switchboard::builder().retry(RetryConfig::default().base_delay(Duration::ZERO)),
        ),
        (
            "retry.budget.ttl",
            Switchboard::builder().retry(RetryConfig::default().budget(
                0.2,
                1,
                Duration::from_secs(600),
            )),
        ),
        (
            "breaker.failure_ratio",
            Switchboard::builder().breaker(BreakerConfig::default().failure_ratio(1.5)),
        ),
        (
            "breaker.min_calls",
            Switchboard::builder().breaker(BreakerConfig::default().min_calls(0)),
        ),
        (
            "cache.max_bytes",
            Switchboard::builder().cache(CacheConfig::default().max_bytes(0)),
        ),
        (
            "attempt_timeout",
            Switchboard::builder().attempt_timeout(Duration::ZERO),
        ),
        (
            "call_deadline",
            Switchboard::builder().call_deadline(Duration::ZERO),
        ),
        ("body_cap", Switchboard::builder().body_cap(0)),
        (
            "user_agent",
            Switchboard::builder().user_agent("bad\nagent"),
        ),
    ];
    for (setting, b) in cases {
        let err = b.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{setting}");
        assert!(err.to_string().contains(setting), "{setting}: {err}");
    }
}

#[tokio::test]
async fn invalid_connection_and_request_settings_are_typed() {
    let sb = builder().build().unwrap();
    let c = || {
        sb.connection(std::sync::Arc::new(TestConnector::default()))
            .tenant("t")
            .id("c")
    };
    for (url, _why) in [
        ("not a url", "parse"),
        ("ftp://x.example", "scheme"),
        ("https://u:CANARYpw@x.example", "user-info"),
        ("https://x.example/?key=CANARY", "query"),
    ] {
        let err = c().base_url(url).build().unwrap_err();
        assert!(
            err.to_string().contains("connection.base_url"),
            "{url}: {err}"
        );
        assert!(!err.to_string().contains("CANARY"), "{err}");
    }
    let err = sb
        .connection(std::sync::Arc::new(TestConnector::default()))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("connection.tenant"));

    let conn = c().base_url("http://127.0.0.1:9").build().unwrap();
    let err = conn
        .get("/x")
        .header("bad header", "v")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("request.header"), "{err}");
    let err = conn
        .post("/x")
        .idempotency_key("k".repeat(256))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("idempotency_key"), "{err}");
    assert_eq!(err.attempts(), 0);
    assert!(!err.may_have_been_sent());
}

#[tokio::test]
async fn a_body_of_parts_is_sent_whole_with_its_length_on_every_attempt() {
    use std::sync::{Arc, Mutex};

    /// A request's body, `Content-Length` and `Transfer-Encoding`.
    type Seen = (Vec<u8>, Option<String>, Option<String>);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    let server = RawServer::start(move |req| {
        let mut log = log.lock().unwrap();
        log.push((
            req.body.clone(),
            req.header("content-length").map(str::to_string),
            req.header("transfer-encoding").map(str::to_string),
        ));
        // The first attempt fails, so the second replays the same parts.
        if log.len() == 1 {
            RawAction::status(503, "busy")
        } else {
            RawAction::status(200, "{}")
        }
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let big = bytes::Bytes::from(vec![7u8; 100_000]);
    let parts = vec![
        bytes::Bytes::from_static(b"head;"),
        big.clone(),
        bytes::Bytes::new(),
        bytes::Bytes::from_static(b";tail"),
    ];
    let resp = conn
        .put("/upload")
        .body_parts(parts, "application/octet-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut expected = b"head;".to_vec();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b";tail");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one retry");
    for (body, length, chunked) in seen.iter() {
        assert!(body == &expected, "{} bytes", body.len());
        assert_eq!(length.as_deref(), Some(expected.len().to_string().as_str()));
        assert_eq!(chunked.as_deref(), None);
    }
}
