//! The Stripe connector: customers, payment intents, refunds, checkout sessions, events and
//! webhook endpoints over the core pipeline, typed models and errors, `Stripe-Signature`
//! webhook verification, and the `stripe` integration template.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use futures_util::StreamExt;
//! use switchboard::auth::BearerToken;
//! use switchboard::stripe::{
//!     CreateCustomer, CreatePaymentIntent, ListCustomers, StripeClient, StripeConnector,
//!     DEFAULT_BASE_URL,
//! };
//! use switchboard::Switchboard;
//!
//! let sb = Switchboard::builder().build()?;
//! let connection = sb
//!     .connection(Arc::new(StripeConnector::new()))
//!     .tenant("acme")
//!     .id("acme-stripe")
//!     .base_url(DEFAULT_BASE_URL)
//!     .auth(Arc::new(BearerToken::new("sk_test_...")))
//!     .build()?;
//! let stripe = StripeClient::from_connection(connection)?;
//!
//! let customer = stripe
//!     .customers()
//!     .create(CreateCustomer::new().email("jenny@example.com").metadata("crm_id", "42"))
//!     .await?;
//! let intent = stripe
//!     .payment_intents()
//!     .create(CreatePaymentIntent::new().amount(2000).currency("usd").customer(customer.id.as_str()))
//!     .idempotency_key("order-42")
//!     .await?;
//! let mut customers = stripe.customers().list(ListCustomers::new().limit(100u32));
//! while let Some(c) = customers.next().await {
//!     println!("{}", c?.id);
//! }
//! # let _ = intent; Ok(()) }
//! ```
//!
//! Every POST carries an `Idempotency-Key` (generated per call, or yours), reused on every
//! attempt; retries follow the official SDKs (see [`StripeConnector`]). `Stripe-Version` is
//! pinned to [`DEFAULT_API_VERSION`] unless configured. This module uses only the core's
//! public items.

mod api;
mod client;
mod config;
mod connector;
mod error;
mod models;
mod template;
mod webhook;

pub use api::{
    CancelPaymentIntent, CapturePaymentIntent, CheckoutSessions, ConfirmPaymentIntent,
    CreateCheckoutSession, CreateCustomer, CreatePaymentIntent, CreateRefund,
    CreateWebhookEndpoint, Customers, Events, ListCheckoutSessions, ListCustomers, ListEvents,
    ListPaymentIntents, ListRefunds, ListWebhookEndpoints, PaymentIntents, Refunds,
    SearchCustomers, UpdateCustomer, UpdatePaymentIntent, WebhookEndpoints,
};
pub use client::{StripeCallExt, StripeClient};
pub use config::StripeConfig;
pub use connector::{StripeConnector, StripeConnectorBuilder};
pub use error::{StripeError, StripeErrorType};
pub use models::{
    CheckoutSession, CheckoutSessionId, CheckoutSessionMode, CheckoutSessionStatus, Customer,
    CustomerId, Deleted, Event, EventData, EventId, EventObject, Expandable, HasId, List, Metadata,
    PaymentIntent, PaymentIntentId, PaymentIntentStatus, Refund, RefundId, RefundStatus,
    SearchResult, WebhookEndpoint, WebhookEndpointId,
};
pub use template::StripeIntegration;
pub use webhook::{
    test_header, ConstructEventError, StripeVerifier, StripeVerifierBuilder, DEFAULT_TOLERANCE,
    SIGNATURE_HEADER,
};

/// Stripe's API host.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// The API version pinned by default: the version of the OpenAPI spec the models and the
/// contract tests follow.
pub const DEFAULT_API_VERSION: &str = "2023-08-16";
