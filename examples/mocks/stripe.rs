//! An offline stand-in for the Stripe API, shared by the examples: answers the calls of
//! `stripe_payments` and the quickstart with Stripe-shaped objects. Not a contract check (the
//! tests in `tests/it/stripe/` validate every request against Stripe's OpenAPI spec).

use axum::extract::Request;
use axum::Router;
use serde_json::{json, Value};
use switchboard::test_util::LoopbackServer;

/// Starts the stand-in on a loopback port.
pub(crate) async fn start() -> LoopbackServer {
    LoopbackServer::start(Router::new().fallback(answer)).await
}

async fn answer(req: Request) -> axum::Json<Value> {
    let path = req.uri().path().to_string();
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&bytes).into_owned().collect();
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let intent = |status: &str| {
        json!({"id": "pi_demo", "object": "payment_intent", "amount": 2000, "currency": "usd",
               "status": status, "customer": "cus_demo",
               "metadata": {"order_id": get("metadata[order_id]").unwrap_or("6735".into())}})
    };
    axum::Json(match path.as_str() {
        "/v1/customers" => json!({"id": "cus_demo", "object": "customer",
                                  "email": get("email"), "name": get("name"), "metadata": {}}),
        "/v1/payment_intents" if !bytes.is_empty() => intent("requires_confirmation"),
        "/v1/payment_intents" => json!({"object": "list", "has_more": false,
                                        "data": [intent("succeeded")]}),
        "/v1/payment_intents/pi_demo/confirm" => intent("succeeded"),
        "/v1/refunds" => json!({"id": "re_demo", "object": "refund", "amount": 500,
                                "currency": "usd", "status": "succeeded",
                                "payment_intent": "pi_demo"}),
        _ => json!({"error": {"type": "invalid_request_error", "message": "unknown path"}}),
    })
}
