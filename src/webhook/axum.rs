//! Axum glue for the [`WebhookRouter`] (feature `axum`).
//!
//! [`routes`] mounts `POST {prefix}/{*rest}`; the handler takes the body as raw
//! `axum::body::Bytes`, never through a JSON extractor, so the verifier sees the bytes
//! the sender signed. Answers:
//!
//! | outcome | status |
//! | --- | --- |
//! | processed, duplicate | 200 |
//! | in flight elsewhere | 429 with `Retry-After` (the visibility timeout, in seconds) |
//! | verification failed, or no connection for the token or routing key | 401 |
//! | unknown connector or malformed path | 404 |
//! | handler failed | 500 |
//! | dedup store failed | 503 |
//!
//! The request URL handed to the verifier (Twilio signs it) is built by
//! [`WebhookRouter::public_url`]: the router's configured public base URL, or the forwarded
//! headers when the router trusts them, or the `Host` header; then the path and query as
//! received.
//!
//! Bodies are a short fixed text (`processed`, `duplicate`, `in flight`, `unauthorized`, ...); the reason is logged, not sent (it would help an
//! attacker probe the verifier).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::router::{InboundRequest, WebhookOutcome, WebhookRouter};

/// An axum router serving `POST {prefix}/{*rest}` with `router`. Merge or nest it into the
/// host's app.
///
/// ```no_run
/// # fn demo(webhooks: switchboard::webhook::router::WebhookRouter) {
/// let app: axum::Router = axum::Router::new().merge(switchboard::webhook::axum::routes(webhooks));
/// # }
/// ```
pub fn routes(router: WebhookRouter) -> axum::Router {
    let path = format!("{}/{{*rest}}", router.prefix());
    axum::Router::new()
        .route(&path, post(handle))
        .with_state(router)
}

/// The axum handler behind [`routes`], for hosts that mount it themselves (it needs the
/// [`WebhookRouter`] as state and routes by the full request path).
pub async fn handle(
    State(router): State<WebhookRouter>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
    let url = router.public_url(path_and_query, &headers);
    let mut request = InboundRequest::new(uri.path(), headers, body);
    if let Some(url) = url {
        request = request.with_url(url);
    }
    match router.handle(request).await {
        Ok(outcome @ WebhookOutcome::InFlight { retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let mut response = (outcome.status(), "in flight").into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Ok(outcome @ WebhookOutcome::Duplicate) => (outcome.status(), "duplicate").into_response(),
        Ok(outcome) => (outcome.status(), "processed").into_response(),
        Err(e) => {
            let text = match e.status().as_u16() {
                401 => "unauthorized",
                404 => "not found",
                503 => "unavailable",
                _ => "error",
            };
            (e.status(), text).into_response()
        }
    }
}
