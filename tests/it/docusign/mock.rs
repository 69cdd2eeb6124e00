//! A loopback DocuSign: the authentication host (`POST /oauth/token` for the JWT grant, which
//! verifies each assertion with the test app's public key; `GET /oauth/userinfo`) and the
//! account API (`GET /restapi/v2.1/accounts/{id}`), on one server whose URL is every account's
//! `base_uri`. Each user has one account, `acct-{user}`; a token acts for its user only.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use switchboard::test_util::LoopbackServer;

use super::INTEGRATION_KEY;
use crate::support::TEST_RSA_PUBLIC_PEM;

/// The claims of one assertion the token endpoint accepted or refused, as decoded.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Claims {
    pub(crate) iss: String,
    pub(crate) sub: String,
    pub(crate) aud: String,
    pub(crate) scope: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
}

#[derive(Default)]
pub(crate) struct Inner {
    base: Mutex<String>,
    /// Users who have not consented: their assertions get `consent_required`.
    pub(crate) no_consent: Mutex<HashSet<String>>,
    /// Access token → user.
    tokens: Mutex<HashMap<String, String>>,
    /// Every accepted assertion's claims, in order.
    pub(crate) assertions: Mutex<Vec<Claims>>,
    pub(crate) token_requests: AtomicUsize,
    /// The users whose refresh tokens were used, in order.
    pub(crate) refreshes: Mutex<Vec<String>>,
    pub(crate) userinfo_requests: AtomicUsize,
    pub(crate) account_requests: AtomicUsize,
}

/// The fake DocuSign and its server.
pub(crate) struct FakeDocuSign {
    pub(crate) state: Arc<Inner>,
    pub(crate) server: LoopbackServer,
}

fn error(status: StatusCode, body: Value) -> (StatusCode, Json<Value>) {
    (status, Json(body))
}

impl FakeDocuSign {
    pub(crate) async fn start() -> Self {
        Self::start_with(Router::new()).await
    }

    /// The fake with `extra` routes (another concern's account API) on the same server, so
    /// that they are on every account's `base_uri`.
    pub(crate) async fn start_with(extra: Router) -> Self {
        let state = Arc::new(Inner::default());
        let app = Router::new()
            .route("/oauth/token", post(token))
            .route("/oauth/userinfo", get(userinfo))
            .route("/restapi/v2.1/accounts/{id}", get(account))
            .with_state(state.clone())
            .merge(extra);
        let server = LoopbackServer::start(app).await;
        *state.base.lock().unwrap() = server.base_url();
        FakeDocuSign { state, server }
    }

    pub(crate) fn url(&self) -> String {
        self.server.base_url()
    }

    /// The JWT audience DocuSign expects of this host (`127.0.0.1:PORT`).
    pub(crate) fn audience(&self) -> String {
        self.server.addr().to_string()
    }
}

fn user_of(state: &Inner, headers: &HeaderMap) -> Option<String> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    state.tokens.lock().unwrap().get(token).cloned()
}

async fn token(State(state): State<Arc<Inner>>, body: String) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    state.token_requests.fetch_add(1, Ordering::SeqCst);
    // The authorization-code grant's refresh: `rt-{user}` is user's refresh token.
    if form.get("grant_type").map(String::as_str) == Some("refresh_token") {
        let Some(user) = form
            .get("refresh_token")
            .and_then(|r| r.strip_prefix("rt-"))
        else {
            return error(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"}));
        };
        state.refreshes.lock().unwrap().push(user.to_string());
        let access = format!("ds-token-{user}-refreshed");
        state
            .tokens
            .lock()
            .unwrap()
            .insert(access.clone(), user.to_string());
        return (
            StatusCode::OK,
            Json(
                json!({"access_token": access, "token_type": "Bearer", "expires_in": 28800, "refresh_token": format!("rt-{user}")}),
            ),
        );
    }
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return error(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}));
    };
    let audience = state
        .base
        .lock()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[INTEGRATION_KEY]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_RSA_PUBLIC_PEM.as_bytes()).unwrap();
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return error(StatusCode::BAD_REQUEST, json!({"error": "invalid_grant"})),
    };
    state.assertions.lock().unwrap().push(claims.clone());
    if state.no_consent.lock().unwrap().contains(&claims.sub) {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "consent_required"}),
        );
    }
    let n = state.token_requests.load(Ordering::SeqCst);
    let access = format!("ds-token-{}-{n}", claims.sub);
    state
        .tokens
        .lock()
        .unwrap()
        .insert(access.clone(), claims.sub.clone());
    (
        StatusCode::OK,
        Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600})),
    )
}

async fn userinfo(
    State(state): State<Arc<Inner>>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    state.userinfo_requests.fetch_add(1, Ordering::SeqCst);
    let Some(user) = user_of(&state, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_request"}),
        );
    };
    let base = state.base.lock().unwrap().clone();
    (
        StatusCode::OK,
        Json(json!({
            "sub": user,
            "name": "Test User",
            "email": "user@example.test",
            "accounts": [
                {"account_id": format!("other-{user}"), "is_default": false, "account_name": "Other", "base_uri": "https://na4.docusign.net"},
                {"account_id": format!("acct-{user}"), "is_default": true, "account_name": format!("Account of {user}"), "base_uri": base}
            ]
        })),
    )
}

async fn account(
    State(state): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, Json<Value>) {
    state.account_requests.fetch_add(1, Ordering::SeqCst);
    let Some(user) = user_of(&state, &headers) else {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"errorCode": "USER_AUTHENTICATION_FAILED", "message": "One or both of Username and Password are invalid."}),
        );
    };
    if id != format!("acct-{user}") {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"errorCode": "USER_LACKS_MEMBERSHIP", "message": "The UserID does not have a valid membership in this Account."}),
        );
    }
    (
        StatusCode::OK,
        Json(
            json!({"accountIdGuid": id, "accountName": format!("Account of {user}"), "planName": "DEV"}),
        ),
    )
}
