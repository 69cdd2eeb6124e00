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

/// Tenant `t1`'s connection `c1` of [`Versioned`] on `base`.
fn versioned(base: &str) -> switchboard::Connection {
    builder()
        .build()
        .unwrap()
        .connection(Arc::new(Versioned))
        .tenant("t1")
        .id("c1")
        .base_url(base)
        .build()
        .unwrap()
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
    let conn = versioned(&server.base_url());

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

/// The transport copies the call's headers into the client's request itself (with room for
/// the defaults and hyper's `Host`): every value of a repeated header must arrive, in order,
/// beside the connection's defaults and the client's `User-Agent`, however many headers the
/// call has.
#[tokio::test]
async fn every_value_of_a_repeated_header_arrives_in_order_with_the_defaults() {
    type Heads = Arc<Mutex<Vec<Vec<(String, String)>>>>;
    let seen: Heads = Arc::default();
    let log = seen.clone();
    let server = RawServer::start(move |req| {
        log.lock().unwrap().push(req.headers.clone());
        RawAction::status(200, "{}")
    })
    .await;
    let conn = versioned(&server.base_url());

    let mut call = conn
        .get("/a")
        .header("x-multi", "one")
        .header("x-multi", "two");
    for i in 0..12 {
        call = call.header(format!("x-extra-{i}"), i.to_string());
    }
    call.header("x-multi", "three").send().await.unwrap();

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let heads = &seen[0];
    let values = |name: &str| -> Vec<&str> {
        heads
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("x-multi"), ["one", "two", "three"]);
    for i in 0..12 {
        assert_eq!(values(&format!("x-extra-{i}")), [i.to_string().as_str()]);
    }
    assert_eq!(values("api-version"), ["2023-08-16"]);
    assert_eq!(values("x-account"), ["acct_default"]);
    assert_eq!(values("user-agent").len(), 1, "{heads:?}");
    assert_eq!(values("host").len(), 1, "{heads:?}");
}
