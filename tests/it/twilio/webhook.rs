//! The verifier's URL rules (public base URL, trusted and untrusted forwarded headers),
//! token rotation, JSON bodies, and the typed webhook payloads.

use http::{HeaderMap, HeaderValue};
use switchboard::twilio::{
    CallStatus, CallStatusCallback, InboundMessage, MessageStatus, MessageStatusCallback,
    TwilioSigner, TwilioVerifier,
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
    assert_eq!(ok.event_id.as_deref(), Some("idem-1"));
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
