//! `RequestBuilder::accept_status`: a failure status that is a step of the exchange (HTTP
//! Digest's challenge, a 401) comes back as a response, once, and is no failure of the
//! connection; without it the same answer is an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::StatusCode;
use switchboard::test_util::{RawAction, RawRequest, RawServer};

use crate::support::{builder, connect, TestConnector};

#[tokio::test]
async fn an_accepted_status_is_the_answer_not_a_failure() {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = RawServer::start(move |_: &RawRequest| {
        h.fetch_add(1, Ordering::SeqCst);
        RawAction::status(401, "challenge")
            .with_header("WWW-Authenticate", "Digest realm=\"r\", nonce=\"n\"")
    })
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    for _ in 0..3 {
        let resp = conn
            .get("/login")
            .accept_status(StatusCode::UNAUTHORIZED)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert!(resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Digest"));
        assert_eq!(resp.bytes().await.unwrap(), "challenge");
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "one request each, never retried"
    );
    // Without it, the same answer is an error.
    let e = conn.get("/login").send().await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
    // Another failure status is still one.
    let e = conn
        .get("/login")
        .accept_status(StatusCode::NOT_FOUND)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
}
