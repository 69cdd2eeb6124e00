//! `/v1/customers`: create, retrieve, update, delete, list, search.

use http::Method;

use super::params;
use crate::stripe::client::{NoParams, StripeClient};
use crate::stripe::models::{Customer, CustomerId, Deleted};
use crate::stripe::StripeError;
use crate::toolkit::{segment, Call, Pages};

params! {
    /// Parameters of `POST /v1/customers`.
    CreateCustomer [metadata] {
        /// Email address.
        email: String,
        /// Full name or business name.
        name: String,
        /// Description.
        description: String,
        /// Phone number.
        phone: String,
        /// A payment method id to attach.
        payment_method: String,
    }
}

params! {
    /// Parameters of `POST /v1/customers/{customer}`.
    UpdateCustomer [metadata] {
        /// Email address.
        email: String,
        /// Full name or business name.
        name: String,
        /// Description.
        description: String,
        /// Phone number.
        phone: String,
    }
}

params! {
    /// Parameters of `GET /v1/customers`.
    ListCustomers {
        /// Page size, 1 to 100 (Stripe's default is 10).
        limit: u32,
        /// Only customers with this email.
        email: String,
        /// Start after this id (the stream sets it for later pages).
        starting_after: String,
    }
}

params! {
    /// Parameters of `GET /v1/customers/search`.
    SearchCustomers {
        /// The search query (`"email:'jenny@example.com'"`), required.
        query: String,
        /// Page size, 1 to 100.
        limit: u32,
    }
}

/// The customer calls; see [`StripeClient::customers`].
#[derive(Debug, Clone)]
pub struct Customers {
    client: StripeClient,
}

impl Customers {
    pub(crate) fn new(client: StripeClient) -> Self {
        Customers { client }
    }

    /// Creates a customer.
    pub fn create(&self, params: CreateCustomer) -> Call<Customer, StripeError> {
        self.client.call(
            Method::POST,
            "/v1/customers".into(),
            "customers.create",
            &params,
        )
    }

    /// Retrieves a customer (a deleted one comes back with `deleted: true`).
    pub fn retrieve(&self, id: &CustomerId) -> Call<Customer, StripeError> {
        self.client.call(
            Method::GET,
            format!("/v1/customers/{}", segment(id.as_str())),
            "customers.retrieve",
            &NoParams {},
        )
    }

    /// Updates a customer.
    pub fn update(&self, id: &CustomerId, params: UpdateCustomer) -> Call<Customer, StripeError> {
        self.client.call(
            Method::POST,
            format!("/v1/customers/{}", segment(id.as_str())),
            "customers.update",
            &params,
        )
    }

    /// Deletes a customer.
    pub fn delete(&self, id: &CustomerId) -> Call<Deleted<CustomerId>, StripeError> {
        self.client.call(
            Method::DELETE,
            format!("/v1/customers/{}", segment(id.as_str())),
            "customers.delete",
            &NoParams {},
        )
    }

    /// Every customer matching `params`, newest first, fetched page by page as polled.
    pub fn list(&self, params: ListCustomers) -> Pages<Customer, StripeError> {
        self.client.list("/v1/customers", "customers.list", &params)
    }

    /// Every customer matching a search query, fetched page by page (`page`/`next_page`).
    pub fn search(&self, params: SearchCustomers) -> Pages<Customer, StripeError> {
        self.client
            .search("/v1/customers/search", "customers.search", &params)
    }
}
