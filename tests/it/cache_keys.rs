//! Cache keys cover everything that changes the answer: every query value (secret ones only as
//! a keyed hash), `Stripe-Account`, `Accept`, `Accept-Language` and the headers a connector
//! declares. Over real HTTP, counting what reaches the provider.

use std::sync::Arc;
use std::time::Duration;

use switchboard::test_util::{canary, RawAction, RawRequest, RawServer};
use switchboard::{Connection, Connector, Switchboard};

use crate::support::{builder, connect, TestConnector};

const TTL: Duration = Duration::from_secs(60);

/// Echoes the path and the headers that matter, so a wrongly shared entry shows in the body.
async fn echo() -> RawServer {
    RawServer::start(|req: &RawRequest| {
        let h = |n: &str| req.header(n).unwrap_or("-").to_string();
        RawAction::status(
            200,
            &format!(
                "{} {} {} {} {}",
                req.path,
                h("stripe-account"),
                h("accept"),
                h("accept-language"),
                h("x-api-version")
            ),
        )
    })
    .await
}

async fn body(conn: &Connection, path: &str, headers: &[(&str, &str)]) -> (String, bool) {
    let mut r = conn.get(path).cache_for(TTL);
    for &(n, v) in headers {
        r = r.header(n, v);
    }
    let resp = r.send().await.unwrap();
    let hit = resp.is_cache_hit();
    (
        String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap(),
        hit,
    )
}

#[tokio::test]
async fn gets_differing_only_in_stripe_account_are_two_entries() {
    let server = echo().await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let (one, _) = body(&conn, "/v1/balance", &[("Stripe-Account", "acct_1")]).await;
    let (two, hit) = body(&conn, "/v1/balance", &[("Stripe-Account", "acct_2")]).await;
    assert!(!hit, "acct_2 was served acct_1's balance");
    assert!(
        one.contains("acct_1") && two.contains("acct_2"),
        "{one} / {two}"
    );
    let (again, hit) = body(&conn, "/v1/balance", &[("Stripe-Account", "acct_1")]).await;
    assert!(hit && again.contains("acct_1"));
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn accept_and_accept_language_change_the_entry() {
    let server = echo().await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    body(&conn, "/doc", &[("Accept", "application/json")]).await;
    let (_, hit) = body(&conn, "/doc", &[("Accept", "text/csv")]).await;
    assert!(!hit);
    let (_, hit) = body(
        &conn,
        "/doc",
        &[("Accept", "text/csv"), ("Accept-Language", "fr")],
    )
    .await;
    assert!(!hit);
    let (_, hit) = body(&conn, "/doc", &[("Accept", "text/csv")]).await;
    assert!(hit);
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn secret_query_values_are_separate_entries_and_never_in_a_key() {
    let server = echo().await;
    let sb = builder().build().unwrap();
    let conn = connect(&sb, TestConnector::default(), &server.base_url());
    let (code1, code2) = (canary("code-one"), canary("code-two"));
    let (tok1, tok2) = (canary("token-one"), canary("token-two"));
    let get = |q: Vec<(&'static str, String)>| {
        let c = conn.clone();
        async move {
            let resp = c
                .get("/oauth/result")
                .query(&q)
                .cache_for(TTL)
                .send()
                .await
                .unwrap();
            let hit = resp.is_cache_hit();
            let text = String::from_utf8(resp.bytes().await.unwrap().to_vec()).unwrap();
            (text, hit)
        }
    };
    let (a, _) = get(vec![("code", code1.clone())]).await;
    let (b, hit) = get(vec![("code", code2.clone())]).await;
    assert!(!hit, "another code's answer was served");
    assert!(a.contains(&code1) && b.contains(&code2));
    let (_, hit) = get(vec![("token", tok1.clone())]).await;
    assert!(!hit);
    let (_, hit) = get(vec![("token", tok2.clone())]).await;
    assert!(!hit, "another token's answer was served");
    let (_, hit) = get(vec![("code", code1.clone())]).await;
    assert!(hit, "the same code is the same entry");
    // A plain value changes the key too.
    get(vec![("page", "1".to_string())]).await;
    let (_, hit) = get(vec![("page", "2".to_string())]).await;
    assert!(!hit);
    assert_eq!(server.requests(), 6);

    let keys = switchboard::test_util::cache_keys(&sb);
    assert_eq!(keys.len(), 6, "{keys:?}");
    for secret in [&code1, &code2, &tok1, &tok2] {
        assert!(
            keys.iter().all(|k| !k.contains(secret.as_str())),
            "{keys:?}"
        );
    }
    assert!(
        keys.iter().all(|k| !k.contains("REDACTED")),
        "the placeholder would make secrets collide: {keys:?}"
    );
    assert!(keys.iter().any(|k| k.contains("code=#")), "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("page=2")), "{keys:?}");
}

/// A connector whose answers also depend on `X-Api-Version`.
#[derive(Debug)]
struct Versioned;

impl Connector for Versioned {
    fn name(&self) -> &str {
        "versioned"
    }
    fn cache_vary_headers(&self) -> &[&str] {
        &["X-Api-Version"]
    }
}

#[tokio::test]
async fn headers_a_connector_declares_change_the_entry_and_values_are_hashed() {
    let server = echo().await;
    let sb: Switchboard = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(Versioned))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let v1 = canary("version");
    body(&conn, "/items", &[("X-Api-Version", &v1)]).await;
    let (two, hit) = body(&conn, "/items", &[("X-Api-Version", "2")]).await;
    assert!(!hit && two.ends_with(" 2"), "{two}");
    // A header nobody declared does not split the entry.
    let (_, hit) = body(&conn, "/items", &[("X-Api-Version", "2"), ("X-Trace", "9")]).await;
    assert!(hit);
    assert_eq!(server.requests(), 2);
    let keys = switchboard::test_util::cache_keys(&sb);
    assert!(keys.iter().all(|k| !k.contains(&v1)), "{keys:?}");
    assert!(
        keys.iter().any(|k| k.contains("x-api-version=#")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_connector_declaring_an_invalid_vary_header_is_refused() {
    #[derive(Debug)]
    struct Bad;
    impl Connector for Bad {
        fn name(&self) -> &str {
            "bad"
        }
        fn cache_vary_headers(&self) -> &[&str] {
            &["not a header"]
        }
    }
    let sb = builder().build().unwrap();
    let e = sb
        .connection(Arc::new(Bad))
        .tenant("t")
        .id("c")
        .base_url("https://api.example.com")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), switchboard::ErrorKind::Config);
    assert!(e.to_string().contains("cache_vary_headers"), "{e}");
}

#[tokio::test]
async fn the_stripe_connector_varies_on_stripe_version() {
    let server = echo().await;
    let sb = builder().build().unwrap();
    let conn = sb
        .connection(Arc::new(switchboard::stripe::StripeConnector::new()))
        .tenant("t1")
        .id("c1")
        .base_url(server.base_url())
        .build()
        .unwrap();
    body(&conn, "/v1/balance", &[("Stripe-Version", "2024-06-20")]).await;
    let (_, hit) = body(
        &conn,
        "/v1/balance",
        &[("Stripe-Version", "2025-01-27.acacia")],
    )
    .await;
    assert!(!hit, "an answer in another API version was served");
    let (_, hit) = body(&conn, "/v1/balance", &[("Stripe-Version", "2024-06-20")]).await;
    assert!(hit);
    assert_eq!(server.requests(), 2);
}
