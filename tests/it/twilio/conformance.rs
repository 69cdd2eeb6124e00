//! Twilio passes the conformance suite (`switchboard::test_util::conformance`): canaries, the
//! retry promise of the connector's docs, config binding and refusals, `X-Twilio-Signature`
//! webhooks through the router and axum with two tenants, and message lists.

use std::sync::Arc;

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::{json, Value};
use switchboard::test_util::canary;
use switchboard::test_util::conformance::{Conformance, ListCase, RetryPromise, WebhookCase};
use switchboard::twilio::{
    CreateMessage, ListMessages, MessageSid, TwilioClient, TwilioConfig, TwilioIntegration,
    TwilioSigner,
};
use switchboard::BoxError;

use super::{message_json, AC, SM};

fn sign(config: &Value, body: &[u8], url: &str) -> Result<HeaderMap, BoxError> {
    let token = config["auth_token"].as_str().ok_or("no auth_token")?;
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&TwilioSigner::new(token.to_string()).sign_form(url, &params))?,
    );
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    Ok(headers)
}

fn event(n: usize) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("AccountSid", AC)
        .append_pair("MessageSid", &format!("SM{n:032x}"))
        .append_pair("MessageStatus", "delivered")
        .finish()
        .into_bytes()
}

fn client(conn: switchboard::Connection) -> Result<TwilioClient, BoxError> {
    Ok(TwilioClient::from_connection(conn)?)
}

#[tokio::test]
async fn twilio_passes_the_conformance_suite() {
    let config = json!({"account_sid": AC, "auth_token": canary("auth_token")});
    let with_key = json!({
        "account_sid": AC,
        "api_key_sid": format!("SK{}", "b".repeat(32)),
        "api_key_secret": canary("api_key_secret"),
        "webhook_auth_token": canary("webhook_auth_token"),
        "subaccount_sid": format!("AC{}", "c".repeat(32)),
        "messaging_service_sid": format!("MG{}", "d".repeat(32)),
        "from_number": "+15017122661",
        "base_url": "https://api.twilio.com",
        "lookups_base_url": "https://lookups.twilio.com",
    });
    Conformance::new(Arc::new(TwilioIntegration::new()), config)
        .example_config(with_key)
        .typed_config::<TwilioConfig>()
        .invalid_config(
            json!({"account_sid": "not-a-sid", "auth_token": canary("auth_token")}),
            &["/account_sid"],
        )
        // The docs (TwilioConnector::classify_retry): a Messages POST has no idempotency key,
        // so once its bytes may have reached Twilio (a reset after the write, a 5xx) it is not
        // retried; a refused connection sent nothing and a 429 was not processed, so both are.
        .retry(RetryPromise {
            post_reset_after_write: 1,
            post_connection_refused: 3,
            get_connection_refused: 3,
            post_429_retry_after: 3,
            get_429_retry_after: 3,
            post_5xx: 1,
            get_5xx: 3,
        })
        .error_body(r#"{"code":20500,"message":"conformance","more_info":"","status":503}"#)
        .post_call(|conn| {
            Box::pin(async move {
                client(conn)?
                    .messages()
                    .create(CreateMessage::new("+15558675310").from("+15017122661").body("hi"))
                    .await?;
                Ok(())
            })
        })
        .get_call(|conn| {
            Box::pin(async move {
                client(conn)?.messages().fetch(&MessageSid::new(SM)).await?;
                Ok(())
            })
        })
        .client_debug(|conn| Ok(format!("{:?}", client(conn)?)))
        .list(ListCase::new(
            |conn| match client(conn) {
                Ok(c) => c
                    .messages()
                    .list(ListMessages::new().page_size(2))
                    .map(|r| r.map(|_| ()).map_err(BoxError::from))
                    .boxed(),
                Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
            },
            |page| {
                let messages: Vec<Value> = (0..page.items)
                    .map(|i| {
                        let sid = format!("SM{:030x}{:02x}", page.index, i);
                        serde_json::from_str(&message_json(&sid, "+15558675310")).unwrap()
                    })
                    .collect();
                let next = (!page.last).then(|| {
                    format!(
                        "/2010-04-01/Accounts/{AC}/Messages.json?PageSize=2&Page={}",
                        page.index + 1
                    )
                });
                json!({"messages": messages, "next_page_uri": next, "page": page.index, "page_size": 2})
                    .to_string()
            },
        ))
        .webhooks(WebhookCase::new(sign, event))
        .run()
        .await
        .assert_ok();
}
