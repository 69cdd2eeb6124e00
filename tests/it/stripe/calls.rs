//! Every call against the contract-checking mock: typed results, request shapes, the
//! `Stripe-Version` pin, `Stripe-Account` (connector-wide, per client, per call), and a
//! negative test proving the checker catches a request the spec does not allow.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::stripe::{
    CancelPaymentIntent, CapturePaymentIntent, CheckoutSessionId, CheckoutSessionStatus,
    ConfirmPaymentIntent, CreateCheckoutSession, CreateCustomer, CreatePaymentIntent, CreateRefund,
    CreateWebhookEndpoint, CustomerId, EventId, ListCheckoutSessions, ListCustomers, ListEvents,
    ListPaymentIntents, ListRefunds, ListWebhookEndpoints, PaymentIntentStatus, RefundId,
    SearchCustomers, StripeCallExt, StripeClient, StripeConnector, UpdateCustomer,
    UpdatePaymentIntent, WebhookEndpointId, DEFAULT_API_VERSION,
};
use switchboard::ErrorKind;
use switchboard::ProviderError;

use super::mock::MockStripe;
use super::{client, connection_with, KEY};

#[tokio::test]
async fn every_call_sends_what_the_spec_allows_and_parses_the_fixtures() {
    let mock = MockStripe::start().await;
    let stripe = client(&mock.base_url());

    // Customers.
    let c = stripe
        .customers()
        .create(
            CreateCustomer::new()
                .email("jenny@example.com")
                .name("Jenny Rosen")
                .metadata("crm_id", "42")
                .param("address", json!({"line1": "1 Main St", "country": "US"})),
        )
        .expand("tax")
        .await
        .unwrap();
    assert_eq!(c.email.as_deref(), Some("jenny@example.com"));
    assert_eq!(c.metadata.get("crm_id").map(String::as_str), Some("42"));
    let id = c.id.clone();
    let got = stripe
        .customers()
        .retrieve(&id)
        .expand("default_source")
        .await
        .unwrap();
    assert_eq!(got.id, id);
    let upd = stripe
        .customers()
        .update(
            &id,
            UpdateCustomer::new()
                .description("vip")
                .metadata("tier", "gold"),
        )
        .await
        .unwrap();
    assert_eq!(upd.description.as_deref(), Some("vip"));
    let listed: Vec<_> = stripe
        .customers()
        .list(ListCustomers::new().limit(2u32).email("jenny@example.com"))
        .collect()
        .await;
    assert_eq!(listed.len(), 5);
    let found: Vec<_> = stripe
        .customers()
        .search(
            SearchCustomers::new()
                .query("email:'jenny@example.com'")
                .limit(2u32),
        )
        .collect()
        .await;
    assert_eq!(found.len(), 5, "search pages with next_page");
    let deleted = stripe.customers().delete(&id).await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.id, id);

    // Payment intents.
    let pi = stripe
        .payment_intents()
        .create(
            CreatePaymentIntent::new()
                .amount(2000)
                .currency("usd")
                .customer(id.as_str())
                .payment_method_types(vec!["card".to_string()])
                .metadata("order_id", "6735")
                .param("payment_method_data", json!({"type": "affirm"})),
        )
        .await
        .unwrap();
    assert_eq!(pi.amount, 2000);
    assert_eq!(pi.status, PaymentIntentStatus::RequiresConfirmation);
    assert_eq!(pi.metadata["order_id"], "6735");
    let pid = pi.id.clone();
    stripe.payment_intents().retrieve(&pid).await.unwrap();
    stripe
        .payment_intents()
        .update(&pid, UpdatePaymentIntent::new().description("order 6735"))
        .await
        .unwrap();
    let confirmed = stripe
        .payment_intents()
        .confirm(
            &pid,
            ConfirmPaymentIntent::new().payment_method("pm_card_visa"),
        )
        .await
        .unwrap();
    assert_eq!(confirmed.status, PaymentIntentStatus::Succeeded);
    stripe
        .payment_intents()
        .capture(&pid, CapturePaymentIntent::new().amount_to_capture(2000))
        .await
        .unwrap();
    let canceled = stripe
        .payment_intents()
        .cancel(
            &pid,
            CancelPaymentIntent::new().cancellation_reason("requested_by_customer"),
        )
        .await
        .unwrap();
    assert_eq!(canceled.status, PaymentIntentStatus::Canceled);
    let n = stripe
        .payment_intents()
        .list(ListPaymentIntents::new().customer(id.as_str()))
        .count()
        .await;
    assert_eq!(n, 5);

    // Refunds.
    let r = stripe
        .refunds()
        .create(
            CreateRefund::new()
                .payment_intent(pid.as_str())
                .amount(500)
                .reason("requested_by_customer"),
        )
        .await
        .unwrap();
    assert_eq!(r.amount, 500);
    stripe
        .refunds()
        .retrieve(&RefundId::new("re_1"))
        .await
        .unwrap();
    assert_eq!(
        stripe
            .refunds()
            .list(ListRefunds::new().limit(3u32))
            .count()
            .await,
        5
    );

    // Checkout sessions.
    let s = stripe
        .checkout_sessions()
        .create(
            CreateCheckoutSession::new()
                .mode("payment")
                .success_url("https://example.com/ok")
                .param("line_items", json!([{"price": "price_1", "quantity": 2}])),
        )
        .await
        .unwrap();
    stripe.checkout_sessions().retrieve(&s.id).await.unwrap();
    let expired = stripe
        .checkout_sessions()
        .expire(&CheckoutSessionId::new(s.id.as_str()))
        .await
        .unwrap();
    assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    assert_eq!(
        stripe
            .checkout_sessions()
            .list(ListCheckoutSessions::new())
            .count()
            .await,
        5
    );

    // Events.
    let e = stripe
        .events()
        .retrieve(&EventId::new("evt_1"))
        .await
        .unwrap();
    assert_eq!(e.id.as_str(), "evt_1");
    let events: Vec<_> = stripe
        .events()
        .list(ListEvents::new().r#type("customer.created").limit(4u32))
        .collect()
        .await;
    assert!(events.iter().all(Result::is_ok));
    assert_eq!(events.len(), 5);

    // Webhook endpoints.
    let we = stripe
        .webhook_endpoints()
        .create(
            CreateWebhookEndpoint::new()
                .url("https://example.com/hooks")
                .enabled_events(vec![
                    "payment_intent.succeeded".to_string(),
                    "charge.refunded".to_string(),
                ]),
        )
        .await
        .unwrap();
    assert!(
        we.secret.is_some(),
        "the create response carries the signing secret"
    );
    assert!(
        !format!("{we:?}").contains("whsec_mock"),
        "the secret is redacted in Debug"
    );
    assert_eq!(
        stripe
            .webhook_endpoints()
            .list(ListWebhookEndpoints::new())
            .count()
            .await,
        5
    );
    let d = stripe
        .webhook_endpoints()
        .delete(&WebhookEndpointId::new("we_1"))
        .await
        .unwrap();
    assert!(d.deleted);

    mock.assert_contract_kept();
    let reqs = mock.requests();
    assert!(reqs.len() > 30, "{} requests", reqs.len());
    for r in &reqs {
        assert_eq!(r.header("stripe-version"), Some(DEFAULT_API_VERSION));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(r.header("stripe-account"), None);
    }
    // The body of the customer create, as Stripe reads it.
    let create = &reqs[0];
    assert_eq!(create.method, http::Method::POST);
    assert_eq!(reqs[1].method, http::Method::GET);
    let pairs = create.body_pairs();
    for (k, v) in [
        ("email", "jenny@example.com"),
        ("metadata[crm_id]", "42"),
        ("address[line1]", "1 Main St"),
        ("expand[0]", "tax"),
    ] {
        assert!(
            pairs.contains(&(k.into(), v.into())),
            "{k}={v} not in {pairs:?}"
        );
    }
    // A retrieve's expand goes in the query.
    assert!(reqs[1]
        .query_pairs()
        .contains(&("expand[]".into(), "default_source".into())));
}

#[tokio::test]
async fn the_version_pin_is_configurable_and_the_account_is_overridable() {
    let mock = MockStripe::start().await;
    let connector = StripeConnector::builder()
        .api_version("2024-04-10")
        .account("acct_connector")
        .build()
        .unwrap();
    let stripe =
        StripeClient::from_connection(connection_with(connector, &mock.base_url(), KEY)).unwrap();
    let id = CustomerId::new("cus_1");
    stripe.customers().retrieve(&id).await.unwrap();
    stripe
        .with_account("acct_client")
        .customers()
        .retrieve(&id)
        .await
        .unwrap();
    stripe
        .with_account("acct_client")
        .customers()
        .retrieve(&id)
        .stripe_account("acct_call")
        .await
        .unwrap();
    let _ = stripe
        .with_account("acct_list")
        .customers()
        .list(ListCustomers::new())
        .next()
        .await;
    mock.assert_contract_kept();
    let accounts: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.header("stripe-version"), Some("2024-04-10"));
            r.header("stripe-account").map(str::to_owned)
        })
        .collect();
    assert_eq!(
        accounts,
        [
            Some("acct_connector".to_string()),
            Some("acct_client".to_string()),
            Some("acct_call".to_string()),
            Some("acct_list".to_string()),
        ]
    );
}

#[tokio::test]
async fn the_contract_check_catches_a_request_the_spec_does_not_allow() {
    let mock = MockStripe::start().await;
    let stripe = client(&mock.base_url());
    // An unknown parameter: the body schema has `additionalProperties: false`.
    let err = stripe
        .customers()
        .create(
            CreateCustomer::new()
                .email("a@b.c")
                .param("favourite_colour", "teal"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status);
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    // A wrong type: `amount` must be an integer.
    let _ = stripe
        .payment_intents()
        .create(
            CreatePaymentIntent::new()
                .currency("usd")
                .param("amount", "lots"),
        )
        .await
        .unwrap_err();
    // An unknown query parameter on a list.
    let _ = stripe
        .refunds()
        .list(ListRefunds::new().param("colour", "teal"))
        .next()
        .await;
    let v = mock.violations();
    assert_eq!(v.len(), 3, "{v:#?}");
    assert!(v[0].contains("favourite_colour"), "{}", v[0]);
    assert!(v[1].contains("/amount"), "{}", v[1]);
    assert!(v[2].contains("colour"), "{}", v[2]);
    // An unknown path is refused too.
    let raw = switchboard::stripe::StripeClient::connection(&stripe)
        .get("/v1/not_a_thing")
        .send()
        .await;
    assert!(raw.is_err());
    assert_eq!(mock.violations().len(), 4);
}

#[tokio::test]
async fn a_connection_of_another_connector_is_a_typed_config_error() {
    let sb = crate::support::builder().build().unwrap();
    let other = sb
        .connection(Arc::new(crate::support::TestConnector::default()))
        .tenant("t1")
        .id("stripe-1")
        .base_url("https://api.example.com")
        .auth(Arc::new(BearerToken::new(KEY.to_string())))
        .build()
        .unwrap();
    let err = StripeClient::from_connection(other).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(text.contains("stripe.connection"), "{text}");
    assert!(
        !text.contains(KEY) && !format!("{err:?}").contains(KEY),
        "{err:?}"
    );
    // A Stripe connection is accepted.
    assert!(StripeClient::from_connection(super::connection("https://api.stripe.com")).is_ok());
}
