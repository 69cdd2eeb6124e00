//! Every `X-Twilio-Signature` vector in `$SWITCHBOARD_VECTORS_DIR`, through [`TwilioVerifier`].
//!
//! Vector fields: `name`, `auth_token`, `url` (the URL as received), `params` (strings, or
//! arrays of strings for a repeated key; sent as the form body), optional `body` (a JSON body;
//! then `params` is empty), `x_twilio_signature` (null: header absent), `expected`
//! (`valid` / `invalid`), optional `sdk_divergence` (the official SDKs disagree; see
//! `switchboard::twilio::webhook` for our choice, tested by name below).

use http::{HeaderMap, HeaderValue};
use serde_json::Value;
use switchboard::twilio::TwilioVerifier;
use switchboard::webhook::{WebhookRequest, WebhookVerifier};

use crate::support::{run_vector_files, vector_files};

fn is_twilio(scheme: Option<&Value>) -> bool {
    scheme
        .and_then(Value::as_str)
        .is_some_and(|s| s.trim_start().starts_with("X-Twilio-Signature"))
}

/// The form body of a vector's `params`, repeated keys as repeated pairs.
fn form_body(params: &Value) -> Result<String, String> {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params.as_object().ok_or("`params` is not an object")? {
        match v {
            Value::String(s) => {
                ser.append_pair(k, s);
            }
            Value::Array(values) => {
                for s in values {
                    ser.append_pair(k, s.as_str().ok_or("a param value is not a string")?);
                }
            }
            _ => return Err(format!("param {k} is neither a string nor an array")),
        }
    }
    Ok(ser.finish())
}

/// Runs one vector: `Ok(accepted)` or why it could not run.
fn verify_vector(v: &Value) -> Result<bool, String> {
    let token = v["auth_token"].as_str().ok_or("no `auth_token`")?;
    let url = url::Url::parse(v["url"].as_str().ok_or("no `url`")?).map_err(|e| e.to_string())?;
    let body = match v.get("body").and_then(Value::as_str) {
        Some(b) => b.to_string(),
        None => form_body(&v["params"])?,
    };
    let mut headers = HeaderMap::new();
    match &v["x_twilio_signature"] {
        Value::String(s) => {
            headers.insert(
                "x-twilio-signature",
                HeaderValue::from_str(s).map_err(|e| e.to_string())?,
            );
        }
        Value::Null => {}
        other => return Err(format!("`x_twilio_signature` is {other}")),
    }
    let verifier = TwilioVerifier::builder()
        .auth_token(token)
        .build()
        .map_err(|e| e.to_string())?;
    let request = WebhookRequest::new(body.as_bytes(), &headers).with_url(&url);
    Ok(verifier.verify(&request).is_ok())
}

#[test]
fn every_twilio_vector_passes() {
    run_vector_files(
        "X-Twilio-Signature",
        |scheme| is_twilio(Some(&Value::from(scheme))),
        |v| {
            let expected = match v["expected"].as_str() {
                Some("valid") => true,
                Some("invalid") => false,
                other => return Err(format!("`expected` is {other:?}")),
            };
            match verify_vector(v)? {
                got if got == expected => Ok(()),
                true => Err("accepted a vector expected invalid".into()),
                false => Err("rejected a vector expected valid".into()),
            }
        },
    );
}

/// Our choice where twilio-node (accepts) and twilio-python (rejects) disagree: an apostrophe
/// signed as `%27` and received as `'` is accepted, like twilio-node (reasons in
/// `switchboard::twilio::webhook`). Every `sdk_divergence` vector states the node outcome as
/// `expected`; we check each explicitly and that it exists.
#[test]
fn sdk_divergence_vectors_follow_twilio_node() {
    let mut seen = Vec::new();
    for (_, doc) in vector_files() {
        let Ok(doc) = doc else { continue };
        if !is_twilio(doc.get("scheme")) {
            continue;
        }
        for v in doc["vectors"].as_array().into_iter().flatten() {
            if v.get("sdk_divergence").is_none() {
                continue;
            }
            let name = v["name"].as_str().unwrap_or("?").to_string();
            assert_eq!(
                v["expected"], "valid",
                "{name}: the vector records twilio-node's outcome"
            );
            assert_eq!(
                verify_vector(v),
                Ok(true),
                "{name}: we accept, like twilio-node"
            );
            seen.push(name);
        }
    }
    assert!(
        seen.iter()
            .any(|n| n == "node_signed_escaped_target_unescaped"),
        "the apostrophe divergence vector is missing: {seen:?}"
    );
    // And the same choice without the file: signed over `%27`, received with `'`.
    let signer = switchboard::twilio::TwilioSigner::new("s3cr3t");
    let sig =
        signer.sign_form::<&str, &str>("https://example.com/path?test=param%27WithQuote", &[]);
    let received = url::Url::parse("https://example.com/path?test=param'WithQuote").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    let verifier = TwilioVerifier::builder()
        .auth_token("s3cr3t")
        .build()
        .unwrap();
    assert!(verifier
        .verify(&WebhookRequest::new(b"", &headers).with_url(&received))
        .is_ok());
    // ... while a different value in the same place is still rejected.
    let other = url::Url::parse("https://example.com/path?test=param'WithQuotes").unwrap();
    assert!(verifier
        .verify(&WebhookRequest::new(b"", &headers).with_url(&other))
        .is_err());
}
