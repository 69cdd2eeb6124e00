//! Events: typed `data.object` for the modelled objects, unknown objects kept as JSON, and
//! webhook sign → verify round trips with the typed rejections, the tolerance switched off for
//! replays, typed JSON errors for verified bodies that are not events, and the timestamp signed
//! in plain decimal as the SDKs sign it.

use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::stripe::{test_header, ConstructEventError, Event, EventObject, StripeVerifier};
use switchboard::webhook::{WebhookError, WebhookRequest};

use super::mock::fixture;

fn event_of(object: serde_json::Value, kind: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({
        "id": "evt_test_1", "object": "event", "type": kind, "created": 1_700_000_000,
        "livemode": false, "api_version": "2023-08-16", "pending_webhooks": 1,
        "data": {"object": object}
    }))
    .unwrap()
}

#[test]
fn data_object_is_typed_for_the_modelled_objects() {
    let cases = [
        ("customer", "customer.created"),
        ("payment_intent", "payment_intent.succeeded"),
        ("refund", "charge.refund.updated"),
        ("checkout.session", "checkout.session.completed"),
        ("webhook_endpoint", "webhook_endpoint.updated"),
    ];
    for (name, kind) in cases {
        let e = Event::from_slice(&event_of(fixture(name), kind)).unwrap();
        assert_eq!(e.event_type, kind);
        assert_eq!(e.id.as_str(), "evt_test_1");
        let typed = match (&e.data.object, name) {
            (EventObject::Customer(c), "customer") => c.id.as_str().starts_with("cus_"),
            (EventObject::PaymentIntent(p), "payment_intent") => p.amount == 1099,
            (EventObject::Refund(r), "refund") => r.amount == 100,
            (EventObject::CheckoutSession(s), "checkout.session") => {
                s.id.as_str().starts_with("cs_")
            }
            (EventObject::WebhookEndpoint(w), "webhook_endpoint") => w.enabled_events.len() == 2,
            _ => false,
        };
        assert!(typed, "{name}: {:?}", e.data.object);
        assert_eq!(e.data.object.object_name(), Some(name));
        assert!(
            e.extra.contains_key("pending_webhooks"),
            "unknown fields are kept"
        );
    }
}

#[test]
fn unknown_objects_and_types_are_kept_as_json() {
    // The spec's own event fixture is about a plan, which we do not model.
    let raw = serde_json::to_vec(&fixture("event")).unwrap();
    let e = Event::from_slice(&raw).unwrap();
    assert_eq!(e.event_type, "plan.created");
    match &e.data.object {
        EventObject::Unknown(v) => assert_eq!(v["object"], "plan"),
        other => panic!("want Unknown, got {other:?}"),
    }
    let e = Event::from_slice(&event_of(
        json!({"object": "brand_new.thing", "x": 1}),
        "brand_new.happened",
    ))
    .unwrap();
    assert_eq!(e.data.object.object_name(), Some("brand_new.thing"));
    // New fields on a modelled object land in `extra`.
    let mut c = fixture("customer");
    c["shiny_new_field"] = json!({"a": 1});
    let e = Event::from_slice(&event_of(c, "customer.updated")).unwrap();
    let EventObject::Customer(c) = e.data.object else {
        panic!("customer")
    };
    assert_eq!(c.extra["shiny_new_field"], json!({"a": 1}));
}

#[test]
fn malformed_events_are_typed_errors() {
    for bad in [
        &b"not json"[..],
        b"{}",
        br#"{"id":"evt_1","type":"x","data":{"object":{"object":"customer"}}}"#,
    ] {
        let err = Event::from_slice(bad).unwrap_err();
        assert!(!err.reason.is_empty());
    }
}

fn headers(sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("stripe-signature", HeaderValue::from_str(sig).unwrap());
    h
}

#[test]
fn sign_verify_round_trip_and_typed_rejections() {
    let secret = "whsec_round_trip";
    let verifier = StripeVerifier::new(secret);
    let body = event_of(fixture("payment_intent"), "payment_intent.succeeded");
    let t = 1_700_000_000u64;
    let now = UNIX_EPOCH + Duration::from_secs(t + 5);
    let sig = verifier.sign(&body, t).unwrap();
    assert_eq!(sig, test_header(&body, secret, t));

    let ok = verifier
        .verify_at(&WebhookRequest::new(&body, &headers(&sig)), now)
        .unwrap();
    assert_eq!(ok.event_id.as_deref(), Some("evt_test_1"));
    assert_eq!(ok.timestamp, Some(UNIX_EPOCH + Duration::from_secs(t)));

    let mut tampered = body.clone();
    tampered[20] ^= 1;
    assert!(matches!(
        verifier.verify_at(&WebhookRequest::new(&tampered, &headers(&sig)), now),
        Err(WebhookError::NoSignatureMatched {
            header: "Stripe-Signature",
            ..
        })
    ));
    let wrong = test_header(&body, "whsec_someone_else", t);
    assert!(matches!(
        verifier.verify_at(&WebhookRequest::new(&body, &headers(&wrong)), now),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
    let late = UNIX_EPOCH + Duration::from_secs(t + 301);
    assert!(matches!(
        verifier.verify_at(&WebhookRequest::new(&body, &headers(&sig)), late),
        Err(WebhookError::TimestampOutsideTolerance {
            header: "Stripe-Signature",
            skew_secs: 301,
            tolerance_secs: 300
        })
    ));
    let short = StripeVerifier::builder()
        .secret(secret)
        .tolerance(Duration::from_secs(2))
        .build();
    assert!(short
        .verify_at(&WebhookRequest::new(&body, &headers(&sig)), now)
        .is_err());
    assert!(matches!(
        verifier.verify_at(&WebhookRequest::new(&body, &HeaderMap::new()), now),
        Err(WebhookError::MissingHeader {
            header: "Stripe-Signature"
        })
    ));
}

#[test]
fn every_v1_is_checked_against_every_secret() {
    let body = br#"{"id":"evt_rot"}"#;
    let t = 1_700_000_000u64;
    let now = UNIX_EPOCH + Duration::from_secs(t);
    // We rotate: old and new secrets both active; the sender signs with the new one only.
    let ours = StripeVerifier::builder()
        .secret("whsec_old")
        .secret("whsec_new")
        .build();
    let sig = test_header(body, "whsec_new", t);
    assert!(ours
        .verify_at(&WebhookRequest::new(body, &headers(&sig)), now)
        .is_ok());
    // Stripe rotates: two v1 entries, we know only the second.
    let theirs = format!(
        "{},v1={}",
        test_header(body, "whsec_gone", t),
        test_header(body, "whsec_old", t)
            .split("v1=")
            .nth(1)
            .unwrap()
    );
    let only_old = StripeVerifier::new("whsec_old");
    assert!(only_old
        .verify_at(&WebhookRequest::new(body, &headers(&theirs)), now)
        .is_ok());
}

#[test]
fn the_tolerance_can_be_switched_off_to_replay_stored_events() {
    let secret = "whsec_replay";
    let body = event_of(fixture("customer"), "customer.created");
    let signed_at = 1_600_000_000u64;
    let sig = test_header(&body, secret, signed_at);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);

    let live = StripeVerifier::new(secret);
    assert_eq!(live.tolerance(), Some(Duration::from_secs(300)));
    assert!(matches!(
        live.verify_at(&WebhookRequest::new(&body, &headers(&sig)), now),
        Err(WebhookError::TimestampOutsideTolerance { .. })
    ));

    let replay = StripeVerifier::builder()
        .secret(secret)
        .ignore_tolerance()
        .build();
    assert_eq!(replay.tolerance(), None);
    let ok = replay
        .verify_at(&WebhookRequest::new(&body, &headers(&sig)), now)
        .unwrap();
    assert_eq!(ok.event_id.as_deref(), Some("evt_test_1"));
    assert_eq!(
        ok.timestamp,
        Some(UNIX_EPOCH + Duration::from_secs(signed_at)),
        "the signed time is still reported"
    );
    // A timestamp ahead of us too (the SDKs never check that side).
    let ahead = test_header(&body, secret, 1_900_000_000);
    assert!(replay
        .verify_at(&WebhookRequest::new(&body, &headers(&ahead)), now)
        .is_ok());
    // The signature is still required.
    let forged = test_header(&body, "whsec_someone_else", signed_at);
    assert!(matches!(
        replay.verify_at(&WebhookRequest::new(&body, &headers(&forged)), now),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
    // `tolerance(ZERO)` is a zero-second window, not "off".
    let zero = StripeVerifier::builder()
        .secret(secret)
        .tolerance(Duration::ZERO)
        .build();
    assert!(zero
        .verify_at(&WebhookRequest::new(&body, &headers(&sig)), now)
        .is_err());
    assert!(zero
        .verify_at(
            &WebhookRequest::new(&body, &headers(&sig)),
            UNIX_EPOCH + Duration::from_secs(signed_at)
        )
        .is_ok());
}

#[test]
fn a_verified_body_that_is_not_an_event_is_a_typed_json_error() {
    let secret = "whsec_json";
    let verifier = StripeVerifier::new(secret);
    let t = 1_700_000_000u64;
    let now = UNIX_EPOCH + Duration::from_secs(t);
    let construct = |body: &[u8]| {
        let sig = test_header(body, secret, t);
        verifier.construct_event_at(&WebhookRequest::new(body, &headers(&sig)), now)
    };

    // Not JSON at all: where it failed, and never the body.
    let body = b"\n\n  oops: card 4242424242424242";
    let e = match construct(body) {
        Err(ConstructEventError::Json(e)) => e,
        other => panic!("want a JSON error, got {other:?}"),
    };
    assert_eq!(e.pointer, "");
    assert!(e.reason.contains("line 3 column 3"), "{e}");
    assert!(!format!("{e} {e:?}").contains("4242"), "{e:?}");
    // The verifier itself accepted it: the signature is good.
    let sig = test_header(body, secret, t);
    assert!(verifier
        .verify_at(&WebhookRequest::new(body, &headers(&sig)), now)
        .is_ok());

    // JSON, but a field of the wrong type: the pointer names it.
    match construct(br#"{"id":"evt_1","type":7,"data":{"object":{}}}"#) {
        Err(ConstructEventError::Json(e)) => assert_eq!(e.pointer, "/type", "{e}"),
        other => panic!("want a JSON error, got {other:?}"),
    }
    // A thin (v2) event notification is not an event with its object, as in the SDKs.
    let thin = br#"{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","related_object":{"id":"mtr_1"}}"#;
    match construct(thin) {
        Err(ConstructEventError::Json(e)) => {
            assert_eq!(e.pointer, "/object");
            assert!(e.reason.contains("thin event"), "{e}");
        }
        other => panic!("want a JSON error, got {other:?}"),
    }
    // A bad signature is a signature error, and the body is not read.
    let body = event_of(fixture("customer"), "customer.created");
    let wrong = test_header(&body, "whsec_other", t);
    assert!(matches!(
        verifier.construct_event_at(&WebhookRequest::new(&body, &headers(&wrong)), now),
        Err(ConstructEventError::Signature(
            WebhookError::NoSignatureMatched { .. }
        ))
    ));
    // And a real event parses.
    let event = construct(&body).unwrap();
    assert_eq!(event.event_type, "customer.created");
}

#[test]
fn the_timestamp_is_signed_in_plain_decimal_as_the_sdks_sign_it() {
    // stripe-node (`parseInt`), stripe-python (`"%d" % int(t)`) and stripe-go (`ParseInt`,
    // `%d`) all sign the number they parsed: `t=01700000000` is checked as `1700000000`.
    let secret = "whsec_t";
    let verifier = StripeVerifier::new(secret);
    let body = br#"{"id":"evt_t"}"#;
    let t = 1_700_000_000u64;
    let now = UNIX_EPOCH + Duration::from_secs(t);
    let plain = test_header(body, secret, t);
    let v1 = plain.split(",v1=").nth(1).unwrap();
    for written in ["01700000000", "+1700000000"] {
        let header = format!("t={written},v1={v1}");
        assert!(
            verifier
                .verify_at(&WebhookRequest::new(body, &headers(&header)), now)
                .is_ok(),
            "{header}"
        );
    }
    // A signature over the digits as written (not what Stripe signs) does not match.
    let mut mac =
        <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes()).unwrap();
    hmac::Mac::update(&mut mac, b"01700000000.");
    hmac::Mac::update(&mut mac, body);
    let as_written = hex::encode(hmac::Mac::finalize(mac).into_bytes());
    let header = format!("t=01700000000,v1={as_written}");
    assert!(matches!(
        verifier.verify_at(&WebhookRequest::new(body, &headers(&header)), now),
        Err(WebhookError::NoSignatureMatched { .. })
    ));
}
