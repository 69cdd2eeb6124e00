//! DocuSign passes the conformance suite (`switchboard::test_util::conformance`): canaries
//! (config secrets and the stored access token), the retry promise of
//! [`DocuSignConnector`](switchboard::docusign::DocuSignConnector)'s docs, config binding and
//! refusals, the typed config against the schema, Connect webhooks through the router and axum
//! with two tenants, and the status-change list.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use switchboard::docusign::{
    CreateEnvelope, DocuSignClient, DocuSignConfig, DocuSignIntegration, DocuSignVerifier,
    Document, EnvelopeId, ListEnvelopeStatusChanges, Signer, SIGNATURE_HEADER,
};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{Conformance, ListCase, RetryPromise, WebhookCase};
use switchboard::BoxError;

use super::INTEGRATION_KEY;
use crate::support::TEST_RSA_PRIVATE_PEM;

const ACCOUNT: &str = "00000000-0000-0000-0000-00000000c0f0";

/// Signs as DocuSign Connect does, with the tenant's current key.
fn sign(config: &Value, body: &[u8], _url: &str) -> Result<HeaderMap, BoxError> {
    let key = config["connect_hmac_key"]
        .as_str()
        .ok_or("no connect_hmac_key")?;
    let mut headers = HeaderMap::new();
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&DocuSignVerifier::new(key.to_string()).sign(body)?)?,
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Ok(headers)
}

fn event(n: usize) -> Vec<u8> {
    json!({
        "event": "envelope-completed", "apiVersion": "v2.1",
        "uri": format!("/restapi/v2.1/accounts/{ACCOUNT}/envelopes/env-{n}"),
        "retryCount": 0, "configurationId": 10_000_001,
        "generatedDateTime": format!("2026-12-02T10:00:{:02}.0000000Z", n % 60),
        "data": {"accountId": ACCOUNT, "userId": "user-1", "envelopeId": format!("env-{n}")}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn docusign_passes_the_conformance_suite() {
    // The authorization-code grant: its secret is a canary (a JWT key must be a real RSA key).
    let config = json!({
        "integration_key": INTEGRATION_KEY,
        "grant": "authorization_code",
        "client_secret": canary("client_secret"),
        "account_id": ACCOUNT,
        "base_uri": "https://demo.docusign.net",
        "auth_base_url": "https://account-d.docusign.com",
        "connect_hmac_key": canary("connect_hmac_key"),
        "connect_hmac_key_previous": canary("connect_hmac_key_previous"),
    });
    let maximal = json!({
        "integration_key": INTEGRATION_KEY,
        "grant": "jwt",
        "user_id": "user-1",
        "private_key": TEST_RSA_PRIVATE_PEM,
        "client_secret": canary("client_secret"),
        "redirect_uri": "https://app.example.test/docusign/callback",
        "environment": "production",
        "auth_base_url": "https://account.docusign.com",
        "account_id": ACCOUNT,
        "base_uri": "https://na4.docusign.net",
        "connect_hmac_key": canary("connect_hmac_key"),
        "connect_hmac_key_previous": canary("connect_hmac_key_previous"),
        "status_poll_interval_secs": 900,
    });
    Conformance::new(Arc::new(DocuSignIntegration::new()), config)
        .stored_token(canary("access_token"))
        .example_config(maximal)
        .typed_config::<DocuSignConfig>()
        .invalid_config(
            json!({"integration_key": INTEGRATION_KEY, "grant": "password"}),
            &["/grant"],
        )
        // The docs (DocuSignConnector::classify_retry): DocuSign has no idempotency key, so a
        // POST is resent only when it certainly was not received (a refused connection); a
        // 429 was not acted on and is retried after Retry-After, by any method; a 5xx is
        // retried for reads only.
        .retry(RetryPromise {
            post_reset_after_write: 1,
            post_connection_refused: 3,
            get_connection_refused: 3,
            post_429_retry_after: 3,
            get_429_retry_after: 3,
            post_5xx: 1,
            get_5xx: 3,
        })
        .error_body(r#"{"errorCode":"CONFORMANCE_ERROR","message":"conformance"}"#)
        .post_call(|conn| {
            Box::pin(async move {
                DocuSignClient::from_connection(conn)?
                    .envelopes()
                    .create(
                        CreateEnvelope::from_documents("Conformance")
                            .document(Document::pdf("1", "c.pdf", b"%PDF-1.4"))
                            .signer(Signer::new("signer@example.test", "Signer", "1"))
                            .send(),
                    )
                    .await?;
                Ok(())
            })
        })
        .get_call(|conn| {
            Box::pin(async move {
                DocuSignClient::from_connection(conn)?
                    .envelopes()
                    .get_fresh(&EnvelopeId::new("env-conformance"))
                    .await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", DocuSignClient::from_connection(conn)?)))
        .list(ListCase::new(
            |conn| match DocuSignClient::from_connection(conn) {
                Ok(docusign) => docusign
                    .envelopes()
                    .list_status_changes(
                        ListEnvelopeStatusChanges::since(
                            SystemTime::now() - Duration::from_secs(86_400),
                        )
                        .page_size(2),
                    )
                    .map(|r| r.map(|_| ()).map_err(BoxError::from))
                    .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e.into()) }).boxed(),
            },
            |page| {
                let start = page.index * page.items;
                let envelopes: Vec<Value> = (0..page.items)
                    .map(|i| json!({"envelopeId": format!("env-{}-{i}", page.index), "status": "sent"}))
                    .collect();
                let total = if page.last { start + page.items } else { start + page.items + 10 };
                json!({
                    "envelopes": envelopes,
                    "resultSetSize": page.items.to_string(),
                    "startPosition": start.to_string(),
                    "endPosition": (start + page.items - 1).to_string(),
                    "totalSetSize": total.to_string(),
                })
                .to_string()
            },
        ))
        .webhooks(WebhookCase::new(sign, event))
        .run()
        .await
        .assert_ok();
}
