//! [`StripeClient`]: the typed handle over a [`Connection`], and [`StripeCallExt`], Stripe's
//! per-call options (`expand`, a Connect account) on top of the core
//! [`Call`](crate::toolkit::Call) every endpoint returns.

use std::fmt;
use std::sync::Arc;

use http::{Extensions, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::{CheckoutSessions, Customers, Events, PaymentIntents, Refunds, WebhookEndpoints};
use super::models::{HasId, List, SearchResult};
use super::StripeError;
use crate::toolkit::{Call, Page, Pager, Pages};
use crate::{ConfigError, Connection, RequestBuilder};

/// The typed Stripe API over a [`Connection`] made with a [`super::StripeConnector`].
///
/// Cheap to clone (a connection handle and an optional account).
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::stripe::StripeError> {
/// use switchboard::stripe::{CreateCustomer, StripeClient};
/// let stripe = StripeClient::from_connection(connection)?;
/// let customer = stripe
///     .customers()
///     .create(CreateCustomer::new().email("jenny@example.com").metadata("crm_id", "42"))
///     .await?;
/// // Acting on a connected account:
/// let theirs = stripe.with_account("acct_1032D82eZvKYlo2C");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct StripeClient {
    connection: Connection,
    account: Option<Arc<str>>,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("connection", &self.connection)
            .field("account", &self.account)
            .finish()
    }
}

impl StripeClient {
    /// A client over `connection`, which must be a connection of a
    /// [`super::StripeConnector`] (so that requests carry `Stripe-Version` and the retry rules
    /// are Stripe's): made by [`super::StripeIntegration`] through
    /// [`Connections`](crate::connections::Connections), or by a host with
    /// `Switchboard::connection(StripeConnector::new())`.
    ///
    /// # Errors
    /// A [`StripeError`] of kind [`ErrorKind::Config`](crate::ErrorKind::Config) naming
    /// `stripe.connection` when the connection belongs to another connector.
    pub fn from_connection(connection: Connection) -> Result<Self, StripeError> {
        crate::toolkit::connector_of::<super::StripeConnector>(&connection, "stripe.connection")?;
        Ok(StripeClient {
            connection,
            account: None,
        })
    }

    /// A client whose every call acts on the Connect account `account` (`Stripe-Account`),
    /// overriding the connector-wide account.
    #[must_use]
    pub fn with_account(&self, account: impl Into<String>) -> Self {
        StripeClient {
            connection: self.connection.clone(),
            account: Some(Arc::from(account.into())),
        }
    }

    /// The account set with [`StripeClient::with_account`].
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    /// The underlying connection, for calls this client does not model.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Customers: create, retrieve, update, delete, list, search.
    pub fn customers(&self) -> Customers {
        Customers::new(self.clone())
    }

    /// Payment intents: create, retrieve, update, confirm, capture, cancel, list.
    pub fn payment_intents(&self) -> PaymentIntents {
        PaymentIntents::new(self.clone())
    }

    /// Refunds: create, retrieve, list.
    pub fn refunds(&self) -> Refunds {
        Refunds::new(self.clone())
    }

    /// Checkout sessions: create, retrieve, expire, list.
    pub fn checkout_sessions(&self) -> CheckoutSessions {
        CheckoutSessions::new(self.clone())
    }

    /// Events: retrieve, list.
    pub fn events(&self) -> Events {
        Events::new(self.clone())
    }

    /// Webhook endpoints: create, list, delete.
    pub fn webhook_endpoints(&self) -> WebhookEndpoints {
        WebhookEndpoints::new(self.clone())
    }

    /// A typed call; `params` are form-encoded (POST body, or query for GET and DELETE).
    pub(crate) fn call<T, P: Serialize>(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        params: &P,
    ) -> Call<T, StripeError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        // Only the encoding depends on `P` and only `Call::new` on `T`: the rest is built once
        // (`prepared`), not once per endpoint.
        let (req, finish) = self.prepared(method, path, endpoint, encode(params));
        Call::new(req).finish_with(finish)
    }

    /// The request of a call and the step that puts the encoded parameters and the call's
    /// Stripe options on it just before it is sent.
    fn prepared(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        params: Result<String, StripeError>,
    ) -> (
        RequestBuilder,
        impl FnOnce(RequestBuilder, &mut Extensions) -> Result<RequestBuilder, StripeError>
            + Send
            + 'static,
    ) {
        let is_post = method == Method::POST;
        let account = self.account.clone();
        let req = self.connection.request(method, path).endpoint(endpoint);
        (req, move |req, ext: &mut Extensions| {
            finish(req, ext, is_post, params, account)
        })
    }

    /// A list: `GET path` with `params` in the query, paged with `starting_after` = the last
    /// id of the page before, each page fetched only when the stream is polled past the last.
    pub(crate) fn list<T, P: Serialize>(
        &self,
        path: &str,
        endpoint: &'static str,
        params: &P,
    ) -> Pages<T, StripeError>
    where
        T: DeserializeOwned + HasId + Send + 'static,
    {
        match self.pager(path, endpoint, params) {
            Ok(pager) => pager.cursor("starting_after", |page: List<T>| {
                let next = page
                    .has_more
                    .then(|| page.data.last().map(|o| o.object_id().to_string()))
                    .flatten();
                Page::new(page.data).next(next)
            }),
            Err(e) => Pages::failed(e),
        }
    }

    /// A search: as [`StripeClient::list`], paged with `page` = the page before's
    /// `next_page`.
    pub(crate) fn search<T, P: Serialize>(
        &self,
        path: &str,
        endpoint: &'static str,
        params: &P,
    ) -> Pages<T, StripeError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        match self.pager(path, endpoint, params) {
            Ok(pager) => pager.cursor("page", |page: SearchResult<T>| {
                let next = if page.has_more { page.next_page } else { None };
                Page::new(page.data).next(next)
            }),
            Err(e) => Pages::failed(e),
        }
    }

    fn pager<P: Serialize>(
        &self,
        path: &str,
        endpoint: &'static str,
        params: &P,
    ) -> Result<Pager, StripeError> {
        self.pager_of(path, endpoint, encode(params)?)
    }

    fn pager_of(
        &self,
        path: &str,
        endpoint: &'static str,
        encoded: String,
    ) -> Result<Pager, StripeError> {
        let query = pairs(&encoded);
        let account = self.account.clone();
        Ok(Pager::new(self.connection.clone(), path)
            .query(&query)
            .endpoint(endpoint)
            .prepare(move |req| match account.as_deref() {
                Some(acct) => req.header("Stripe-Account", acct),
                None => req,
            }))
    }
}

/// No parameters (serializes as an empty form).
#[derive(Debug, Serialize)]
pub(crate) struct NoParams {}

/// Stripe's form encoding of nested values (`metadata[k]=v`, `expand[0]=x`,
/// `payment_method_data[card][token]=tok`), done by `serde_qs`, the encoder async-stripe uses.
pub(crate) fn encode<P: Serialize>(params: &P) -> Result<String, StripeError> {
    serde_qs::to_string(params).map_err(encode_error)
}

/// Kept out of [`encode`] so that it is compiled once, not once per parameter type.
fn encode_error(e: serde_qs::Error) -> StripeError {
    StripeError::from_core(
        ConfigError::new("stripe.params", format!("cannot be form-encoded: {e}")).into(),
    )
}

/// Percent-decoded pairs of an encoded form, for a query string.
pub(crate) fn pairs(encoded: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

/// Stripe's own per-call options, on top of the core [`Call`]'s (`idempotency_key`, `header`,
/// `timeout`). Import it to use them.
///
/// ```no_run
/// # async fn demo(stripe: switchboard::stripe::StripeClient) -> Result<(), switchboard::stripe::StripeError> {
/// use switchboard::stripe::{PaymentIntentId, StripeCallExt};
/// let intent = stripe
///     .payment_intents()
///     .retrieve(&PaymentIntentId::new("pi_123"))
///     .expand("customer")
///     .stripe_account("acct_1032D82eZvKYlo2C")
///     .await?;
/// # let _ = intent; Ok(()) }
/// ```
pub trait StripeCallExt: Sized {
    /// Asks Stripe to expand a field (`"customer"`, `"latest_charge"`): `expand[i]` in a POST
    /// body, `expand[]` in a GET or DELETE query.
    #[must_use]
    fn expand(self, field: impl Into<String>) -> Self;

    /// Acts on the Connect account `account` (`Stripe-Account`) for this call only.
    #[must_use]
    fn stripe_account(self, account: impl Into<String>) -> Self;
}

/// The Stripe options of one call, kept in the call's extensions until it is sent.
#[derive(Debug, Clone, Default)]
struct StripeOptions {
    expand: Vec<String>,
    account: Option<String>,
}

impl<T> StripeCallExt for Call<T, StripeError> {
    fn expand(mut self, field: impl Into<String>) -> Self {
        self.extensions_mut()
            .get_or_insert_default::<StripeOptions>()
            .expand
            .push(field.into());
        self
    }

    fn stripe_account(mut self, account: impl Into<String>) -> Self {
        self.extensions_mut()
            .get_or_insert_default::<StripeOptions>()
            .account = Some(account.into());
        self
    }
}

/// Puts the encoded parameters and the call's Stripe options on the request, just before it
/// is sent.
fn finish(
    req: RequestBuilder,
    ext: &mut Extensions,
    is_post: bool,
    params: Result<String, StripeError>,
    client_account: Option<Arc<str>>,
) -> Result<RequestBuilder, StripeError> {
    let mut encoded = params?;
    let opts = ext.remove::<StripeOptions>().unwrap_or_default();
    for (i, field) in opts.expand.iter().enumerate() {
        if !encoded.is_empty() {
            encoded.push('&');
        }
        // Bodies index arrays (`expand[0]`); queries use `expand[]`, as the SDKs do.
        let key = if is_post {
            format!("expand[{i}]")
        } else {
            "expand[]".to_string()
        };
        encoded.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair(&key, field)
                .finish(),
        );
    }
    let mut req = if is_post {
        req.body(encoded, "application/x-www-form-urlencoded")
    } else if !encoded.is_empty() {
        req.query(&pairs(&encoded))
    } else {
        req
    };
    if let Some(acct) = opts.account.as_deref().or(client_account.as_deref()) {
        req = req.header("Stripe-Account", acct);
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::{CreateCustomer, CreatePaymentIntent};

    fn decoded(p: &impl Serialize) -> Vec<(String, String)> {
        pairs(&encode(p).unwrap())
    }

    #[test]
    fn encodes_nested_values_the_way_stripe_reads_them() {
        let p = CreatePaymentIntent::new()
            .amount(2000)
            .currency("usd")
            .confirm(true)
            .payment_method_types(vec!["card".to_string()])
            .metadata("order_id", "6735")
            .param("expand", ["customer", "latest_charge"])
            .param(
                "payment_method_data",
                serde_json::json!({"type": "card", "card": {"token": "tok_visa"}}),
            );
        let got = decoded(&p);
        let want = [
            ("amount", "2000"),
            ("currency", "usd"),
            ("confirm", "true"),
            ("payment_method_types[0]", "card"),
            ("expand[0]", "customer"),
            ("expand[1]", "latest_charge"),
            ("metadata[order_id]", "6735"),
            ("payment_method_data[card][token]", "tok_visa"),
            ("payment_method_data[type]", "card"),
        ];
        for (k, v) in want {
            assert!(
                got.iter().any(|(gk, gv)| gk == k && gv == v),
                "missing {k}={v} in {got:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{got:?}");
    }

    #[test]
    fn empty_params_encode_to_nothing_and_values_are_escaped() {
        assert_eq!(encode(&NoParams {}).unwrap(), "");
        let got = decoded(
            &CreateCustomer::new()
                .email("a+b@x.com")
                .metadata("k&y", "v=1"),
        );
        assert!(
            got.contains(&("email".into(), "a+b@x.com".into())),
            "{got:?}"
        );
        assert!(
            got.contains(&("metadata[k&y]".into(), "v=1".into())),
            "{got:?}"
        );
    }
}
