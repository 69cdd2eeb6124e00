//! GoHighLevel passes the conformance suite (`switchboard::test_util::conformance`): the token
//! and the app secret as canaries, the retry promise of [`GhlConnector`]'s docs, config binding
//! and refusals, the typed config against the schema, the contact search stream, and webhooks
//! through the router and the axum routes with two tenants sharing a connection id. GoHighLevel
//! signs every location's events with one key, so each tenant's events name its own location
//! and the cross-tenant check posts tenant B's event, validly signed, to tenant A's URL.
//!
//! [`GhlConnector`]: switchboard::ghl::GhlConnector

use std::sync::Arc;

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use switchboard::ghl::{
    CreateContact, GhlClient, GhlConfig, GhlIntegration, GhlSigner, GhlVerifier, SearchContacts,
};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{
    Conformance, ListCase, PageRequest, RetryPromise, WebhookCase,
};
use switchboard::BoxError;

use super::events::{ED_PRIVATE, ED_PUBLIC};

fn sign(_config: &Value, body: &[u8], _url: &str) -> Result<HeaderMap, BoxError> {
    let signer = GhlSigner::ed25519(ED_PRIVATE)?;
    let mut h = HeaderMap::new();
    h.insert(
        signer.header_name(),
        HeaderValue::from_str(&signer.sign(body)?)?,
    );
    Ok(h)
}

fn event(config: &Value, n: usize) -> Vec<u8> {
    json!({
        "type": "ContactUpdate",
        "locationId": config["locationId"],
        "id": format!("contact-{n}"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "webhookId": format!("wh-{n}"),
    })
    .to_string()
    .into_bytes()
}

fn page(page: &PageRequest) -> String {
    let contacts: Vec<Value> = (0..page.items)
        .map(|i| {
            let id = format!("c{}_{i}", page.index);
            let mut c = json!({"id": id, "dateUpdated": "2026-01-01T00:00:00.000Z"});
            // GoHighLevel marks each contact of a page to continue from; the last page's
            // last contact has nothing after it.
            if !(page.last && i + 1 == page.items) {
                c["searchAfter"] = json!([page.index, i]);
            }
            c
        })
        .collect();
    json!({"contacts": contacts, "total": 6}).to_string()
}

#[tokio::test]
async fn ghl_passes_the_conformance_suite() {
    let verifier = GhlVerifier::builder()
        .ed25519_public_key_pem(ED_PUBLIC)
        .build()
        .unwrap();
    let integration = GhlIntegration::new().with_verifier(verifier);
    let config = json!({"apiKey": canary("apiKey"), "locationId": "loc_conformance_a"});
    let second = json!({"apiKey": canary("apiKeyB"), "locationId": "loc_conformance_b"});
    let maximal = json!({
        "apiKey": canary("apiKey"),
        "locationId": "loc_conformance_a",
        "calendarId": "cal_1",
        "webhookUrl": "https://app.example.test/webhooks/ghl",
        "apiVersion": "2021-07-28",
        "baseUrl": "https://services.leadconnectorhq.com",
        "clientId": "app-client",
        "clientSecret": canary("clientSecret"),
    });
    Conformance::new(Arc::new(integration), config)
        .second_tenant_config(second)
        .example_config(maximal)
        .typed_config::<GhlConfig>()
        .invalid_config(
            json!({"apiKey": canary("apiKey"), "locationId": "ab"}),
            &["/locationId"],
        )
        // The docs (GhlConnector): a 429 is retried for every method (refused before it was
        // acted on); a 5xx only for reads, since a write may have landed and GoHighLevel
        // takes no idempotency key; a refused connection is retried (nothing was sent).
        .retry(RetryPromise {
            post_reset_after_write: 1,
            post_connection_refused: 3,
            get_connection_refused: 3,
            post_429_retry_after: 3,
            get_429_retry_after: 3,
            post_5xx: 1,
            get_5xx: 3,
        })
        .error_body(
            r#"{"statusCode":422,"message":["conformance"],"error":"Unprocessable Entity"}"#,
        )
        .post_call(|conn| {
            Box::pin(async move {
                GhlClient::from_connection(conn)?
                    .contacts()
                    .create(CreateContact::new().first_name("Ada"))
                    .await?;
                Ok(())
            })
        })
        .get_call(|conn| {
            Box::pin(async move {
                GhlClient::from_connection(conn)?
                    .contacts()
                    .get("contact-1")
                    .await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", GhlClient::from_connection(conn)?)))
        .list(
            ListCase::new(
                |conn| match GhlClient::from_connection(conn) {
                    Ok(ghl) => ghl
                        .contacts()
                        .search(SearchContacts::new().page_limit(2))
                        .map(|r| r.map(|_| ()).map_err(BoxError::from))
                        .boxed(),
                    Err(e) => futures_util::stream::once(async move { Err(e.into()) }).boxed(),
                },
                page,
            )
            .items_per_page(2),
        )
        .webhooks(WebhookCase::per_config(sign, event))
        .run()
        .await
        .assert_ok();
}
