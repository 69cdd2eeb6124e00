//! Nothing panics on external data: malformed success bodies and odd error bodies give typed
//! errors, with Stripe's fields only when the body is Stripe's error format.

use switchboard::stripe::{CreateCustomer, CustomerId};
use switchboard::ErrorKind;
use switchboard::ProviderError;

use super::client;
use super::mock::{MockStripe, Scripted};

#[tokio::test]
async fn malformed_success_bodies_are_decode_errors() {
    for body in ["not json", "{\"id\": 5}", "[]", "", "{\"id\":\"cus_1\""] {
        let mock = MockStripe::start().await;
        mock.push(Scripted::new(200, body));
        let err = client(&mock.base_url())
            .customers()
            .retrieve(&CustomerId::new("cus_1"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode, "{body:?}: {err}");
        assert_eq!(err.code(), None);
    }
}

#[tokio::test]
async fn odd_error_bodies_leave_the_stripe_fields_empty() {
    for body in [
        "<html>oops</html>",
        "",
        "{\"error\": \"flat\"}",
        "{\"error\": {\"type\": 7}}",
        "[1,2]",
        "null",
    ] {
        let mock = MockStripe::start().await;
        mock.push(Scripted::new(400, body));
        let err = client(&mock.base_url())
            .customers()
            .create(CreateCustomer::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Status, "{body:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
        assert_eq!(err.error_type(), None, "{body:?}");
        assert_eq!(err.code(), None);
        assert!(err.message().is_none());
        let _ = format!("{err} {err:?}");
    }
}

#[tokio::test]
async fn a_stripe_error_body_fills_the_fields() {
    let mock = MockStripe::start().await;
    mock.push(
        Scripted::new(
            404,
            r#"{"error":{"type":"invalid_request_error","code":"resource_missing","param":"id","message":"No such customer: 'cus_x'","doc_url":"https://stripe.com/docs/error-codes/resource-missing"}}"#,
        )
        .header("request-id", "req_123"),
    );
    let err = client(&mock.base_url())
        .customers()
        .retrieve(&CustomerId::new("cus_x"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("resource_missing"));
    assert_eq!(err.param(), Some("id"));
    assert_eq!(err.request_id(), Some("req_123"));
    assert!(err.doc_url().is_some());
    assert!(!err.is_retryable());
    let shown = err.to_string();
    assert!(
        shown.contains("resource_missing") && shown.contains("req_123"),
        "{shown}"
    );
    assert!(std::error::Error::source(&err).is_some());
}
