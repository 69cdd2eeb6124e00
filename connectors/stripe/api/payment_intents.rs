//! `/v1/payment_intents`: create, retrieve, update, confirm, capture, cancel, list.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{PaymentIntent, PaymentIntentId};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `POST /v1/payment_intents` (`amount` and `currency` are required).
    CreatePaymentIntent [metadata] {
        /// Amount in the smallest currency unit.
        amount: i64,
        /// ISO currency code, lower case.
        currency: String,
        /// The customer id.
        customer: String,
        /// Description.
        description: String,
        /// The payment method id.
        payment_method: String,
        /// Confirm at once.
        confirm: bool,
        /// `automatic` (default) or `manual`.
        capture_method: String,
        /// Email for the receipt.
        receipt_email: String,
        /// Allowed payment method types (`["card"]`).
        payment_method_types: Vec<String>,
    }
}

params! {
    /// Parameters of `POST /v1/payment_intents/{intent}`.
    UpdatePaymentIntent [metadata] {
        /// Amount in the smallest currency unit.
        amount: i64,
        /// ISO currency code.
        currency: String,
        /// Description.
        description: String,
        /// The payment method id.
        payment_method: String,
    }
}

params! {
    /// Parameters of `POST /v1/payment_intents/{intent}/confirm`.
    ConfirmPaymentIntent {
        /// The payment method id.
        payment_method: String,
        /// Where to send the customer after a redirect.
        return_url: String,
        /// Email for the receipt.
        receipt_email: String,
    }
}

params! {
    /// Parameters of `POST /v1/payment_intents/{intent}/capture`.
    CapturePaymentIntent [metadata] {
        /// Amount to capture (default: all).
        amount_to_capture: i64,
    }
}

params! {
    /// Parameters of `POST /v1/payment_intents/{intent}/cancel`.
    CancelPaymentIntent {
        /// `duplicate`, `fraudulent`, `requested_by_customer` or `abandoned`.
        cancellation_reason: String,
    }
}

params! {
    /// Parameters of `GET /v1/payment_intents`.
    ListPaymentIntents {
        /// Page size, 1 to 100.
        limit: u32,
        /// Only this customer's.
        customer: String,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

/// The payment intent calls; see [`StripeClient::payment_intents`].
#[derive(Debug, Clone)]
pub struct PaymentIntents {
    client: StripeClient,
}

impl PaymentIntents {
    pub(crate) fn new(client: StripeClient) -> Self {
        PaymentIntents { client }
    }

    fn path(id: &PaymentIntentId, action: &str) -> String {
        format!("/v1/payment_intents/{}{action}", segment(id.as_str()))
    }

    /// Creates a payment intent.
    pub fn create(&self, params: CreatePaymentIntent) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::POST,
            "/v1/payment_intents".into(),
            "payment_intents.create",
            &params,
        )
    }

    /// Retrieves a payment intent.
    pub fn retrieve(&self, id: &PaymentIntentId) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::GET,
            Self::path(id, ""),
            "payment_intents.retrieve",
            &NoParams {},
        )
    }

    /// Updates a payment intent.
    pub fn update(
        &self,
        id: &PaymentIntentId,
        params: UpdatePaymentIntent,
    ) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::POST,
            Self::path(id, ""),
            "payment_intents.update",
            &params,
        )
    }

    /// Confirms a payment intent.
    pub fn confirm(
        &self,
        id: &PaymentIntentId,
        params: ConfirmPaymentIntent,
    ) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::POST,
            Self::path(id, "/confirm"),
            "payment_intents.confirm",
            &params,
        )
    }

    /// Captures an authorized payment intent.
    pub fn capture(
        &self,
        id: &PaymentIntentId,
        params: CapturePaymentIntent,
    ) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::POST,
            Self::path(id, "/capture"),
            "payment_intents.capture",
            &params,
        )
    }

    /// Cancels a payment intent.
    pub fn cancel(
        &self,
        id: &PaymentIntentId,
        params: CancelPaymentIntent,
    ) -> Call<PaymentIntent, StripeError> {
        self.client.call(
            Method::POST,
            Self::path(id, "/cancel"),
            "payment_intents.cancel",
            &params,
        )
    }

    /// Every payment intent matching `params`, fetched page by page as polled.
    pub fn list(&self, params: ListPaymentIntents) -> Pages<PaymentIntent, StripeError> {
        self.client
            .list("/v1/payment_intents", "payment_intents.list", &params)
    }
}
