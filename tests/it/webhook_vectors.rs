//! Runs every Standard Webhooks vector in the shared vector directory through
//! [`StandardWebhooks`] with the vector's pinned clock.
//!
//! The directory is `$SWITCHBOARD_VECTORS_DIR`, or `../shared/vectors` next to the crate. Every
//! `*.json` file in it is read; a file whose top-level `scheme` (or a vector's own `scheme`)
//! describes the `webhook-signature` header is Standard Webhooks, the others (Stripe, Twilio,
//! DocuSign, RETS) are skipped. So files dropped in later in the same format are picked up.
//!
//! Vector format: `name`, `secret` (or `secrets`: a list), `headers` (name -> value),
//! `payload` (the raw body), `now_unix`, optional `tolerance_seconds` (default 300; `null`: no
//! tolerance, as for replays),
//! `expected` (`valid` / `invalid`) and optional `expected_error` (the official library's
//! message, mapped below to a `WebhookError` variant).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use switchboard::webhook::{StandardWebhooks, WebhookRequest};

use crate::support::{
    reason_of, run_vector_files, run_vector_files_in, vector_files, vectors_dir, Reason, TempDir,
};

fn is_standard_webhooks(scheme: Option<&Value>) -> bool {
    let Some(s) = scheme.and_then(Value::as_str) else {
        return false;
    };
    let s = s.trim().to_ascii_lowercase();
    s.starts_with("webhook-signature")
        || s.contains("standard webhooks")
        || s.contains("standard-webhooks")
}

fn expected_reason(message: &str) -> Option<Reason> {
    let m = message.to_ascii_lowercase();
    if m.contains("no matching signature") || m.contains("signature invalid") {
        Some(Reason::NoMatch)
    } else if m.contains("secret") {
        Some(Reason::Secret)
    } else if m.contains("missing") {
        Some(Reason::Missing)
    } else if m.contains("too new")
        || m.contains("too old")
        || m.contains("future")
        || m.contains("tolerance")
    {
        Some(Reason::Tolerance)
    } else if m.contains("invalid") || m.contains("malformed") {
        Some(Reason::Invalid)
    } else {
        None
    }
}

/// Runs one vector; `Err` says why it failed.
fn run_vector(v: &Value) -> Result<(), String> {
    let expected = match v["expected"].as_str() {
        Some("valid") => true,
        Some("invalid") => false,
        other => return Err(format!("`expected` is {other:?}, not valid/invalid")),
    };
    let reason = match v.get("expected_error").and_then(Value::as_str) {
        None => None,
        Some(msg) => Some(
            expected_reason(msg)
                .ok_or_else(|| format!("unknown `expected_error` class {msg:?}: map it"))?,
        ),
    };
    let secrets: Vec<&str> = match (&v["secret"], &v["secrets"]) {
        (Value::String(s), _) => vec![s.as_str()],
        (_, Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("no `secret` or `secrets`".into()),
    };
    let payload = v["payload"].as_str().ok_or("no `payload` string")?;
    let now = v["now_unix"].as_u64().ok_or("no `now_unix`")?;
    // Absent: the libraries' fixed 300 s; `null`: no tolerance (replays).
    let tolerance = match v.get("tolerance_seconds") {
        None => Some(300),
        Some(Value::Null) => None,
        Some(t) => Some(
            t.as_u64()
                .ok_or("`tolerance_seconds` is not a number or null")?,
        ),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in v["headers"].as_object().ok_or("no `headers` object")? {
        let value = value.as_str().ok_or("a header value is not a string")?;
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?,
            HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?,
        );
    }

    let mut builder = match tolerance {
        Some(t) => StandardWebhooks::builder().tolerance(Duration::from_secs(t)),
        None => StandardWebhooks::builder().ignore_tolerance(),
    };
    for s in secrets {
        builder = builder.secret(s);
    }
    let verifier = match builder.build() {
        Ok(v) => v,
        Err(_) if !expected && matches!(reason, None | Some(Reason::Secret)) => return Ok(()),
        Err(e) => return Err(format!("secret rejected at construction: {e}")),
    };
    let outcome = verifier.verify_at(
        &WebhookRequest::new(payload.as_bytes(), &headers),
        UNIX_EPOCH + Duration::from_secs(now),
    );
    match (expected, outcome) {
        (true, Ok(verified)) => {
            let id = headers
                .get("webhook-id")
                .or_else(|| headers.get("svix-id"))
                .and_then(|h| h.to_str().ok());
            if verified.event_id.as_deref() != id {
                return Err(format!("event_id {:?}, want {id:?}", verified.event_id));
            }
            Ok(())
        }
        (true, Err(e)) => Err(format!("rejected a valid vector: {e}")),
        (false, Ok(_)) => Err("accepted an invalid vector".into()),
        (false, Err(e)) => match reason {
            Some(want) if reason_of(&e) != Some(want) => {
                Err(format!("rejected as {e:?}, want reason class {want:?}"))
            }
            _ => Ok(()),
        },
    }
}

#[test]
fn standard_webhooks_vectors_all_pass() {
    run_vector_files(
        "Standard Webhooks",
        |scheme| is_standard_webhooks(Some(&Value::from(scheme))),
        run_vector,
    );
}

#[test]
fn reason_classes_map_the_official_messages() {
    assert_eq!(
        expected_reason("No matching signature found"),
        Some(Reason::NoMatch)
    );
    assert_eq!(
        expected_reason("Missing required headers"),
        Some(Reason::Missing)
    );
    assert_eq!(
        expected_reason("Invalid Signature Headers"),
        Some(Reason::Invalid)
    );
    assert_eq!(
        expected_reason("Message timestamp too new"),
        Some(Reason::Tolerance)
    );
    assert_eq!(
        expected_reason("Message timestamp too old"),
        Some(Reason::Tolerance)
    );
    assert_eq!(expected_reason("something else"), None);
}

/// Extra vector files in the same format run too, `"tolerance_seconds": null` included: a
/// temporary folder holds every shared file plus one made here, whose signatures come from
/// Svix's own crate (`sign`) and whose outcomes are checked with its
/// `verify_ignoring_timestamp`, the replay mode `null` stands for.
#[test]
fn extra_vector_files_with_tolerance_off_run_too() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let svix = svix::webhooks::Webhook::new(secret).unwrap();
    let (id, ts, now) = ("msg_replayed", 1_600_000_000i64, 1_800_000_000u64);
    let body = r#"{"type":"invoice.paid","n":1}"#;
    let good = svix.sign(id, ts, body.as_bytes()).unwrap();
    let wrong = svix.sign(id, ts + 1, body.as_bytes()).unwrap();
    let vector = |name: &str, sig: &str, tolerance: Value, expected: &str| {
        serde_json::json!({
            "name": name, "secret": secret, "payload": body, "now_unix": now,
            "headers": {"webhook-id": id, "webhook-timestamp": ts.to_string(), "webhook-signature": sig},
            "tolerance_seconds": tolerance, "expected": expected,
        })
    };
    let extra = serde_json::json!({
        "scheme": "webhook-signature: v1,<base64 HMAC-SHA256> (switchboard test: replays)",
        "vectors": [
            vector("replay_tolerance_off", &good, Value::Null, "valid"),
            vector("replay_tolerance_off_wrong_signature", &wrong, Value::Null, "invalid"),
            vector("replay_with_the_default_tolerance", &good, Value::from(300), "invalid"),
        ],
    });
    // What Svix says about each, in the mode each vector names.
    for v in extra["vectors"].as_array().unwrap() {
        let mut headers = HeaderMap::new();
        for (k, val) in v["headers"].as_object().unwrap() {
            headers.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(val.as_str().unwrap()).unwrap(),
            );
        }
        let svix_ok = if v["tolerance_seconds"].is_null() {
            svix.verify_ignoring_timestamp(body.as_bytes(), &headers)
                .is_ok()
        } else {
            svix.verify(body.as_bytes(), &headers).is_ok()
        };
        assert_eq!(svix_ok, v["expected"] == "valid", "svix on {}", v["name"]);
    }

    let dir = TempDir::new("sw-vectors");
    let mut want = 0;
    for (name, doc) in vector_files() {
        let doc = doc.unwrap_or_else(|e| panic!("{name}: {e}"));
        if is_standard_webhooks(doc.get("scheme")) {
            want += doc["vectors"].as_array().map_or(0, Vec::len);
        }
        std::fs::copy(vectors_dir().join(&name), dir.0.join(&name)).unwrap();
    }
    std::fs::write(
        dir.0.join("zz-replays.json"),
        serde_json::to_vec_pretty(&extra).unwrap(),
    )
    .unwrap();
    want += 3;
    let ran = run_vector_files_in(
        &dir.0,
        "Standard Webhooks",
        |scheme| is_standard_webhooks(Some(&Value::from(scheme))),
        run_vector,
    );
    assert_eq!(ran, want, "every vector of every Standard Webhooks file");
}
