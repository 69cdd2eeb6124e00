//! Stripe passes the conformance suite (`switchboard::test_util::conformance`): canaries,
//! the retry promise of [`StripeConnector`](switchboard::stripe::StripeConnector)'s docs, config
//! binding and refusals, webhooks through the router and axum with two tenants, and lists.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use switchboard::stripe::{
    test_header, CreateCustomer, CustomerId, ListCustomers, StripeClient, StripeConfig,
    StripeIntegration, SIGNATURE_HEADER,
};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{Conformance, ListCase, RetryPromise, WebhookCase};
use switchboard::BoxError;

/// A canary that fits Stripe's key pattern (`[A-Za-z0-9_]`).
fn key_canary(prefix: &str, label: &str) -> String {
    format!("{prefix}{}", canary(label).replace('-', "_"))
}

fn sign(config: &Value, body: &[u8], _url: &str) -> Result<HeaderMap, BoxError> {
    let secret = config["webhook_secret"]
        .as_str()
        .ok_or("no webhook_secret")?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&test_header(body, secret, now))?,
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Ok(headers)
}

fn event(n: usize) -> Vec<u8> {
    json!({
        "id": format!("evt_conformance_{n}"), "object": "event", "type": "customer.created",
        "api_version": "2023-08-16", "created": 1_700_000_000, "livemode": false,
        "pending_webhooks": 1, "data": {"object": {"id": "cus_1", "object": "customer"}}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn stripe_passes_the_conformance_suite() {
    let config = json!({
        "secret_key": key_canary("sk_test_", "secret_key"),
        "webhook_secret": format!("whsec_{}", canary("webhook_secret")),
    });
    let maximal = json!({
        "secret_key": key_canary("rk_test_", "restricted_key"),
        "webhook_secret": format!("whsec_{}", canary("webhook_secret")),
        "webhook_secret_previous": format!("whsec_{}", canary("webhook_secret_previous")),
        "api_version": "2023-08-16",
        "account_id": "acct_1032D82eZvKYlo2C",
        "base_url": "https://api.stripe.com",
        "webhook_endpoint_id": "we_1Mr5jULkdIwHu7ix1ibLTM0x",
    });
    Conformance::new(Arc::new(StripeIntegration::new()), config)
        .example_config(maximal)
        .typed_config::<StripeConfig>()
        .invalid_config(json!({"secret_key": "pk_test_publishable"}), &["/secret_key"])
        // The docs (StripeConnector::classify_retry): every typed POST carries an
        // Idempotency-Key, so it is retried like a GET after a reset, a refused connection or
        // a 5xx; a 429 is retried only for `lock_timeout`, which this one is not.
        .retry(RetryPromise {
            post_reset_after_write: 3,
            post_connection_refused: 3,
            get_connection_refused: 3,
            post_429_retry_after: 1,
            get_429_retry_after: 1,
            post_5xx: 3,
            get_5xx: 3,
        })
        .error_body(r#"{"error":{"type":"api_error","message":"conformance"}}"#)
        .post_call(|conn| {
            Box::pin(async move {
                StripeClient::from_connection(conn)?
                    .customers()
                    .create(CreateCustomer::new().email("conformance@example.com"))
                    .await?;
                Ok(())
            })
        })
        .get_call(|conn| {
            Box::pin(async move {
                StripeClient::from_connection(conn)?
                    .customers()
                    .retrieve(&CustomerId::new("cus_conformance"))
                    .await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", StripeClient::from_connection(conn)?)))
        .list(ListCase::new(
            |conn| match StripeClient::from_connection(conn) {
                Ok(stripe) => stripe
                    .customers()
                    .list(ListCustomers::new().limit(2u32))
                    .map(|r| r.map(|_| ()).map_err(BoxError::from))
                    .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e.into()) }).boxed(),
            },
            |page| {
                let data: Vec<Value> = (0..page.items)
                    .map(|i| json!({"id": format!("cus_{}_{i}", page.index), "object": "customer"}))
                    .collect();
                json!({"object": "list", "url": "/v1/customers", "has_more": !page.last, "data": data})
                    .to_string()
            },
        ))
        .webhooks(WebhookCase::new(sign, event))
        .run()
        .await
        .assert_ok();
}
