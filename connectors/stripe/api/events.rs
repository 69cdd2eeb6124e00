//! `/v1/events`: retrieve, list.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{Event, EventId};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `GET /v1/events`.
    ListEvents {
        /// Page size, 1 to 100.
        limit: u32,
        /// Only events of this type (`"payment_intent.succeeded"`, or `"payment_intent.*"`).
        r#type: String,
        /// Only events whose delivery succeeded (or failed).
        delivery_success: bool,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

/// The event calls; see [`StripeClient::events`].
#[derive(Debug, Clone)]
pub struct Events {
    client: StripeClient,
}

impl Events {
    pub(crate) fn new(client: StripeClient) -> Self {
        Events { client }
    }

    /// Retrieves an event.
    pub fn retrieve(&self, id: &EventId) -> Call<Event, StripeError> {
        self.client.call(
            Method::GET,
            format!("/v1/events/{}", segment(id.as_str())),
            "events.retrieve",
            &NoParams {},
        )
    }

    /// Every event matching `params` (the last 30 days), fetched page by page as polled.
    pub fn list(&self, params: ListEvents) -> Pages<Event, StripeError> {
        self.client.list("/v1/events", "events.list", &params)
    }
}
