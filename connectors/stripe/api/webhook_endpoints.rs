//! `/v1/webhook_endpoints`: create, list, delete.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{Deleted, WebhookEndpoint, WebhookEndpointId};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `POST /v1/webhook_endpoints` (`url` and `enabled_events` are required).
    CreateWebhookEndpoint [metadata] {
        /// Where Stripe posts events.
        url: String,
        /// The event types to send (`["*"]` for all).
        enabled_events: Vec<String>,
        /// Description.
        description: String,
        /// The API version events are rendered with (default: the account's).
        api_version: String,
        /// Receive events of connected accounts (Connect).
        connect: bool,
    }
}

params! {
    /// Parameters of `GET /v1/webhook_endpoints`.
    ListWebhookEndpoints {
        /// Page size, 1 to 100.
        limit: u32,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

/// The webhook endpoint calls; see [`StripeClient::webhook_endpoints`].
#[derive(Debug, Clone)]
pub struct WebhookEndpoints {
    client: StripeClient,
}

impl WebhookEndpoints {
    pub(crate) fn new(client: StripeClient) -> Self {
        WebhookEndpoints { client }
    }

    /// Creates an endpoint; the response's `secret` is the signing secret (shown only here).
    pub fn create(&self, params: CreateWebhookEndpoint) -> Call<WebhookEndpoint, StripeError> {
        self.client.call(
            Method::POST,
            "/v1/webhook_endpoints".into(),
            "webhook_endpoints.create",
            &params,
        )
    }

    /// Deletes an endpoint.
    pub fn delete(&self, id: &WebhookEndpointId) -> Call<Deleted<WebhookEndpointId>, StripeError> {
        self.client.call(
            Method::DELETE,
            format!("/v1/webhook_endpoints/{}", segment(id.as_str())),
            "webhook_endpoints.delete",
            &NoParams {},
        )
    }

    /// Every endpoint, fetched page by page as polled.
    pub fn list(&self, params: ListWebhookEndpoints) -> Pages<WebhookEndpoint, StripeError> {
        self.client
            .list("/v1/webhook_endpoints", "webhook_endpoints.list", &params)
    }
}
