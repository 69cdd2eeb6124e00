//! What the connector toolkit (`switchboard::toolkit`) costs over the pipeline call it wraps, as
//! ratios against baselines measured in the same run (the bench machine is small and noisy).
//!
//! Criterion groups (wall time, one call at a time, loopback axum server on its own thread):
//! - `toolkit_call/*`: `raw_send_json` (`connection.get(path).send().await?.json::<T>()`, the
//!   baseline), `call_new` (the same request through `toolkit::Call::new`, awaited) and
//!   `stripe_retrieve` (`StripeClient::customers().retrieve(&id)`). All three decode the same
//!   customer JSON into `stripe::Customer`, so the ratios hold the decode constant and measure
//!   only what `Call` and the Stripe client add.
//! - `toolkit_pages/*`: 100 items in 5 pages of 20, cursor style (`starting_after`):
//!   `raw_loop` (the baseline: a hand-written loop over the connection) and `pager_cursor`
//!   (`Pager::cursor`, collected with `try_collect`).
//!
//! See `docs/performance.md`, section "Connector toolkit".

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use axum::extract::RawQuery;
use bytes::Bytes;
use criterion::Criterion;
use futures_util::TryStreamExt;
use switchboard::auth::BearerToken;
use switchboard::stripe::{Customer, CustomerId, StripeClient, StripeConnector};
use switchboard::test_util::LoopbackServer;
use switchboard::toolkit::{Call, Page, Pager};
use switchboard::{Connection, Connector, Switchboard};
use tokio::runtime::Runtime;

const TOKEN: &str = "bench-token-0123456789abcdef";
const PAGES: usize = 5;
const PER_PAGE: usize = 20;

/// A customer as Stripe returns it (about 600 bytes), the body of every single-object call.
fn customer_body() -> Bytes {
    Bytes::from(
        serde_json::json!({
            "id": "cus_NffrFeUfNV2Hib",
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": 1_680_893_993,
            "currency": null,
            "default_source": null,
            "delinquent": false,
            "description": null,
            "discount": null,
            "email": "jennyrosen@example.com",
            "invoice_prefix": "0759376C",
            "invoice_settings": {
                "custom_fields": null,
                "default_payment_method": null,
                "footer": null,
                "rendering_options": null
            },
            "livemode": false,
            "metadata": {"order": "6735"},
            "name": "Jenny Rosen",
            "next_invoice_sequence": 1,
            "phone": null,
            "preferred_locales": [],
            "shipping": null,
            "tax_exempt": "none",
            "test_clock": null
        })
        .to_string(),
    )
}

/// The five list pages, keyed by the `starting_after` that asks for them (`""`: the first).
fn list_pages() -> HashMap<String, Bytes> {
    let mut pages = HashMap::new();
    let mut after = String::new();
    for p in 0..PAGES {
        let data: Vec<_> = (0..PER_PAGE)
            .map(|i| serde_json::json!({"id": format!("item_{p}_{i}"), "object": "item"}))
            .collect();
        let last = format!("item_{p}_{}", PER_PAGE - 1);
        let body = serde_json::json!({
            "object": "list", "url": "/list", "data": data, "has_more": p + 1 < PAGES
        });
        pages.insert(after, Bytes::from(body.to_string()));
        after = last;
    }
    pages
}

fn app() -> axum::Router {
    let customer = customer_body();
    let pages = Arc::new(list_pages());
    let json = |b: Bytes| ([(http::header::CONTENT_TYPE, "application/json")], b);
    axum::Router::new()
        .route(
            "/item",
            axum::routing::get({
                let c = customer.clone();
                move || std::future::ready(json(c.clone()))
            }),
        )
        .route(
            "/v1/customers/{id}",
            axum::routing::get(move || std::future::ready(json(customer.clone()))),
        )
        .route(
            "/list",
            axum::routing::get(move |RawQuery(q): RawQuery| {
                // The ids need no percent-decoding: `item_<page>_<i>`.
                let after = q
                    .as_deref()
                    .and_then(|q| q.strip_prefix("starting_after="))
                    .unwrap_or("");
                let body = pages.get(after).cloned().unwrap_or_default();
                std::future::ready(json(body))
            }),
        )
}

#[derive(Debug)]
struct BenchConnector;

impl Connector for BenchConnector {
    fn name(&self) -> &str {
        "bench"
    }
}

#[derive(serde::Deserialize)]
struct Item {
    id: String,
}

#[derive(serde::Deserialize)]
struct List {
    data: Vec<Item>,
    has_more: bool,
}

struct Fixture {
    plain: Connection,
    stripe: StripeClient,
    _server: LoopbackServer,
    _server_rt: Runtime,
}

impl Fixture {
    fn start() -> Self {
        // The server on its own one-worker runtime (as `benches/pipeline.rs`'s `http_c32`), the
        // client on a current-thread runtime: one core each.
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-server")
            .enable_all()
            .build()
            .expect("server runtime");
        let server = server_rt.block_on(LoopbackServer::start(app()));
        let base = server.base_url();
        // Default retry, breaker and timeouts; no rate limiter, no cache on these calls.
        let sb = Switchboard::builder().build().expect("switchboard");
        let connection = |connector: Arc<dyn Connector>, id: &str| {
            sb.connection(connector)
                .tenant("t1")
                .id(id)
                .base_url(&base)
                .auth(Arc::new(BearerToken::new(TOKEN)))
                .build()
                .expect("connection")
        };
        let plain = connection(Arc::new(BenchConnector), "plain");
        let stripe =
            StripeClient::from_connection(connection(Arc::new(StripeConnector::new()), "stripe"))
                .expect("stripe client");
        Fixture {
            plain,
            stripe,
            _server: server,
            _server_rt: server_rt,
        }
    }
}

async fn raw_send_json(c: &Connection) -> Result<Customer, switchboard::Error> {
    c.get("/item").send().await?.json::<Customer>().await
}

async fn call_new(c: &Connection) -> Result<Customer, switchboard::Error> {
    Call::<Customer, switchboard::Error>::new(c.get("/item")).await
}

async fn raw_loop(c: &Connection) -> Result<Vec<Item>, switchboard::Error> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut req = c.get("/list");
        if let Some(a) = &after {
            req = req.query(&[("starting_after", a.as_str())]);
        }
        let page: List = req.send().await?.json().await?;
        items.extend(page.data);
        if !page.has_more {
            return Ok(items);
        }
        after = items.last().map(|i| i.id.clone());
    }
}

async fn pager_cursor(c: &Connection) -> Result<Vec<Item>, switchboard::Error> {
    Pager::new(c.clone(), "/list")
        .cursor("starting_after", |page: List| {
            let next = page
                .has_more
                .then(|| page.data.last().map(|i| i.id.clone()))
                .flatten();
            Page::new(page.data).next(next)
        })
        .try_collect()
        .await
}

fn main() {
    let fx = Fixture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let id = CustomerId::new("cus_NffrFeUfNV2Hib");

    // Every variant answers what it should before anything is timed.
    rt.block_on(async {
        let a = raw_send_json(&fx.plain).await.expect("raw");
        let b = call_new(&fx.plain).await.expect("call");
        let c = fx.stripe.customers().retrieve(&id).await.expect("stripe");
        assert!(a == b && b == c, "the three calls decode the same customer");
        let d = raw_loop(&fx.plain).await.expect("raw loop");
        let e = pager_cursor(&fx.plain).await.expect("pager");
        assert_eq!(d.len(), PAGES * PER_PAGE);
        assert!(d.iter().map(|i| &i.id).eq(e.iter().map(|i| &i.id)));
    });

    let mut crit = Criterion::default().configure_from_args();

    let mut g = crit.benchmark_group("toolkit_call");
    g.bench_function("raw_send_json", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(raw_send_json(&fx.plain).await.expect("raw")) });
    });
    g.bench_function("call_new", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(call_new(&fx.plain).await.expect("call")) });
    });
    g.bench_function("stripe_retrieve", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(fx.stripe.customers().retrieve(&id).await.expect("stripe"))
        });
    });
    g.finish();

    let mut g = crit.benchmark_group("toolkit_pages");
    g.bench_function("raw_loop", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(raw_loop(&fx.plain).await.expect("raw loop")) });
    });
    g.bench_function("pager_cursor", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(pager_cursor(&fx.plain).await.expect("pager")) });
    });
    g.finish();

    crit.final_summary();
}
