//! Stripe connector tests: the request contract (every request checked against Stripe's
//! OpenAPI spec by a loopback mock serving `fixtures3.json`), the calls, retries, paging,
//! errors, webhooks (shared vectors), events, the template and secrets.

mod calls;
mod contract;
mod errors;
mod events;
mod mock;
mod paging;
mod retry;
mod secrets;
mod template;
mod vectors;

use std::sync::Arc;

use switchboard::auth::BearerToken;
use switchboard::stripe::{StripeClient, StripeConnector};
use switchboard::Connection;

/// A test key; the mock only checks it is a bearer token.
pub(crate) const KEY: &str = "sk_test_switchboard";

/// A connection of a default [`StripeConnector`] to `base_url`.
pub(crate) fn connection(base_url: &str) -> Connection {
    connection_with(StripeConnector::new(), base_url, KEY)
}

pub(crate) fn connection_with(connector: StripeConnector, base_url: &str, key: &str) -> Connection {
    let sb = crate::support::builder().build().unwrap();
    sb.connection(Arc::new(connector))
        .tenant("t1")
        .id("stripe-1")
        .base_url(base_url)
        .auth(Arc::new(BearerToken::new(key.to_string())))
        .build()
        .unwrap()
}

/// A client over [`connection`].
pub(crate) fn client(base_url: &str) -> StripeClient {
    StripeClient::from_connection(connection(base_url)).unwrap()
}
