//! `Connector::failure_in_body`: a failure a provider reports inside an HTTP 200 (Google Maps'
//! `OVER_QUERY_LIMIT`) is handled as the status it stands for, over real HTTP: retried when
//! that status is, never cached, and returned as an error naming both statuses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use switchboard::test_util::{RawAction, RawRequest, RawServer};
use switchboard::{BodyFailure, ErrorKind};

use crate::support::{builder, connect, TestConnector};

/// `{"status":"BUSY"}` stands for a 429, `{"status":"DENIED"}` for a 403.
fn maps_like() -> TestConnector {
    TestConnector {
        body_failure: Some(Arc::new(|body: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(body).ok()?;
            match v.get("status")?.as_str()? {
                "BUSY" => Some(BodyFailure::new(StatusCode::TOO_MANY_REQUESTS, "BUSY")),
                "DENIED" => Some(BodyFailure::new(StatusCode::FORBIDDEN, "DENIED")),
                _ => None,
            }
        })),
        ..TestConnector::default()
    }
}

/// Answers the n-th request (from 0) with `bodies[n]`, the last one after that.
async fn server(bodies: &'static [&'static str]) -> (RawServer, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let server = RawServer::start(move |_: &RawRequest| {
        let n = h.fetch_add(1, Ordering::SeqCst);
        RawAction::status(200, bodies[n.min(bodies.len() - 1)])
    })
    .await;
    (server, hits)
}

#[tokio::test]
async fn a_rate_limit_in_a_200_is_retried_until_the_answer_is_good() {
    let (server, hits) = server(&[
        r#"{"status":"BUSY"}"#,
        r#"{"status":"BUSY"}"#,
        r#"{"status":"OK"}"#,
    ])
    .await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, maps_like(), &server.base_url());
    let resp = conn.get("/geocode").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap(), r#"{"status":"OK"}"#);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_rate_limit_that_lasts_ends_as_a_rate_limited_error_naming_the_word() {
    let (server, hits) = server(&[r#"{"status":"BUSY"}"#]).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, maps_like(), &server.base_url());
    let err = conn.get("/geocode").send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert!(err.attempts() > 1, "retried: {err}");
    assert_eq!(hits.load(Ordering::SeqCst) as u32, err.attempts());
    let msg = err.to_string();
    assert!(
        msg.contains("200") && msg.contains("BUSY") && msg.contains("429"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_refusal_in_a_200_is_not_retried_not_cached_and_keeps_the_body() {
    let (server, hits) = server(&[r#"{"status":"DENIED"}"#, r#"{"status":"OK"}"#]).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, maps_like(), &server.base_url());
    let get = || {
        conn.get("/geocode")
            .cache_for(Duration::from_secs(600))
            .send()
    };
    let err = get().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert_eq!(err.attempts(), 1);
    assert_eq!(
        err.body().map(|b| b.as_ref()),
        Some(&br#"{"status":"DENIED"}"#[..])
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // The refusal was not stored: the next call goes upstream and its good answer is kept.
    let ok = get().await.unwrap();
    assert!(!ok.is_cache_hit());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(get().await.unwrap().is_cache_hit());
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_streamed_answer_is_not_inspected() {
    let (server, _) = server(&[r#"{"status":"DENIED"}"#]).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, maps_like(), &server.base_url());
    let resp = conn.get("/download").stream().send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn connectors_without_the_hook_see_200s_as_successes() {
    let (server, hits) = server(&[r#"{"status":"DENIED"}"#]).await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    assert!(conn.get("/geocode").send().await.is_ok());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
