//! The calls, one file per resource, reached as `client.<resource>()`. Parameters are plain
//! structs with setters; any parameter they do not name goes through `.param(key, value)`,
//! so a new Stripe parameter never needs a release of ours.

mod checkout_sessions;
mod customers;
mod events;
mod payment_intents;
mod refunds;
mod webhook_endpoints;

pub use checkout_sessions::{CheckoutSessions, CreateCheckoutSession, ListCheckoutSessions};
pub use customers::{CreateCustomer, Customers, ListCustomers, SearchCustomers, UpdateCustomer};
pub use events::{Events, ListEvents};
pub use payment_intents::{
    CancelPaymentIntent, CapturePaymentIntent, ConfirmPaymentIntent, CreatePaymentIntent,
    ListPaymentIntents, PaymentIntents, UpdatePaymentIntent,
};
pub use refunds::{CreateRefund, ListRefunds, Refunds};
pub use webhook_endpoints::{CreateWebhookEndpoint, ListWebhookEndpoints, WebhookEndpoints};

use std::collections::VecDeque;
use std::pin::Pin;

use futures_util::stream::{self, Stream};
use http::Method;
use serde::de::DeserializeOwned;

use super::client::{encode, StripeClient};
use super::models::{HasId, List, SearchResult};
use super::StripeError;

/// A stream of results, boxed so callers can `.next().await` it without pinning.
pub type StripeStream<T> = Pin<Box<dyn Stream<Item = Result<T, StripeError>> + Send>>;

/// Percent-encodes an id for use as one path segment.
pub(crate) fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// Defines a parameter struct: named optional fields with setters, `metadata` when asked,
/// and `extra` for anything else (flattened into the form).
macro_rules! params {
    (
        $(#[$m:meta])* $name:ident $([$meta:ident])? {
            $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, serde::Serialize)]
        #[non_exhaustive]
        pub struct $name {
            $(
                $(#[$fm])*
                #[serde(skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Parameters not named above, by their Stripe name (nested values are encoded as
            /// `key[sub]=v`).
            #[serde(flatten)]
            pub extra: serde_json::Map<String, serde_json::Value>,
        }

        impl $name {
            /// No parameters set.
            pub fn new() -> Self {
                Self::default()
            }

            $(
                $(#[$fm])*
                #[must_use]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*

            /// Sets any parameter by its Stripe name; objects and arrays are encoded the way
            /// Stripe expects (`payment_method_data[type]=card`, `items[0][price]=...`).
            #[must_use]
            pub fn param(mut self, key: impl Into<String>, value: impl serde::Serialize) -> Self {
                let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
                self.extra.insert(key.into(), value);
                self
            }

            $(
                /// Adds one metadata pair (`metadata[key]=value`).
                #[must_use]
                pub fn $meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                    let entry = self
                        .extra
                        .entry("metadata")
                        .or_insert_with(|| serde_json::Value::Object(Default::default()));
                    if let serde_json::Value::Object(m) = entry {
                        m.insert(key.into(), serde_json::Value::String(value.into()));
                    }
                    self
                }
            )?
        }
    };
}
pub(crate) use params;

/// A list that fetches the next page (`starting_after` = the last id seen) only when the
/// stream is polled past the current page, and stops after a page with `has_more: false`.
pub(crate) fn paginate<T>(
    client: StripeClient,
    path: String,
    endpoint: &'static str,
    params: Result<String, StripeError>,
) -> StripeStream<T>
where
    T: DeserializeOwned + HasId + Send + 'static,
{
    pages(
        client,
        path,
        endpoint,
        params,
        "starting_after",
        |page: List<T>| {
            let next = (page.has_more && !page.data.is_empty())
                .then(|| page.data.last().map(|o| o.object_id().to_string()))
                .flatten();
            (page.data, next)
        },
    )
}

/// A search that pages with `page` = the previous page's `next_page`.
pub(crate) fn paginate_search<T>(
    client: StripeClient,
    path: String,
    endpoint: &'static str,
    params: Result<String, StripeError>,
) -> StripeStream<T>
where
    T: DeserializeOwned + Send + 'static,
{
    pages(
        client,
        path,
        endpoint,
        params,
        "page",
        |page: SearchResult<T>| {
            let next = (page.has_more && !page.data.is_empty())
                .then_some(page.next_page)
                .flatten()
                .filter(|p| !p.is_empty());
            (page.data, next)
        },
    )
}

/// The one paging loop behind [`paginate`] and [`paginate_search`]: fetch a page of type `P`
/// with the cursor in `cursor_param`, let `split` give its items and the next cursor, and stop
/// when there is none or a page fails (the error is the stream's last item).
fn pages<P, T>(
    client: StripeClient,
    path: String,
    endpoint: &'static str,
    params: Result<String, StripeError>,
    cursor_param: &'static str,
    split: fn(P) -> (Vec<T>, Option<String>),
) -> StripeStream<T>
where
    P: DeserializeOwned + Send + 'static,
    T: Send + 'static,
{
    struct State<T> {
        client: StripeClient,
        path: String,
        endpoint: &'static str,
        params: Option<Result<String, StripeError>>,
        base: String,
        buffer: VecDeque<T>,
        cursor: Option<String>,
        done: bool,
    }
    let state = State {
        client,
        path,
        endpoint,
        params: Some(params),
        base: String::new(),
        buffer: VecDeque::new(),
        cursor: None,
        done: false,
    };
    Box::pin(stream::unfold(state, move |mut s| async move {
        loop {
            if let Some(item) = s.buffer.pop_front() {
                return Some((Ok(item), s));
            }
            if s.done {
                return None;
            }
            if let Some(p) = s.params.take() {
                match p {
                    Ok(base) => s.base = base,
                    Err(e) => {
                        s.done = true;
                        return Some((Err(e), s));
                    }
                }
            }
            let mut query = super::client::pairs(&s.base);
            if let Some(c) = &s.cursor {
                query.retain(|(k, _)| k != cursor_param);
                query.push((cursor_param.into(), c.clone()));
            }
            match fetch::<P>(&s.client, &s.path, s.endpoint, &query).await {
                Ok(page) => {
                    let (items, next) = split(page);
                    s.done = next.is_none();
                    s.cursor = next;
                    s.buffer.extend(items);
                }
                Err(e) => {
                    s.done = true;
                    return Some((Err(e), s));
                }
            }
        }
    }))
}

async fn fetch<P: DeserializeOwned>(
    client: &StripeClient,
    path: &str,
    endpoint: &'static str,
    query: &[(String, String)],
) -> Result<P, StripeError> {
    let mut req = client
        .connection()
        .request(Method::GET, path)
        .endpoint(endpoint)
        .query(query);
    if let Some(acct) = client.account() {
        req = req.header("Stripe-Account", acct);
    }
    Ok(req.send().await?.json::<P>().await?)
}

/// Encodes list parameters for [`paginate`].
pub(crate) fn list_params<P: serde::Serialize>(p: &P) -> Result<String, StripeError> {
    encode(p)
}
