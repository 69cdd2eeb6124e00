//! Activation registers the provider's webhook (issue 12, section 6): a successful test of a
//! Stripe connection creates a webhook endpoint for that connection's own URL, seals the
//! signing secret Stripe returns into that connection's config, and the router verifies that
//! connection's webhooks with it; disconnecting or deleting removes exactly that endpoint.
//! Driven the way a host does (the Stripe template, `Connections`, the webhook router's axum
//! routes over HTTP) against a loopback Stripe that records what reaches it. Two tenants share
//! one connection id throughout.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::Router;
use bytes::Bytes;
use serde_json::json;
use switchboard::connections::{
    ConnectionRecord, ConnectionStatus, ConnectionStore, Connections, InMemoryConnectionStore,
};
use switchboard::stripe::StripeIntegration;
use switchboard::templates::Registry;
use switchboard::test_util::{LogCapture, LoopbackServer};
use switchboard::vault::Vault;
use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
use switchboard::{ConnectionId, Error, ErrorKind, ExposeSecret, TenantId};
use tokio::sync::Notify;

use crate::support::builder;

/// The public origin the host serves webhooks on (a proxy in front of the loopback server).
const PUBLIC: &str = "https://hooks.example.test";
const ID: &str = "stripe";
const TENANTS: [&str; 2] = ["tenant-a", "tenant-b"];

fn key_of(tenant: &str) -> String {
    format!("sk_test_{}", tenant.replace('-', "_"))
}

/// One webhook endpoint the fake Stripe holds.
#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    secret: String,
    key: String,
    metadata_tenant: Option<String>,
}

/// Two signals: "a create arrived", "let it answer".
type Gate = (Arc<Notify>, Arc<Notify>);

/// A Stripe stand-in: `GET /v1/balance` for checks, `POST /v1/webhook_endpoints` (answers a new
/// `we_N` with a fresh `whsec_CANARY...` secret), `DELETE /v1/webhook_endpoints/{id}` (404 for
/// an unknown id). Creates or deletes fail with a 400 for keys in `fail_create` /
/// `fail_delete`.
#[derive(Clone, Default)]
struct FakeStripe {
    endpoints: Arc<Mutex<BTreeMap<String, Endpoint>>>,
    calls: Arc<Mutex<Vec<(String, String, String)>>>,
    next: Arc<AtomicUsize>,
    fail_create: Arc<Mutex<HashSet<String>>>,
    fail_delete: Arc<Mutex<HashSet<String>>>,
    /// When set, a create says so on the first `Notify` and waits for the second.
    gate: Arc<Mutex<Option<Gate>>>,
}

fn stripe_error(status: StatusCode, message: &str) -> (StatusCode, String) {
    (
        status,
        json!({"error": {"type": "invalid_request_error", "message": message}}).to_string(),
    )
}

impl FakeStripe {
    async fn start(&self) -> LoopbackServer {
        let me = self.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move {
                    let gate = me.gate.lock().unwrap().clone();
                    if let (Some((entered, release)), true) = (
                        gate,
                        method == Method::POST && uri.path() == "/v1/webhook_endpoints",
                    ) {
                        entered.notify_one();
                        release.notified().await;
                    }
                    me.answer(method, uri, headers, body)
                }
            },
        );
        LoopbackServer::start(app).await
    }

    fn answer(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, String) {
        let key = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim_start_matches("Bearer ")
            .to_string();
        let path = uri.path().to_string();
        self.calls
            .lock()
            .unwrap()
            .push((key.clone(), method.to_string(), path.clone()));
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let field = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
        match (method.as_str(), path.as_str()) {
            ("GET", "/v1/balance") => (
                StatusCode::OK,
                json!({"object": "balance", "available": [], "pending": []}).to_string(),
            ),
            ("POST", "/v1/webhook_endpoints") => {
                if self.fail_create.lock().unwrap().contains(&key) {
                    return stripe_error(StatusCode::BAD_REQUEST, "Invalid URL: not reachable");
                }
                let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
                let id = format!("we_{n}");
                let secret = format!("whsec_CANARY{n}x{:016x}", fastrand::u64(..));
                let endpoint = Endpoint {
                    url: field("url").unwrap_or_default(),
                    secret: secret.clone(),
                    key,
                    metadata_tenant: field("metadata[switchboard_tenant]"),
                };
                let url = endpoint.url.clone();
                self.endpoints.lock().unwrap().insert(id.clone(), endpoint);
                let events: Vec<String> = form
                    .iter()
                    .filter(|(k, _)| k.starts_with("enabled_events"))
                    .map(|(_, v)| v.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"id": id, "object": "webhook_endpoint", "url": url,
                           "enabled_events": events, "status": "enabled",
                           "secret": secret, "metadata": {}})
                    .to_string(),
                )
            }
            ("DELETE", p) if p.starts_with("/v1/webhook_endpoints/") => {
                if self.fail_delete.lock().unwrap().contains(&key) {
                    return stripe_error(StatusCode::BAD_REQUEST, "deletes are off today");
                }
                let id = p.trim_start_matches("/v1/webhook_endpoints/").to_string();
                match self.endpoints.lock().unwrap().remove(&id) {
                    Some(_) => (
                        StatusCode::OK,
                        json!({"id": id, "object": "webhook_endpoint", "deleted": true})
                            .to_string(),
                    ),
                    None => stripe_error(StatusCode::NOT_FOUND, "No such webhook endpoint"),
                }
            }
            _ => stripe_error(StatusCode::NOT_FOUND, "unknown path"),
        }
    }

    fn endpoint(&self, id: &str) -> Option<Endpoint> {
        self.endpoints.lock().unwrap().get(id).cloned()
    }

    fn count(&self, method: &str, prefix: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m, p)| m == method && p.starts_with(prefix))
            .count()
    }

    fn deletes(&self) -> Vec<(String, String)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m, _)| m == "DELETE")
            .map(|(k, _, p)| (k.clone(), p.clone()))
            .collect()
    }
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(StripeIntegration::new()))
        .unwrap();
    registry
}

fn vault() -> Vault {
    crate::support::test_vault(9)
}

/// A service over `store` that serves webhooks at [`PUBLIC`]`/webhooks`.
fn service_over(store: Arc<dyn ConnectionStore>) -> Connections {
    Connections::new(
        builder().allow_endpoint_host("127.0.0.1").build().unwrap(),
        vault(),
        registry(),
    )
    .with_connection_store(store)
    .with_webhook_base_url(PUBLIC, "/webhooks")
    .unwrap()
}

fn service() -> Connections {
    service_over(Arc::new(InMemoryConnectionStore::new()))
}

fn ids(tenant: &str) -> (TenantId, ConnectionId) {
    (TenantId::new(tenant), ConnectionId::new(ID))
}

/// Creates the shared connection id for both tenants, each with its own key; left `pending`.
async fn create_both(s: &Connections, stripe: &LoopbackServer) {
    for t in TENANTS {
        let (tenant, id) = ids(t);
        s.create(
            &tenant,
            &id,
            "stripe",
            "Stripe",
            &json!({"secret_key": key_of(t), "base_url": stripe.base_url()}),
        )
        .await
        .unwrap();
    }
}

/// The endpoint id stored in a connection's plain config.
async fn endpoint_id(s: &Connections, tenant: &str) -> Option<String> {
    let (t, c) = ids(tenant);
    s.get(&t, &c).await.unwrap().config["webhook_endpoint_id"]
        .as_str()
        .map(str::to_string)
}

/// The webhook router, with a handler recording (tenant, connection, event id), served on
/// loopback behind the public origin.
async fn serve(s: &Connections) -> (LoopbackServer, Arc<Mutex<Vec<(String, String, String)>>>) {
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let record = seen.clone();
    let handler = handler_fn(move |e: WebhookEvent| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push((
                e.target.tenant.to_string(),
                e.target.connection.to_string(),
                e.event_id,
            ));
            Ok(())
        }
    });
    // The public base URL and prefix come from the connections service.
    let router = WebhookRouter::builder(s.clone())
        .route(WebhookRoute::new("stripe", Arc::new(handler)))
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router)).await;
    (server, seen)
}

/// Posts a Stripe event signed with `secret` to the loopback server at `public_url`'s path.
async fn deliver(server: &LoopbackServer, public_url: &str, secret: &str, event: &str) -> u16 {
    let path = public_url
        .strip_prefix(PUBLIC)
        .expect("a URL under the public origin");
    let body = json!({"id": event, "object": "event", "type": "payment_intent.succeeded",
                      "data": {"object": {"id": "pi_1", "object": "payment_intent"}}})
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .header(
            "stripe-signature",
            switchboard::stripe::test_header(body.as_bytes(), secret, now),
        )
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_tenant_registers_its_own_endpoint_and_is_verified_with_its_own_secret() {
    let (logs, _guard) = LogCapture::start();
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let s = service();
    create_both(&s, &provider).await;

    let mut secrets = Vec::new();
    for t in TENANTS {
        let (tenant, id) = ids(t);
        let record = s.test_connection(&tenant, &id).await.unwrap();
        assert_eq!(record.status, ConnectionStatus::Active, "{t}");
        let we = endpoint_id(&s, t).await.expect("the endpoint id is kept");
        let endpoint = stripe.endpoint(&we).expect("the endpoint exists at Stripe");
        // Created with this tenant's own key, for this connection's own URL.
        assert_eq!(endpoint.key, key_of(t));
        assert_eq!(endpoint.url, s.webhook_url(&tenant, &id).await.unwrap());
        assert!(endpoint
            .url
            .starts_with(&format!("{PUBLIC}/webhooks/stripe/")));
        assert_eq!(endpoint.metadata_tenant.as_deref(), Some(t));
        // The signing secret is sealed, never in the plain record.
        let config = s.config(&tenant, &id).await.unwrap();
        assert_eq!(
            config.secret("webhook_secret").unwrap().expose_secret(),
            endpoint.secret
        );
        let stored = s.get(&tenant, &id).await.unwrap();
        assert!(stored.config.get("webhook_secret").is_none());
        for text in [
            format!("{stored:?}"),
            format!("{config:?}"),
            format!("{record:?}"),
        ] {
            assert!(!text.contains(&endpoint.secret), "{text}");
        }
        secrets.push((endpoint.url.clone(), endpoint.secret.clone()));
    }
    let (url_a, secret_a) = &secrets[0];
    let (url_b, secret_b) = &secrets[1];
    assert_ne!(url_a, url_b);
    assert_ne!(secret_a, secret_b);
    assert_eq!(stripe.count("POST", "/v1/webhook_endpoints"), 2);

    // A second successful test finds its work done: no second endpoint.
    let (ta, c) = ids("tenant-a");
    s.test_connection(&ta, &c).await.unwrap();
    assert_eq!(stripe.count("POST", "/v1/webhook_endpoints"), 2);

    // Through the axum routes over HTTP: B's secret at A's URL is refused, each tenant's own
    // reaches that tenant's handler only.
    let (server, seen) = serve(&s).await;
    assert_eq!(deliver(&server, url_a, secret_b, "evt_forged").await, 401);
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(deliver(&server, url_a, secret_a, "evt_a").await, 200);
    assert_eq!(deliver(&server, url_b, secret_b, "evt_b").await, 200);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("tenant-a".to_string(), ID.to_string(), "evt_a".to_string()),
            ("tenant-b".to_string(), ID.to_string(), "evt_b".to_string()),
        ]
    );
    for (_, secret) in &secrets {
        logs.assert_absent(secret);
    }
}

#[tokio::test]
async fn disconnect_and_delete_remove_exactly_that_tenants_endpoint() {
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let s = service();
    create_both(&s, &provider).await;
    for t in TENANTS {
        let (tenant, id) = ids(t);
        s.test_connection(&tenant, &id).await.unwrap();
    }
    let we_a = endpoint_id(&s, "tenant-a").await.unwrap();
    let we_b = endpoint_id(&s, "tenant-b").await.unwrap();
    let (ta, c) = ids("tenant-a");
    let (tb, _) = ids("tenant-b");

    let record = s.disconnect(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Disconnected);
    assert!(record.last_error.is_none(), "{:?}", record.last_error);
    assert_eq!(
        stripe.deletes(),
        [(key_of("tenant-a"), format!("/v1/webhook_endpoints/{we_a}"))]
    );
    assert!(stripe.endpoint(&we_a).is_none());
    assert!(stripe.endpoint(&we_b).is_some(), "B's endpoint was touched");
    // A's config no longer names an endpoint or holds its secret; B's is as it was.
    assert_eq!(endpoint_id(&s, "tenant-a").await, None);
    assert!(s
        .config(&ta, &c)
        .await
        .unwrap()
        .secret("webhook_secret")
        .is_none());
    assert_eq!(endpoint_id(&s, "tenant-b").await.as_deref(), Some(&*we_b));

    // Enabling registers a new endpoint for A.
    let record = s.enable(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Active);
    let we_a2 = endpoint_id(&s, "tenant-a").await.unwrap();
    assert_ne!(we_a2, we_a);
    assert_eq!(
        stripe.endpoint(&we_a2).unwrap().url,
        s.webhook_url(&ta, &c).await.unwrap()
    );

    // Deleting B removes B's endpoint only.
    s.delete(&tb, &c).await.unwrap();
    assert_eq!(
        s.get(&tb, &c).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(stripe.endpoint(&we_b).is_none());
    assert!(stripe.endpoint(&we_a2).is_some());
    assert_eq!(stripe.deletes().len(), 2);
}

#[tokio::test]
async fn a_provider_failure_on_create_leaves_the_connection_not_active() {
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let s = service();
    create_both(&s, &provider).await;
    stripe
        .fail_create
        .lock()
        .unwrap()
        .insert(key_of("tenant-a"));
    let (ta, c) = ids("tenant-a");
    let (tb, _) = ids("tenant-b");

    let e = s.test_connection(&ta, &c).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status, "{e}");
    assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST), "{e}");
    assert!(e.to_string().contains("activating connection"), "{e}");
    let record = s.get(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Error);
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|m| m.contains("activating")),
        "{:?}",
        record.last_error
    );
    assert_eq!(endpoint_id(&s, "tenant-a").await, None);
    assert!(s
        .config(&ta, &c)
        .await
        .unwrap()
        .secret("webhook_secret")
        .is_none());

    // B is unaffected; A activates once the provider accepts.
    let b = s.test_connection(&tb, &c).await.unwrap();
    assert_eq!(b.status, ConnectionStatus::Active);
    stripe.fail_create.lock().unwrap().clear();
    let a = s.test_connection(&ta, &c).await.unwrap();
    assert_eq!(a.status, ConnectionStatus::Active);
    assert_eq!(stripe.endpoints.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_failed_removal_never_blocks_disconnect_or_delete_and_is_reported() {
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let s = service();
    create_both(&s, &provider).await;
    for t in TENANTS {
        let (tenant, id) = ids(t);
        s.test_connection(&tenant, &id).await.unwrap();
    }
    let we_a = endpoint_id(&s, "tenant-a").await.unwrap();
    let we_b = endpoint_id(&s, "tenant-b").await.unwrap();
    let (ta, c) = ids("tenant-a");
    let (tb, _) = ids("tenant-b");
    stripe
        .fail_delete
        .lock()
        .unwrap()
        .insert(key_of("tenant-a"));
    stripe
        .fail_delete
        .lock()
        .unwrap()
        .insert(key_of("tenant-b"));

    // Disconnect: done, and the leftover is in the record and an event.
    let mut events = s.subscribe();
    let record = s.disconnect(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Disconnected);
    let message = record.last_error.clone().expect("the failure is recorded");
    assert!(message.contains(&we_a), "{message}");
    let transition = events.recv().await.unwrap();
    assert_eq!(
        (transition.from, transition.to),
        (ConnectionStatus::Active, ConnectionStatus::Disconnected)
    );
    let report = events.recv().await.unwrap();
    assert_eq!(report.tenant, ta);
    assert_eq!(report.from, report.to);
    assert_eq!(report.error.as_deref(), Some(&*message));
    // What is needed to try again is kept; trying again once Stripe accepts removes it.
    assert_eq!(endpoint_id(&s, "tenant-a").await.as_deref(), Some(&*we_a));
    stripe
        .fail_delete
        .lock()
        .unwrap()
        .remove(&key_of("tenant-a"));
    s.disconnect(&ta, &c).await.unwrap();
    assert!(stripe.endpoint(&we_a).is_none());
    assert_eq!(endpoint_id(&s, "tenant-a").await, None);

    // Delete: the connection is gone all the same, and the error names what is left.
    let e = s.delete(&tb, &c).await.unwrap_err();
    assert_eq!(e.status(), Some(StatusCode::BAD_REQUEST), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("was deleted") && text.contains(&we_b),
        "{text}"
    );
    assert_eq!(
        s.get(&tb, &c).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(stripe.endpoint(&we_b).is_some());
}

/// Records with a Stripe endpoint id fail to save while `fail` is set: the store write after
/// the provider created the endpoint fails.
#[derive(Debug, Default)]
struct FailingStore {
    inner: InMemoryConnectionStore,
    fail: AtomicBool,
}

#[async_trait]
impl ConnectionStore for FailingStore {
    async fn load(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.load(tenant, id).await
    }
    async fn save(&self, record: &ConnectionRecord) -> Result<u64, Error> {
        if self.fail.load(Ordering::SeqCst) && record.config.get("webhook_endpoint_id").is_some() {
            return Err(Error::new(ErrorKind::Store, "the disk is full"));
        }
        self.inner.save(record).await
    }
    async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        self.inner.list(tenant).await
    }
    async fn delete(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        version: u64,
    ) -> Result<(), Error> {
        self.inner.delete(tenant, id, version).await
    }
    async fn find_by_webhook_token(&self, token: &str) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.find_by_webhook_token(token).await
    }
    async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.find_by_routing_key(template, key).await
    }
}

#[tokio::test]
async fn an_endpoint_whose_write_fails_is_deleted_again() {
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let store = Arc::new(FailingStore::default());
    let s = service_over(store.clone());
    create_both(&s, &provider).await;
    store.fail.store(true, Ordering::SeqCst);
    let (ta, c) = ids("tenant-a");

    let e = s.test_connection(&ta, &c).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store, "{e}");
    assert!(e.to_string().contains("removed again"), "{e}");
    // Created, then deleted with the same tenant's key: nothing orphaned at Stripe, nothing
    // half-written here, and the connection is not active.
    assert_eq!(stripe.count("POST", "/v1/webhook_endpoints"), 1);
    assert_eq!(
        stripe.deletes(),
        [(key_of("tenant-a"), "/v1/webhook_endpoints/we_1".to_string())]
    );
    assert!(stripe.endpoints.lock().unwrap().is_empty());
    let record = s.get(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Pending);
    assert!(s
        .config(&ta, &c)
        .await
        .unwrap()
        .secret("webhook_secret")
        .is_none());

    store.fail.store(false, Ordering::SeqCst);
    let record = s.test_connection(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Active);
    assert_eq!(endpoint_id(&s, "tenant-a").await.as_deref(), Some("we_2"));
}

#[tokio::test]
async fn without_a_webhook_base_nothing_is_registered_and_the_router_must_agree() {
    let stripe = FakeStripe::default();
    let provider = stripe.start().await;
    let plain = Connections::new(
        builder().allow_endpoint_host("127.0.0.1").build().unwrap(),
        vault(),
        registry(),
    );
    create_both(&plain, &provider).await;
    let (ta, c) = ids("tenant-a");
    let record = plain.test_connection(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Active);
    assert_eq!(stripe.count("POST", "/v1/webhook_endpoints"), 0);
    assert_eq!(
        plain.webhook_url(&ta, &c).await.unwrap_err().kind(),
        ErrorKind::Config
    );

    // A router serving other URLs than those given to providers is refused.
    let s = service();
    let e = WebhookRouter::builder(s.clone())
        .public_base_url("https://elsewhere.example.test")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let e = WebhookRouter::builder(s.clone())
        .prefix("/hooks")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(
        Connections::new(builder().build().unwrap(), vault(), registry())
            .with_webhook_base_url("ftp://x", "/webhooks")
            .is_err()
    );
}

/// A host's integration whose activation hands back its provider's token as a secret in a
/// field its template keeps plain, and counts its deactivations.
#[derive(Debug)]
struct Careless {
    template: switchboard::templates::IntegrationTemplate,
    undone: Arc<AtomicUsize>,
}

#[async_trait]
impl switchboard::templates::Integration for Careless {
    fn template(&self) -> &switchboard::templates::IntegrationTemplate {
        &self.template
    }

    async fn check(&self, connection: &switchboard::Connection) -> Result<(), Error> {
        crate::support::check_health(connection).await
    }

    fn bind(
        &self,
        _: &switchboard::templates::ConnectionConfig,
    ) -> Result<switchboard::templates::IntegrationBinding, Error> {
        Ok(switchboard::templates::IntegrationBinding::new(
            Arc::new(crate::support::TestConnector::default()),
            "http://127.0.0.1:9",
            None,
        ))
    }

    async fn activate(
        &self,
        ctx: &switchboard::templates::ActivationContext<'_>,
    ) -> Result<switchboard::templates::ConfigChanges, Error> {
        assert!(ctx.webhook_url().is_some());
        Ok(switchboard::templates::ConfigChanges::new()
            .set_secret("hook_token", "CANARY-token".into()))
    }

    async fn deactivate(
        &self,
        ctx: &switchboard::templates::ActivationContext<'_>,
    ) -> Result<switchboard::templates::ConfigChanges, Error> {
        // Undone with the config the provider knows: the token is there.
        assert!(ctx.config().secret("hook_token").is_some());
        self.undone.fetch_add(1, Ordering::SeqCst);
        Ok(switchboard::templates::ConfigChanges::new())
    }
}

#[tokio::test]
async fn a_secret_for_a_field_the_template_keeps_plain_is_refused_and_undone() {
    let undone = Arc::new(AtomicUsize::new(0));
    let template = switchboard::templates::IntegrationTemplate::builder("careless")
        .config_schema(json!({"type": "object", "properties": {"hook_token": {"type": "string"}}}))
        .build()
        .unwrap();
    let mut registry = Registry::new();
    registry
        .register(Arc::new(Careless {
            template,
            undone: undone.clone(),
        }))
        .unwrap();
    let s = Connections::new(
        builder().allow_endpoint_host("127.0.0.1").build().unwrap(),
        vault(),
        registry,
    )
    .with_webhook_base_url(PUBLIC, "/webhooks")
    .unwrap();
    let (ta, c) = ids("tenant-a");
    s.create(&ta, &c, "careless", "C", &json!({}))
        .await
        .unwrap();
    // `test_connection` checks through the connector, which needs a live endpoint: the
    // activation is reached through `enable` instead, from `disconnected`.
    s.transition(&ta, &c, ConnectionStatus::Active, None)
        .await
        .unwrap();
    s.transition(&ta, &c, ConnectionStatus::Disconnected, None)
        .await
        .unwrap();
    let e = s.enable(&ta, &c).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(!format!("{e} {e:?}").contains("CANARY"), "{e}");
    assert_eq!(undone.load(Ordering::SeqCst), 1);
    let record = s.get(&ta, &c).await.unwrap();
    assert_eq!(record.status, ConnectionStatus::Disconnected);
    assert!(record.config.get("hook_token").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_stops_waiting_does_not_orphan_the_endpoint() {
    let stripe = FakeStripe::default();
    let (entered, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    *stripe.gate.lock().unwrap() = Some((entered.clone(), release.clone()));
    let provider = stripe.start().await;
    let s = service();
    create_both(&s, &provider).await;
    let (ta, c) = ids("tenant-a");
    let caller = {
        let (s, ta, c) = (s.clone(), ta.clone(), c.clone());
        tokio::spawn(async move { s.test_connection(&ta, &c).await })
    };
    // The create reached Stripe; the caller gives up (a timeout, a dropped request).
    entered.notified().await;
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    release.notify_one();
    // The activation still ends: the endpoint Stripe made is recorded, not orphaned.
    let mut stored = None;
    for _ in 0..500 {
        stored = endpoint_id(&s, "tenant-a").await;
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let we = stored.expect("the activation finished after its caller left");
    assert!(stripe.endpoint(&we).is_some());
    assert!(s
        .config(&ta, &c)
        .await
        .unwrap()
        .secret("webhook_secret")
        .is_some());
}
