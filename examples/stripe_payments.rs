//! Stripe payments end to end: create a customer, a payment intent with metadata, confirm it,
//! list payment intents, refund, and verify a signed webhook.
//!
//! Runs offline by default against an in-process mock of the Stripe API (loopback, from
//! `switchboard::test_util`). With `STRIPE_SECRET_KEY` set (a test-mode `sk_test_...` key), it
//! runs against https://api.stripe.com instead.
//!
//! ```text
//! cargo run --example stripe_payments --features stripe
//! STRIPE_SECRET_KEY=sk_test_... cargo run --example stripe_payments --features stripe
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue};
use serde_json::json;
use switchboard::auth::BearerToken;
use switchboard::stripe::{
    test_header, ConfirmPaymentIntent, CreateCustomer, CreatePaymentIntent, CreateRefund, Event,
    ListPaymentIntents, StripeClient, StripeConnector, StripeVerifier, DEFAULT_BASE_URL,
};
use switchboard::webhook::{WebhookRequest, WebhookVerifier};
use switchboard::Switchboard;

#[path = "mocks/stripe.rs"]
mod mock;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (base_url, key, _mock) = match std::env::var("STRIPE_SECRET_KEY") {
        Ok(key) => (DEFAULT_BASE_URL.to_string(), key, None),
        Err(_) => {
            let mock = mock::start().await;
            (mock.base_url(), "sk_test_offline".to_string(), Some(mock))
        }
    };
    println!("stripe at {base_url}");

    let sb = Switchboard::builder().build()?;
    let connection = sb
        .connection(StripeConnector::new())
        .tenant("demo")
        .id("demo-stripe")
        .base_url(&base_url)
        .auth(BearerToken::new(key))
        .build()?;
    let stripe = StripeClient::from_connection(connection)?;

    let customer = stripe
        .customers()
        .create(
            CreateCustomer::new()
                .email("jenny@example.com")
                .name("Jenny Rosen"),
        )
        .await?;
    println!("customer   {}", customer.id);

    let intent = stripe
        .payment_intents()
        .create(
            CreatePaymentIntent::new()
                .amount(2000)
                .currency("usd")
                .customer(customer.id.as_str())
                .payment_method_types(vec!["card".to_string()])
                .metadata("order_id", "6735"),
        )
        .await?;
    println!(
        "intent     {} {:?} metadata={:?}",
        intent.id, intent.status, intent.metadata
    );

    let confirmed = stripe
        .payment_intents()
        .confirm(
            &intent.id,
            ConfirmPaymentIntent::new().payment_method("pm_card_visa"),
        )
        .await?;
    println!("confirmed  {} {:?}", confirmed.id, confirmed.status);

    let mut list = stripe.payment_intents().list(
        ListPaymentIntents::new()
            .customer(customer.id.as_str())
            .limit(10u32),
    );
    let mut n = 0;
    while let Some(pi) = list.next().await {
        let _ = pi?;
        n += 1;
    }
    println!("listed     {n} payment intent(s) of the customer");

    let refund = stripe
        .refunds()
        .create(
            CreateRefund::new()
                .payment_intent(intent.id.as_str())
                .amount(500),
        )
        .await?;
    println!(
        "refund     {} {} {:?}",
        refund.id, refund.amount, refund.status
    );

    // A webhook as Stripe would post it, signed with the endpoint secret.
    let secret = "whsec_demo";
    let body = serde_json::to_vec_pretty(&json!({
        "id": "evt_demo", "object": "event", "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent.id.as_str(), "object": "payment_intent",
                            "amount": 2000, "currency": "usd", "status": "succeeded"}}
    }))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut headers = HeaderMap::new();
    headers.insert(
        "stripe-signature",
        HeaderValue::from_str(&test_header(&body, secret, now))?,
    );
    let verified = StripeVerifier::new(secret).verify(&WebhookRequest::new(&body, &headers))?;
    let event = Event::from_slice(&body)?;
    println!(
        "webhook    {} verified ({}), object {:?}",
        verified.event_id.unwrap_or_default(),
        event.event_type,
        event.data.object.object_name()
    );
    Ok(())
}
