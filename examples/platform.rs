//! The seed platform's flow, end to end, offline: a host registers the Stripe and Twilio
//! integrations; two tenants connect their own accounts (configs sealed in a SQLite file);
//! testing a connection moves it to `active` and registers its Stripe webhook (the signing
//! secret Stripe returns is sealed into that tenant's config); typed calls go through the
//! pipeline with each tenant's own credentials; each provider's webhooks reach the right
//! tenant's handler through the axum routes, and a forged one does not; a revoked key moves
//! a connection to `error`; a disconnect removes its Stripe webhook.
//!
//! Stripe and Twilio are loopback stand-ins started here (they check each tenant's
//! credentials and, for Stripe, deliver events to the URL they were given); the SQLite file
//! is a temporary one, removed at the end.
//!
//! ```text
//! cargo run --example platform
//! ```

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::Engine as _;
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::store::sqlite::SqliteStore;
use switchboard::stripe::{CreatePaymentIntent, StripeClient, StripeIntegration};
use switchboard::templates::Registry;
use switchboard::test_util::LoopbackServer;
use switchboard::twilio::{CreateMessage, TwilioClient, TwilioIntegration, TwilioSigner};
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
use switchboard::{ConnectionId, ProviderError, Switchboard, TenantId};

type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Fails the run when a step did not do what it printed (the example doubles as a check).
fn ensure(holds: bool, what: &str) -> Result<()> {
    if holds {
        Ok(())
    } else {
        Err(format!("step failed: {what}").into())
    }
}

const TENANTS: [&str; 2] = ["acme-realty", "bayview-homes"];

fn stripe_key(tenant: &str) -> String {
    format!("sk_test_{}", tenant.replace('-', "_"))
}

fn twilio_sid(tenant: &str) -> String {
    let digit = if tenant == TENANTS[0] { 'a' } else { 'b' };
    format!("AC{}", std::iter::repeat_n(digit, 32).collect::<String>())
}

fn twilio_token(tenant: &str) -> String {
    format!("twilio-token-{tenant}")
}

#[tokio::main]
async fn main() -> Result<()> {
    // The providers, on loopback.
    let stripe = FakeStripe::default();
    let stripe_server = stripe.start().await;
    let twilio = FakeTwilio::default();
    let twilio_server = twilio.start().await;

    // The host's webhook server: its port is known before the router is built, so the URLs
    // given to providers are the ones it serves.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let public = format!("http://{}", listener.local_addr()?);

    // 1. One SQLite file for sealed credentials and connection records.
    let db = std::env::temp_dir().join(format!("switchboard-platform-{}.db", std::process::id()));
    let _cleanup = RemoveOnDrop(db.clone());
    let store = SqliteStore::open(&db).await?;
    let sb = Switchboard::builder()
        .credential_store(Arc::new(store.clone()))
        // The stand-in providers live on loopback; a real host never allows this.
        .allow_endpoint_host("127.0.0.1")
        .build()?;
    let mut registry = Registry::new();
    registry.register(Arc::new(
        StripeIntegration::new().with_webhook_events(["payment_intent.succeeded"]),
    ))?;
    registry.register(Arc::new(TwilioIntegration::new()))?;
    // A fixed demo key; a host loads its master key from its secret manager.
    let vault = Vault::new(KeyRing::new(
        KeyId::new("demo")?,
        MasterKey::from_bytes(&[42u8; 32])?,
    ));
    let connections = Connections::new(sb, vault, registry)
        .with_connection_store(Arc::new(store.clone()))
        .with_webhook_base_url(&public, "/webhooks")?;
    println!(
        "1. integrations registered: stripe, twilio; records and sealed configs in {}",
        db.display()
    );

    // The handler every verified webhook reaches, with the tenant whose secret verified it.
    let delivered: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = delivered.clone();
    let handler = Arc::new(handler_fn(move |event: WebhookEvent| {
        let seen = seen.clone();
        async move {
            println!(
                "   handler: {} event {} for tenant `{}`",
                event.connector, event.event_id, event.target.tenant
            );
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((event.connector.to_string(), event.target.tenant.to_string()));
            Ok(())
        }
    }));
    let router = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new("stripe", handler.clone()))
        .route(WebhookRoute::new("twilio", handler))
        .build()?;
    let app = switchboard::webhook::axum::routes(router);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    // 2. Two tenants connect their accounts, with the same connection ids.
    let (stripe_id, twilio_id) = (ConnectionId::new("stripe"), ConnectionId::new("twilio"));
    for t in TENANTS {
        let tenant = TenantId::new(t);
        connections
            .create(
                &tenant,
                &stripe_id,
                "stripe",
                "Stripe",
                &json!({"secret_key": stripe_key(t), "base_url": stripe_server.base_url()}),
            )
            .await?;
        connections
            .create(
                &tenant,
                &twilio_id,
                "twilio",
                "Twilio",
                &json!({"account_sid": twilio_sid(t), "auth_token": twilio_token(t),
                        "from_number": "+15017122661",
                        "base_url": twilio_server.base_url(),
                        "lookups_base_url": twilio_server.base_url()}),
            )
            .await?;
    }
    let file = read_all(&db);
    let in_clear = TENANTS
        .iter()
        .any(|t| contains(&file, &stripe_key(t)) || contains(&file, &twilio_token(t)));
    println!(
        "2. {} and {} created their stripe and twilio connections (pending); a secret in clear in the SQLite file: {in_clear}",
        TENANTS[0], TENANTS[1]
    );
    ensure(!in_clear, "no secret in clear in the SQLite file")?;

    // 3. Test-connection: each moves to active; Stripe's activation registers its webhook.
    for t in TENANTS {
        let tenant = TenantId::new(t);
        for id in [&stripe_id, &twilio_id] {
            let record = connections.test_connection(&tenant, id).await?;
            println!("3. {t}/{id}: {}", record.status);
            ensure(
                record.status == ConnectionStatus::Active,
                "test-connection moves it to active",
            )?;
        }
        let record = connections.get(&tenant, &stripe_id).await?;
        let endpoint = record.config["webhook_endpoint_id"].as_str().unwrap_or("-");
        println!(
            "   {t}/stripe: webhook endpoint {endpoint} registered for {}; its signing secret is sealed",
            stripe.url_of(endpoint).unwrap_or_default()
        );
        ensure(
            stripe.url_of(endpoint) == Some(connections.webhook_url(&tenant, &stripe_id).await?),
            "the endpoint is registered for this connection's own URL",
        )?;
    }

    // 4. Typed calls through the pipeline, each with its tenant's own credentials.
    for t in TENANTS {
        let tenant = TenantId::new(t);
        let payments =
            StripeClient::from_connection(connections.connection(&tenant, &stripe_id).await?)?;
        let intent = payments
            .payment_intents()
            .create(CreatePaymentIntent::new().amount(2000).currency("usd"))
            .idempotency_key(format!("{t}-deposit-1"))
            .await?;
        let sms =
            TwilioClient::from_connection(connections.connection(&tenant, &twilio_id).await?)?;
        let message = sms
            .messages()
            .create(CreateMessage::new("+15558675310").body("Your showing is confirmed"))
            .await?;
        println!(
            "4. {t}: payment intent {} ({} {}) and SMS {} ({:?}); the providers saw keys {} and {}",
            intent.id,
            intent.amount,
            intent.currency,
            message.sid,
            message.status,
            stripe.last_key(),
            twilio.last_account()
        );
        ensure(
            stripe.last_key() == stripe_key(t) && twilio.last_account() == twilio_sid(t),
            "each tenant's calls carry its own credentials",
        )?;
    }

    // 5. Webhooks through the axum routes: Stripe delivers to each registered endpoint, Twilio
    //    posts a signed status callback to each tenant's URL, and a forgery is refused.
    let http = reqwest::Client::new();
    for t in TENANTS {
        let tenant = TenantId::new(t);
        let endpoint = connections.get(&tenant, &stripe_id).await?.config["webhook_endpoint_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let status = stripe
            .deliver(
                &http,
                &endpoint,
                &format!("evt_{}", t.replace('-', "_")),
                None,
            )
            .await?;
        println!("5. stripe delivered to {t}'s endpoint {endpoint}: HTTP {status}");
        ensure(status == StatusCode::OK, "a Stripe webhook is accepted")?;
        let url = connections.webhook_url(&tenant, &twilio_id).await?;
        let params = [
            ("MessageSid", format!("SM{}", t.len())),
            ("MessageStatus", "delivered".into()),
        ];
        let signature = TwilioSigner::new(twilio_token(t)).sign_form(&url, &params);
        let status = http
            .post(&url)
            .header("x-twilio-signature", signature)
            .form(&params)
            .send()
            .await?
            .status();
        println!("   twilio status callback to {t}'s URL: HTTP {status}");
        ensure(status == StatusCode::OK, "a Twilio webhook is accepted")?;
    }
    // Bayview's Stripe secret on Acme's endpoint: refused before any handler runs.
    let acme = TenantId::new(TENANTS[0]);
    let acme_endpoint = connections.get(&acme, &stripe_id).await?.config["webhook_endpoint_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let bayview_endpoint = connections
        .get(&TenantId::new(TENANTS[1]), &stripe_id)
        .await?
        .config["webhook_endpoint_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let before = delivered.lock().unwrap_or_else(|p| p.into_inner()).len();
    let status = stripe
        .deliver(&http, &acme_endpoint, "evt_forged", Some(&bayview_endpoint))
        .await?;
    let after = delivered.lock().unwrap_or_else(|p| p.into_inner()).len();
    println!(
        "   forged: {}'s signature on {}'s endpoint: HTTP {status}; handlers run: {}",
        TENANTS[1],
        TENANTS[0],
        after - before
    );
    ensure(
        status == StatusCode::UNAUTHORIZED && after == before,
        "a forged webhook is refused before any handler runs",
    )?;
    let reached: Vec<(String, String)> =
        delivered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let expected: Vec<(String, String)> = TENANTS
        .iter()
        .flat_map(|t| {
            [
                ("stripe".to_string(), t.to_string()),
                ("twilio".to_string(), t.to_string()),
            ]
        })
        .collect();
    ensure(
        reached == expected,
        "each webhook reached its own tenant's handler",
    )?;

    // 6. A revoked key moves the connection to error.
    let bayview = TenantId::new(TENANTS[1]);
    stripe.revoke(&stripe_key(TENANTS[1]));
    let payments =
        StripeClient::from_connection(connections.connection(&bayview, &stripe_id).await?)?;
    let refused = payments
        .payment_intents()
        .create(CreatePaymentIntent::new().amount(500).currency("usd"))
        .await
        .map(|_| ())
        .unwrap_err();
    let mut record = connections.get(&bayview, &stripe_id).await?;
    for _ in 0..50 {
        if record.status == ConnectionStatus::Error {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        record = connections.get(&bayview, &stripe_id).await?;
    }
    println!(
        "6. {}'s Stripe key revoked: the call failed ({}), the connection is now {}: {}",
        TENANTS[1],
        refused.status().map_or(0, |s| s.as_u16()),
        record.status,
        record.last_error.as_deref().unwrap_or("-")
    );
    let acme_status = connections.get(&acme, &stripe_id).await?.status;
    println!("   {}'s connection is still {acme_status}", TENANTS[0]);
    ensure(
        record.status == ConnectionStatus::Error && acme_status == ConnectionStatus::Active,
        "a revoked key moves that tenant's connection, and only it, to error",
    )?;

    // 7. A disconnect removes that tenant's Stripe webhook.
    connections.disconnect(&acme, &stripe_id).await?;
    println!(
        "7. {}/stripe disconnected; its endpoint {acme_endpoint} still at Stripe: {}; {}'s: {}",
        TENANTS[0],
        stripe.url_of(&acme_endpoint).is_some(),
        TENANTS[1],
        stripe.url_of(&bayview_endpoint).is_some()
    );
    ensure(
        stripe.url_of(&acme_endpoint).is_none() && stripe.url_of(&bayview_endpoint).is_some(),
        "a disconnect removes that tenant's webhook only",
    )?;

    let _ = stop.send(());
    server.await??;
    store.close().await;
    Ok(())
}

/// Removes the temporary SQLite file (and its WAL files) however the run ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// The SQLite file and its write-ahead log, for the "no secret in clear" check.
fn read_all(db: &std::path::Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap_or_default();
    bytes.extend(std::fs::read(format!("{}-wal", db.display())).unwrap_or_default());
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A Stripe stand-in: accepts the two tenants' keys (unless revoked), answers balance checks
/// and payment intents, creates and deletes webhook endpoints, and delivers signed events to
/// an endpoint's URL.
#[derive(Clone, Default)]
struct FakeStripe {
    endpoints: Arc<Mutex<BTreeMap<String, (String, String)>>>,
    revoked: Arc<Mutex<HashSet<String>>>,
    last_key: Arc<Mutex<String>>,
    next: Arc<AtomicUsize>,
}

impl FakeStripe {
    async fn start(&self) -> LoopbackServer {
        let me = self.clone();
        LoopbackServer::start(axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move { me.answer(&method, uri.path(), &headers, &body) }
            },
        ))
        .await
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (StatusCode, String) {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
            .to_string();
        let known = TENANTS.iter().any(|t| stripe_key(t) == key);
        if !known
            || self
                .revoked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&key)
        {
            let e = json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
            return (StatusCode::UNAUTHORIZED, e.to_string());
        }
        *self.last_key.lock().unwrap_or_else(|p| p.into_inner()) = key;
        let form: BTreeMap<String, String> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let answer = match (method.as_str(), path) {
            ("GET", "/v1/balance") => json!({"object": "balance", "available": [], "pending": []}),
            ("POST", "/v1/payment_intents") => {
                let n = self.next.fetch_add(1, Ordering::SeqCst);
                json!({"id": format!("pi_{n}"), "object": "payment_intent",
                       "amount": form.get("amount").and_then(|a| a.parse::<i64>().ok()),
                       "currency": form.get("currency"), "status": "requires_payment_method"})
            }
            ("POST", "/v1/webhook_endpoints") => {
                let n = self.next.fetch_add(1, Ordering::SeqCst);
                let (id, secret) = (
                    format!("we_{n}"),
                    format!("whsec_demo{n}{:08x}", fastrand::u32(..)),
                );
                let url = form.get("url").cloned().unwrap_or_default();
                self.endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), (url.clone(), secret.clone()));
                json!({"id": id, "object": "webhook_endpoint", "url": url, "secret": secret})
            }
            ("DELETE", p) if p.starts_with("/v1/webhook_endpoints/") => {
                let id = p.trim_start_matches("/v1/webhook_endpoints/");
                self.endpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(id);
                json!({"id": id, "object": "webhook_endpoint", "deleted": true})
            }
            _ => {
                return (
                    StatusCode::NOT_FOUND,
                    json!({"error": {"message": "unknown path"}}).to_string(),
                )
            }
        };
        (StatusCode::OK, answer.to_string())
    }

    fn url_of(&self, endpoint: &str) -> Option<String> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(endpoint)
            .map(|(url, _)| url.clone())
    }

    fn last_key(&self) -> String {
        self.last_key
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn revoke(&self, key: &str) {
        self.revoked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string());
    }

    /// Posts a signed event to `endpoint`'s URL, signed with the secret of `signed_by` (a
    /// forgery when that is another endpoint) or else its own.
    async fn deliver(
        &self,
        http: &reqwest::Client,
        endpoint: &str,
        event: &str,
        signed_by: Option<&str>,
    ) -> Result<StatusCode> {
        let endpoints = self
            .endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (url, _) = endpoints.get(endpoint).ok_or("no such endpoint")?;
        let (_, secret) = endpoints
            .get(signed_by.unwrap_or(endpoint))
            .ok_or("no such endpoint")?;
        let body = json!({"id": event, "object": "event", "type": "payment_intent.succeeded",
                          "data": {"object": {"id": "pi_0", "object": "payment_intent"}}})
        .to_string();
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let signature = switchboard::stripe::test_header(body.as_bytes(), secret, now);
        Ok(http
            .post(url)
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await?
            .status())
    }
}

/// A Twilio stand-in: checks Basic auth against each tenant's SID and token, answers the
/// account fetch (the check) and message creation.
#[derive(Clone, Default)]
struct FakeTwilio {
    last_account: Arc<Mutex<String>>,
    next: Arc<AtomicUsize>,
}

impl FakeTwilio {
    async fn start(&self) -> LoopbackServer {
        let me = self.clone();
        LoopbackServer::start(axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move { me.answer(&method, uri.path(), &headers, &body) }
            },
        ))
        .await
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (StatusCode, String) {
        let credentials = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|v| String::from_utf8(v).ok())
            .unwrap_or_default();
        let Some(tenant) = TENANTS
            .iter()
            .find(|t| credentials == format!("{}:{}", twilio_sid(t), twilio_token(t)))
        else {
            let e = json!({"code": 20003, "message": "Authenticate", "status": 401});
            return (StatusCode::UNAUTHORIZED, e.to_string());
        };
        let sid = twilio_sid(tenant);
        *self.last_account.lock().unwrap_or_else(|p| p.into_inner()) = sid.clone();
        let account = format!("/2010-04-01/Accounts/{sid}");
        if method == Method::GET && path == format!("{account}.json") {
            return (
                StatusCode::OK,
                json!({"sid": sid, "status": "active"}).to_string(),
            );
        }
        if method == Method::POST && path == format!("{account}/Messages.json") {
            let form: BTreeMap<String, String> =
                url::form_urlencoded::parse(body).into_owned().collect();
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            let message = json!({"sid": format!("SM{n:032x}"), "account_sid": sid,
                                 "to": form.get("To"), "from": form.get("From"),
                                 "status": "queued", "direction": "outbound-api"});
            return (StatusCode::CREATED, message.to_string());
        }
        (
            StatusCode::NOT_FOUND,
            json!({"code": 20404, "message": "not found", "status": 404}).to_string(),
        )
    }

    fn last_account(&self) -> String {
        self.last_account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
