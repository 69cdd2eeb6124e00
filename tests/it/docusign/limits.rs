//! DocuSign's limits: `X-RateLimit-*` (hourly) and `X-BurstLimit-*` (30 s) answers feed the
//! limiter, so a spent window refuses the connection's next call without sending it (and never
//! another tenant's sharing the connection id); a 400 whose `errorCode` is a polling limit is a
//! typed rate limit and is not retried.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::docusign::{DocuSignClient, DocuSignConnector};
use switchboard::test_util::LoopbackServer;
use switchboard::{ErrorKind, ProviderError, Switchboard};

use crate::support::builder;

fn client(sb: &Switchboard, base_url: &str, tenant: &str) -> DocuSignClient {
    let conn = sb
        .connection(DocuSignConnector::new())
        .tenant(tenant)
        .id("docusign")
        .base_url(base_url)
        .auth(BearerToken::new(format!("token-{tenant}")))
        .build()
        .unwrap();
    DocuSignClient::from_connection(conn)
        .unwrap()
        .with_account("acct-1")
}

/// An account API whose answers to tenant A's token say the hourly window is spent (reset in
/// 10 minutes); tenant B's answers have calls left.
async fn spent_for_tenant_a(seen: Arc<AtomicUsize>) -> LoopbackServer {
    let app = Router::new().route(
        "/restapi/v2.1/accounts/acct-1",
        get(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                let is_a = headers
                    .get("authorization")
                    .is_some_and(|v| v == "Bearer token-tenant-a");
                let reset = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs()
                    + 600;
                let mut h = HeaderMap::new();
                h.insert("x-ratelimit-limit", HeaderValue::from_static("1000"));
                h.insert(
                    "x-ratelimit-remaining",
                    HeaderValue::from_static(if is_a { "0" } else { "750" }),
                );
                h.insert("x-ratelimit-reset", HeaderValue::from(reset));
                h.insert("x-burstlimit-limit", HeaderValue::from_static("500"));
                h.insert("x-burstlimit-remaining", HeaderValue::from_static("499"));
                (h, axum::Json(json!({"accountIdGuid": "acct-1"}))).into_response()
            }
        }),
    );
    LoopbackServer::start(app).await
}

#[tokio::test]
async fn a_spent_hourly_window_refuses_the_next_call_unsent_and_only_for_that_tenant() {
    let seen = Arc::new(AtomicUsize::new(0));
    let server = spent_for_tenant_a(seen.clone()).await;
    let sb = builder().build().unwrap();
    let a = client(&sb, &server.base_url(), "tenant-a");
    let b = client(&sb, &server.base_url(), "tenant-b");
    a.account().await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    let err = a.account().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    assert!(err.is_rate_limited());
    let wait = err.retry_after().expect("the wait until DocuSign's reset");
    assert!(wait > Duration::from_secs(500), "{wait:?}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the refused call was not sent"
    );
    // Tenant B shares the connection id: its own window has calls left.
    for _ in 0..3 {
        b.account().await.unwrap();
    }
    assert_eq!(seen.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_polling_limit_400_is_a_typed_rate_limit_and_is_not_retried() {
    let seen = Arc::new(AtomicUsize::new(0));
    let s = seen.clone();
    let app = Router::new().route(
        "/restapi/v2.1/accounts/acct-1",
        get(move || {
            let s = s.clone();
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({
                        "errorCode": "envelope_status_polling_limit_exceeded",
                        "message": "The polling limit for this envelope has been exceeded."
                    })),
                )
            }
        }),
    );
    let server = LoopbackServer::start(app).await;
    let sb = builder().build().unwrap();
    let err = client(&sb, &server.base_url(), "tenant-a")
        .account()
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::RateLimited,
        "not a validation error: {err}"
    );
    assert!(err.is_rate_limited());
    assert_eq!(
        err.error_code(),
        Some("envelope_status_polling_limit_exceeded")
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "never retried");
}

#[tokio::test]
async fn a_docusign_connection_brings_the_thousand_an_hour_default_unless_the_host_set_one() {
    use std::num::NonZeroU32;
    use switchboard::rate_limit::{InMemoryRateLimiter, RateDecision, RateKey};
    use switchboard::{ConnectionId, Quota, TenantId};

    let key = |tenant: &str| {
        RateKey::new(
            TenantId::new(tenant),
            ConnectionId::new("docusign"),
            "docusign",
            "default",
        )
    };
    // The switchboard's own limiter (no quotas configured) adopts DocuSign's default.
    let sb = builder().build().unwrap();
    let _ = client(&sb, "https://demo.docusign.net", "tenant-a");
    let limiter = sb.rate_limiter();
    for _ in 0..switchboard::docusign::DEFAULT_HOURLY_LIMIT {
        assert_eq!(
            limiter.try_acquire_now(&key("tenant-a"), NonZeroU32::MIN),
            Some(RateDecision::Granted)
        );
    }
    assert!(matches!(
        limiter.try_acquire_now(&key("tenant-a"), NonZeroU32::MIN),
        Some(RateDecision::RetryAfter(_))
    ));
    assert_eq!(
        limiter.try_acquire_now(&key("tenant-b"), NonZeroU32::MIN),
        Some(RateDecision::Granted),
        "per tenant"
    );
    // A host with a raised limit keeps it.
    let raised = Quota::new(NonZeroU32::new(5000).unwrap(), Duration::from_secs(3600)).unwrap();
    let sb = builder()
        .rate_limiter(Arc::new(
            InMemoryRateLimiter::new().with_quota("docusign", "default", raised),
        ))
        .build()
        .unwrap();
    let _ = client(&sb, "https://demo.docusign.net", "tenant-a");
    for _ in 0..1500 {
        assert_eq!(
            sb.rate_limiter()
                .try_acquire_now(&key("tenant-a"), NonZeroU32::MIN),
            Some(RateDecision::Granted)
        );
    }
}
