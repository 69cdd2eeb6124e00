//! `Connector::default_headers`: sent on every request of a connection, overridable per call;
//! and call headers by typed name or text.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use switchboard::test_util::{RawAction, RawServer};
use switchboard::Connector;

use crate::support::builder;

/// What the server saw of each request: `api-version` and `x-account`.
type Seen = Arc<Mutex<Vec<(Option<String>, Option<String>)>>>;

#[derive(Debug)]
struct Versioned;

impl Connector for Versioned {
    fn name(&self) -> &str {
        "versioned"
    }

    fn default_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("api-version", HeaderValue::from_static("2023-08-16"));
        h.insert("x-account", HeaderValue::from_static("acct_default"));
        h
    }
}

#[tokio::test]
async fn default_headers_reach_every_request_and_a_call_header_wins() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let server = RawServer::start(move |req| {
        log.lock().unwrap().push((
            req.header("api-version").map(str::to_owned),
            req.header("x-account").map(str::to_owned),
        ));
        RawAction::status(200, "{}")
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(Versioned))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();

    conn.get("/a").send().await.unwrap();
    conn.post("/b")
        .header("x-account", "acct_override")
        .send()
        .await
        .unwrap();
    crate::support::check_health(&conn).await.unwrap();

    let seen = seen.lock().unwrap().clone();
    let v = |s: &str| Some(s.to_string());
    assert_eq!(
        seen,
        vec![
            (v("2023-08-16"), v("acct_default")),
            (v("2023-08-16"), v("acct_override")),
            (v("2023-08-16"), v("acct_default")),
        ]
    );
}

#[tokio::test]
async fn a_call_header_may_be_a_typed_name_and_value_and_a_bad_value_is_named_never_echoed() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let server = RawServer::start(move |req| {
        log.lock().unwrap().push((
            req.header("api-version").map(str::to_owned),
            req.header("x-account").map(str::to_owned),
        ));
        RawAction::status(200, "{}")
    })
    .await;
    let sb = builder().build().unwrap();
    // By value: no `Arc` around the connector.
    let conn = sb
        .connection(Versioned)
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    conn.get("/a")
        .header(
            http::header::HeaderName::from_static("x-account"),
            HeaderValue::from_static("acct_typed"),
        )
        .header(String::from("api-version"), String::from("2024-01-01"))
        .send()
        .await
        .unwrap();
    let v = |s: &str| Some(s.to_string());
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![(v("2024-01-01"), v("acct_typed"))]
    );

    let err = conn
        .get("/a")
        .header(http::header::AUTHORIZATION, "Bearer CANARY-7f3\n")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Config);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("request.header") && text.contains("authorization"),
        "{text}"
    );
    assert!(!text.contains("CANARY"), "{text}");
    // Nothing was sent.
    assert_eq!(seen.lock().unwrap().len(), 1);
}
