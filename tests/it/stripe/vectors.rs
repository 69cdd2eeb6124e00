//! Runs every Stripe-Signature vector in `$SWITCHBOARD_VECTORS_DIR` through [`StripeVerifier`]
//! with the vector's pinned clock. A file is a Stripe file when its top-level `scheme` starts
//! with `Stripe-Signature`. Vector fields: `name`, `secret` (or `secrets`), `payload`,
//! `header`, `tolerance_seconds` (default 300), `now_unix`, `expected` (`valid`/`invalid`),
//! `expected_error` (the official SDK's message, mapped to a `WebhookError` class below).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use switchboard::stripe::StripeVerifier;
use switchboard::webhook::WebhookRequest;

use crate::support::{reason_of, run_vector_files, Reason};

/// The SDKs' messages (stripe-python, stripe-node, stripe-go) to our error classes.
fn expected_reason(message: &str) -> Option<Reason> {
    let m = message.to_ascii_lowercase();
    if m.contains("matching the expected signature") || m.contains("no matching signature") {
        Some(Reason::NoMatch)
    } else if m.contains("tolerance") || m.contains("too old") || m.contains("errtoo") {
        Some(Reason::Tolerance)
    } else if m.contains("no stripe-signature header")
        || m.contains("missing")
        || m.contains("errnotsigned")
    {
        Some(Reason::Missing)
    } else if m.contains("unable to extract")
        || m.contains("expected scheme")
        || m.contains("invalidheader")
        || m.contains("invalid header")
    {
        Some(Reason::Invalid)
    } else if m.contains("secret") {
        Some(Reason::Secret)
    } else {
        None
    }
}

fn run_vector(v: &Value) -> Result<(), String> {
    let expected = match v["expected"].as_str() {
        Some("valid") => true,
        Some("invalid") => false,
        other => return Err(format!("`expected` is {other:?}")),
    };
    let reason = match v.get("expected_error").and_then(Value::as_str) {
        None => None,
        Some(msg) => {
            Some(expected_reason(msg).ok_or_else(|| format!("unmapped expected_error {msg:?}"))?)
        }
    };
    let secrets: Vec<&str> = match (&v["secret"], &v["secrets"]) {
        (Value::String(s), _) => vec![s.as_str()],
        (_, Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => return Err("no `secret`".into()),
    };
    let payload = v["payload"].as_str().ok_or("no `payload`")?;
    let header = v["header"].as_str().ok_or("no `header`")?;
    let now = v["now_unix"].as_u64().ok_or("no `now_unix`")?;
    let tolerance = v
        .get("tolerance_seconds")
        .map_or(Some(300), Value::as_u64)
        .ok_or("bad tolerance")?;
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(header).map_err(|e| e.to_string())?,
    );
    let mut b = StripeVerifier::builder().tolerance(Duration::from_secs(tolerance));
    for s in secrets {
        b = b.secret(s.to_string());
    }
    let outcome = b.build().verify_at(
        &WebhookRequest::new(payload.as_bytes(), &headers),
        UNIX_EPOCH + Duration::from_secs(now),
    );
    match (expected, outcome) {
        (true, Ok(verified)) => {
            let want = serde_json::from_str::<Value>(payload)
                .ok()
                .and_then(|p| p["id"].as_str().map(str::to_owned));
            if verified.event_id != want {
                return Err(format!("event_id {:?}, want {want:?}", verified.event_id));
            }
            Ok(())
        }
        (true, Err(e)) => Err(format!("rejected a valid vector: {e}")),
        (false, Ok(_)) => Err("accepted an invalid vector".into()),
        (false, Err(e)) => match reason {
            Some(want) if reason_of(&e) != Some(want) => {
                Err(format!("rejected as {e:?}, want {want:?}"))
            }
            _ => {
                if !e.to_string().contains("Stripe-Signature")
                    && reason_of(&e) != Some(Reason::Secret)
                {
                    return Err(format!("the error does not name the header: {e}"));
                }
                Ok(())
            }
        },
    }
}

#[test]
fn stripe_signature_vectors_all_pass() {
    run_vector_files(
        "Stripe-Signature",
        |scheme| scheme.starts_with("Stripe-Signature"),
        run_vector,
    );
}

#[test]
fn sdk_messages_map_to_classes() {
    assert_eq!(
        expected_reason("Timestamp outside the tolerance zone"),
        Some(Reason::Tolerance)
    );
    assert_eq!(
        expected_reason("No signatures found with expected scheme v1"),
        Some(Reason::Invalid)
    );
    assert_eq!(
        expected_reason("Unable to extract timestamp and signatures from header"),
        Some(Reason::Invalid)
    );
    assert_eq!(
        expected_reason("No stripe-signature header value was provided."),
        Some(Reason::Missing)
    );
    assert_eq!(expected_reason("ErrInvalidHeader"), Some(Reason::Invalid));
    assert_eq!(
        expected_reason("No signatures found matching the expected signature for payload"),
        Some(Reason::NoMatch)
    );
    assert_eq!(expected_reason("something else"), None);
}
