//! GoHighLevel's limits through the host's path: the connector's burst quota (100 requests per
//! 10 seconds per location) is adopted by the Redis limiter and holds across two replicas,
//! per tenant and connection; the `X-RateLimit-*` answers of one replica hold the other back
//! too (a spent daily window refuses the next call without sending it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::ghl::{GhlClient, GhlConnector, GhlSettings, BURST_LIMIT};
use switchboard::test_util::LoopbackServer;
use switchboard::{ErrorKind, ProviderError, RateLimiter, Switchboard};

use crate::support::builder;

/// A location API counting calls; a location named `spent` answers that the day is spent.
async fn server(seen: Arc<AtomicUsize>) -> LoopbackServer {
    let app = Router::new().route(
        "/locations/{id}",
        get(move |Path(id): Path<String>| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let mut h = HeaderMap::new();
                h.insert("x-ratelimit-max", HeaderValue::from_static("100"));
                h.insert("x-ratelimit-remaining", HeaderValue::from_static("99"));
                h.insert(
                    "x-ratelimit-interval-milliseconds",
                    HeaderValue::from_static("10000"),
                );
                h.insert(
                    "x-ratelimit-limit-daily",
                    HeaderValue::from_static("200000"),
                );
                let left = if id == "spent" { "0" } else { "150000" };
                h.insert(
                    "x-ratelimit-daily-remaining",
                    HeaderValue::from_static(left),
                );
                (h, Json(json!({"location": {"id": id, "name": "Acme"}}))).into_response()
            }
        }),
    );
    LoopbackServer::start(app).await
}

async fn replica(prefix: &str) -> Switchboard {
    let limiter =
        switchboard::rate_limit::RedisRateLimiter::connect(&crate::support::redis_url(), prefix)
            .await
            .expect("Redis at 127.0.0.1:6379");
    builder()
        .rate_limiter(Arc::new(limiter) as Arc<dyn RateLimiter>)
        .rate_limit_max_wait(Duration::ZERO)
        .build()
        .unwrap()
}

fn client(sb: &Switchboard, base_url: &str, tenant: &str, location: &str) -> GhlClient {
    let conn = sb
        .connection(GhlConnector::new())
        .tenant(tenant)
        .id("ghl")
        .base_url(base_url)
        .auth(BearerToken::new(format!("pit-{tenant}")))
        .build()
        .unwrap();
    GhlClient::from_connection(conn)
        .unwrap()
        .with_settings(GhlSettings::for_location(location))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_burst_quota_holds_across_replicas_per_tenant() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(seen.clone()).await;
    let prefix = format!("ghl-limits-{}", uuid::Uuid::new_v4());
    let (one, two) = (replica(&prefix).await, replica(&prefix).await);
    let a1 = client(&one, &server.base_url(), "acme", "loc_1");
    let a2 = client(&two, &server.base_url(), "acme", "loc_1");
    // 150 calls at once, half on each replica. The quota refills one call per 100 ms, so
    // what is sent is the burst of 100 plus what refilled while the calls ran.
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..150)
        .map(|i| {
            let c = if i % 2 == 0 { a1.clone() } else { a2.clone() };
            tokio::spawn(async move { c.locations().current().await })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        if let Err(err) = call.await.unwrap() {
            assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
            assert!(err.retry_after().is_some());
            refused += 1;
        }
    }
    let refilled = started.elapsed().as_millis() as usize / 100 + 1;
    let sent = seen.load(Ordering::SeqCst);
    assert!(sent >= BURST_LIMIT as usize, "{sent} sent");
    assert!(
        sent <= BURST_LIMIT as usize + refilled,
        "{sent} sent: more than the shared quota allows"
    );
    assert_eq!(sent + refused, 150);
    // Another tenant's connection with the same id has its own quota.
    client(&two, &server.base_url(), "globex", "loc_1")
        .locations()
        .current()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_window_holds_every_replica_back() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = server(seen.clone()).await;
    let prefix = format!("ghl-daily-{}", uuid::Uuid::new_v4());
    let (one, two) = (replica(&prefix).await, replica(&prefix).await);
    // Replica one learns the day is spent from GoHighLevel's answer.
    client(&one, &server.base_url(), "acme", "spent")
        .locations()
        .current()
        .await
        .unwrap();
    // Replica two's next call for the same tenant and connection is refused, unsent.
    let err = client(&two, &server.base_url(), "acme", "spent")
        .locations()
        .current()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    // Another tenant is not held back.
    client(&two, &server.base_url(), "globex", "spent")
        .locations()
        .current()
        .await
        .unwrap();
}
