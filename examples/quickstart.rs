//! The switchboard quickstart: runs offline against mock providers on loopback and shows the
//! pipeline at work (a retry that honours `Retry-After`, a POST retried with the same
//! idempotency key, a cache hit, the circuit breaker opening), then the Stripe and Twilio
//! connectors: a payment intent created and an SMS sent against loopback stand-ins, and one
//! signed webhook of each verified; then a DocuSign envelope sent for signature.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use switchboard::auth::BearerToken;
use switchboard::stripe::{CreatePaymentIntent, StripeClient, StripeConnector, StripeVerifier};
use switchboard::test_util::LoopbackServer;
use switchboard::twilio::{
    CreateMessage, TwilioClient, TwilioConfig, TwilioSigner, TwilioVerifier,
};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};
use switchboard::{BreakerConfig, Connector, RetryConfig, Switchboard};

#[path = "mocks/docusign.rs"]
mod docusign_mock;
#[path = "mocks/stripe.rs"]
mod stripe_mock;
#[path = "mocks/twilio.rs"]
mod twilio_mock;

/// A tiny connector for the mock provider: no opinion on retries, and idempotency keys (the mock honours `Idempotency-Key`; a connector opts in to keys only
/// when its provider does).
#[derive(Debug)]
struct DemoConnector;

impl Connector for DemoConnector {
    fn name(&self) -> &str {
        "demo"
    }

    fn idempotency_header(&self) -> Option<&str> {
        Some("Idempotency-Key")
    }
}

/// What the mock provider saw.
#[derive(Default)]
struct Provider {
    flaky_calls: AtomicUsize,
    charge_keys: Mutex<Vec<String>>,
    charges: Mutex<HashMap<String, String>>,
    catalog_calls: AtomicUsize,
    broken_calls: AtomicUsize,
}

fn mock_provider(state: Arc<Provider>) -> Router {
    let (s1, s2, s3, s4) = (state.clone(), state.clone(), state.clone(), state);
    Router::new()
        .route("/health", get(|| async { "ok" }))
        // Busy on the first call: 503 with Retry-After: 1.
        .route(
            "/v1/reports",
            get(move || {
                let s = s1.clone();
                async move {
                    if s.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            [("retry-after", "1")],
                            "{}",
                        )
                    } else {
                        (
                            StatusCode::OK,
                            [("retry-after", "0")],
                            "{\"report\":\"ready\"}",
                        )
                    }
                }
            }),
        )
        // Commits the charge, then fails the first attempt with a 502: a retry must not
        // charge twice, which the idempotency key guarantees.
        .route(
            "/v1/charges",
            post(move |headers: HeaderMap| {
                let s = s2.clone();
                async move {
                    let key = headers
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    let mut keys = s.charge_keys.lock().unwrap();
                    keys.push(key.clone());
                    let mut charges = s.charges.lock().unwrap();
                    let first = !charges.contains_key(&key);
                    let id = format!("ch_{}", charges.len() + usize::from(first));
                    let id = charges.entry(key).or_insert(id).clone();
                    if keys.len() == 1 {
                        (StatusCode::BAD_GATEWAY, String::from("{}"))
                    } else {
                        (StatusCode::OK, format!("{{\"id\":\"{id}\"}}"))
                    }
                }
            }),
        )
        .route(
            "/v1/catalog",
            get(move || {
                let s = s3.clone();
                async move {
                    s.catalog_calls.fetch_add(1, Ordering::SeqCst);
                    "{\"items\":[1,2,3]}"
                }
            }),
        )
        .route(
            "/v1/broken",
            get(move || {
                let s = s4.clone();
                async move {
                    s.broken_calls.fetch_add(1, Ordering::SeqCst);
                    (StatusCode::INTERNAL_SERVER_ERROR, "{}")
                }
            }),
        )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = Arc::new(Provider::default());
    let server = LoopbackServer::start(mock_provider(provider.clone())).await;

    // Embedded defaults: in-memory credentials, in-process rate limiter, moka cache.
    let sb = Switchboard::builder()
        .retry(RetryConfig::default().base_delay(Duration::from_millis(50)))
        .breaker(BreakerConfig::default().min_calls(10))
        .build()?;
    let conn = sb
        .connection(DemoConnector)
        .tenant("acme-realty")
        .id("acme-demo")
        .base_url(server.base_url())
        .auth(BearerToken::new("demo-token"))
        .build()?;
    // A cheap authenticated call proves the connection works (through `Connections`, an
    // integration's `check` does this when a connection is tested).
    conn.get("/health").send().await?;
    println!(
        "switchboard quickstart: a mock provider on {}\n",
        server.base_url()
    );

    // 1. Retry-After.
    let started = Instant::now();
    let report = conn.get("/v1/reports").send().await?;
    println!(
        "1. retry honours Retry-After: {} after {} attempts in {:.1} s (the provider asked for 1 s)",
        report.status(),
        provider.flaky_calls.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );

    // 2. A POST retried with the same idempotency key.
    let charge: serde_json::Value = conn
        .post("/v1/charges")
        .json(&serde_json::json!({"amount": 5000}))
        .send()
        .await?
        .json()
        .await?;
    let keys = provider.charge_keys.lock().unwrap().clone();
    let same = keys.windows(2).all(|w| w[0] == w[1]);
    println!(
        "2. POST retried safely: {} attempts, same idempotency key on each: {} ({}), charges created: {}, result {}",
        keys.len(),
        same,
        keys.first().map(String::as_str).unwrap_or("-"),
        provider.charges.lock().unwrap().len(),
        charge["id"]
    );

    // 3. Cache hit.
    for _ in 0..3 {
        conn.get("/v1/catalog")
            .cache_for(Duration::from_secs(60))
            .send()
            .await?;
    }
    let timed = Instant::now();
    let hit = conn
        .get("/v1/catalog")
        .cache_for(Duration::from_secs(60))
        .send()
        .await?;
    println!(
        "3. cache: 4 GETs, {} upstream call; the last was a hit: {} ({} us)",
        provider.catalog_calls.load(Ordering::SeqCst),
        hit.is_cache_hit(),
        timed.elapsed().as_micros()
    );

    // 4. The breaker opens after repeated failures, then fails fast.
    let (mut failed, mut fast) = (0, 0);
    let mut last = None;
    for _ in 0..12 {
        let e = conn.get("/v1/broken").send().await.unwrap_err();
        if e.is_circuit_open() {
            fast += 1;
        } else {
            failed += 1;
        }
        last = Some(e);
    }
    println!(
        "4. breaker: {} calls failed upstream ({} attempts with retries), then it opened \
         (state {:?}) and {} calls failed fast without reaching the provider",
        failed,
        provider.broken_calls.load(Ordering::SeqCst),
        conn.breaker_state(),
        fast,
    );
    if let Some(e) = last {
        println!("   last error: {e}");
    }
    stripe_payment(&sb).await?;
    twilio_sms(&sb).await?;
    docusign_envelope(&sb).await?;
    println!("\nEvery call above came through one pipeline: auth -> cache -> rate limit -> breaker -> retry -> timeout -> transport.");
    Ok(())
}

/// Step 5, Stripe: a payment intent (with its idempotency key) and a verified `Stripe-Signature`.
async fn stripe_payment(sb: &Switchboard) -> Result<(), Box<dyn std::error::Error>> {
    let mock = stripe_mock::start().await;
    let stripe = StripeClient::from_connection(
        sb.connection(StripeConnector::new())
            .tenant("acme-realty")
            .id("acme-stripe")
            .base_url(mock.base_url())
            .auth(BearerToken::new("sk_test_quickstart"))
            .build()?,
    )?;
    let intent = stripe
        .payment_intents()
        .create(
            CreatePaymentIntent::new()
                .amount(2000)
                .currency("usd")
                .metadata("listing", "42"),
        )
        .idempotency_key("deposit-listing-42")
        .await?;
    println!(
        "5. stripe: payment intent {} for {} {} is {:?}",
        intent.id, intent.amount, intent.currency, intent.status
    );

    // One verifier, one secret: fine for a single account. A host serving several tenants
    // lets the `WebhookRouter` build each connection's verifier from that connection's own
    // sealed `webhook_secret` instead (`cargo run --example webhooks_axum --features axum`).
    let secret = "whsec_quickstart";
    let body = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_demo","object":"payment_intent"}}}"#;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        switchboard::stripe::test_header(body, secret, now).parse()?,
    );
    let verified = StripeVerifier::new(secret).verify(&WebhookRequest::new(body, &headers))?;
    let mut tampered = body.to_vec();
    tampered.push(b' ');
    let rejected = StripeVerifier::new(secret)
        .verify(&WebhookRequest::new(&tampered, &headers))
        .unwrap_err();
    println!(
        "   webhook {} verified; the same body with one byte added is rejected: {rejected}",
        verified.event_id.unwrap_or_default()
    );
    Ok(())
}

/// Step 6, Twilio: an SMS (never retried once it may have reached Twilio) and a verified
/// `X-Twilio-Signature` rebuilt from the public URL behind a proxy.
async fn twilio_sms(sb: &Switchboard) -> Result<(), Box<dyn std::error::Error>> {
    let mock = LoopbackServer::start(twilio_mock::router()).await;
    let token = "quickstart-auth-token";
    // The tenant's account; the connector itself holds only Twilio's shared rules.
    let config = TwilioConfig::new(twilio_mock::OFFLINE_SID, token)
        .base_url(mock.base_url())
        .lookups_base_url(mock.base_url());
    let twilio =
        TwilioClient::from_connection(config.connection(sb, "acme-realty", "acme-twilio")?)?;
    let to = "+15558675310";
    let valid = twilio.lookups().phone_number(to).await?.is_valid();
    let sms = twilio
        .messages()
        .create(
            CreateMessage::new(to)
                .from("+15017122661")
                .body("Your showing is confirmed"),
        )
        .await?;
    println!(
        "6. twilio: {to} valid: {valid}; SMS {} is {:?}",
        sms.sid, sms.status
    );

    let body = format!("MessageSid={}&MessageStatus=delivered", sms.sid);
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let signature = TwilioSigner::new(token).sign_form("https://hooks.acme.test/twilio", &params);
    let mut headers = HeaderMap::new();
    headers.insert("x-twilio-signature", signature.parse()?);
    // Behind the `WebhookRouter`, the router builds this URL itself (its `public_base_url`)
    // and each connection's verifier from that connection's own auth token.
    let verifier = TwilioVerifier::builder()
        .auth_token(token)
        .public_base_url("https://hooks.acme.test")
        .build()?;
    // What the app saw behind its proxy; the verifier signs over the public URL instead.
    let received = url::Url::parse("http://10.0.0.7:8080/twilio")?;
    verifier.verify(&WebhookRequest::new(body.as_bytes(), &headers).with_url(&received))?;
    println!("   status callback verified against the public URL https://hooks.acme.test/twilio");
    Ok(())
}

/// One lease sent for signature through the DocuSign connector, against a loopback stand-in.
/// (`cargo run --example docusign_envelope` shows the whole flow: the template, the JWT or
/// code grant with the token manager, the account lookup, status, signing URL, documents and
/// Connect.)
async fn docusign_envelope(sb: &Switchboard) -> Result<(), Box<dyn std::error::Error>> {
    use switchboard::docusign::{
        CreateEnvelope, DocuSignClient, DocuSignConnector, Document, Signer, Tab,
    };
    let mock = docusign_mock::start().await;
    let connection = sb
        .connection(DocuSignConnector::new())
        .tenant("acme")
        .id("acme-docusign")
        .base_url(mock.base_url())
        .auth(BearerToken::new("docusign-access-token"))
        .build()?;
    let docusign =
        DocuSignClient::from_connection(connection)?.with_account(docusign_mock::ACCOUNT_ID);
    let envelope = docusign
        .envelopes()
        .create(
            CreateEnvelope::from_documents("Lease for 12 Oak Street")
                .document(Document::pdf("1", "lease.pdf", b"%PDF-1.4 lease /sn1/"))
                .signer(
                    Signer::new("jenny@example.com", "Jenny Rosen", "1")
                        .tab(Tab::sign_here().anchor("/sn1/")),
                )
                .send(),
        )
        .await?;
    println!(
        "7. docusign: envelope {} is {:?}",
        envelope.envelope_id, envelope.status
    );
    Ok(())
}
