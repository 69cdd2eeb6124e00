//! The verifier's URL rules (public base URL, trusted and untrusted forwarded headers, ports
//! as the official SDKs treat them), token rotation, JSON bodies, replay de-duplication on
//! signed content (unit level and through the `WebhookRouter`), and the typed webhook payloads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use switchboard::twilio::{
    CallStatus, CallStatusCallback, InboundMessage, MessageStatus, MessageStatusCallback,
    TwilioSigner, TwilioVerifier,
};
use switchboard::webhook::router::{
    handler_fn, InboundRequest, WebhookEvent, WebhookOutcome, WebhookRoute, WebhookRouter,
};
use switchboard::webhook::{WebhookError, WebhookRequest, WebhookVerifier};

const PARAMS: &[(&str, &str)] = &[
    ("MessageSid", "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
    ("MessageStatus", "delivered"),
    ("AccountSid", "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ("To", "+15558675310"),
    ("From", "+15017122661"),
];

fn form(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

fn signed(token: &str, public_url: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    let sig = TwilioSigner::new(token.to_string()).sign_form(public_url, PARAMS);
    h.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    h
}

fn verify(v: &TwilioVerifier, headers: &HeaderMap, received: &str) -> Result<(), WebhookError> {
    let url = url::Url::parse(received).unwrap();
    let body = form(PARAMS);
    v.verify(&WebhookRequest::new(body.as_bytes(), headers).with_url(&url))
        .map(|_| ())
}

#[test]
fn public_base_url_replaces_the_origin_the_server_saw() {
    let public = "https://hooks.example.com/twilio/status?tenant=acme";
    let headers = signed("tok", public);
    let v = TwilioVerifier::builder()
        .auth_token("tok")
        .public_base_url("https://hooks.example.com")
        .build()
        .unwrap();
    verify(
        &v,
        &headers,
        "http://10.0.0.7:8080/twilio/status?tenant=acme",
    )
    .unwrap();
    // With a prefix the proxy strips.
    let headers = signed("tok", "https://example.com/app/twilio/status");
    let v = TwilioVerifier::builder()
        .auth_token("tok")
        .public_base_url("https://example.com/app/")
        .build()
        .unwrap();
    verify(&v, &headers, "http://127.0.0.1:3000/twilio/status").unwrap();
    // Without a public base the internal URL is checked as is, and fails.
    let plain = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    assert!(matches!(
        verify(
            &plain,
            &signed("tok", public),
            "http://10.0.0.7:8080/twilio/status?tenant=acme"
        ),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
}

#[test]
fn forwarded_headers_count_only_when_trusted() {
    let public = "https://hooks.example.com/twilio/status";
    let mut headers = signed("tok", public);
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    headers.insert(
        "x-forwarded-host",
        HeaderValue::from_static("hooks.example.com, proxy.internal"),
    );
    let received = "http://127.0.0.1:3000/twilio/status";

    let trusting = TwilioVerifier::builder()
        .auth_token("tok")
        .trust_forwarded_headers(true)
        .build()
        .unwrap();
    verify(&trusting, &headers, received).unwrap();

    let untrusting = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    assert!(
        verify(&untrusting, &headers, received).is_err(),
        "forwarded headers are ignored unless trusted"
    );

    // An attacker-chosen forwarded host is only honoured by a trusting verifier; with a
    // public base URL and no trust, the configured origin wins.
    let mut forged = signed("tok", "https://evil.example/twilio/status");
    forged.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
    forged.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let configured = TwilioVerifier::builder()
        .auth_token("tok")
        .public_base_url("https://hooks.example.com")
        .build()
        .unwrap();
    assert!(verify(&configured, &forged, received).is_err());

    // Trusted but absent headers fall back to the public base URL.
    let both = TwilioVerifier::builder()
        .auth_token("tok")
        .public_base_url("https://hooks.example.com")
        .trust_forwarded_headers(true)
        .build()
        .unwrap();
    verify(&both, &signed("tok", public), received).unwrap();
    let url = both
        .effective_url(
            &WebhookRequest::new(b"", &headers)
                .with_url(&url::Url::parse("http://127.0.0.1:3000/twilio/status").unwrap()),
        )
        .unwrap();
    assert_eq!(url.as_str(), public);

    // A malformed forwarded host is named in the error.
    let mut bad = signed("tok", public);
    bad.insert("x-forwarded-host", HeaderValue::from_static("bad host/x"));
    assert!(matches!(
        verify(&trusting, &bad, received),
        Err(WebhookError::InvalidHeader {
            header: "X-Forwarded-Host",
            ..
        })
    ));
}

#[test]
fn every_rotated_token_is_accepted_and_others_are_not() {
    let url = "https://hooks.example.com/s";
    let v = TwilioVerifier::builder()
        .auth_token("new-token")
        .auth_token("old-token")
        .build()
        .unwrap();
    verify(&v, &signed("new-token", url), url).unwrap();
    verify(&v, &signed("old-token", url), url).unwrap();
    assert!(matches!(
        verify(&v, &signed("other-token", url), url),
        Err(WebhookError::NoSignatureMatched {
            header: "X-Twilio-Signature",
            ..
        })
    ));
}

#[test]
fn tampered_params_missing_and_malformed_headers_are_rejected() {
    let url = "https://hooks.example.com/s";
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    let headers = signed("tok", url);
    let parsed = url::Url::parse(url).unwrap();
    let tampered = form(&[("MessageSid", "SMx"), ("MessageStatus", "failed")]);
    assert!(v
        .verify(&WebhookRequest::new(tampered.as_bytes(), &headers).with_url(&parsed))
        .is_err());
    assert_eq!(
        verify(&v, &HeaderMap::new(), url),
        Err(WebhookError::MissingHeader {
            header: "X-Twilio-Signature"
        })
    );
    let mut bad = HeaderMap::new();
    bad.insert(
        "x-twilio-signature",
        HeaderValue::from_static("not base64!"),
    );
    assert!(matches!(
        verify(&v, &bad, url),
        Err(WebhookError::InvalidHeader { .. })
    ));
    // No URL at all: refused with a message saying what is missing.
    let body = form(PARAMS);
    let e = v
        .verify(&WebhookRequest::new(body.as_bytes(), &headers))
        .unwrap_err();
    assert!(e.to_string().contains("URL"), "{e}");
}

#[test]
fn json_bodies_are_checked_through_body_sha256() {
    let signer = TwilioSigner::new("tok");
    let body = br#"{"event":"delivered","sid":"SM1"}"#;
    let (signed_url, sig) = signer.sign_json("https://hooks.example.com/json?x=1", body);
    let mut headers = HeaderMap::new();
    headers.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    headers.insert(
        "i-twilio-idempotency-token",
        HeaderValue::from_static("idem-1"),
    );
    let url = url::Url::parse(&signed_url).unwrap();
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    let ok = v
        .verify(&WebhookRequest::new(body, &headers).with_url(&url))
        .unwrap();
    // The unsigned idempotency token is not the de-duplication id (see `replays_*` below).
    let id = ok.event_id.unwrap();
    assert!(id.starts_with("twsig_"), "{id}");
    let e = v
        .verify(&WebhookRequest::new(br#"{"event":"failed","sid":"SM1"}"#, &headers).with_url(&url))
        .unwrap_err();
    assert!(e.to_string().contains("bodySHA256"), "{e}");
}

#[test]
fn parses_a_message_status_callback() {
    let body = "MessageSid=SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&MessageStatus=undelivered&ErrorCode=30003\
                &AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&To=%2B15558675310&From=%2B15017122661\
                &SmsSid=SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&SmsStatus=undelivered&ApiVersion=2010-04-01";
    let cb = MessageStatusCallback::from_form(body.as_bytes()).unwrap();
    assert_eq!(
        cb.message_sid.as_str(),
        "SMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
    );
    assert_eq!(cb.message_status, MessageStatus::Undelivered);
    assert_eq!(cb.error_code, Some(30003));
    assert_eq!(cb.to.as_deref(), Some("+15558675310"));
    assert_eq!(cb.extra["ApiVersion"], "2010-04-01");
    assert!(
        MessageStatusCallback::from_form(b"MessageStatus=sent").is_err(),
        "MessageSid is required"
    );
}

#[test]
fn parses_an_inbound_message_with_media() {
    let body = "MessageSid=MMbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&AccountSid=ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\
                &From=whatsapp%3A%2B15558675310&To=whatsapp%3A%2B14155238886&Body=Hello+there%21\
                &NumMedia=2&NumSegments=1&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm0&MediaContentType0=image%2Fjpeg\
                &MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm1&ProfileName=Ada";
    let m = InboundMessage::from_form(body.as_bytes()).unwrap();
    assert_eq!(m.body.as_deref(), Some("Hello there!"));
    assert_eq!(m.from.as_deref(), Some("whatsapp:+15558675310"));
    assert_eq!(m.num_media, Some(2));
    let media = m.media();
    assert_eq!(media.len(), 2);
    assert_eq!(media[0].url, "https://api.twilio.com/m0");
    assert_eq!(media[0].content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(media[1].content_type, None);
    assert_eq!(m.extra["ProfileName"], "Ada");
}

#[test]
fn parses_a_call_status_callback() {
    let body = "CallSid=CAdddddddddddddddddddddddddddddddd&CallStatus=no-answer&Direction=outbound-api&CallDuration=0";
    let c = CallStatusCallback::from_form(body.as_bytes()).unwrap();
    assert_eq!(c.call_status, CallStatus::NoAnswer);
    assert_eq!(c.call_duration, Some(0));
    let c = CallStatusCallback::from_form(b"CallSid=CA1&CallStatus=brand-new").unwrap();
    assert_eq!(c.call_status, CallStatus::Unknown);
}

/// The origins of the port table, `H` standing for the host (with and without credentials).
const ORIGINS: &[&str] = &[
    "https://H",
    "https://H:443",
    "https://H:8443",
    "https://H:9000",
    "http://H",
    "http://H:80",
    "http://H:8080",
    "http://H:443",
    "https://H:80",
];

/// Every (signed over, received at) pair of [`ORIGINS`] that the official SDKs accept; every
/// other pair they reject. Obtained by running twilio-node 6.0.2's `validateRequest`
/// (src/webhooks/webhooks.ts @ 45d3d65a) and twilio-python 9.11's `RequestValidator.validate`
/// (twilio/request_validator.py @ 306691e7) on all 162 pairs (81 per host): both give exactly
/// this set for `example.com`; for `user:pw@example.com` twilio-node gives this set and
/// twilio-python rejects the rows where the received URL has a port and the signed one has
/// none (its `remove_port` cuts the netloc at the first `:`, the password's), see
/// [`python_rejects`].
const ACCEPTED: &[(&str, &str)] = &[
    ("https://H", "https://H"),
    ("https://H", "https://H:443"),
    ("https://H", "https://H:8443"),
    ("https://H", "https://H:9000"),
    ("https://H", "https://H:80"),
    ("https://H:443", "https://H"),
    ("https://H:443", "https://H:443"),
    ("https://H:8443", "https://H:8443"),
    ("https://H:9000", "https://H:9000"),
    ("http://H", "http://H"),
    ("http://H", "http://H:80"),
    ("http://H", "http://H:8080"),
    ("http://H", "http://H:443"),
    ("http://H:80", "http://H"),
    ("http://H:80", "http://H:80"),
    ("http://H:8080", "http://H:8080"),
    ("http://H:443", "http://H:443"),
    ("https://H:80", "https://H:80"),
];

/// The rows twilio-python gets wrong with credentials in the URL (we follow twilio-node).
fn python_rejects(host: &str, signed: &str, received: &str) -> bool {
    host.contains('@') && !signed.contains("H:") && received.contains("H:") && signed != received
}

#[test]
fn ports_are_added_or_removed_exactly_as_both_sdks_do() {
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    let mut failures = Vec::new();
    let mut python_divergent = 0;
    for host in ["example.com", "user:pw@example.com"] {
        for sig_origin in ORIGINS {
            for received in ORIGINS {
                let want = ACCEPTED.contains(&(sig_origin, received));
                if want && python_rejects(host, sig_origin, received) {
                    python_divergent += 1;
                }
                let signed_url = format!("{}/p?x=1", sig_origin.replace('H', host));
                let received_url = format!("{}/p?x=1", received.replace('H', host));
                let got = verify(&v, &signed("tok", &signed_url), &received_url);
                if got.is_ok() != want {
                    failures.push(format!(
                        "signed {signed_url} received {received_url}: got {got:?}, want ok={want}"
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(python_divergent, 7, "the rows twilio-python rejects");
}

#[test]
fn a_non_default_port_is_removed_for_json_bodies_and_behind_a_public_base_url() {
    // twilio-python's own test `test_validation_removes_port_on_https`: the URL as received has
    // port 1234, the signature is over the URL without it.
    let params = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ];
    let received = url::Url::parse("https://mycompany.com:1234/myapp.php?foo=1&bar=2").unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        "x-twilio-signature",
        HeaderValue::from_static("RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    );
    let body = form(&params);
    let v = TwilioVerifier::builder()
        .auth_token("12345")
        .build()
        .unwrap();
    v.verify(&WebhookRequest::new(body.as_bytes(), &h).with_url(&received))
        .unwrap();

    // JSON: signed without the port, received with it; and the other way round rejected.
    let signer = TwilioSigner::new("tok");
    let json = br#"{"sid":"SM1"}"#;
    let (signed_url, sig) = signer.sign_json("https://hooks.example.com/j", json);
    let mut h = HeaderMap::new();
    h.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    let with_port = url::Url::parse(&signed_url.replace(".com/", ".com:8443/")).unwrap();
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    v.verify(&WebhookRequest::new(json, &h).with_url(&with_port))
        .unwrap();
    let (signed_url, sig) = signer.sign_json("https://hooks.example.com:8443/j", json);
    let mut h = HeaderMap::new();
    h.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    let without = url::Url::parse(&signed_url.replace(":8443", "")).unwrap();
    assert!(matches!(
        v.verify(&WebhookRequest::new(json, &h).with_url(&without)),
        Err(WebhookError::NoSignatureMatched { .. })
    ));

    // A public base URL with a port: Twilio may have signed it with or without the port.
    let behind = TwilioVerifier::builder()
        .auth_token("tok")
        .public_base_url("https://hooks.example.com:8443")
        .build()
        .unwrap();
    let internal = "http://10.0.0.7:3000/s?a=1";
    verify(
        &behind,
        &signed("tok", "https://hooks.example.com/s?a=1"),
        internal,
    )
    .unwrap();
    verify(
        &behind,
        &signed("tok", "https://hooks.example.com:8443/s?a=1"),
        internal,
    )
    .unwrap();
    assert!(verify(
        &behind,
        &signed("tok", "https://hooks.example.com:9000/s?a=1"),
        internal
    )
    .is_err());
}

fn event_id(v: &TwilioVerifier, headers: &HeaderMap, url: &str, body: &str) -> String {
    let url = url::Url::parse(url).unwrap();
    v.verify(&WebhookRequest::new(body.as_bytes(), headers).with_url(&url))
        .unwrap()
        .event_id
        .expect("a Twilio event id")
}

fn with_token(mut h: HeaderMap, token: &'static str) -> HeaderMap {
    h.insert(
        "i-twilio-idempotency-token",
        HeaderValue::from_static(token),
    );
    h
}

#[test]
fn replays_get_the_same_event_id_whatever_the_unsigned_token() {
    let url = "https://hooks.example.com/s";
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    let body = form(PARAMS);
    let first = event_id(&v, &with_token(signed("tok", url), "idem-1"), url, &body);
    // The same signed request re-sent with a new token, or none.
    assert_eq!(
        first,
        event_id(&v, &with_token(signed("tok", url), "idem-2"), url, &body)
    );
    assert_eq!(first, event_id(&v, &signed("tok", url), url, &body));
    // Fields re-ordered and re-encoded: still the same signed content.
    let mut reordered: Vec<(&str, &str)> = PARAMS.to_vec();
    reordered.reverse();
    let reencoded = form(&reordered).replace("%2B", "%2b");
    assert_ne!(reencoded, body);
    assert_eq!(first, event_id(&v, &signed("tok", url), url, &reencoded));
    // The same signature received on the port-spelt URL.
    assert_eq!(
        first,
        event_id(
            &v,
            &signed("tok", url),
            "https://hooks.example.com:443/s",
            &body
        )
    );
    // Different signed content: a different id.
    let mut other = PARAMS.to_vec();
    other[1] = ("MessageStatus", "failed");
    let mut h = HeaderMap::new();
    h.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&TwilioSigner::new("tok").sign_form(url, &other)).unwrap(),
    );
    assert_ne!(first, event_id(&v, &h, url, &form(&other)));
    // Two tenants whose tokens sign the same content get different ids.
    let tenant_b = TwilioVerifier::builder()
        .auth_token("tok-b")
        .build()
        .unwrap();
    assert_ne!(
        first,
        event_id(&tenant_b, &signed("tok-b", url), url, &body)
    );
}

#[test]
fn json_replays_get_the_same_event_id() {
    let v = TwilioVerifier::builder().auth_token("tok").build().unwrap();
    let body = r#"{"event":"delivered","sid":"SM1"}"#;
    let (signed_url, sig) =
        TwilioSigner::new("tok").sign_json("https://h.example/j", body.as_bytes());
    let mut h = HeaderMap::new();
    h.insert("x-twilio-signature", HeaderValue::from_str(&sig).unwrap());
    let a = event_id(&v, &with_token(h.clone(), "idem-1"), &signed_url, body);
    let b = event_id(&v, &with_token(h.clone(), "idem-2"), &signed_url, body);
    assert_eq!(a, b);
    let (other_url, other_sig) =
        TwilioSigner::new("tok").sign_json("https://h.example/j", br#"{"sid":"SM2"}"#);
    let mut h2 = HeaderMap::new();
    h2.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&other_sig).unwrap(),
    );
    assert_ne!(a, event_id(&v, &h2, &other_url, r#"{"sid":"SM2"}"#));
}

/// A Twilio connection of `tenant` (id `sms`, signed with `token`) in `connections`, and the
/// public URL Twilio is told to post to.
async fn twilio_connection(
    connections: &switchboard::connections::Connections,
    tenant: &str,
    token: &str,
) -> (String, String) {
    let (t, c) = (
        switchboard::TenantId::new(tenant),
        switchboard::ConnectionId::new("sms"),
    );
    connections
        .create(
            &t,
            &c,
            "twilio",
            "Twilio",
            &serde_json::json!({"account_sid": "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "auth_token": token}),
        )
        .await
        .unwrap();
    let path = connections.webhook_path(&t, &c, "/webhooks").await.unwrap();
    let public = format!("https://hooks.example.com{path}");
    (path, public)
}

fn twilio_router(
    connections: &switchboard::connections::Connections,
    handler: Arc<dyn switchboard::webhook::router::WebhookHandler>,
) -> WebhookRouter {
    WebhookRouter::builder(connections.clone())
        .public_base_url("https://hooks.example.com")
        .route(WebhookRoute::new("twilio", handler))
        .build()
        .unwrap()
}

/// Through the host's path: a `WebhookRouter` over `Connections` with the `twilio` template. A
/// captured delivery re-sent with a fresh `I-Twilio-Idempotency-Token` (and re-ordered fields)
/// is a duplicate; the handler runs once per signed request.
#[tokio::test]
async fn the_router_treats_a_replay_with_a_new_token_as_a_duplicate() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let handler = Arc::new(handler_fn(move |_e: WebhookEvent| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }));
    let connections = crate::webhook_router::connections();
    let (path, public) = twilio_connection(&connections, "acme", "tok").await;
    let router = twilio_router(&connections, handler);
    let public = public.as_str();
    let request = |headers: HeaderMap, body: String| {
        InboundRequest::new(path.clone(), headers, Bytes::from(body))
            .with_url(url::Url::parse(public).unwrap())
    };
    let body = form(PARAMS);

    let first = router
        .handle(request(
            with_token(signed("tok", public), "idem-1"),
            body.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(first, WebhookOutcome::Processed);
    let replay = router
        .handle(request(
            with_token(signed("tok", public), "idem-2"),
            body.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(
        replay,
        WebhookOutcome::Duplicate,
        "a new token does not make it new"
    );
    let mut reordered = PARAMS.to_vec();
    reordered.reverse();
    let replay = router
        .handle(request(signed("tok", public), form(&reordered)))
        .await
        .unwrap();
    assert_eq!(
        replay,
        WebhookOutcome::Duplicate,
        "nor does re-ordering the fields"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // A different signed request is processed.
    let mut other = PARAMS.to_vec();
    other[1] = ("MessageStatus", "failed");
    let mut h = HeaderMap::new();
    h.insert(
        "x-twilio-signature",
        HeaderValue::from_str(&TwilioSigner::new("tok").sign_form(public, &other)).unwrap(),
    );
    let fresh = router
        .handle(request(with_token(h, "idem-1"), form(&other)))
        .await
        .unwrap();
    assert_eq!(
        fresh,
        WebhookOutcome::Processed,
        "same token, different signed content"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// Two tenants share the connection id `sms`. Tenant A signs its own request but copies tenant
/// B's unsigned `I-Twilio-Idempotency-Token` into it: with the token as the event id (and the
/// de-duplication scope not naming the tenant), B's genuine delivery was dropped as a
/// duplicate. Now the id comes from signed content and the scope names the tenant, so A's
/// request cannot take B's event; and A's signature on B's URL is refused.
#[tokio::test]
async fn a_tenant_cannot_claim_another_tenants_event_through_the_unsigned_token() {
    let ran: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = ran.clone();
    let handler = Arc::new(handler_fn(move |e: WebhookEvent| {
        let seen = seen.clone();
        async move {
            let account = url::form_urlencoded::parse(&e.body)
                .find(|(k, _)| k == "AccountSid")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            seen.lock()
                .unwrap()
                .push(format!("{}:{account}", e.target.tenant));
            Ok(())
        }
    }));
    let connections = crate::webhook_router::connections();
    let (path_a, public_a) = twilio_connection(&connections, "tenant-a", "token-of-a").await;
    let (path_b, public_b) = twilio_connection(&connections, "tenant-b", "token-of-b").await;
    let router = twilio_router(&connections, handler);
    let delivery = |token: &str, path: &str, public: &str, account: &str, idem: &'static str| {
        let params = [
            ("AccountSid", account),
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
        ];
        let mut h = HeaderMap::new();
        h.insert(
            "x-twilio-signature",
            HeaderValue::from_str(&TwilioSigner::new(token.to_string()).sign_form(public, &params))
                .unwrap(),
        );
        h.insert("i-twilio-idempotency-token", HeaderValue::from_static(idem));
        InboundRequest::new(path.to_string(), h, Bytes::from(form(&params)))
            .with_url(url::Url::parse(public).unwrap())
    };
    // A's own, validly signed request, carrying B's token.
    let a = router
        .handle(delivery(
            "token-of-a",
            &path_a,
            &public_a,
            "AC_tenant_a",
            "b-delivery-42",
        ))
        .await
        .unwrap();
    assert_eq!(a, WebhookOutcome::Processed);
    // A signs for B's URL with its own token: refused.
    let forged = router
        .handle(delivery(
            "token-of-a",
            &path_b,
            &public_b,
            "AC_tenant_a",
            "b-delivery-42",
        ))
        .await
        .unwrap_err();
    assert_eq!(forged.status(), 401);
    // B's genuine delivery with that token.
    let b = router
        .handle(delivery(
            "token-of-b",
            &path_b,
            &public_b,
            "AC_tenant_b",
            "b-delivery-42",
        ))
        .await
        .unwrap();
    assert_eq!(b, WebhookOutcome::Processed, "B's event must run");
    assert_eq!(
        *ran.lock().unwrap(),
        ["tenant-a:AC_tenant_a", "tenant-b:AC_tenant_b"]
    );
}
