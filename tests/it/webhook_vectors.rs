//! Runs every Standard Webhooks vector in the shared vector directory through
//! [`StandardWebhooks`] with the vector's pinned clock.
//!
//! The directory is `$SWITCHBOARD_VECTORS_DIR`, or `../shared/vectors` next to the crate. Every
//! `*.json` file in it is read; a file whose top-level `scheme` (or a vector's own `scheme`)
//! describes the `webhook-signature` header is Standard Webhooks, the others (Stripe, Twilio,
//! DocuSign, RETS) are skipped. So files dropped in later in the same format are picked up.
//!
//! Vector format: `name`, `secret` (or `secrets`: a list), `headers` (name -> value),
//! `payload` (the raw body), `now_unix`, optional `tolerance_seconds` (default 300),
//! `expected` (`valid` / `invalid`) and optional `expected_error` (the official library's
//! message, mapped below to a `WebhookError` variant).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use switchboard::webhook::{StandardWebhooks, WebhookRequest};

use crate::support::{reason_of, run_vector_files, Reason};

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
    let tolerance = v
        .get("tolerance_seconds")
        .map_or(Some(300), Value::as_u64)
        .ok_or("`tolerance_seconds` is not a number")?;
    let mut headers = HeaderMap::new();
    for (name, value) in v["headers"].as_object().ok_or("no `headers` object")? {
        let value = value.as_str().ok_or("a header value is not a string")?;
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))?,
            HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?,
        );
    }

    let mut builder = StandardWebhooks::builder().tolerance(Duration::from_secs(tolerance));
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
