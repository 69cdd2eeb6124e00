//! What the per-connection webhook path costs on top of the verifier it ends in: one
//! `WebhookRouter::handle` of a Standard Webhooks request (2 KiB body) against
//! `StandardWebhooks::verify` alone, in the same run (the bench machine is small and noisy, so
//! only the ratio means much).
//!
//! - `webhook_router/handle_duplicate_2k`: route by the URL's webhook token (an indexed lookup
//!   among 10,000 connections of 1,000 tenants in the in-memory store), the connection's
//!   cached verifier, verify, and the de-duplication claim of an event already processed (so
//!   the handler does not run and every iteration does the same work).
//! - `webhook_router/verify_only_2k`: the same verifier on the same request.
//!
//! A paired report alternates the two for several rounds first and prints the median of the
//! per-round ratios. `SWITCHBOARD_BENCH_ROUNDS` (default 7) sets the rounds;
//! `SWITCHBOARD_BENCH_REPORT=only` skips criterion.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use criterion::Criterion;
use http::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::connections::Connections;
use switchboard::templates::{
    ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate, Registry,
};
use switchboard::vault::{KeyId, KeyRing, MasterKey, Vault};
use switchboard::webhook::router::{handler_fn, InboundRequest, WebhookRoute, WebhookRouter};
use switchboard::webhook::{StandardWebhooks, WebhookRequest, WebhookVerifier};
use switchboard::{ConnectionId, Error, Switchboard, TenantId};

const TENANTS: usize = 1_000;
const PER_TENANT: usize = 10;
const CALLS: usize = 2_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Debug)]
struct Sw(IntegrationTemplate);

#[derive(Debug)]
struct NoCalls;

impl switchboard::Connector for NoCalls {
    fn name(&self) -> &str {
        "sw"
    }
}

#[async_trait::async_trait]
impl Integration for Sw {
    async fn check(&self, _: &switchboard::Connection) -> Result<(), switchboard::Error> {
        Ok(())
    }

    fn template(&self) -> &IntegrationTemplate {
        &self.0
    }
    fn bind(&self, _: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        Ok(IntegrationBinding::new(
            Arc::new(NoCalls),
            "https://api.example.com",
            None,
        ))
    }
    fn webhook_verifier(
        &self,
        config: &ConnectionConfig,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        Ok(Arc::new(StandardWebhooks::new(
            config.require_secret("secret")?.expose_secret(),
        )?))
    }
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: WebhookRouter,
    request: InboundRequest,
    verifier: StandardWebhooks,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let template = IntegrationTemplate::builder("sw")
        .config_schema(json!({
            "type": "object",
            "required": ["secret"],
            "properties": {"secret": {"type": "string", "format": "password"}}
        }))
        .webhooks(true)
        .build()
        .expect("template");
    let mut registry = Registry::new();
    registry
        .register(Arc::new(Sw(template)))
        .expect("registered");
    let vault = Vault::new(KeyRing::new(
        KeyId::new("k1").expect("id"),
        MasterKey::from_bytes(&[7u8; 32]).expect("key"),
    ));
    let connections = Connections::new(
        Switchboard::builder().build().expect("switchboard"),
        vault,
        registry,
    );
    let mut body = br#"{"type":"invoice.paid","data":{"note":""#.to_vec();
    while body.len() < 2045 {
        body.push(b'a' + (body.len() % 26) as u8);
    }
    body.extend_from_slice(br#""}}"#);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let verifier = StandardWebhooks::new(SECRET).expect("secret");
    let signature = verifier.sign("msg_1", now, &body).expect("signs");
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", "msg_1".parse().expect("ascii"));
    headers.insert("webhook-timestamp", now.to_string().parse().expect("ascii"));
    headers.insert("webhook-signature", signature.parse().expect("ascii"));

    let (router, request) = rt.block_on(async {
        let mut path = String::new();
        for t in 0..TENANTS {
            for c in 0..PER_TENANT {
                let (tenant, id) = (
                    TenantId::new(format!("t{t}")),
                    ConnectionId::new(format!("c{c}")),
                );
                connections
                    .create(&tenant, &id, "sw", "sw", &json!({"secret": SECRET}))
                    .await
                    .expect("created");
                if t == TENANTS / 2 && c == 0 {
                    path = connections
                        .webhook_path(&tenant, &id, "/webhooks")
                        .await
                        .expect("path");
                }
            }
        }
        let router = WebhookRouter::builder(connections)
            .route(WebhookRoute::new(
                "sw",
                Arc::new(handler_fn(|_e| async { Ok(()) })),
            ))
            .build()
            .expect("router");
        let request = InboundRequest::new(path, headers, body);
        // Processed once: every measured call is the duplicate path.
        router.handle(request.clone()).await.expect("processed");
        (router, request)
    });
    Fixture {
        rt,
        router,
        request,
        verifier,
    }
}

fn handle(f: &Fixture) {
    let outcome = f.rt.block_on(f.router.handle(black_box(f.request.clone())));
    black_box(outcome.expect("duplicate"));
}

fn verify(f: &Fixture) {
    let r = WebhookRequest::new(&f.request.body, &f.request.headers);
    black_box(f.verifier.verify(black_box(&r)).expect("valid"));
}

fn per_call_ns(f: &Fixture, run: fn(&Fixture)) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        run(f);
    }
    start.elapsed().as_nanos() as f64 / CALLS as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let f = fixture();
    let rounds: usize = std::env::var("SWITCHBOARD_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let (mut h, mut v, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let a = per_call_ns(&f, handle);
        let b = per_call_ns(&f, verify);
        h.push(a);
        v.push(b);
        ratio.push(a / b);
    }
    println!(
        "paired report ({rounds} rounds x {CALLS} calls, 2 KiB body, {} connections): \
         router handle {:.0} ns, verify alone {:.0} ns; handle/verify = {:.2}x",
        TENANTS * PER_TENANT,
        median(&mut h),
        median(&mut v),
        median(&mut ratio),
    );
    if std::env::var("SWITCHBOARD_BENCH_REPORT").as_deref() == Ok("only") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("webhook_router");
        g.bench_function("handle_duplicate_2k", |b| b.iter(|| handle(&f)));
        g.bench_function("verify_only_2k", |b| b.iter(|| verify(&f)));
        g.finish();
    }
    c.final_summary();
}
