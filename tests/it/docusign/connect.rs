//! DocuSign Connect webhooks through [`DocuSignVerifier`] and [`ConnectEvent`]: every
//! `X-DocuSign-Signature-<n>` vector in `$SWITCHBOARD_VECTORS_DIR`, key rotation, hostile
//! numbers of signature headers, the event id across DocuSign's retries, the typed events of
//! the JSON SIM format, and keys that never show.
//!
//! Vector fields: `name`, `configured_keys` (the keys the receiver holds), `headers` (name ->
//! value, as sent), `body` (the raw body), `expected` (`valid` / `invalid`), optional
//! `expected_error` (a message, mapped to a `WebhookError` class below). A file is a DocuSign
//! file when its `scheme` (or a vector's own) starts with `X-DocuSign-Signature`.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use switchboard::docusign::{
    AccountId, ConnectEvent, ConnectEventKind, DocuSignVerifier, EnvelopeId, EnvelopeStatus,
    MAX_SIGNATURE_HEADERS, SIGNATURE_HEADER, SIGNATURE_HEADER_PATTERN,
};
use switchboard::test_util::canary;
use switchboard::webhook::{WebhookError, WebhookRequest, WebhookVerifier};

use crate::support::{
    reason_of, run_vector_files, run_vector_files_in, shared_dir, vector_files, vectors_dir,
    Reason, TempDir,
};

const SCHEME: &str = "X-DocuSign-Signature";

fn is_docusign(scheme: &str) -> bool {
    scheme.starts_with(SCHEME)
}

/// A message in a vector's `expected_error` to our error class.
fn expected_reason(message: &str) -> Option<Reason> {
    let m = message.to_ascii_lowercase();
    if m.contains("no usable key") || m.contains("secret") || m.contains("no key") {
        Some(Reason::Secret)
    } else if m.contains("missing") || m.contains("no signature header") {
        Some(Reason::Missing)
    } else if m.contains("malformed") || m.contains("invalid header") || m.contains("base64") {
        Some(Reason::Invalid)
    } else if m.contains("match") || m.contains("invalid signature") || m.contains("mismatch") {
        Some(Reason::NoMatch)
    } else {
        None
    }
}

fn verifier_of(keys: &[&str]) -> DocuSignVerifier {
    let mut b = DocuSignVerifier::builder();
    for k in keys {
        b = b.key(k.to_string());
    }
    // A vector without a usable key expects every request refused: a fail-closed verifier.
    b.build()
        .unwrap_or_else(|_| DocuSignVerifier::new(String::new()))
}

/// Runs one vector; `Err` says why it failed.
fn run_vector(v: &Value) -> Result<(), String> {
    let expected = match v["expected"].as_str() {
        Some("valid") => true,
        Some("invalid") => false,
        other => return Err(format!("`expected` is {other:?}, not valid/invalid")),
    };
    let reason = match v.get("expected_error").and_then(Value::as_str) {
        Some(msg) if !expected => {
            Some(expected_reason(msg).ok_or_else(|| format!("unmapped `expected_error` {msg:?}"))?)
        }
        _ => None,
    };
    let keys: Vec<&str> = match (&v["configured_keys"], &v["key"]) {
        (Value::Array(a), _) => a
            .iter()
            .map(|k| k.as_str().ok_or("a configured key is not a string"))
            .collect::<Result<_, _>>()?,
        (_, Value::String(k)) => vec![k.as_str()],
        _ => return Err("no `configured_keys`".into()),
    };
    let body = v["body"].as_str().ok_or("no `body` string")?;
    let mut headers = HeaderMap::new();
    for (name, value) in v["headers"].as_object().into_iter().flatten() {
        let value = value.as_str().ok_or("a header value is not a string")?;
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
            HeaderValue::from_str(value).map_err(|e| e.to_string())?,
        );
    }
    let verifier = verifier_of(&keys);
    match (
        expected,
        verifier.verify(&WebhookRequest::new(body.as_bytes(), &headers)),
    ) {
        (true, Ok(verified)) => {
            // A SIM body about an envelope gets an id; anything else is de-duplicated on the
            // body by the router.
            let parsed: Option<Value> = serde_json::from_str(body).ok();
            let about_envelope = parsed.as_ref().is_some_and(|p| {
                p["event"].is_string()
                    && p["generatedDateTime"].is_string()
                    && p["data"]["envelopeId"].is_string()
            });
            if verified.event_id.is_some() != about_envelope {
                return Err(format!("event_id {:?}", verified.event_id));
            }
            Ok(())
        }
        (true, Err(e)) => Err(format!("rejected a valid vector: {e}")),
        (false, Ok(_)) => Err("accepted an invalid vector".into()),
        (false, Err(e)) => {
            if let Some(want) = reason {
                if reason_of(&e) != Some(want) {
                    return Err(format!("rejected as {e:?}, want {want:?}"));
                }
            }
            if reason_of(&e) != Some(Reason::Secret)
                && !e.to_string().contains(SIGNATURE_HEADER_PATTERN)
            {
                return Err(format!("the error does not name the header: {e}"));
            }
            Ok(())
        }
    }
}

#[test]
fn every_docusign_vector_passes() {
    run_vector_files(SCHEME, is_docusign, run_vector);
}

/// Files dropped next to the shared ones run too, every vector of each; a folder without a
/// DocuSign vector fails instead of passing empty.
#[test]
fn vector_files_added_later_run_and_an_empty_folder_fails() {
    let dir = TempDir::new("docusign-vectors");
    let mut want = 0;
    for (name, doc) in vector_files() {
        let doc = doc.unwrap_or_else(|e| panic!("{name}: {e}"));
        if doc["scheme"].as_str().is_some_and(is_docusign) {
            want += doc["vectors"].as_array().map_or(0, Vec::len);
        }
        std::fs::copy(vectors_dir().join(&name), dir.0.join(&name)).unwrap();
    }
    assert!(
        want > 0,
        "no DocuSign vector file in {}",
        vectors_dir().display()
    );
    // Three keys signing, rotation on both sides, and a refused empty key, in the same format.
    let body = r#"{"event":"recipient-completed","generatedDateTime":"2024-05-06T07:08:09.1234567Z","retryCount":1,"data":{"accountId":"a","envelopeId":"e","recipientId":"2"}}"#;
    let sig = |k: &str| DocuSignVerifier::new(k).sign(body.as_bytes()).unwrap();
    let extra = serde_json::json!({
        "scheme": "X-DocuSign-Signature-<n> (extra vectors written by this test)",
        "vectors": [
            {"name": "third_header_matches", "configured_keys": ["k3"], "body": body,
             "headers": {"X-DocuSign-Signature-1": sig("k1"), "X-DocuSign-Signature-2": sig("k2"),
                         "X-DocuSign-Signature-3": sig("k3")}, "expected": "valid"},
            {"name": "receiver_rotated_first", "configured_keys": ["k9", "k1"], "body": body,
             "headers": {"X-DocuSign-Signature-1": sig("k1")}, "expected": "valid"},
            {"name": "no_key_held_matches", "configured_keys": ["k9"], "body": body,
             "headers": {"X-DocuSign-Signature-1": sig("k1"), "X-DocuSign-Signature-2": sig("k2")},
             "expected": "invalid", "expected_error": "no signature matched"},
            {"name": "empty_key_fails_closed", "configured_keys": [""], "body": body,
             "headers": {"X-DocuSign-Signature-1": sig("k1")},
             "expected": "invalid", "expected_error": "no usable key"}
        ]
    });
    std::fs::write(dir.0.join("zz-docusign-extra.json"), extra.to_string()).unwrap();
    want += 4;
    let ran = run_vector_files_in(&dir.0, SCHEME, is_docusign, run_vector);
    assert_eq!(ran, want, "every vector of every DocuSign file");

    let empty = TempDir::new("docusign-no-vectors");
    std::fs::write(
        empty.0.join("other.json"),
        r#"{"scheme":"Stripe-Signature","vectors":[{"name":"x"}]}"#,
    )
    .unwrap();
    let outcome =
        std::panic::catch_unwind(|| run_vector_files_in(&empty.0, SCHEME, is_docusign, |_| Ok(())));
    assert!(outcome.is_err(), "zero DocuSign vectors must fail the run");
}

#[test]
fn the_runner_itself_catches_wrong_outcomes() {
    let body = r#"{"event":"envelope-sent"}"#;
    let good = DocuSignVerifier::new("k").sign(body.as_bytes()).unwrap();
    let v = serde_json::json!({"configured_keys": ["k"], "body": body,
        "headers": {"X-DocuSign-Signature-1": good}, "expected": "invalid"});
    assert!(run_vector(&v).is_err());
    let v = serde_json::json!({"configured_keys": ["other"], "body": body,
        "headers": {"X-DocuSign-Signature-1": good}, "expected": "valid"});
    assert!(run_vector(&v).is_err());
    let v = serde_json::json!({"configured_keys": ["k"], "body": body, "headers": {},
        "expected": "invalid", "expected_error": "no signature matched"});
    assert!(run_vector(&v).is_err(), "missing header is not a mismatch");
}

fn signed(verifier: &DocuSignVerifier, body: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&verifier.sign(body.as_bytes()).unwrap()).unwrap(),
    );
    h
}

/// A rotation as DocuSign runs it: while two keys are active DocuSign sends one header per
/// key, in either order; the receiver may hold the old, the new or both.
#[test]
fn key_rotation_on_either_side_keeps_verifying() {
    let body = r#"{"event":"envelope-completed","generatedDateTime":"2024-01-02T03:04:05Z","data":{"envelopeId":"e"}}"#;
    let (old, new) = ("old-connect-key", "new-connect-key");
    let sig = |k: &str| DocuSignVerifier::new(k).sign(body.as_bytes()).unwrap();
    let during = |first: &str, second: &str| {
        let mut h = HeaderMap::new();
        h.insert("x-docusign-signature-1", sig(first).parse().unwrap());
        h.insert("x-docusign-signature-2", sig(second).parse().unwrap());
        h
    };
    let holding = |keys: &[&str]| {
        let mut b = DocuSignVerifier::builder();
        for k in keys {
            b = b.key(k.to_string());
        }
        b.build().unwrap()
    };
    for receiver in [&[old][..], &[new], &[new, old], &[old, new]] {
        let v = holding(receiver);
        for h in [during(old, new), during(new, old)] {
            assert!(
                v.verify(&WebhookRequest::new(body.as_bytes(), &h)).is_ok(),
                "{receiver:?}"
            );
        }
    }
    // After the rotation, DocuSign signs with the new key only: a receiver that still holds
    // only the old one refuses, one holding both keeps working.
    let mut after = HeaderMap::new();
    after.insert("x-docusign-signature-1", sig(new).parse().unwrap());
    let req = WebhookRequest::new(body.as_bytes(), &after);
    assert!(matches!(
        holding(&[old]).verify(&req),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
    assert!(holding(&[old, new]).verify(&req).is_ok());
    // The first key signs.
    assert_eq!(
        holding(&[new, old]).sign(body.as_bytes()).unwrap(),
        sig(new)
    );
}

/// A sender may pad a request with signature headers; at most [`MAX_SIGNATURE_HEADERS`]
/// values are examined, so the work per request is bounded whatever it sends.
#[test]
fn a_flood_of_signature_headers_is_cut_at_the_limit() {
    let body = r#"{"event":"envelope-voided","generatedDateTime":"2024-01-02T03:04:05Z","data":{"envelopeId":"e"}}"#;
    let v = DocuSignVerifier::new("k");
    let good = v.sign(body.as_bytes()).unwrap();
    let junk = DocuSignVerifier::new("forged")
        .sign(body.as_bytes())
        .unwrap();

    // 5,000 values of one header, the genuine one last: beyond the limit, never examined.
    let mut repeated = HeaderMap::new();
    for _ in 0..5_000 {
        repeated.append(SIGNATURE_HEADER, junk.parse().unwrap());
    }
    repeated.append(SIGNATURE_HEADER, good.parse().unwrap());
    assert!(matches!(
        v.verify(&WebhookRequest::new(body.as_bytes(), &repeated)),
        Err(WebhookError::NoSignatureMatched { .. })
    ));

    // 2,000 numbered headers: only -1 to -100 are part of the family, so the genuine
    // signature counts at -42 and not at -1000.
    let numbered = |genuine_at: usize| {
        let mut h = HeaderMap::new();
        for n in 1..=2_000 {
            let value = if n == genuine_at { &good } else { &junk };
            h.insert(
                HeaderName::from_bytes(format!("x-docusign-signature-{n}").as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        h
    };
    let req_ok = numbered(42);
    assert!(v
        .verify(&WebhookRequest::new(body.as_bytes(), &req_ok))
        .is_ok());
    let req_far = numbered(1_000);
    assert!(matches!(
        v.verify(&WebhookRequest::new(body.as_bytes(), &req_far)),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
    let req_edge = numbered(MAX_SIGNATURE_HEADERS);
    assert!(v
        .verify(&WebhookRequest::new(body.as_bytes(), &req_edge))
        .is_ok());
}

/// DocuSign retries a message with only `retryCount` changed: the same event id, so the
/// router processes it once. Another recipient, kind or generation time is another event.
#[test]
fn event_id_is_stable_across_retries() {
    let v = DocuSignVerifier::new("k");
    let body = |retry: u32, recipient: &str, at: &str| {
        format!(
            r#"{{"event":"recipient-completed","apiVersion":"v2.1","uri":"/restapi/v2.1/accounts/a/envelopes/e","retryCount":{retry},"configurationId":1,"generatedDateTime":"{at}","data":{{"accountId":"a","userId":"u","envelopeId":"e","recipientId":"{recipient}"}}}}"#
        )
    };
    let id_of = |b: String| {
        v.verify(&WebhookRequest::new(b.as_bytes(), &signed(&v, &b)))
            .unwrap()
            .event_id
            .expect("an envelope event has an id")
    };
    let at = "2024-01-02T03:04:05.6789012Z";
    let first = id_of(body(0, "1", at));
    assert!(first.starts_with("dsconnect_"), "{first}");
    for retry in [1, 2, 15] {
        assert_eq!(id_of(body(retry, "1", at)), first);
    }
    assert_ne!(id_of(body(0, "2", at)), first);
    assert_ne!(id_of(body(0, "1", "2024-01-02T03:04:06.0000000Z")), first);
    // The same event, re-serialized by DocuSign with its fields in another order, is the same
    // event.
    let reordered = format!(
        r#"{{"data":{{"recipientId":"1","envelopeId":"e","userId":"u","accountId":"a"}},"generatedDateTime":"{at}","retryCount":3,"event":"recipient-completed"}}"#
    );
    assert_eq!(id_of(reordered), first);
}

/// The sample message of DocuSign's `connect.schema-v2.json` parses, with its typed fields.
#[test]
fn the_spec_sample_parses() {
    let path = shared_dir().join("specs/docusign/connect.schema-v2.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let e = ConnectEvent::from_slice(&bytes).unwrap();
    assert_eq!(e.configuration_id, Some(12345));
    assert_eq!(e.api_version.as_deref(), Some("v2.1"));
    assert_eq!(e.retry_count, Some(0));
    assert_eq!(e.data.account_id, Some(AccountId::new("sample string")));
    assert_eq!(e.data.envelope_id, Some(EnvelopeId::new("sample string")));
    let summary = e.data.envelope_summary.as_ref().expect("envelopeSummary");
    assert_eq!(
        summary.status,
        EnvelopeStatus::Other("sample string 2".into())
    );
    assert_eq!(summary.envelope_id, EnvelopeId::new("sample string 10"));
    assert_eq!(summary.voided_reason.as_deref(), Some("sample string 24"));
    assert!(summary.extra.contains_key("sender"));
    let recipients = summary.recipients.as_ref().expect("recipients");
    assert!(!recipients.signers.is_empty());
    assert_eq!(
        recipients.signers[0].recipient_id.as_deref(),
        Some("sample string 21")
    );
    assert!(recipients.extra.contains_key("witnesses"));
    assert!(summary.extra.contains_key("envelopeDocuments"));
    // And with each documented event type in its `event`.
    let mut sample: Value = serde_json::from_slice(&bytes).unwrap();
    for (name, kind) in [
        ("envelope-sent", ConnectEventKind::EnvelopeSent),
        ("envelope-delivered", ConnectEventKind::EnvelopeDelivered),
        ("envelope-completed", ConnectEventKind::EnvelopeCompleted),
        ("envelope-declined", ConnectEventKind::EnvelopeDeclined),
        ("envelope-voided", ConnectEventKind::EnvelopeVoided),
        ("recipient-sent", ConnectEventKind::RecipientSent),
        ("recipient-delivered", ConnectEventKind::RecipientDelivered),
        ("recipient-completed", ConnectEventKind::RecipientCompleted),
        ("recipient-declined", ConnectEventKind::RecipientDeclined),
        (
            "recipient-authenticationfailed",
            ConnectEventKind::RecipientAuthenticationFailed,
        ),
        (
            "envelope-corrected",
            ConnectEventKind::Other("envelope-corrected".into()),
        ),
    ] {
        sample["event"] = Value::from(name);
        let e = ConnectEvent::from_slice(sample.to_string().as_bytes()).unwrap();
        assert_eq!(e.event, kind, "{name}");
    }
}

/// A verified body that is not a Connect event: verified (de-duplicated on the body), and
/// parsing it says where it fails.
#[test]
fn a_signed_body_that_is_not_an_event_verifies_and_fails_to_parse_with_a_pointer() {
    let v = DocuSignVerifier::new("k");
    let body = r#"{"event":"envelope-sent","data":{"envelopeId":7}}"#;
    let verified = v
        .verify(&WebhookRequest::new(body.as_bytes(), &signed(&v, body)))
        .unwrap();
    assert_eq!(verified.event_id, None);
    let err = ConnectEvent::from_slice(body.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Decode);
    assert!(err.to_string().contains("/data/envelopeId"), "{err}");
}

/// Keys appear in no Debug output and no error, on every path that can fail.
#[test]
fn keys_never_show_in_debug_or_errors() {
    let key = canary("connect-key");
    let previous = canary("connect-key-previous");
    let builder = DocuSignVerifier::builder()
        .key(key.clone())
        .key(previous.clone());
    let mut shown = vec![format!("{builder:?}")];
    let v = builder.build().unwrap();
    shown.push(format!("{v:?}"));
    let body = r#"{"event":"envelope-sent","generatedDateTime":"t","data":{"envelopeId":"e"}}"#;
    let forged = DocuSignVerifier::new("forged")
        .sign(body.as_bytes())
        .unwrap();
    let cases: Vec<HeaderMap> = vec![
        HeaderMap::new(),
        [(SIGNATURE_HEADER, "%%%")].iter().map(header).collect(),
        [(SIGNATURE_HEADER, forged.as_str())]
            .iter()
            .map(header)
            .collect(),
    ];
    for h in &cases {
        let err = v
            .verify(&WebhookRequest::new(body.as_bytes(), h))
            .unwrap_err();
        shown.push(format!("{err} {err:?}"));
    }
    let pretty = "{\n  \"event\": \"envelope-sent\"\n}";
    let err = v
        .verify(&WebhookRequest::new(pretty.as_bytes(), &cases[2]))
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    let closed = DocuSignVerifier::new(String::new());
    shown.push(format!("{closed:?} {:?}", closed.sign(b"x")));
    for bad in [
        DocuSignVerifier::builder().build().unwrap_err(),
        DocuSignVerifier::builder()
            .key(key.clone())
            .account_id("")
            .build()
            .unwrap_err(),
    ] {
        shown.push(format!("{bad} {bad:?}"));
    }
    let all = shown.join("\n");
    assert!(!all.contains("CANARY"), "{all}");
    assert!(all.contains("2 redacted"), "{all}");
}

fn header(pair: &(&str, &str)) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_bytes(pair.0.as_bytes()).unwrap(),
        HeaderValue::from_str(pair.1).unwrap(),
    )
}

// ---- Through the host's path: `Connections` with the `docusign` template, the
// `WebhookRouter` and the axum routes over real HTTP.

mod routed {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::HeaderMap;
    use serde_json::{json, Value};
    use switchboard::connections::Connections;
    use switchboard::docusign::{DocuSignVerifier, SIGNATURE_HEADER};
    use switchboard::test_util::LoopbackServer;
    use switchboard::webhook::router::{handler_fn, WebhookEvent, WebhookRoute, WebhookRouter};
    use switchboard::{ConnectionId, TenantId};

    use super::super::{jwt_config, Shared};

    /// What the handler saw: (tenant, connection, event id, body).
    type Seen = Arc<Mutex<Vec<(String, String, String, Bytes)>>>;

    /// The authentication host of the test configs: never called by these tests.
    const AUTH: &str = "http://127.0.0.1:9";

    /// A `docusign` connection `id` of `tenant` with Connect keys (and `extra` plain fields),
    /// and its webhook path.
    async fn connect(
        connections: &Connections,
        tenant: &str,
        id: &str,
        keys: &[(&str, &str)],
        extra: Value,
    ) -> String {
        let mut config = jwt_config(AUTH, &format!("user-of-{tenant}"));
        let fields = config.as_object_mut().unwrap();
        for (k, v) in keys {
            fields.insert((*k).to_string(), Value::from(*v));
        }
        fields.extend(extra.as_object().cloned().unwrap_or_default());
        let (t, c) = (TenantId::new(tenant), ConnectionId::new(id));
        connections
            .create(&t, &c, "docusign", "DocuSign", &config)
            .await
            .unwrap();
        connections.webhook_path(&t, &c, "/webhooks").await.unwrap()
    }

    async fn serve(connections: &Connections, seen: &Seen) -> (LoopbackServer, WebhookRouter) {
        let seen = seen.clone();
        let handler = Arc::new(handler_fn(move |e: WebhookEvent| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push((
                    e.target.tenant.to_string(),
                    e.target.connection.to_string(),
                    e.event_id,
                    e.body,
                ));
                Ok(())
            }
        }));
        let router = WebhookRouter::builder(connections.clone())
            .route(WebhookRoute::new("docusign", handler))
            .build()
            .unwrap();
        let server =
            LoopbackServer::start(switchboard::webhook::axum::routes(router.clone())).await;
        (server, router)
    }

    /// Posts `body` to `path` with one `X-DocuSign-Signature-<n>` per key, as DocuSign does.
    async fn post(server: &LoopbackServer, path: &str, keys: &[&str], body: &str) -> u16 {
        let mut headers = HeaderMap::new();
        for (i, key) in keys.iter().enumerate() {
            let sig = DocuSignVerifier::new(key.to_string())
                .sign(body.as_bytes())
                .unwrap();
            headers.insert(
                http::HeaderName::from_bytes(format!("X-DocuSign-Signature-{}", i + 1).as_bytes())
                    .unwrap(),
                sig.parse().unwrap(),
            );
        }
        headers.insert("x-authorization-digest", "HMACSHA256".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        reqwest::Client::new()
            .post(format!("{}{path}", server.base_url()))
            .headers(headers)
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    fn event(account: &str, envelope: &str, retry: u32) -> String {
        json!({
            "event": "envelope-completed",
            "apiVersion": "v2.1",
            "uri": format!("/restapi/v2.1/accounts/{account}/envelopes/{envelope}"),
            "retryCount": retry,
            "configurationId": 10000001,
            "generatedDateTime": "2024-01-02T03:04:05.6789012Z",
            "data": {"accountId": account, "userId": "u", "envelopeId": envelope}
        })
        .to_string()
    }

    fn seen_by(seen: &Seen) -> Vec<(String, String)> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(t, c, _, _)| (t.clone(), c.clone()))
            .collect()
    }

    /// Two tenants share the connection id `esign`, each with its own Connect key. A's key on
    /// B's URL is a 401 and B's handler never runs; each tenant's own webhook reaches only
    /// that tenant; DocuSign's retry of an event (only `retryCount` changed) is a duplicate.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_tenants_sharing_a_connection_id_get_only_their_own_webhooks() {
        let connections = Shared::new().replica();
        let url_a = connect(
            &connections,
            "tenant-a",
            "esign",
            &[("connect_hmac_key", "key-of-a")],
            json!({}),
        )
        .await;
        let url_b = connect(
            &connections,
            "tenant-b",
            "esign",
            &[("connect_hmac_key", "key-of-b")],
            json!({}),
        )
        .await;
        assert_ne!(url_a, url_b);
        let seen: Seen = Arc::default();
        let (server, router) = serve(&connections, &seen).await;
        let body = event("acct", "env-1", 0);

        // A's signature on B's URL: refused, counted on B, B's handler never runs.
        assert_eq!(post(&server, &url_b, &["key-of-a"], &body).await, 401);
        assert!(seen.lock().unwrap().is_empty(), "B's handler ran");
        let c = ConnectionId::new("esign");
        let (ta, tb) = (TenantId::new("tenant-a"), TenantId::new("tenant-b"));
        assert_eq!(router.verification_failures(&tb, &c), 1);
        assert_eq!(router.verification_failures(&ta, &c), 0);
        assert!(connections.get(&tb, &c).await.unwrap().last_event.is_none());

        // Each tenant's own, signed with its own key (A's request also carries a header of a
        // key it does not hold, as during a rotation on DocuSign's side).
        assert_eq!(
            post(&server, &url_a, &["someone-elses-key", "key-of-a"], &body).await,
            200
        );
        assert_eq!(post(&server, &url_b, &["key-of-b"], &body).await, 200);
        // DocuSign's retries of the same event: duplicates, the handler does not run again.
        for retry in [1, 2] {
            assert_eq!(
                post(
                    &server,
                    &url_a,
                    &["key-of-a"],
                    &event("acct", "env-1", retry)
                )
                .await,
                200
            );
        }
        assert_eq!(
            seen_by(&seen),
            [
                ("tenant-a".to_string(), "esign".to_string()),
                ("tenant-b".to_string(), "esign".to_string()),
            ]
        );
        let ids: Vec<String> = seen.lock().unwrap().iter().map(|s| s.2.clone()).collect();
        assert!(ids.iter().all(|id| id.starts_with("dsconnect_")), "{ids:?}");
        assert!(connections.get(&tb, &c).await.unwrap().last_event.is_some());
        // The handler got the raw body, byte for byte.
        assert_eq!(seen.lock().unwrap()[0].3, Bytes::from(body.clone()));

        // Without any signature header, and with a body changed after signing: refused.
        assert_eq!(post(&server, &url_a, &[], &body).await, 401);
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            DocuSignVerifier::new("key-of-a")
                .sign(body.as_bytes())
                .unwrap()
                .parse()
                .unwrap(),
        );
        let tampered = body.replace("env-1", "env-2");
        let status = reqwest::Client::new()
            .post(format!("{}{url_a}", server.base_url()))
            .headers(headers)
            .body(tampered)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 401);
        assert_eq!(router.verification_failures(&ta, &c), 2);
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    /// One key signing several accounts' events (a partner's integrator-managed key) set on
    /// two tenants' connections: once each connection knows its account, an event of account
    /// B posted to A's URL is refused although the key is A's too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shared_key_carries_no_event_into_another_accounts_connection() {
        let connections = Shared::new().replica();
        let partner = [("connect_hmac_key", "partner-key")];
        let url_a = connect(
            &connections,
            "tenant-a",
            "esign",
            &partner,
            json!({"account_id": "acct-a"}),
        )
        .await;
        let url_b = connect(
            &connections,
            "tenant-b",
            "esign",
            &partner,
            json!({"account_id": "acct-b"}),
        )
        .await;
        let seen: Seen = Arc::default();
        let (server, _router) = serve(&connections, &seen).await;

        let of_b = event("acct-b", "env-b", 0);
        assert_eq!(post(&server, &url_a, &["partner-key"], &of_b).await, 401);
        assert!(seen.lock().unwrap().is_empty());
        assert_eq!(post(&server, &url_b, &["partner-key"], &of_b).await, 200);
        assert_eq!(
            post(
                &server,
                &url_a,
                &["partner-key"],
                &event("acct-a", "env-a", 0)
            )
            .await,
            200
        );
        assert_eq!(
            seen_by(&seen),
            [
                ("tenant-b".to_string(), "esign".to_string()),
                ("tenant-a".to_string(), "esign".to_string()),
            ]
        );
    }

    /// A connection without a Connect key verifies nothing (fail closed); one rotating holds
    /// both keys, and either verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_key_refuses_everything_and_a_rotating_connection_takes_both_keys() {
        let connections = Shared::new().replica();
        let bare = connect(&connections, "tenant-a", "bare", &[], json!({})).await;
        let rotating = connect(
            &connections,
            "tenant-a",
            "rotating",
            &[
                ("connect_hmac_key", "new-key"),
                ("connect_hmac_key_previous", "old-key"),
            ],
            json!({}),
        )
        .await;
        let seen: Seen = Arc::default();
        let (server, _router) = serve(&connections, &seen).await;
        assert_eq!(
            post(&server, &bare, &["any-key"], &event("a", "e0", 0)).await,
            401
        );
        assert_eq!(
            post(&server, &rotating, &["old-key"], &event("a", "e1", 0)).await,
            200
        );
        assert_eq!(
            post(&server, &rotating, &["new-key"], &event("a", "e2", 0)).await,
            200
        );
        assert_eq!(
            post(&server, &rotating, &["unrelated"], &event("a", "e3", 0)).await,
            401
        );
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
