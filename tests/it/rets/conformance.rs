//! RETS passes the conformance suite (`switchboard::test_util::conformance`): the passwords
//! as canaries, the retry promise for its reads (every transaction is a read, the login
//! first), config binding and refusals, and the typed config against the schema.

use std::sync::Arc;

use serde_json::json;
use switchboard::rets::{Dmql, RetsClient, RetsConfig, RetsIntegration, Search};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{Conformance, RetryPromise};

#[tokio::test]
async fn rets_passes_the_conformance_suite() {
    let config = json!({
        "login_url": "https://rets.example-mls.com/rets/login",
        "username": "agent",
        "password": canary("password"),
    });
    let maximal = json!({
        "login_url": "https://rets.example-mls.com:6103/rets/login",
        "username": "agent",
        "password": canary("password"),
        "user_agent": "OakRealty/1.0",
        "user_agent_password": canary("ua_password"),
        "rets_version": "RETS/1.8",
        "http_auth": "digest",
        "http_method": "POST",
        "page_size": 2500,
        "photo_cache_ttl_secs": 3600,
    });
    Conformance::new(Arc::new(RetsIntegration::new()), config)
        .example_config(maximal)
        .typed_config::<RetsConfig>()
        .invalid_config(
            json!({"login_url": "https://x/login", "username": "a", "password": canary("password"), "rets_version": "RETS/2.0"}),
            &["/rets_version"],
        )
        .invalid_config(
            json!({"login_url": "https://x/login", "username": "a", "password": canary("password"), "http_auth": "ntlm"}),
            &["/http_auth"],
        )
        // Every transaction reads (a POST only carries a long query), and the first call of a
        // session is the login: a GET retried on a refused connection, a 429 (after
        // Retry-After) and a 5xx, up to the switchboard's attempts. No POST row applies.
        .retry(RetryPromise {
            post_reset_after_write: 0,
            post_connection_refused: 0,
            get_connection_refused: 3,
            post_429_retry_after: 0,
            get_429_retry_after: 3,
            post_5xx: 0,
            get_5xx: 3,
        })
        .without_posts("RETS transactions read; the connector writes nothing")
        .error_body(r#"<RETS ReplyCode="20050" ReplyText="Server temporarily disabled" />"#)
        .get_call(|conn| {
            Box::pin(async move {
                RetsClient::from_connection(conn)?
                    .search(Search::new("Property", "RES", Dmql::raw("(ListPrice=0+)")))
                    .collect()
                    .await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", RetsClient::from_connection(conn)?)))
        .without_lists(
            "a search needs the Login reply's capability URLs before its pages, which the \
             suite's provider does not send; paging is tested against the loopback RETS \
             server in tests/it/rets/search.rs",
        )
        .run()
        .await
        .assert_ok();
}
