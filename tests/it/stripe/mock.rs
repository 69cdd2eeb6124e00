//! A Stripe stand-in on loopback: serves `fixtures3.json` objects, checks every request
//! against the spec ([`super::contract`]) and records it. A request that breaks the contract
//! is answered with a Stripe-format 400 and recorded as a violation; every test that uses the
//! mock ends with [`MockStripe::assert_contract_kept`].
//!
//! Tests can script responses ([`MockStripe::push`]): they are served in order, after the
//! contract check, before the fixtures.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use switchboard::test_util::LoopbackServer;

use super::contract::contract;
use crate::support::shared_dir;

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Decoded query pairs.
    pub(crate) fn query_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    /// Decoded body pairs.
    pub(crate) fn body_pairs(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: String,
}

impl Scripted {
    pub(crate) fn new(status: u16, body: impl Into<String>) -> Self {
        Scripted {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    violations: Mutex<Vec<String>>,
    script: Mutex<VecDeque<Scripted>>,
    /// Objects in each list collection.
    collection: AtomicUsize,
    created: AtomicUsize,
}

/// The mock server.
pub(crate) struct MockStripe {
    server: LoopbackServer,
    shared: Arc<Shared>,
}

/// `fixtures3.json`'s `resources`, read once.
pub(crate) fn fixtures() -> &'static Map<String, Value> {
    static F: OnceLock<Map<String, Value>> = OnceLock::new();
    F.get_or_init(|| {
        let path = shared_dir().join("specs/stripe/fixtures3.json");
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let v: Value = serde_json::from_slice(&bytes).expect("fixtures are JSON");
        v["resources"].as_object().expect("resources").clone()
    })
}

pub(crate) fn fixture(name: &str) -> Value {
    fixtures()
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

impl MockStripe {
    /// A mock whose lists hold 5 objects each.
    pub(crate) async fn start() -> Self {
        Self::with_collection(5).await
    }

    /// A mock whose lists hold `n` objects each.
    pub(crate) async fn with_collection(n: usize) -> Self {
        let shared = Arc::new(Shared::default());
        shared.collection.store(n, Ordering::SeqCst);
        let app = Router::new().fallback(handle).with_state(shared.clone());
        MockStripe {
            server: LoopbackServer::start(app).await,
            shared,
        }
    }

    pub(crate) fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Serves `answer` to the next request (after the contract check).
    pub(crate) fn push(&self, answer: Scripted) {
        self.shared.script.lock().unwrap().push_back(answer);
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.shared.violations.lock().unwrap().clone()
    }

    /// Fails the test if any request broke the contract.
    pub(crate) fn assert_contract_kept(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "requests that break Stripe's contract:\n  {}",
            v.join("\n  ")
        );
        assert!(!self.requests().is_empty(), "the mock saw no request");
    }
}

fn stripe_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/json"),
            ("request-id", "req_mock"),
        ],
        json!({"error": {"type": kind, "message": message}}).to_string(),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method: method.clone(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.requests.lock().unwrap().push(rec.clone());

    let checked = check_headers(&method, &headers).and_then(|()| {
        contract().check(
            &method,
            &rec.path,
            &rec.query,
            headers.get("content-type").and_then(|v| v.to_str().ok()),
            &body,
        )
    });
    let (op, form) = match checked {
        Ok((op, form)) => (op, form),
        Err(why) => {
            shared.violations.lock().unwrap().push(why.clone());
            return stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", &why);
        }
    };

    if let Some(s) = shared.script.lock().unwrap().pop_front() {
        let mut resp = (StatusCode::from_u16(s.status).unwrap(), s.body).into_response();
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        for (k, v) in s.headers {
            resp.headers_mut().insert(k, v.parse().unwrap());
        }
        return resp;
    }

    let n = shared.collection.load(Ordering::SeqCst);
    let created = shared.created.fetch_add(1, Ordering::SeqCst) + 1;
    let body = serve(&method, &op.template, &rec, &form, n, created);
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("request-id", "req_ok"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// What every request must carry: the bearer key and the pinned version; a POST, a key.
fn check_headers(method: &Method, headers: &HeaderMap) -> Result<(), String> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !auth.starts_with("Bearer ") {
        return Err("no `Authorization: Bearer` header".into());
    }
    if headers.get("stripe-version").is_none() {
        return Err("no `Stripe-Version` header".into());
    }
    if method == Method::POST && headers.get("idempotency-key").is_none() {
        return Err("a POST without `Idempotency-Key`".into());
    }
    Ok(())
}

/// The resource a path template serves, its fixture name and its id prefix.
fn resource(template: &str) -> (&'static str, &'static str) {
    if template.starts_with("/v1/customers") {
        ("customer", "cus")
    } else if template.starts_with("/v1/payment_intents") {
        ("payment_intent", "pi")
    } else if template.starts_with("/v1/refunds") {
        ("refund", "re")
    } else if template.starts_with("/v1/checkout/sessions") {
        ("checkout.session", "cs")
    } else if template.starts_with("/v1/events") {
        ("event", "evt")
    } else if template.starts_with("/v1/webhook_endpoints") {
        ("webhook_endpoint", "we")
    } else if template.starts_with("/v1/charges") {
        ("charge", "ch")
    } else {
        ("balance", "bal")
    }
}

fn object(name: &str, id: &str) -> Value {
    let mut o = fixture(name);
    if o.get("id").is_some() {
        o["id"] = Value::from(id);
    }
    o
}

fn serve(
    method: &Method,
    template: &str,
    rec: &Recorded,
    form: &Value,
    n: usize,
    created: usize,
) -> Value {
    let (name, prefix) = resource(template);
    let segments: Vec<&str> = rec.path.trim_matches('/').split('/').collect();
    let is_collection = !template.contains('{') && !template.ends_with("/search");
    if template == "/v1/balance" {
        return fixture("balance");
    }
    if template.ends_with("/search") || (is_collection && method == Method::GET) {
        return list(name, prefix, rec, n, template.ends_with("/search"));
    }
    let id = if is_collection {
        format!("{prefix}_new{created}")
    } else {
        let idx = template
            .trim_matches('/')
            .split('/')
            .position(|s| s.starts_with('{'))
            .unwrap_or(1);
        segments[idx].to_string()
    };
    if method == Method::DELETE {
        return json!({"id": id, "object": name, "deleted": true});
    }
    let mut o = object(name, &id);
    // Echo what was sent into the object, as Stripe does for the fields it stores.
    if let (Some(obj), Some(sent)) = (o.as_object_mut(), form.as_object()) {
        for (k, v) in sent {
            if k == "expand" {
                continue;
            }
            if obj.contains_key(k) {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
    match (name, template.rsplit('/').next()) {
        ("payment_intent", Some("confirm" | "capture")) => o["status"] = "succeeded".into(),
        ("payment_intent", Some("cancel")) => o["status"] = "canceled".into(),
        ("payment_intent", _) if is_collection => o["status"] = "requires_confirmation".into(),
        ("checkout.session", Some("expire")) => o["status"] = "expired".into(),
        ("webhook_endpoint", _) if is_collection => {
            o["secret"] = "whsec_mock_endpoint_secret".into()
        }
        _ => {}
    }
    o
}

fn list(name: &str, prefix: &str, rec: &Recorded, n: usize, search: bool) -> Value {
    let q = rec.query_pairs();
    let get = |k: &str| q.iter().find(|(qk, _)| qk == k).map(|(_, v)| v.clone());
    let limit: usize = get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    let ids: Vec<String> = (1..=n).map(|i| format!("{prefix}_{i}")).collect();
    let start = if search {
        get("page")
            .and_then(|p| p.strip_prefix("page_").and_then(|i| i.parse().ok()))
            .unwrap_or(0)
    } else {
        get("starting_after")
            .and_then(|after| ids.iter().position(|i| *i == after).map(|p| p + 1))
            .unwrap_or(0)
    };
    let page: Vec<Value> = ids
        .iter()
        .skip(start)
        .take(limit)
        .map(|id| object(name, id))
        .collect();
    let end = start + page.len();
    let has_more = end < n;
    if search {
        json!({"object": "search_result", "data": page, "has_more": has_more,
               "next_page": if has_more { Value::from(format!("page_{end}")) } else { Value::Null },
               "url": rec.path})
    } else {
        json!({"object": "list", "data": page, "has_more": has_more, "url": rec.path})
    }
}
