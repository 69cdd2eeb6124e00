//! An offline stand-in for DocuSign, for the `docusign_envelope` example: the authentication
//! host (a refresh of the authorization-code token, `/oauth/userinfo`) and the account API
//! (create, read and void an envelope, the recipient view, the combined PDF), on one loopback
//! server that is also the account's `base_uri`. Not a contract check (the tests in
//! `tests/it/docusign/` validate requests against DocuSign's OpenAPI spec).

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use switchboard::test_util::LoopbackServer;

/// The account every token of the stand-in acts on.
pub(crate) const ACCOUNT_ID: &str = "00000000-0000-0000-0000-00000000a001";

/// Starts the stand-in on a loopback port.
pub(crate) async fn start() -> LoopbackServer {
    let base = Arc::new(Mutex::new(String::new()));
    let status = Arc::new(Mutex::new("sent".to_string()));
    let b = base.clone();
    let server = LoopbackServer::start(Router::new().fallback(move |req: Request| {
        let (base, status) = (b.clone(), status.clone());
        async move { answer(req, &base, &status).await }
    }))
    .await;
    *base.lock().unwrap() = server.base_url();
    server
}

async fn answer(req: Request, base: &Mutex<String>, status: &Mutex<String>) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let body = axum::body::to_bytes(req.into_body(), 1 << 24)
        .await
        .unwrap_or_default();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let envelopes = format!("/restapi/v2.1/accounts/{ACCOUNT_ID}/envelopes");
    let envelope = format!("{envelopes}/env-0001");
    let reply = |v: Value| axum::Json(v).into_response();
    match (method.as_str(), path.as_str()) {
        ("POST", "/oauth/token") => reply(json!({
            "access_token": "offline-access-token", "token_type": "Bearer",
            "expires_in": 28800, "refresh_token": "offline-refresh-token"})),
        ("GET", "/oauth/userinfo") => reply(json!({
            "sub": "offline-user", "name": "Offline User", "email": "agent@example.com",
            "accounts": [{"account_id": ACCOUNT_ID, "is_default": true,
                          "account_name": "Offline Realty", "base_uri": *base.lock().unwrap()}]})),
        ("GET", p) if p == format!("/restapi/v2.1/accounts/{ACCOUNT_ID}") => {
            reply(json!({"accountIdGuid": ACCOUNT_ID, "accountName": "Offline Realty"}))
        }
        ("POST", p) if p == envelopes => {
            *status.lock().unwrap() = json_body["status"]
                .as_str()
                .unwrap_or("created")
                .to_string();
            reply(
                json!({"envelopeId": "env-0001", "status": *status.lock().unwrap(),
                         "statusDateTime": "2026-12-02T10:00:00.0000000Z",
                         "uri": "/envelopes/env-0001"}),
            )
        }
        ("GET", p) if p == envelope => reply(json!({
            "envelopeId": "env-0001", "status": *status.lock().unwrap(),
            "emailSubject": "Lease for 12 Oak Street",
            "recipients": {"signers": [{"recipientId": "1", "name": "Jenny Rosen",
                "email": "jenny@example.com", "routingOrder": "1", "status": "sent"}],
                "carbonCopies": [{"recipientId": "2", "name": "Front Desk",
                "email": "office@example.com", "routingOrder": "2", "status": "created"}]}})),
        ("PUT", p) if p == envelope => {
            *status.lock().unwrap() = json_body["status"].as_str().unwrap_or("sent").to_string();
            reply(json!({"envelopeId": "env-0001"}))
        }
        ("POST", p) if p == format!("{envelope}/views/recipient") => reply(json!({
            "url": "https://demo.docusign.net/Signing/MTRedeem/v1/offline-signing-session"})),
        ("GET", p) if p == format!("{envelope}/documents/combined") => {
            let pdf = b"%PDF-1.4\n% offline combined document\n%%EOF\n".to_vec();
            ([("content-type", "application/pdf")], pdf).into_response()
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"errorCode": "RESOURCE_NOT_FOUND", "message": "unknown path"})),
        )
            .into_response(),
    }
}
