//! `/v1/refunds`: create, retrieve, list.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{Refund, RefundId};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `POST /v1/refunds` (give `payment_intent` or `charge`).
    CreateRefund [metadata] {
        /// The payment intent to refund.
        payment_intent: String,
        /// The charge to refund.
        charge: String,
        /// Amount (default: all that is left).
        amount: i64,
        /// `duplicate`, `fraudulent` or `requested_by_customer`.
        reason: String,
    }
}

params! {
    /// Parameters of `GET /v1/refunds`.
    ListRefunds {
        /// Page size, 1 to 100.
        limit: u32,
        /// Only this payment intent's.
        payment_intent: String,
        /// Only this charge's.
        charge: String,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

/// The refund calls; see [`StripeClient::refunds`].
#[derive(Debug, Clone)]
pub struct Refunds {
    client: StripeClient,
}

impl Refunds {
    pub(crate) fn new(client: StripeClient) -> Self {
        Refunds { client }
    }

    /// Creates a refund.
    pub fn create(&self, params: CreateRefund) -> Call<Refund, StripeError> {
        self.client.call(
            Method::POST,
            "/v1/refunds".into(),
            "refunds.create",
            &params,
        )
    }

    /// Retrieves a refund.
    pub fn retrieve(&self, id: &RefundId) -> Call<Refund, StripeError> {
        self.client.call(
            Method::GET,
            format!("/v1/refunds/{}", segment(id.as_str())),
            "refunds.retrieve",
            &NoParams {},
        )
    }

    /// Every refund matching `params`, fetched page by page as polled.
    pub fn list(&self, params: ListRefunds) -> Pages<Refund, StripeError> {
        self.client.list("/v1/refunds", "refunds.list", &params)
    }
}
