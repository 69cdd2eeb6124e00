//! A loopback DocuSign account API for the envelope calls, under
//! `/restapi/v2.1/accounts/{accountId}`: create, get, list (`from_date`, `start_position`,
//! `count`), update (void, resend), update recipients, recipient and sender views.
//!
//! Every request body is checked against the spec's definition for that call
//! ([`super::spec::check`]); a body that fails is answered 400 `INVALID_REQUEST_BODY` with the
//! violations, and recorded in `violations`, so the calling test fails.
//!
//! Envelopes are kept per (bearer token, account): two callers with their own tokens each get
//! their own `env-1`, so a cache that mixed them up would hand one the other's envelope.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::spec;

/// One request the API answered.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) body: Value,
}

#[derive(Default)]
pub(crate) struct ApiState {
    /// (token, account) → envelope id → the envelope as `GET` answers it.
    envelopes: Mutex<HashMap<(String, String), BTreeMap<String, Value>>>,
    pub(crate) seen: Mutex<Vec<Seen>>,
    /// Every spec violation found in a request body.
    pub(crate) violations: Mutex<Vec<String>>,
}

impl ApiState {
    /// The requests seen with this method whose path ends with `suffix`.
    pub(crate) fn count(&self, method: Method, suffix: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path.ends_with(suffix))
            .count()
    }

    pub(crate) fn last(&self, method: Method, suffix: &str) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.method == method && s.path.ends_with(suffix))
            .cloned()
            .unwrap_or_else(|| panic!("no {method} …{suffix}"))
    }

    pub(crate) fn assert_no_violations(&self) {
        let v = self.violations.lock().unwrap();
        assert!(v.is_empty(), "request bodies broke the spec: {v:#?}");
    }
}

/// The routes (to serve alone, or merged into [`super::mock::FakeDocuSign`]).
pub(crate) fn routes(state: Arc<ApiState>) -> Router {
    // `{id}` like the fake authentication host's `accounts/{id}` route, which these merge with.
    let base = "/restapi/v2.1/accounts/{id}/envelopes";
    Router::new()
        .route(base, post(create).get(list))
        .route(&format!("{base}/{{envelope}}"), get(fetch).put(update))
        .route(
            &format!("{base}/{{envelope}}/recipients"),
            put(update_recipients),
        )
        .route(
            &format!("{base}/{{envelope}}/views/recipient"),
            post(recipient_view),
        )
        .route(
            &format!("{base}/{{envelope}}/views/sender"),
            post(sender_view),
        )
        .with_state(state)
}

/// The API on its own loopback server.
pub(crate) async fn start() -> (Arc<ApiState>, switchboard::test_util::LoopbackServer) {
    let state = Arc::new(ApiState::default());
    let server = switchboard::test_util::LoopbackServer::start(routes(state.clone())).await;
    (state, server)
}

type Answer = (StatusCode, Json<Value>);

fn query(uri: &Uri) -> HashMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    (
        status,
        Json(json!({"errorCode": code, "message": message.into()})),
    )
}

/// Records the request, checks the bearer token and (for a body) the spec; the token on
/// success.
fn admit(
    state: &ApiState,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Value,
    definition: Option<&str>,
) -> Result<String, Answer> {
    state.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        body: body.clone(),
    });
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "USER_AUTHENTICATION_FAILED",
                "no bearer token",
            )
        })?;
    if let Some(def) = definition {
        if let Err(violation) = spec::check(def, body) {
            state.violations.lock().unwrap().push(violation.clone());
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_BODY",
                violation,
            ));
        }
    }
    Ok(token)
}

fn parse_body(body: &str) -> Result<Value, Answer> {
    serde_json::from_str(body).map_err(|_| {
        refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_BODY",
            "the body is not JSON",
        )
    })
}

/// The recipients of a new envelope as DocuSign reports them: those of the first routing
/// order `sent` (when the envelope is sent), the rest `created`.
fn reported_recipients(recipients: &Value, sent: bool) -> Value {
    let order = |r: &Value| -> u64 {
        r["routingOrder"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1)
    };
    let all: Vec<&Value> = ["signers", "carbonCopies"]
        .iter()
        .filter_map(|k| recipients[*k].as_array())
        .flatten()
        .collect();
    let first = all.iter().map(|r| order(r)).min().unwrap_or(1);
    let mut out = json!({});
    for kind in ["signers", "carbonCopies"] {
        let list: Vec<Value> = recipients[kind]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                let status = if sent && order(r) == first {
                    "sent"
                } else {
                    "created"
                };
                let mut r = r.clone();
                r["status"] = json!(status);
                r["routingOrder"] = json!(order(&r).to_string());
                if let Some(o) = r.as_object_mut() {
                    o.remove("tabs");
                }
                r
            })
            .collect();
        out[kind] = Value::Array(list);
    }
    out["currentRoutingOrder"] = json!(first.to_string());
    out
}

async fn create(
    State(state): State<Arc<ApiState>>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let token = match admit(
        &state,
        Method::POST,
        &uri,
        &headers,
        &body,
        Some("envelopeDefinition"),
    ) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let status = body["status"].as_str().unwrap_or("created").to_string();
    let mut all = state.envelopes.lock().unwrap();
    let mine = all.entry((token, account.clone())).or_default();
    let id = format!("env-{}", mine.len() + 1);
    let recipients = if body["templateId"].is_string() {
        // From a template: each role becomes a signer of that role.
        let signers: Vec<Value> = body["templateRoles"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                json!({"recipientId": (i + 1).to_string(), "roleName": r["roleName"], "email": r["email"], "name": r["name"], "routingOrder": r["routingOrder"].as_str().unwrap_or("1")})
            })
            .collect();
        reported_recipients(&json!({"signers": signers}), status == "sent")
    } else {
        reported_recipients(&body["recipients"], status == "sent")
    };
    mine.insert(
        id.clone(),
        json!({
            "envelopeId": id,
            "status": status,
            "emailSubject": body["emailSubject"].as_str().unwrap_or("From a template"),
            "templateId": body["templateId"],
            "createdDateTime": "2024-05-01T12:00:00.0000000Z",
            "statusChangedDateTime": "2024-05-01T12:00:00.0000000Z",
            "recipients": recipients,
            "envelopeLocation": "current_site",
        }),
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "envelopeId": id,
            "status": status,
            "statusDateTime": "2024-05-01T12:00:00.0000000Z",
            "uri": format!("/envelopes/{id}"),
        })),
    )
}

async fn fetch(
    State(state): State<Arc<ApiState>>,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let q = query(&uri);
    let token = match admit(&state, Method::GET, &uri, &headers, &Value::Null, None) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let all = state.envelopes.lock().unwrap();
    let Some(envelope) = all.get(&(token, account)).and_then(|m| m.get(&id)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "ENVELOPE_DOES_NOT_EXIST",
            "The envelope specified either does not exist or you have no rights to it.",
        );
    };
    let mut envelope = envelope.clone();
    if q.get("include").map(String::as_str) != Some("recipients") {
        if let Some(o) = envelope.as_object_mut() {
            o.remove("recipients");
        }
    }
    (StatusCode::OK, Json(envelope))
}

async fn list(
    State(state): State<Arc<ApiState>>,
    Path(account): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Answer {
    let q = query(&uri);
    let token = match admit(&state, Method::GET, &uri, &headers, &Value::Null, None) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if !q.contains_key("from_date") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST_PARAMETER",
            "from_date is required",
        );
    }
    let start: usize = q
        .get("start_position")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let count: usize = q.get("count").and_then(|s| s.parse().ok()).unwrap_or(100);
    let all = state.envelopes.lock().unwrap();
    let mine: Vec<Value> = all
        .get(&(token, account))
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    let page: Vec<Value> = mine.iter().skip(start).take(count).cloned().collect();
    let end = start + page.len();
    let next = if end < mine.len() {
        format!("/envelopes?start_position={end}&count={count}")
    } else {
        String::new()
    };
    let mut answer = json!({
        "resultSetSize": page.len().to_string(),
        "startPosition": start.to_string(),
        "endPosition": end.saturating_sub(1).to_string(),
        "totalSetSize": mine.len().to_string(),
        "nextUri": next,
    });
    if !page.is_empty() {
        answer["envelopes"] = Value::Array(page);
    }
    (StatusCode::OK, Json(answer))
}

async fn update(
    State(state): State<Arc<ApiState>>,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let token = match admit(&state, Method::PUT, &uri, &headers, &body, Some("envelope")) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut all = state.envelopes.lock().unwrap();
    let Some(envelope) = all.get_mut(&(token, account)).and_then(|m| m.get_mut(&id)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "ENVELOPE_DOES_NOT_EXIST",
            "no such envelope",
        );
    };
    if body["status"] == "voided" {
        let Some(reason) = body["voidedReason"].as_str().filter(|r| !r.is_empty()) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST_PARAMETER",
                "voidedReason is required",
            );
        };
        envelope["status"] = json!("voided");
        envelope["voidedReason"] = json!(reason);
    }
    (StatusCode::OK, Json(json!({"envelopeId": id})))
}

async fn update_recipients(
    State(state): State<Arc<ApiState>>,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let token = match admit(
        &state,
        Method::PUT,
        &uri,
        &headers,
        &body,
        Some("recipients"),
    ) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let mut all = state.envelopes.lock().unwrap();
    let Some(envelope) = all.get_mut(&(token, account)).and_then(|m| m.get_mut(&id)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "ENVELOPE_DOES_NOT_EXIST",
            "no such envelope",
        );
    };
    let mut results = Vec::new();
    for kind in ["signers", "carbonCopies"] {
        for changed in body[kind].as_array().into_iter().flatten() {
            let rid = changed["recipientId"].clone();
            let list = envelope["recipients"][kind]
                .as_array_mut()
                .expect("the envelope lists its recipients");
            match list.iter_mut().find(|r| r["recipientId"] == rid) {
                Some(r) => {
                    for field in ["email", "name", "routingOrder"] {
                        if !changed[field].is_null() {
                            r[field] = changed[field].clone();
                        }
                    }
                }
                None => {
                    let mut r = changed.clone();
                    r["status"] = json!("created");
                    list.push(r);
                }
            }
            results.push(json!({"recipientId": rid, "errorDetails": {"errorCode": "SUCCESS", "message": ""}}));
        }
    }
    (
        StatusCode::OK,
        Json(json!({"recipientUpdateResults": results})),
    )
}

async fn recipient_view(
    State(state): State<Arc<ApiState>>,
    Path((account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let token = match admit(
        &state,
        Method::POST,
        &uri,
        &headers,
        &body,
        Some("recipientViewRequest"),
    ) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let all = state.envelopes.lock().unwrap();
    let Some(envelope) = all.get(&(token, account)).and_then(|m| m.get(&id)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "ENVELOPE_DOES_NOT_EXIST",
            "no such envelope",
        );
    };
    let embedded = envelope["recipients"]["signers"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            s["clientUserId"] == body["clientUserId"]
                && s["email"] == body["email"]
                && s["name"] == body["userName"]
        });
    if !embedded {
        return refuse(
            StatusCode::BAD_REQUEST,
            "UNKNOWN_ENVELOPE_RECIPIENT",
            "The recipient you have identified is not a valid recipient of the specified envelope.",
        );
    }
    (
        StatusCode::CREATED,
        Json(
            json!({"url": format!("https://demo.docusign.net/Signing/StartInSession.aspx?t=VIEW-CANARY-{id}")}),
        ),
    )
}

async fn sender_view(
    State(state): State<Arc<ApiState>>,
    Path((_account, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Answer {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e,
    };
    if let Err(e) = admit(
        &state,
        Method::POST,
        &uri,
        &headers,
        &body,
        Some("returnUrlRequest"),
    ) {
        return e;
    }
    (
        StatusCode::CREATED,
        Json(
            json!({"url": format!("https://demo.docusign.net/Member/StartInSession.aspx?t=SEND-{id}")}),
        ),
    )
}
