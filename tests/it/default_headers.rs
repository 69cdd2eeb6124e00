//! `Connector::default_headers`: sent on every request of a connection, overridable per call.

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
