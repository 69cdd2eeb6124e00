//! An offline stand-in for `api.twilio.com` and `lookups.twilio.com`, shared by the examples:
//! answers the calls of `twilio_sms` and the quickstart with Twilio-shaped objects. Not a
//! contract check (the tests in `tests/it/twilio/` run every call through Prism and Twilio's
//! OpenAPI spec).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;

/// The account SID the stand-in answers for.
pub(crate) const OFFLINE_SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A tiny stand-in for `api.twilio.com` and `lookups.twilio.com`.
pub(crate) fn router() -> axum::Router {
    let counter = Arc::new(AtomicUsize::new(0));
    axum::Router::new().fallback(move |req: Request<Body>| {
        let counter = counter.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            let path = parts.uri.path().to_string();
            let json = |status: StatusCode, v: serde_json::Value| {
                (status, [("content-type", "application/json")], v.to_string()).into_response()
            };
            let message = |sid: &str, to: &str, status: &str| {
                serde_json::json!({"sid": sid, "account_sid": OFFLINE_SID, "to": to,
                    "from": "+15017122661", "status": status, "direction": "outbound-api"})
            };
            if let Some(number) = path.strip_prefix("/v2/PhoneNumbers/") {
                let number = percent_decode(number);
                return json(
                    StatusCode::OK,
                    serde_json::json!({"phone_number": number, "valid": true, "country_code": "US"}),
                );
            }
            if parts.method == "POST" && path.ends_with("/Messages.json") {
                let to = url::form_urlencoded::parse(&body)
                    .find(|(k, _)| k == "To")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let sid = format!("SM{n:032x}");
                return json(StatusCode::CREATED, message(&sid, &to, "queued"));
            }
            if parts.method == "GET" && path.contains("/Messages/") {
                let sid = path.rsplit('/').next().unwrap_or_default().trim_end_matches(".json");
                return json(StatusCode::OK, message(sid, "+15558675310", "delivered"));
            }
            json(
                StatusCode::NOT_FOUND,
                serde_json::json!({"code": 20404, "message": "not found", "status": 404}),
            )
        }
    })
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
