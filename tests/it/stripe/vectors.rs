//! Runs every Stripe-Signature vector in `$SWITCHBOARD_VECTORS_DIR` through [`StripeVerifier`]
//! with the vector's pinned clock. A file is a Stripe file when its top-level `scheme` starts
//! with `Stripe-Signature`. Vector fields: `name`, `secret` (or `secrets`), `payload`,
//! `header`, `tolerance_seconds` (default 300; `null` or `0`: no tolerance, as `None` / `0` mean
//! in the SDKs' low-level verify), `now_unix`, `expected` (`valid` / `invalid` /
//! `valid_signature_then_json_error`: the signature verifies, then parsing the body as an event
//! fails with a JSON error), `expected_error` (the official SDK's message, mapped to a
//! `WebhookError` class below).

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use switchboard::stripe::{ConstructEventError, Event, StripeVerifier};
use switchboard::webhook::WebhookRequest;

use crate::support::{
    reason_of, run_vector_files, run_vector_files_in, vector_files, vectors_dir, Reason, TempDir,
};

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

/// What a vector expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Valid,
    Invalid,
    /// Verifies, then fails to parse as an event with a JSON error.
    ValidThenJsonError,
}

fn run_vector(v: &Value) -> Result<(), String> {
    let expected = match v["expected"].as_str() {
        Some("valid") => Expected::Valid,
        Some("invalid") => Expected::Invalid,
        Some("valid_signature_then_json_error") => Expected::ValidThenJsonError,
        other => return Err(format!("`expected` is {other:?}")),
    };
    let reason = match v.get("expected_error").and_then(Value::as_str) {
        None => None,
        Some(_) if expected != Expected::Invalid => None,
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
    // Absent: the SDKs' default of 300 s. `null`, and `0` (the SDKs' low-level verify treats
    // a zero tolerance as none): no tolerance. Our `tolerance(ZERO)` is a zero-second window
    // instead, so the SDK's `0` is translated to `ignore_tolerance`.
    let tolerance = match v.get("tolerance_seconds") {
        None => Some(300),
        Some(Value::Null) => None,
        Some(t) => match t
            .as_u64()
            .ok_or("`tolerance_seconds` is not a number or null")?
        {
            0 => None,
            n => Some(n),
        },
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(header).map_err(|e| e.to_string())?,
    );
    let mut b = match tolerance {
        Some(t) => StripeVerifier::builder().tolerance(Duration::from_secs(t)),
        None => StripeVerifier::builder().ignore_tolerance(),
    };
    for s in secrets {
        b = b.secret(s.to_string());
    }
    let verifier = b.build();
    let request = WebhookRequest::new(payload.as_bytes(), &headers);
    let at = UNIX_EPOCH + Duration::from_secs(now);
    let outcome = verifier.verify_at(&request, at);
    match (expected, outcome) {
        (Expected::Valid | Expected::ValidThenJsonError, Ok(verified)) => {
            if expected == Expected::ValidThenJsonError {
                // No id check: the verifier reads a leading `"id"` without parsing the rest
                // (documented), so a truncated body may still give one.
                return json_error_after_verification(&verifier, &request, at, payload);
            }
            let want = serde_json::from_str::<Value>(payload)
                .ok()
                .and_then(|p| p["id"].as_str().map(str::to_owned));
            if verified.event_id != want {
                return Err(format!("event_id {:?}, want {want:?}", verified.event_id));
            }
            Ok(())
        }
        (Expected::Valid | Expected::ValidThenJsonError, Err(e)) => {
            Err(format!("rejected a valid signature: {e}"))
        }
        (Expected::Invalid, Ok(_)) => Err("accepted an invalid vector".into()),
        (Expected::Invalid, Err(e)) => match reason {
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

/// The body verified; parsing it as an event must give a typed JSON error that says where
/// (line and column) and does not echo the body.
fn json_error_after_verification(
    verifier: &StripeVerifier,
    request: &WebhookRequest<'_>,
    at: std::time::SystemTime,
    payload: &str,
) -> Result<(), String> {
    let decode = match verifier.construct_event_at(request, at) {
        Err(ConstructEventError::Json(e)) => e,
        Err(other) => return Err(format!("construct_event: want a JSON error, got {other:?}")),
        Ok(_) => return Err("construct_event parsed a body expected to be a JSON error".into()),
    };
    if Event::from_slice(payload.as_bytes()).as_ref().err() != Some(&decode) {
        return Err("Event::from_slice and construct_event disagree".into());
    }
    if !decode.reason.contains("line ") || !decode.reason.contains(" column ") {
        return Err(format!("the JSON error does not say where: {decode:?}"));
    }
    let shown = format!("{decode} {decode:?}");
    if payload.len() >= 8 && shown.contains(payload) {
        return Err(format!("the JSON error echoes the body: {shown}"));
    }
    Ok(())
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

/// The runner handles vector files beyond the shared ones: a temporary folder with every
/// shared file plus `replay_vectors.json` (tolerance `null` and `0`, and
/// `valid_signature_then_json_error`), each vector checked with stripe-python's own
/// `verify_header` when it was made). Every vector of every Stripe file runs.
#[test]
fn extra_vector_files_with_tolerance_off_and_json_errors_run_too() {
    let extra = include_str!("replay_vectors.json");
    let dir = TempDir::new("stripe-vectors");
    let mut want = 0;
    for (name, doc) in vector_files() {
        let doc = doc.unwrap_or_else(|e| panic!("{name}: {e}"));
        if doc["scheme"]
            .as_str()
            .is_some_and(|s| s.starts_with("Stripe-Signature"))
        {
            want += doc["vectors"].as_array().map_or(0, Vec::len);
        }
        std::fs::copy(vectors_dir().join(&name), dir.0.join(&name)).unwrap();
    }
    std::fs::write(dir.0.join("zz-stripe-replays.json"), extra).unwrap();
    let doc: Value = serde_json::from_str(extra).unwrap();
    let vectors = doc["vectors"].as_array().unwrap();
    assert!(vectors.iter().any(|v| v["tolerance_seconds"].is_null()));
    assert!(vectors
        .iter()
        .any(|v| v["expected"] == "valid_signature_then_json_error"));
    want += vectors.len();

    let ran = run_vector_files_in(
        &dir.0,
        "Stripe-Signature",
        |scheme| scheme.starts_with("Stripe-Signature"),
        run_vector,
    );
    assert_eq!(ran, want, "every vector of every Stripe file");
}

#[test]
fn the_runner_reports_a_json_error_vector_whose_body_parses() {
    // A vector claiming a JSON error for a body that is a fine event must fail the run.
    let extra: Value = serde_json::from_str(include_str!("replay_vectors.json")).unwrap();
    let mut v = extra["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "replay_old_timestamp_tolerance_off")
        .unwrap()
        .clone();
    v["expected"] = Value::from("valid_signature_then_json_error");
    assert!(run_vector(&v).is_err());
    // And a tolerance of `null` is not "300 s": the same vector with the default rejects.
    let mut strict = v.clone();
    strict["expected"] = Value::from("valid");
    strict.as_object_mut().unwrap().remove("tolerance_seconds");
    assert!(run_vector(&strict).is_err());
    strict["tolerance_seconds"] = Value::Null;
    assert_eq!(run_vector(&strict), Ok(()));
}
