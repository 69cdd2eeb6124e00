//! The secret key and the webhook secret never reach Debug, Display, errors or logs, even
//! when a server echoes the key back in an error message.

use std::sync::Arc;

use serde_json::json;
use switchboard::stripe::{
    CreateCustomer, StripeClient, StripeConnector, StripeIntegration, StripeVerifier,
};
use switchboard::templates::Integration;
use switchboard::test_util::{canary, LogCapture};
use switchboard::ProviderError;

use super::connection_with;
use super::mock::{MockStripe, Scripted};

#[tokio::test]
async fn keys_appear_in_no_debug_display_error_or_log_output() {
    let (logs, _guard) = LogCapture::start();
    let key = format!("sk_test_{}", canary("stripe").replace('-', "_"));
    let whsec = format!("whsec_{}", canary("whsec"));
    let mock = MockStripe::start().await;
    // A careless proxy echoing the key: the message is redacted before it is kept.
    mock.push(Scripted::new(
        401,
        json!({"error": {"type": "invalid_request_error", "message": format!("Invalid API Key provided: {key}")}}).to_string(),
    ));
    mock.push(Scripted::new(500, "{}"));
    mock.push(Scripted::new(500, "{}"));
    mock.push(Scripted::new(500, "{}"));

    let conn = connection_with(StripeConnector::new(), &mock.base_url(), &key);
    let stripe = StripeClient::from_connection(conn.clone()).unwrap();
    let mut outputs = vec![format!("{conn:?}"), format!("{stripe:?}")];
    for _ in 0..2 {
        let err = stripe
            .customers()
            .create(CreateCustomer::new().email("a@b.c"))
            .await
            .unwrap_err();
        outputs.push(format!(
            "{err} {err:?} {:?} {:?}",
            err.message(),
            err.core()
        ));
    }
    let integration = StripeIntegration::new();
    let config = integration
        .template()
        .split(&json!({"secret_key": key, "webhook_secret": whsec}))
        .unwrap();
    let binding = integration.bind(&config).unwrap();
    outputs.push(format!("{integration:?} {config:?} {binding:?}"));
    let verifier = StripeVerifier::builder().secret(whsec.clone()).build();
    outputs.push(format!("{verifier:?}"));

    let all = outputs.join("\n");
    assert!(
        all.contains("[redacted]"),
        "the echoed key was redacted: {all}"
    );
    for c in [&key, &whsec] {
        assert!(!all.contains(c.as_str()), "{c} leaked:\n{all}");
        logs.assert_absent(c);
    }
    // The key did reach the server, so the checks above could have failed.
    assert_eq!(
        mock.requests()[0].header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    let _ = Arc::new(stripe);
}
