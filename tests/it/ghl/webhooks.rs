//! GoHighLevel webhooks through the path a host uses: the `ghl` template, `Connections`, the
//! webhook router and its axum routes over HTTP. GoHighLevel posts every location's events to
//! one URL, so the route is payload-routed by `locationId`: two tenants share a connection id
//! with different locations, and each event reaches only its location's connection. Also: an
//! event for another location on a connection's own URL, the RSA fallback and turning it off,
//! de-duplication by `webhookId`, stale timestamps, GoHighLevel's published keys refusing a
//! locally signed event, and the app's uninstall and re-install.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::connections::{ConnectionStatus, Connections};
use switchboard::ghl::{GhlAppEvents, GhlIntegration, GhlSigner, GhlVerifier};
use switchboard::templates::Registry;
use switchboard::test_util::LoopbackServer;
use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
use switchboard::{ConnectionId, Error, TenantId};

use super::events::{ED_PRIVATE, ED_PUBLIC};
use crate::support::{builder, TEST_RSA_PRIVATE_PEM, TEST_RSA_PUBLIC_PEM};

/// A host whose `ghl` template verifies with `verifier`.
fn host(verifier: GhlVerifier) -> Connections {
    let sb = builder().allow_endpoint_host("127.0.0.1").build().unwrap();
    let mut registry = Registry::new();
    registry
        .register(Arc::new(GhlIntegration::new().with_verifier(verifier)))
        .unwrap();
    Connections::new(sb, crate::support::test_vault(16), registry)
}

/// The test keys: Ed25519 and RSA pairs made for these tests.
fn test_keys(accept_rsa: bool) -> GhlVerifier {
    GhlVerifier::builder()
        .ed25519_public_key_pem(ED_PUBLIC)
        .rsa_public_key_pem(TEST_RSA_PUBLIC_PEM)
        .accept_rsa(accept_rsa)
        .build()
        .unwrap()
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn event(kind: &str, location: &str, webhook_id: &str) -> Vec<u8> {
    json!({
        "type": kind, "locationId": location, "id": "contact-1", "email": "a@example.com",
        "timestamp": now_rfc3339(), "webhookId": webhook_id,
    })
    .to_string()
    .into_bytes()
}

fn signed(signer: &GhlSigner, body: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        signer.header_name(),
        HeaderValue::from_str(&signer.sign(body).unwrap()).unwrap(),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

/// The host: two tenants, one connection id, two locations; a router with the payload-routed
/// `ghl` route and the axum routes on a loopback port. The handler records who ran.
struct Host {
    connections: Connections,
    router: WebhookRouter,
    server: LoopbackServer,
    ran: Arc<Mutex<Vec<(String, String)>>>,
    http: reqwest::Client,
}

async fn start(verifier: GhlVerifier, per_connection_urls: bool) -> Host {
    let connections = host(verifier);
    let id = ConnectionId::new("ghl");
    for (tenant, location) in [("acme", "loc_a"), ("globex", "loc_b")] {
        connections
            .create(
                &TenantId::new(tenant),
                &id,
                "ghl",
                "GoHighLevel",
                &json!({"apiKey": format!("pit-{tenant}"), "locationId": location}),
            )
            .await
            .unwrap();
    }
    let ran: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let seen = ran.clone();
    let handler = handler_fn(move |e: WebhookEvent| {
        let seen = seen.clone();
        async move {
            let kind = switchboard::ghl::GhlEvent::from_slice(&e.body)?
                .event_type()
                .to_string();
            seen.lock()
                .unwrap()
                .push((e.target.tenant.to_string(), kind));
            Ok::<(), Error>(())
        }
    });
    let mut route = WebhookRoute::new("ghl", Arc::new(handler));
    if !per_connection_urls {
        route = route.payload_routed();
    }
    let router = WebhookRouter::builder(connections.clone())
        .route(route)
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
    Host {
        connections,
        router,
        server,
        ran,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

impl Host {
    async fn post(&self, path: &str, headers: HeaderMap, body: Vec<u8>) -> u16 {
        self.http
            .post(format!("{}{path}", self.server.base_url()))
            .headers(headers)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn ran(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.ran.lock().unwrap())
    }

    fn shared_path(&self) -> String {
        format!("{}/ghl", self.router.prefix())
    }
}

#[tokio::test]
async fn each_location_reaches_only_its_own_tenants_connection_over_http() {
    let host = start(test_keys(true), false).await;
    let ed = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let path = host.shared_path();

    let body = event("ContactCreate", "loc_a", "wh-a1");
    assert_eq!(host.post(&path, signed(&ed, &body), body).await, 200);
    let body = event("ContactUpdate", "loc_b", "wh-b1");
    assert_eq!(host.post(&path, signed(&ed, &body), body).await, 200);
    assert_eq!(
        host.ran(),
        [
            ("acme".to_string(), "ContactCreate".to_string()),
            ("globex".to_string(), "ContactUpdate".to_string())
        ]
    );

    // The same delivery again (its webhookId): answered, not processed twice.
    let body = event("ContactCreate", "loc_a", "wh-a1");
    assert_eq!(host.post(&path, signed(&ed, &body), body).await, 200);
    assert!(host.ran().is_empty(), "a duplicate delivery ran a handler");

    // A body that does not match its signature, a foreign key, no signature, a location
    // nobody connected, a stale timestamp: all 401, nothing runs.
    let good = event("ContactCreate", "loc_a", "wh-a2");
    let tampered = event("ContactCreate", "loc_a", "wh-a3");
    assert_eq!(host.post(&path, signed(&ed, &good), tampered).await, 401);
    let foreign = GhlSigner::ed25519(
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    assert_eq!(
        host.post(&path, signed(&foreign, &good), good.clone())
            .await,
        401
    );
    assert_eq!(host.post(&path, HeaderMap::new(), good.clone()).await, 401);
    let stranger = event("ContactCreate", "loc_nobody", "wh-x");
    assert_eq!(
        host.post(&path, signed(&ed, &stranger), stranger).await,
        401
    );
    let stale = json!({"type": "ContactCreate", "locationId": "loc_a", "id": "c",
        "timestamp": "2025-01-28T14:35:00Z", "webhookId": "wh-old"})
    .to_string()
    .into_bytes();
    assert_eq!(host.post(&path, signed(&ed, &stale), stale).await, 401);
    assert!(host.ran().is_empty());

    // The RSA fallback (X-WH-Signature) passes while it is on.
    let rsa = GhlSigner::rsa(TEST_RSA_PRIVATE_PEM).unwrap();
    let body = event("ContactDelete", "loc_b", "wh-b2");
    assert_eq!(host.post(&path, signed(&rsa, &body), body).await, 200);
    assert_eq!(
        host.ran(),
        [("globex".to_string(), "ContactDelete".to_string())]
    );
}

#[tokio::test]
async fn rsa_signatures_are_refused_once_the_fallback_is_off() {
    let host = start(test_keys(false), false).await;
    let rsa = GhlSigner::rsa(TEST_RSA_PRIVATE_PEM).unwrap();
    let body = event("ContactCreate", "loc_a", "wh-1");
    assert_eq!(
        host.post(&host.shared_path(), signed(&rsa, &body), body)
            .await,
        401
    );
    let ed = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let body = event("ContactCreate", "loc_a", "wh-2");
    assert_eq!(
        host.post(&host.shared_path(), signed(&ed, &body), body)
            .await,
        200
    );
}

#[tokio::test]
async fn an_event_for_another_location_is_refused_on_a_connections_own_url() {
    let host = start(test_keys(true), true).await;
    let ed = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let acme_path = host
        .router
        .webhook_path(&TenantId::new("acme"), &ConnectionId::new("ghl"))
        .await
        .unwrap();
    // Signed by GoHighLevel's key, but for globex's location: not acme's event.
    let theirs = event("ContactCreate", "loc_b", "wh-1");
    assert_eq!(
        host.post(&acme_path, signed(&ed, &theirs), theirs).await,
        401
    );
    let ours = event("ContactCreate", "loc_a", "wh-2");
    assert_eq!(host.post(&acme_path, signed(&ed, &ours), ours).await, 200);
    assert_eq!(
        host.ran(),
        [("acme".to_string(), "ContactCreate".to_string())]
    );
}

#[tokio::test]
async fn the_published_keys_refuse_a_locally_signed_event() {
    let host = start(GhlVerifier::published(), false).await;
    let ed = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let body = event("ContactCreate", "loc_a", "wh-1");
    assert_eq!(
        host.post(&host.shared_path(), signed(&ed, &body), body)
            .await,
        401
    );
    let rsa = GhlSigner::rsa(TEST_RSA_PRIVATE_PEM).unwrap();
    let body = event("ContactCreate", "loc_a", "wh-2");
    assert_eq!(
        host.post(&host.shared_path(), signed(&rsa, &body), body)
            .await,
        401
    );
    assert!(host.ran().is_empty());
}

#[tokio::test]
async fn uninstalling_the_app_disconnects_only_that_locations_connection() {
    let host = start(test_keys(true), false).await;
    // Acme's connection worked (active); globex's never did (pending).
    let id = ConnectionId::new("ghl");
    host.connections
        .transition(&TenantId::new("acme"), &id, ConnectionStatus::Active, None)
        .await
        .unwrap();
    let router = WebhookRouter::builder(host.connections.clone())
        .route(
            WebhookRoute::new("ghl", Arc::new(GhlAppEvents::new(host.connections.clone())))
                .payload_routed(),
        )
        .build()
        .unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
    let ed = GhlSigner::ed25519(ED_PRIVATE).unwrap();
    let body = json!({"type": "UNINSTALL", "appId": "app_1", "locationId": "loc_a",
        "companyId": "co_1", "timestamp": now_rfc3339(), "webhookId": "wh-u1"})
    .to_string()
    .into_bytes();
    let status = host
        .http
        .post(format!("{}{}/ghl", server.base_url(), router.prefix()))
        .headers(signed(&ed, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    let acme = host
        .connections
        .get(&TenantId::new("acme"), &id)
        .await
        .unwrap();
    assert_eq!(acme.status, ConnectionStatus::Disconnected);
    let globex = host
        .connections
        .get(&TenantId::new("globex"), &id)
        .await
        .unwrap();
    assert_eq!(
        globex.status,
        ConnectionStatus::Pending,
        "another tenant's connection untouched"
    );
}
