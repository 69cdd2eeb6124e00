//! The `stripe` template: a valid config binds (bearer auth, connector settings), an invalid
//! one reports JSON pointers without values, and `check()` reads `/v1/balance`.

use std::sync::Arc;

use serde_json::json;
use switchboard::stripe::StripeIntegration;
use switchboard::templates::Integration;

use super::mock::MockStripe;

#[tokio::test]
async fn a_valid_config_binds_and_check_reads_the_balance_with_the_key() {
    let mock = MockStripe::start().await;
    let integration = StripeIntegration::new();
    let t = integration.template();
    assert_eq!(t.name(), "stripe");
    assert_eq!(
        t.secret_fields(),
        ["secret_key", "webhook_secret", "webhook_secret_previous"]
    );
    let config = t
        .split(&json!({
            "secret_key": "sk_test_bindme",
            "webhook_secret": "whsec_abc",
            "account_id": "acct_123",
            "api_version": "2023-08-16",
            "base_url": mock.base_url(),
        }))
        .unwrap();
    let binding = integration.bind(&config).unwrap();
    assert_eq!(binding.base_url, mock.base_url());
    assert_eq!(binding.connector.name(), "stripe");
    let sb = crate::support::builder().build().unwrap();
    let conn = sb
        .connection(binding.connector.clone())
        .tenant("t1")
        .id("c1")
        .base_url(&binding.base_url)
        .auth(binding.auth.clone().unwrap())
        .build()
        .unwrap();
    integration.check(&conn).await.unwrap();
    mock.assert_contract_kept();
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/balance");
    assert_eq!(
        reqs[0].header("authorization"),
        Some("Bearer sk_test_bindme")
    );
    assert_eq!(reqs[0].header("stripe-account"), Some("acct_123"));
    assert_eq!(reqs[0].header("stripe-version"), Some("2023-08-16"));
    let _: Arc<dyn Integration> = Arc::new(integration);
}

#[test]
fn the_default_base_url_is_stripes() {
    let integration = StripeIntegration::new();
    let config = integration
        .template()
        .split(&json!({"secret_key": "rk_live_x"}))
        .unwrap();
    let binding = integration.bind(&config).unwrap();
    assert_eq!(binding.base_url, "https://api.stripe.com");
}

#[test]
fn an_invalid_config_reports_pointers_without_values() {
    let t = StripeIntegration::new().template().clone();
    let err = t
        .validate(&json!({"secret_key": "pk_test_CANARYVALUE", "account_id": "nope-CANARY2", "colour": "CANARY3"}))
        .unwrap_err();
    let pointers: Vec<&str> = err.issues.iter().map(|i| i.pointer.as_str()).collect();
    assert!(pointers.contains(&"/secret_key"), "{err}");
    assert!(pointers.contains(&"/account_id"), "{err}");
    assert!(
        pointers.contains(&""),
        "the extra field is reported at the root: {err}"
    );
    let text = format!("{err} {err:?}");
    assert!(!text.contains("CANARY"), "{text}");
    let err = t.validate(&json!({})).unwrap_err();
    assert_eq!(err.issues[0].pointer, "/secret_key", "{err}");
    assert_eq!(err.issues[0].message, "Secret key is required", "{err}");
}

/// Messages a form shows next to each field: the field's title and the rule in words, never
/// the value and never Rust `Debug` text.
#[test]
fn validation_messages_are_words_a_form_can_show() {
    let t = StripeIntegration::new().template().clone();
    let err = t
        .validate(&json!({"secret_key": "pk_test_CANARYVALUE", "account_id": "nope-CANARY2", "webhook_secret": 7, "colour": "CANARY3"}))
        .unwrap_err();
    let by_pointer = |p: &str| {
        err.issues
            .iter()
            .find(|i| i.pointer == p)
            .map(|i| i.message.clone())
            .unwrap_or_else(|| panic!("no issue at {p}: {err}"))
    };
    assert_eq!(
        by_pointer("/secret_key"),
        "Secret key must start with sk_ (a secret key) or rk_ (a restricted key), followed by letters, digits and underscores"
    );
    assert_eq!(
        by_pointer("/account_id"),
        "Connected account (Connect) must start with acct_ followed by letters and digits"
    );
    assert_eq!(
        by_pointer("/webhook_secret"),
        "Webhook signing secret must be a string"
    );
    assert_eq!(by_pointer(""), "has fields this form does not know: colour");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("CANARY"), "{text}");
    assert!(
        !text.contains("kind:") && !text.contains("Single("),
        "{text}"
    );
}

#[test]
fn webhook_verifier_takes_this_connection_secrets_and_fails_closed_without_one() {
    use switchboard::webhook::WebhookRequest;

    let integration = StripeIntegration::new();
    let split = |c: serde_json::Value| integration.template().split(&c).unwrap();
    let err = integration
        .webhook_verifier(&split(json!({"secret_key": "sk_test_x"})))
        .unwrap_err();
    assert_eq!(err.kind(), switchboard::ErrorKind::Config, "{err}");
    let verifier = integration
        .webhook_verifier(&split(json!({
            "secret_key": "sk_test_x",
            "webhook_secret": "whsec_new",
            "webhook_secret_previous": "whsec_old",
        })))
        .unwrap();
    let body = br#"{"id":"evt_1","object":"event"}"#;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (secret, ok) in [
        ("whsec_new", true),
        ("whsec_old", true),
        ("whsec_other", false),
    ] {
        let mut headers = http::HeaderMap::new();
        let value = switchboard::stripe::test_header(body, secret, now);
        headers.insert("stripe-signature", value.parse().unwrap());
        let verified = verifier.verify(&WebhookRequest::new(body, &headers));
        assert_eq!(verified.is_ok(), ok, "{secret}");
    }
    assert_eq!(
        integration
            .webhook_routing()
            .map(|r| (r.config_field, r.body_field)),
        Some(("account_id".to_string(), "account".to_string()))
    );
}
