//! The suite can fail: a toy connector passes it, and each way of breaking the toy (a `Debug`
//! that leaks the secret, a retry table that differs from the promise, a verifier that accepts
//! anything, a typed config that disagrees with the schema) makes it report that check.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::stream;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha2::Sha256;

use super::{Conformance, ListCase, RetryPromise, WebhookCase};
use crate::auth::BearerToken;
use crate::templates::{ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate};
use crate::test_util::canary;
use crate::webhook::{
    HmacBodyVerifier, SignatureEncoding, Verified, WebhookError, WebhookRequest, WebhookVerifier,
};
use crate::{AttemptOutcome, BoxError, Connection, Connector, Error, RetryDecision};

/// How the toy is broken.
#[derive(Debug, Clone, Copy, Default)]
struct Breaks {
    leaky_debug: bool,
    never_retry: bool,
    accept_any_signature: bool,
    logs_secret: bool,
}

struct ToyConnector {
    key: String,
    breaks: Breaks,
}

impl fmt::Debug for ToyConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ToyConnector");
        if self.breaks.leaky_debug {
            d.field("key", &self.key);
        }
        d.finish_non_exhaustive()
    }
}

#[async_trait]
impl Connector for ToyConnector {
    fn name(&self) -> &str {
        "toy"
    }

    fn classify_retry(&self, _: &AttemptOutcome<'_>) -> RetryDecision {
        if self.breaks.never_retry {
            RetryDecision::Never
        } else {
            RetryDecision::NoOpinion
        }
    }
}

#[derive(Debug)]
struct AcceptAnything;

impl WebhookVerifier for AcceptAnything {
    fn verify(&self, _: &WebhookRequest<'_>) -> Result<Verified, WebhookError> {
        Ok(Verified::default())
    }
}

#[derive(Debug)]
struct Toy {
    template: IntegrationTemplate,
    breaks: Breaks,
}

impl Toy {
    fn integration(breaks: Breaks) -> Arc<dyn Integration> {
        let template = IntegrationTemplate::builder("toy")
            .webhooks(true)
            .config_schema(json!({
                "type": "object",
                "required": ["api_key"],
                "additionalProperties": false,
                "properties": {
                    "api_key": {"type": "string", "title": "API key", "format": "password", "pattern": "^key_"},
                    "webhook_secret": {"type": "string", "title": "Webhook secret", "format": "password"},
                    "base_url": {"type": "string", "title": "Base URL"}
                }
            }))
            .endpoint_url_field("base_url")
            .build()
            .unwrap();
        Arc::new(Toy { template, breaks })
    }
}

#[async_trait::async_trait]
impl Integration for Toy {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        connection.get("/v1/me").send().await.map(|_| ())
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let key = config.require_secret("api_key")?;
        if self.breaks.logs_secret {
            tracing::debug!(key = key.expose_secret(), "binding the toy");
        }
        let connector = ToyConnector {
            key: key.expose_secret().to_string(),
            breaks: self.breaks,
        };
        Ok(IntegrationBinding::new(
            Arc::new(connector),
            config.str("base_url").unwrap_or("https://toy.example.com"),
            Some(Arc::new(BearerToken::new(key.clone()))),
        ))
    }

    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        if self.breaks.accept_any_signature {
            return Ok(Arc::new(AcceptAnything));
        }
        let secret = config.require_secret("webhook_secret")?;
        Ok(Arc::new(
            HmacBodyVerifier::builder()
                .header("x-toy-signature")
                .encoding(SignatureEncoding::Hex)
                .secret(secret.expose_secret())
                .build()?,
        ))
    }
}

/// The toy's typed config.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read through Debug only
struct ToyConfig {
    // Strings here (secrecy's serde feature is off); the hand-written Debug redacts them.
    api_key: String,
    webhook_secret: Option<String>,
    base_url: Option<String>,
}

impl fmt::Debug for ToyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToyConfig")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A typed config that disagrees with the schema: `api_key` optional, unknown fields allowed.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct LaxToyConfig {
    api_key: Option<String>,
}

fn sign(config: &Value, body: &[u8], _url: &str) -> Result<HeaderMap, BoxError> {
    let secret = config["webhook_secret"]
        .as_str()
        .ok_or("no webhook_secret")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())?;
    mac.update(body);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-toy-signature",
        HeaderValue::from_str(&hex::encode(mac.finalize().into_bytes()))?,
    );
    Ok(headers)
}

/// What the toy's docs promise: the core's rules (an unkeyed POST, no idempotency header).
const PROMISE: RetryPromise = RetryPromise {
    post_reset_after_write: 1,
    post_connection_refused: 3,
    get_connection_refused: 3,
    post_429_retry_after: 1,
    get_429_retry_after: 3,
    post_5xx: 1,
    get_5xx: 3,
};

fn list(conn: Connection) -> futures_util::stream::BoxStream<'static, Result<(), BoxError>> {
    // (connection, next page, items left on the page, done)
    let state = (conn, 0usize, 0usize, false);
    Box::pin(stream::unfold(
        state,
        |(conn, page, left, done)| async move {
            if left > 0 {
                return Some((Ok(()), (conn, page, left - 1, done)));
            }
            if done {
                return None;
            }
            let fetched = async {
                let r = conn.get(format!("/v1/things?page={page}")).send().await?;
                let v: Value = r.json().await?;
                Ok::<_, Error>(v)
            }
            .await;
            match fetched {
                Err(e) => Some((Err(e.into()), (conn, page, 0, true))),
                Ok(v) => {
                    let n = v["data"].as_array().map_or(0, Vec::len);
                    let more = v["has_more"].as_bool().unwrap_or(false);
                    if n == 0 {
                        return None;
                    }
                    Some((Ok(()), (conn, page + 1, n - 1, !more)))
                }
            }
        },
    ))
}

fn case(integration: Arc<dyn Integration>) -> Conformance {
    let config = json!({
        "api_key": format!("key_{}", canary("api")),
        "webhook_secret": canary("hook"),
    });
    Conformance::new(integration, config.clone())
        .example_config({
            let mut c = config;
            c["base_url"] = json!("https://toy.example.com");
            c
        })
        .typed_config::<ToyConfig>()
        .invalid_config(json!({"api_key": "nope"}), &["/api_key"])
        .retry(PROMISE)
        .post_call(|conn| {
            Box::pin(async move {
                conn.post("/v1/things")
                    .json(&json!({"n": 1}))
                    .without_idempotency_key()
                    .send()
                    .await?;
                Ok(())
            })
        })
        .get_call(|conn| {
            Box::pin(async move {
                conn.get("/v1/things/1").send().await?;
                Ok(())
            })
        })
        .list(ListCase::new(list, |p| {
            json!({"data": vec![json!({}); p.items], "has_more": !p.last}).to_string()
        }))
        .webhooks(WebhookCase::new(sign, |n| {
            format!(r#"{{"event":{n}}}"#).into_bytes()
        }))
}

#[tokio::test]
async fn a_conforming_connector_passes_every_check() {
    let report = case(Toy::integration(Breaks::default())).run().await;
    report.assert_ok();
    for check in [
        "canary.values",
        "canary.debug",
        "canary.errors",
        "canary.logs",
        "config.valid",
        "config.invalid",
        "schema.typed",
        "retry.post_reset_after_write",
        "retry.get_5xx",
        "list.ends",
        "list.lazy",
        "list.error",
        "webhook.router",
        "webhook.axum",
        "webhook.cross_tenant",
        "webhook.tampered",
    ] {
        assert!(
            report.passed().iter().any(|p| p == check),
            "{check} did not run: {:?}",
            report.passed()
        );
    }
}

#[tokio::test]
async fn a_debug_that_leaks_the_secret_fails_the_canary_check() {
    let breaks = Breaks {
        leaky_debug: true,
        ..Default::default()
    };
    let report = case(Toy::integration(breaks)).run().await;
    assert!(report.failed("canary.debug"), "{:?}", report.failures());
    assert!(!report.failed("retry"), "{:?}", report.failures());
    // The report names the leak without repeating the secret.
    let text = format!("{:?}", report.failures());
    assert!(
        text.contains("[canary]") && !text.contains("CANARY"),
        "{text}"
    );
}

#[tokio::test]
async fn a_retry_table_that_differs_from_the_promise_fails_those_rows() {
    let breaks = Breaks {
        never_retry: true,
        ..Default::default()
    };
    let report = case(Toy::integration(breaks)).run().await;
    // Never retrying breaks every row promising 3 attempts, and only those.
    for row in [
        "retry.post_connection_refused",
        "retry.get_connection_refused",
        "retry.get_429_retry_after",
        "retry.get_5xx",
    ] {
        assert!(report.failed(row), "{row}: {:?}", report.failures());
    }
    for row in ["retry.post_reset_after_write", "retry.post_5xx", "canary"] {
        assert!(!report.failed(row), "{row}: {:?}", report.failures());
    }
}

#[tokio::test]
async fn a_verifier_that_accepts_anything_fails_the_webhook_checks() {
    let breaks = Breaks {
        accept_any_signature: true,
        ..Default::default()
    };
    let report = case(Toy::integration(breaks)).run().await;
    assert!(
        report.failed("webhook.cross_tenant"),
        "{:?}",
        report.failures()
    );
    assert!(report.failed("webhook.tampered"), "{:?}", report.failures());
    assert!(!report.failed("webhook.router"), "{:?}", report.failures());
}

#[tokio::test]
async fn a_typed_config_that_disagrees_with_the_schema_fails_the_schema_check() {
    let report = case(Toy::integration(Breaks::default()))
        .typed_config::<LaxToyConfig>()
        .run()
        .await;
    let failures: Vec<_> = report
        .failures()
        .iter()
        .filter(|f| f.check == "schema.typed")
        .map(|f| f.detail.clone())
        .collect();
    assert!(
        failures.iter().any(|d| d.contains("without `api_key`")),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|d| d.contains("unknown field")),
        "{failures:?}"
    );
}

#[tokio::test]
#[should_panic(expected = "fails")]
async fn assert_ok_panics_listing_the_failures() {
    let breaks = Breaks {
        leaky_debug: true,
        ..Default::default()
    };
    case(Toy::integration(breaks)).run().await.assert_ok();
}

#[tokio::test]
async fn a_secret_in_a_log_line_fails_the_log_check() {
    let breaks = Breaks {
        logs_secret: true,
        ..Default::default()
    };
    let report = case(Toy::integration(breaks)).run().await;
    assert!(report.failed("canary.logs"), "{:?}", report.failures());
    assert!(!report.failed("canary.debug"), "{:?}", report.failures());
}

#[tokio::test]
async fn a_list_that_drops_a_failed_page_fails_the_list_check() {
    let swallowing = |conn| {
        use futures_util::StreamExt;
        list(conn).filter(|r| std::future::ready(r.is_ok())).boxed()
    };
    let report = case(Toy::integration(Breaks::default()))
        .list(ListCase::new(swallowing, |p| {
            json!({"data": vec![json!({}); p.items], "has_more": !p.last}).to_string()
        }))
        .run()
        .await;
    assert!(report.failed("list.error"), "{:?}", report.failures());
    assert!(!report.failed("list.ends"), "{:?}", report.failures());
}

#[tokio::test]
async fn a_case_without_webhooks_or_lists_fails_unless_it_says_why() {
    let mut bare = case(Toy::integration(Breaks::default()));
    bare.webhooks = None;
    bare.list = None;
    let report = bare.run().await;
    assert!(report.failed("webhook"), "{:?}", report.failures());
    assert!(report.failed("list"), "{:?}", report.failures());
    let mut bare = case(Toy::integration(Breaks::default())).without_lists("none");
    bare.list = None;
    let report = bare.run().await;
    assert!(!report.failed("list"), "{:?}", report.failures());
}

#[tokio::test]
async fn a_case_without_a_post_call_fails_unless_it_says_why() {
    let mut bare = case(Toy::integration(Breaks::default()));
    bare.post = None;
    let report = bare.run().await;
    assert!(report.failed("retry.post_5xx"), "{:?}", report.failures());
    let mut bare = case(Toy::integration(Breaks::default())).without_posts("read-only API");
    bare.post = None;
    let report = bare.run().await;
    assert!(!report.failed("retry.post"), "{:?}", report.failures());
    assert!(
        report.passed().iter().any(|p| p == "retry.get_5xx"),
        "the GET rows still run: {:?}",
        report.passed()
    );
}
