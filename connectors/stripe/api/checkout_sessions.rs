//! `/v1/checkout/sessions`: create, retrieve, expire, list.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{CheckoutSession, CheckoutSessionId};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `POST /v1/checkout/sessions`. Line items go through
    /// `.param("line_items", json!([{"price": "price_...", "quantity": 1}]))`.
    CreateCheckoutSession [metadata] {
        /// `payment`, `setup` or `subscription`.
        mode: String,
        /// Where the customer lands after paying.
        success_url: String,
        /// Where the customer lands after giving up.
        cancel_url: String,
        /// The customer id.
        customer: String,
        /// Your reference for the session.
        client_reference_id: String,
        /// ISO currency code.
        currency: String,
    }
}

params! {
    /// Parameters of `GET /v1/checkout/sessions`.
    ListCheckoutSessions {
        /// Page size, 1 to 100.
        limit: u32,
        /// Only this customer's.
        customer: String,
        /// Only this payment intent's.
        payment_intent: String,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

/// The checkout session calls; see [`StripeClient::checkout_sessions`].
#[derive(Debug, Clone)]
pub struct CheckoutSessions {
    client: StripeClient,
}

impl CheckoutSessions {
    pub(crate) fn new(client: StripeClient) -> Self {
        CheckoutSessions { client }
    }

    /// Creates a session.
    pub fn create(&self, params: CreateCheckoutSession) -> Call<CheckoutSession, StripeError> {
        self.client.call(
            Method::POST,
            "/v1/checkout/sessions".into(),
            "checkout_sessions.create",
            &params,
        )
    }

    /// Retrieves a session.
    pub fn retrieve(&self, id: &CheckoutSessionId) -> Call<CheckoutSession, StripeError> {
        self.client.call(
            Method::GET,
            format!("/v1/checkout/sessions/{}", segment(id.as_str())),
            "checkout_sessions.retrieve",
            &NoParams {},
        )
    }

    /// Expires an open session, so the customer can no longer pay through it.
    ///
    /// `POST /v1/checkout/sessions/{session}/expire` is not in the 2023-08-16 spec subset we
    /// validate against, so the contract tests check its shape by hand.
    pub fn expire(&self, id: &CheckoutSessionId) -> Call<CheckoutSession, StripeError> {
        self.client.call(
            Method::POST,
            format!("/v1/checkout/sessions/{}/expire", segment(id.as_str())),
            "checkout_sessions.expire",
            &NoParams {},
        )
    }

    /// Every session matching `params`, fetched page by page as polled.
    pub fn list(&self, params: ListCheckoutSessions) -> Pages<CheckoutSession, StripeError> {
        self.client
            .list("/v1/checkout/sessions", "checkout_sessions.list", &params)
    }
}
