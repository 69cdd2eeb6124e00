//! Inbound webhooks of many tenants through one router, over real HTTP
//! (`webhook::axum::routes` on a loopback port): every webhook is checked with the secrets of
//! the one connection its URL (or routing key) names, and nothing of one tenant reaches another.
//! Then one test per shipped verifier (Standard Webhooks, Stripe, Twilio form, Twilio JSON),
//! signed by that provider's own scheme.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::json;
use switchboard::connections::Connections;
use switchboard::test_util::LoopbackServer;
use switchboard::webhook::router::{
    handler_fn, WebhookEvent, WebhookHandler, WebhookRoute, WebhookRouter, WebhookTarget,
};
use switchboard::{ConnectionId, TenantId};

use crate::webhook_router::{connect, connections, now_secs, sign, ROUTED, STANDARD, TEMPLATE};

/// What the handlers saw: (tenant, connection, event id, body).
type Seen = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

fn recording_handler(seen: &Seen) -> Arc<dyn WebhookHandler> {
    let seen = seen.clone();
    Arc::new(handler_fn(move |e: WebhookEvent| {
        let seen = seen.clone();
        async move {
            let WebhookTarget {
                tenant, connection, ..
            } = e.target;
            seen.lock().unwrap().push((
                tenant.to_string(),
                connection.to_string(),
                e.event_id,
                e.body,
            ));
            Ok(())
        }
    }))
}

fn tenants_seen(seen: &Seen) -> Vec<(String, String, String)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|(t, c, e, _)| (t.clone(), c.clone(), e.clone()))
        .collect()
}

/// A router over `connections` with a `test` route and a payload-routed `routed` route (and
/// the `sw`, `stripe` and `twilio` routes), served on loopback.
async fn serve(connections: &Connections, seen: &Seen) -> (LoopbackServer, WebhookRouter) {
    serve_with(connections, seen, |b| b).await
}

async fn serve_with(
    connections: &Connections,
    seen: &Seen,
    configure: impl FnOnce(
        switchboard::webhook::router::WebhookRouterBuilder,
    ) -> switchboard::webhook::router::WebhookRouterBuilder,
) -> (LoopbackServer, WebhookRouter) {
    let b = WebhookRouter::builder(connections.clone())
        .route(WebhookRoute::new(TEMPLATE, recording_handler(seen)))
        .route(WebhookRoute::new(ROUTED, recording_handler(seen)).payload_routed())
        .route(WebhookRoute::new(STANDARD, recording_handler(seen)))
        .route(WebhookRoute::new("stripe", recording_handler(seen)))
        .route(WebhookRoute::new("twilio", recording_handler(seen)));
    let router = configure(b).build().unwrap();
    let server = LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
    (server, router)
}

async fn post(server: &LoopbackServer, path: &str, headers: HeaderMap, body: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .headers(headers)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn ids(tenant: &str, connection: &str) -> (TenantId, ConnectionId) {
    (TenantId::new(tenant), ConnectionId::new(connection))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_a_signature_on_tenant_b_url_is_401_and_b_never_runs() {
    let connections = connections();
    // Two tenants, the SAME connection id, different secrets.
    let url_a = connect(&connections, "tenant-a", "crm", "secret-a").await;
    let url_b = connect(&connections, "tenant-b", "crm", "secret-b").await;
    assert_ne!(url_a, url_b);
    let seen: Seen = Arc::default();
    let (server, router) = serve(&connections, &seen).await;
    let ts = now_secs();
    let body = r#"{"type":"invoice.paid","amount":1}"#;

    // A signs a payload with its own secret and posts it to B's URL.
    let forged = post(
        &server,
        &url_b,
        sign("secret-a", "evt_1", ts, body.as_bytes()),
        body,
    )
    .await;
    assert_eq!(forged, 401);
    assert!(seen.lock().unwrap().is_empty(), "B's handler ran");
    let (ta, c) = ids("tenant-a", "crm");
    let (tb, _) = ids("tenant-b", "crm");
    assert_eq!(router.verification_failures(&tb, &c), 1);
    assert_eq!(router.verification_failures(&ta, &c), 0);
    assert!(
        connections.get(&tb, &c).await.unwrap().last_event.is_none(),
        "B's connection recorded A's forged event"
    );

    // Each tenant's own webhooks reach that tenant only, even with the same event id: the
    // de-duplication scope holds the tenant.
    for (url, secret) in [(&url_a, "secret-a"), (&url_b, "secret-b")] {
        let status = post(
            &server,
            url,
            sign(secret, "evt_1", ts, body.as_bytes()),
            body,
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        tenants_seen(&seen),
        [
            ("tenant-a".into(), "crm".into(), "evt_1".into()),
            ("tenant-b".into(), "crm".into(), "evt_1".into()),
        ]
    );
    assert!(connections.get(&tb, &c).await.unwrap().last_event.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_routed_webhooks_are_verified_with_the_routed_connection_secrets() {
    let connections = connections();
    for (tenant, location, secret) in [
        ("tenant-a", "loc-a", "secret-a"),
        ("tenant-b", "loc-b", "secret-b"),
    ] {
        let (t, c) = ids(tenant, "crm");
        let config = json!({"secret": secret, "location_id": location});
        let record = connections
            .create(&t, &c, ROUTED, "Routed", &config)
            .await
            .unwrap();
        assert_eq!(record.webhook_routing_key.as_deref(), Some(location));
    }
    // A routing key belongs to one connection of the template, across every tenant.
    let (tc, c) = ids("tenant-c", "crm");
    let taken = connections
        .create(
            &tc,
            &c,
            ROUTED,
            "R",
            &json!({"secret": "s", "location_id": "loc-b"}),
        )
        .await
        .unwrap_err();
    assert_eq!(taken.kind(), switchboard::ErrorKind::Conflict, "{taken}");

    let seen: Seen = Arc::default();
    let (server, router) = serve(&connections, &seen).await;
    let ts = now_secs();
    let body_b = r#"{"locationId":"loc-b","type":"ContactCreate"}"#;
    // Tenant A signs an event naming B's location with A's secret: checked with B's secret.
    let forged = post(
        &server,
        "/webhooks/routed",
        sign("secret-a", "evt_9", ts, body_b.as_bytes()),
        body_b,
    )
    .await;
    assert_eq!(forged, 401);
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(
        router.verification_failures(&TenantId::new("tenant-b"), &c),
        1
    );
    // An unknown location is refused the same way, and allocates no counter.
    let unknown = r#"{"locationId":"loc-zzz"}"#;
    let status = post(
        &server,
        "/webhooks/routed",
        sign("secret-a", "evt_9", ts, unknown.as_bytes()),
        unknown,
    )
    .await;
    assert_eq!(status, 401);
    // No routing field, or two of them (parsers disagree on which wins): refused.
    for body in [
        r#"{"type":"x"}"#,
        r#"{"locationId":"loc-a","locationId":"loc-b"}"#,
    ] {
        let status = post(
            &server,
            "/webhooks/routed",
            sign("secret-a", "evt_9", ts, body.as_bytes()),
            body,
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
    assert_eq!(router.failure_counters(), 1);

    let ok = post(
        &server,
        "/webhooks/routed",
        sign("secret-b", "evt_9", ts, body_b.as_bytes()),
        body_b,
    )
    .await;
    assert_eq!(ok, 200);
    assert_eq!(
        tenants_seen(&seen),
        [("tenant-b".into(), "crm".into(), "evt_9".into())]
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_one_connection_secret_leaves_the_others_alone_on_sqlite() {
    use crate::webhook_router::{registry, vault};
    use switchboard::store::sqlite::SqliteStore;

    let store = SqliteStore::in_memory().await.unwrap();
    let connections = Connections::new(
        crate::support::builder().build().unwrap(),
        vault(),
        registry(),
    )
    .with_connection_store(Arc::new(store));
    let url_a = connect(&connections, "tenant-a", "crm", "old-a").await;
    let url_b = connect(&connections, "tenant-b", "crm", "secret-b").await;
    let seen: Seen = Arc::default();
    let (server, _router) = serve(&connections, &seen).await;
    let ts = now_secs();
    let body = "{}";
    // Warm the verifier cache of both connections.
    assert_eq!(
        post(&server, &url_a, sign("old-a", "e1", ts, b"{}"), body).await,
        200
    );
    assert_eq!(
        post(&server, &url_b, sign("secret-b", "e1", ts, b"{}"), body).await,
        200
    );

    let (ta, c) = ids("tenant-a", "crm");
    connections
        .update_config(&ta, &c, &json!({"secret": "new-a"}))
        .await
        .unwrap();
    // A's old secret is refused at once; its new one works; B is untouched.
    assert_eq!(
        post(&server, &url_a, sign("old-a", "e2", ts, b"{}"), body).await,
        401
    );
    assert_eq!(
        post(&server, &url_a, sign("new-a", "e2", ts, b"{}"), body).await,
        200
    );
    assert_eq!(
        post(&server, &url_b, sign("secret-b", "e2", ts, b"{}"), body).await,
        200
    );
    // The webhook URL survives the rotation.
    assert_eq!(
        connections
            .webhook_path(&ta, &c, "/webhooks")
            .await
            .unwrap(),
        url_a
    );
    assert_eq!(tenants_seen(&seen).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_connected_after_the_router_was_built_is_served() {
    let connections = connections();
    let seen: Seen = Arc::default();
    let (server, _router) = serve(&connections, &seen).await;
    // Onboarding happens after the router is mounted; nothing is rebuilt.
    let url = connect(&connections, "late-tenant", "crm", "late-secret").await;
    let ts = now_secs();
    assert_eq!(
        post(&server, &url, sign("late-secret", "e", ts, b"{}"), "{}").await,
        200
    );
    assert_eq!(
        tenants_seen(&seen),
        [("late-tenant".into(), "crm".into(), "e".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tokens_allocate_nothing_and_get_the_bad_signature_answer() {
    let connections = connections();
    let real = connect(&connections, "tenant-a", "crm", "secret-a").await;
    let seen: Seen = Arc::default();
    let (server, router) = serve(&connections, &seen).await;
    let ts = now_secs();
    let headers = sign("secret-a", "e", ts, b"{}");
    for n in 0..200 {
        let token = format!("{n:032x}");
        let status = post(
            &server,
            &format!("/webhooks/test/{token}"),
            headers.clone(),
            "{}",
        )
        .await;
        assert_eq!(status, 401);
    }
    // A real token under another connector's route: refused the same way.
    let token = real.rsplit('/').next().unwrap();
    assert_eq!(
        post(
            &server,
            &format!("/webhooks/sw/{token}"),
            headers.clone(),
            "{}"
        )
        .await,
        401
    );
    assert_eq!(router.failure_counters(), 0);
    assert!(seen.lock().unwrap().is_empty());
    // A disconnected connection takes no webhooks.
    let (t, c) = ids("tenant-a", "crm");
    connections
        .transition(
            &t,
            &c,
            switchboard::connections::ConnectionStatus::Active,
            None,
        )
        .await
        .unwrap();
    connections.disconnect(&t, &c).await.unwrap();
    assert_eq!(post(&server, &real, headers, "{}").await, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_through_the_axum_routes() {
    use switchboard::webhook::StandardWebhooks;

    let connections = connections();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (t, c) = ids("tenant-a", "events");
    connections
        .create(&t, &c, STANDARD, "Events", &json!({ "secret": secret }))
        .await
        .unwrap();
    let path = connections.webhook_path(&t, &c, "/webhooks").await.unwrap();
    let seen: Seen = Arc::default();
    let (server, _router) = serve(&connections, &seen).await;
    let body = r#"{"type":"user.created"}"#;
    let ts = now_secs();
    let signature = StandardWebhooks::new(secret)
        .unwrap()
        .sign("msg_1", ts, body.as_bytes())
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert("webhook-id", "msg_1".parse().unwrap());
    h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
    h.insert("webhook-signature", signature.parse().unwrap());
    assert_eq!(post(&server, &path, h.clone(), body).await, 200);
    assert_eq!(post(&server, &path, h, &format!("{body} ")).await, 401);
    assert_eq!(
        tenants_seen(&seen),
        [("tenant-a".into(), "events".into(), "msg_1".into())]
    );
}

#[cfg(feature = "stripe")]
mod stripe {
    use super::*;

    fn stripe_config(secret: &str, account: Option<&str>) -> serde_json::Value {
        let mut c = json!({"secret_key": "sk_test_123", "webhook_secret": secret});
        if let Some(a) = account {
            c["account_id"] = json!(a);
        }
        c
    }

    fn signed(body: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = switchboard::stripe::test_header(body.as_bytes(), secret, now_secs());
        h.insert("stripe-signature", value.parse().unwrap());
        h
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stripe_signature_through_the_axum_routes_per_connection() {
        let connections = connections();
        let (ta, c) = ids("tenant-a", "stripe");
        let (tb, _) = ids("tenant-b", "stripe");
        connections
            .create(&ta, &c, "stripe", "Stripe", &stripe_config("whsec_a", None))
            .await
            .unwrap();
        connections
            .create(&tb, &c, "stripe", "Stripe", &stripe_config("whsec_b", None))
            .await
            .unwrap();
        let url_a = connections
            .webhook_path(&ta, &c, "/webhooks")
            .await
            .unwrap();
        let url_b = connections
            .webhook_path(&tb, &c, "/webhooks")
            .await
            .unwrap();
        let seen: Seen = Arc::default();
        let (server, _router) = serve(&connections, &seen).await;
        let body = r#"{"id":"evt_1","object":"event","type":"charge.succeeded"}"#;
        assert_eq!(
            post(&server, &url_b, signed(body, "whsec_a"), body).await,
            401
        );
        assert_eq!(
            post(&server, &url_a, signed(body, "whsec_a"), body).await,
            200
        );
        assert_eq!(
            post(&server, &url_b, signed(body, "whsec_b"), body).await,
            200
        );
        assert_eq!(
            tenants_seen(&seen),
            [
                ("tenant-a".into(), "stripe".into(), "evt_1".into()),
                ("tenant-b".into(), "stripe".into(), "evt_1".into()),
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stripe_connect_events_are_routed_by_account_and_verified_with_its_secret() {
        let connections = connections();
        let (ta, c) = ids("tenant-a", "stripe");
        let (tb, _) = ids("tenant-b", "stripe");
        connections
            .create(
                &ta,
                &c,
                "stripe",
                "S",
                &stripe_config("whsec_a", Some("acct_A")),
            )
            .await
            .unwrap();
        connections
            .create(
                &tb,
                &c,
                "stripe",
                "S",
                &stripe_config("whsec_b", Some("acct_B")),
            )
            .await
            .unwrap();
        let seen: Seen = Arc::default();
        let router = WebhookRouter::builder(connections.clone())
            .route(WebhookRoute::new("stripe", recording_handler(&seen)).payload_routed())
            .build()
            .unwrap();
        let server =
            LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
        let body = r#"{"id":"evt_c1","object":"event","account":"acct_B","type":"payout.paid"}"#;
        assert_eq!(
            post(&server, "/webhooks/stripe", signed(body, "whsec_a"), body).await,
            401
        );
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(router.verification_failures(&tb, &c), 1);
        assert_eq!(
            post(&server, "/webhooks/stripe", signed(body, "whsec_b"), body).await,
            200
        );
        assert_eq!(
            tenants_seen(&seen),
            [("tenant-b".into(), "stripe".into(), "evt_c1".into())]
        );
    }
}

#[cfg(feature = "twilio")]
mod twilio {
    use super::*;
    use switchboard::twilio::TwilioSigner;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    async fn twilio_connection(connections: &Connections, tenant: &str, token: &str) -> String {
        let (t, c) = ids(tenant, "sms");
        connections
            .create(
                &t,
                &c,
                "twilio",
                "Twilio",
                &json!({"account_sid": AC, "auth_token": token}),
            )
            .await
            .unwrap();
        connections.webhook_path(&t, &c, "/webhooks").await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twilio_form_callback_signed_over_the_public_url() {
        let connections = connections();
        let path = twilio_connection(&connections, "tenant-a", "token-a").await;
        let path_b = twilio_connection(&connections, "tenant-b", "token-b").await;
        let seen: Seen = Arc::default();
        let (server, _router) = serve_with(&connections, &seen, |b| {
            b.public_base_url("https://hooks.example.test")
        })
        .await;
        let params = [("MessageSid", "SM1"), ("MessageStatus", "delivered")];
        let body = "MessageSid=SM1&MessageStatus=delivered";
        let query = "?attempt=1";
        let public = format!("https://hooks.example.test{path}{query}");
        let mut h = HeaderMap::new();
        h.insert(
            "x-twilio-signature",
            TwilioSigner::new("token-a")
                .sign_form(&public, &params)
                .parse()
                .unwrap(),
        );
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(
            post(&server, &format!("{path}{query}"), h.clone(), body).await,
            200
        );
        // The same signature on tenant B's URL: a different URL and a different token.
        assert_eq!(
            post(&server, &format!("{path_b}{query}"), h.clone(), body).await,
            401
        );
        // A tampered parameter.
        assert_eq!(
            post(
                &server,
                &format!("{path}{query}"),
                h,
                "MessageSid=SM1&MessageStatus=failed"
            )
            .await,
            401
        );
        assert_eq!(tenants_seen(&seen).len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twilio_json_callback_with_body_sha256() {
        let connections = connections();
        let path = twilio_connection(&connections, "tenant-a", "token-a").await;
        let seen: Seen = Arc::default();
        let (server, _router) = serve_with(&connections, &seen, |b| {
            b.public_base_url("https://hooks.example.test/base/")
                .prefix("/webhooks")
        })
        .await;
        let body = r#"{"event":"delivered","sid":"SM2"}"#;
        // The proxy strips `/base`: the public URL has it, the request path does not.
        let (signed_url, sig) = TwilioSigner::new("token-a").sign_json(
            &format!("https://hooks.example.test/base{path}"),
            body.as_bytes(),
        );
        let query = &signed_url[signed_url.find('?').unwrap()..];
        let mut h = HeaderMap::new();
        h.insert("x-twilio-signature", sig.parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        assert_eq!(
            post(&server, &format!("{path}{query}"), h.clone(), body).await,
            200
        );
        assert_eq!(
            post(
                &server,
                &format!("{path}{query}"),
                h,
                r#"{"event":"failed","sid":"SM2"}"#
            )
            .await,
            401,
            "the body must hash to bodySHA256"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwarded_headers_build_the_url_only_when_trusted() {
        let connections = connections();
        let path = twilio_connection(&connections, "tenant-a", "token-a").await;
        let params = [("CallSid", "CA1")];
        let public = format!("https://hooks.example.test{path}");
        let mut h = HeaderMap::new();
        h.insert(
            "x-twilio-signature",
            TwilioSigner::new("token-a")
                .sign_form(&public, &params)
                .parse()
                .unwrap(),
        );
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert("x-forwarded-host", "hooks.example.test".parse().unwrap());
        let seen: Seen = Arc::default();
        let (trusting, _r) =
            serve_with(&connections, &seen, |b| b.trust_forwarded_headers(true)).await;
        assert_eq!(post(&trusting, &path, h.clone(), "CallSid=CA1").await, 200);
        let (untrusting, _r) = serve(&connections, &seen).await;
        // Same request, new id: without trust the URL is http://127.0.0.1:PORT/..., which
        // is not what was signed.
        assert_eq!(post(&untrusting, &path, h, "CallSid=CA1").await, 401);
    }
}
