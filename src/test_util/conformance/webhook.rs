//! `webhook.*`: verification through the [`WebhookRouter`] and the axum routes over HTTP, with
//! two tenants sharing a connection id: a signature made with tenant B's secrets is refused on
//! tenant A's URL.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;

use super::host::{Host, TENANT_A, TENANT_B};
use super::{Conformance, Run, WebhookCase};
use crate::test_util::LoopbackServer;
use crate::webhook::router::{
    handler_fn, InboundRequest, WebhookEvent, WebhookOutcome, WebhookRoute, WebhookRouter,
};
use crate::{ConnectionId, Error, TenantId};

const CONNECTION: &str = "conformance-hooks";

/// Tenant B's config: the given one, or A's with `B` after every top-level secret value (a
/// letter, so patterns such as `^sk_[A-Za-z0-9_]+$` still hold).
fn second_config(case: &Conformance) -> Value {
    if let Some(c) = &case.second_config {
        return c.clone();
    }
    let mut config = case.config.clone();
    if let Some(map) = config.as_object_mut() {
        for field in case.integration.template().secret_fields() {
            if let Some(Value::String(s)) = map.get_mut(field) {
                s.push('B');
            }
        }
    }
    config
}

struct Hooks<'a> {
    case: &'a Conformance,
    hooks: &'a WebhookCase,
    router: WebhookRouter,
    base: String,
    http: reqwest::Client,
    /// The tenant of every event a handler ran for.
    ran: Arc<Mutex<Vec<String>>>,
}

impl Hooks<'_> {
    fn sign(&self, config: &Value, body: &[u8], url: &str, run: &mut Run) -> Option<HeaderMap> {
        match (self.hooks.sign)(config, body, url) {
            Ok(h) => Some(h),
            Err(e) => {
                run.error("the signer", e.as_ref());
                None
            }
        }
    }

    fn ran(&self) -> Vec<String> {
        std::mem::take(&mut *self.ran.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Through the router: `Ok(outcome)` or the refusal's status.
    async fn route(
        &self,
        path: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        run: &mut Run,
    ) -> Result<WebhookOutcome, u16> {
        let mut request = InboundRequest::new(path, headers, Bytes::from(body));
        if let Ok(url) = url::Url::parse(&format!("{}{path}", self.base)) {
            request = request.with_url(url);
        }
        self.router.handle(request).await.map_err(|e| {
            run.error("the router's refusal", &e);
            e.status().as_u16()
        })
    }

    /// Over HTTP: the status.
    async fn post(&self, path: &str, headers: HeaderMap, body: Vec<u8>) -> Result<u16, String> {
        self.http
            .post(format!("{}{path}", self.base))
            .headers(headers)
            .body(body)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    }
}

pub(crate) async fn check(case: &Conformance, hooks: &WebhookCase, run: &mut Run) {
    let config_b = second_config(case);
    run.canaries(super::config::secret_values(case, &config_b));
    let host = match Host::new(case) {
        Ok(h) => h,
        Err(e) => {
            run.fail("webhook", format!("cannot build the host: {e}"));
            return;
        }
    };
    let ran: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ran.clone();
    let handler = handler_fn(move |e: WebhookEvent| {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{}/{}", e.target.tenant, e.target.connection));
            Ok::<(), Error>(())
        }
    });
    let router = match WebhookRouter::builder(host.connections.clone())
        .route(WebhookRoute::new(case.name(), Arc::new(handler)))
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            run.fail("webhook", format!("cannot build the router: {e}"));
            return;
        }
    };
    let server = LoopbackServer::start(crate::webhook::axum::routes(router.clone())).await;
    let mut paths = Vec::new();
    for (tenant, config) in [(TENANT_A, &case.config), (TENANT_B, &config_b)] {
        let (t, c) = (TenantId::new(tenant), ConnectionId::new(CONNECTION));
        let created = host
            .connections
            .create(&t, &c, case.name(), "Conformance", config)
            .await;
        let path = match created {
            Ok(_) => router.webhook_path(&t, &c).await,
            Err(e) => Err(e),
        };
        match path {
            Ok(p) => paths.push(p),
            Err(e) => {
                run.error("the host path", &e);
                run.fail("webhook", format!("tenant {tenant}'s connection: {e}"));
                return;
            }
        }
    }
    let h = Hooks {
        case,
        hooks,
        router,
        base: server.base_url(),
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default(),
        ran,
    };
    let (path_a, path_b) = (paths[0].as_str(), paths[1].as_str());
    let want_a = vec![format!("{TENANT_A}/{CONNECTION}")];
    let want_b = vec![format!("{TENANT_B}/{CONNECTION}")];
    let event = |config: &Value, n: usize| (h.hooks.event)(config, n);
    let url = |path: &str| format!("{}{path}", h.base);

    // webhook.router: A's event on A's URL reaches A's handler.
    let mut problems = Vec::new();
    let body = event(&h.case.config, 1);
    if let Some(headers) = h.sign(&h.case.config, &body, &url(path_a), run) {
        match h.route(path_a, headers, body, run).await {
            Ok(WebhookOutcome::Processed) => {}
            other => problems.push(format!("a signed event was answered {other:?}")),
        }
        let ran = h.ran();
        if ran != want_a {
            problems.push(format!("handlers ran for {ran:?}, expected {want_a:?}"));
        }
    } else {
        problems.push("the signer failed for tenant A".into());
    }
    run.outcome("webhook.router", problems);

    // webhook.axum: the same over HTTP, for both tenants.
    let mut problems = Vec::new();
    for (n, (path, config, want)) in [
        (path_a, &h.case.config, &want_a),
        (path_b, &config_b, &want_b),
    ]
    .into_iter()
    .enumerate()
    {
        let body = event(config, 10 + n);
        let Some(headers) = h.sign(config, &body, &url(path), run) else {
            problems.push("the signer failed".into());
            continue;
        };
        match h.post(path, headers, body).await {
            Ok(200) => {}
            other => problems.push(format!("a signed event over HTTP was answered {other:?}")),
        }
        let ran = h.ran();
        if &ran != want {
            problems.push(format!("handlers ran for {ran:?}, expected {want:?}"));
        }
    }
    run.outcome("webhook.axum", problems);

    // webhook.cross_tenant: B's signature on A's URL is refused, by the router and over HTTP.
    let mut problems = Vec::new();
    let body = event(&config_b, 20);
    if let Some(headers) = h.sign(&config_b, &body, &url(path_a), run) {
        match h.route(path_a, headers.clone(), body.clone(), run).await {
            Err(401) => {}
            other => problems.push(format!(
                "tenant B's signature on tenant A's URL was answered {other:?} by the router, not 401"
            )),
        }
        match h.post(path_a, headers, body).await {
            Ok(401) => {}
            other => problems.push(format!(
                "tenant B's signature on tenant A's URL was answered {other:?} over HTTP, not 401"
            )),
        }
        let ran = h.ran();
        if !ran.is_empty() {
            problems.push(format!("handlers ran for {ran:?}"));
        }
    }
    run.outcome("webhook.cross_tenant", problems);

    // webhook.tampered: A's signature over one body, sent with another.
    let mut problems = Vec::new();
    let (signed, sent) = (event(&h.case.config, 30), event(&h.case.config, 31));
    if signed == sent {
        problems.push("event(n) gives the same body for different n".into());
    } else if let Some(headers) = h.sign(&h.case.config, &signed, &url(path_a), run) {
        match h.route(path_a, headers.clone(), sent.clone(), run).await {
            Err(401) => {}
            other => problems.push(format!(
                "a body that does not match its signature was answered {other:?} by the router, not 401"
            )),
        }
        match h.post(path_a, headers, sent).await {
            Ok(401) => {}
            other => problems.push(format!(
                "a body that does not match its signature was answered {other:?} over HTTP, not 401"
            )),
        }
        let ran = h.ran();
        if !ran.is_empty() {
            problems.push(format!("handlers ran for {ran:?}"));
        }
    }
    run.outcome("webhook.tampered", problems);
}
