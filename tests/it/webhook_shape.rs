//! Every verifier has one shape (design decision 13): `builder()`, `new(secret)`, `verify`,
//! and `sign(..) -> Result<String, WebhookError>` for hosts' tests, and the timestamped ones
//! start from the one `webhook::DEFAULT_TOLERANCE`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use switchboard::stripe::StripeVerifier;
use switchboard::twilio::TwilioVerifier;
use switchboard::webhook::{
    HmacBodyVerifier, StandardWebhooks, WebhookError, WebhookRequest, WebhookVerifier,
    DEFAULT_TOLERANCE,
};

const BODY: &[u8] = br#"{"id":"evt_1","type":"ping"}"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn one(name: &'static str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(name, value.parse().unwrap());
    h
}

#[test]
fn the_default_tolerance_is_five_minutes_and_every_timestamped_verifier_starts_with_it() {
    assert_eq!(DEFAULT_TOLERANCE, Duration::from_secs(300));
    assert_eq!(
        StripeVerifier::new("whsec_x").tolerance(),
        Some(DEFAULT_TOLERANCE)
    );
    assert_eq!(
        StripeVerifier::builder().build().tolerance(),
        Some(DEFAULT_TOLERANCE)
    );
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        StandardWebhooks::new(secret).unwrap().tolerance(),
        Some(DEFAULT_TOLERANCE)
    );
}

#[test]
fn each_verifier_made_with_new_verifies_what_its_sign_returns() {
    let t = now();

    let stripe = StripeVerifier::new("whsec_shape");
    let sig: String = stripe.sign(BODY, t).unwrap();
    let h = one("stripe-signature", &sig);
    assert!(stripe.verify(&WebhookRequest::new(BODY, &h)).is_ok());

    let standard = StandardWebhooks::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let sig: String = standard.sign("msg_1", t, BODY).unwrap();
    let mut h = one("webhook-signature", &sig);
    h.insert("webhook-id", "msg_1".parse().unwrap());
    h.insert("webhook-timestamp", t.to_string().parse().unwrap());
    assert!(standard.verify(&WebhookRequest::new(BODY, &h)).is_ok());

    let hmac = HmacBodyVerifier::new("shape-secret");
    let sig: String = hmac.sign(BODY).unwrap();
    let h = one("x-signature", &sig);
    assert!(hmac.verify(&WebhookRequest::new(BODY, &h)).is_ok());

    let twilio = TwilioVerifier::new("shape-token").unwrap();
    let url = "https://hooks.example.com/twilio/sms";
    let sig: String = twilio
        .sign(url, &[("Body", "hi"), ("From", "+15005550006")])
        .unwrap();
    let mut h = one("x-twilio-signature", &sig);
    h.insert(
        http::header::CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let parsed = url::Url::parse(url).unwrap();
    let form = b"Body=hi&From=%2B15005550006";
    assert!(twilio
        .verify(&WebhookRequest::new(form, &h).with_url(&parsed))
        .is_ok());
}

#[test]
fn a_verifier_without_a_secret_refuses_to_sign_as_it_refuses_to_verify() {
    assert_eq!(
        StripeVerifier::builder().build().sign(BODY, now()),
        Err(WebhookError::SecretMissing)
    );
    assert_eq!(
        HmacBodyVerifier::builder().build().unwrap().sign(BODY),
        Err(WebhookError::SecretMissing)
    );
    assert_eq!(
        StandardWebhooks::builder()
            .build()
            .unwrap()
            .sign("m", 1, BODY),
        Err(WebhookError::SecretMissing)
    );
}
