//! [`StripeClient`]: the typed handle over a [`Connection`], and [`StripeCall`], one typed
//! call that can be given an idempotency key, a Connect account or `expand` fields before it
//! is awaited.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::{CheckoutSessions, Customers, Events, PaymentIntents, Refunds, WebhookEndpoints};
use super::StripeError;
use crate::{ConfigError, Connection};

/// The typed Stripe API over a [`Connection`] made with a [`super::StripeConnector`].
///
/// Cheap to clone (a connection handle and an optional account).
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::stripe::StripeError> {
/// use switchboard::stripe::{CreateCustomer, StripeClient};
/// let stripe = StripeClient::from_connection(connection);
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
    /// A client over `connection` (whose connector should be a [`super::StripeConnector`], so
    /// that requests carry `Stripe-Version` and the retry rules are Stripe's).
    pub fn from_connection(connection: Connection) -> Self {
        StripeClient {
            connection,
            account: None,
        }
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
    ) -> StripeCall<T> {
        StripeCall {
            client: self.clone(),
            method,
            path,
            endpoint,
            params: encode(params),
            expand: Vec::new(),
            idempotency_key: None,
            account: None,
            _out: PhantomData,
        }
    }
}

/// No parameters (serializes as an empty form).
#[derive(Debug, Serialize)]
pub(crate) struct NoParams {}

/// Stripe's form encoding of nested values (`metadata[k]=v`, `expand[0]=x`,
/// `payment_method_data[card][token]=tok`), done by `serde_qs`, the encoder async-stripe uses.
pub(crate) fn encode<P: Serialize>(params: &P) -> Result<String, StripeError> {
    serde_qs::to_string(params).map_err(|e| {
        StripeError::from_core(
            ConfigError::new("stripe.params", format!("cannot be form-encoded: {e}")).into(),
        )
    })
}

/// Percent-decoded pairs of an encoded form, for a query string.
pub(crate) fn pairs(encoded: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded.as_bytes())
        .into_owned()
        .collect()
}

/// One typed Stripe call. Await it (or call [`StripeCall::send`]); before that, give it an
/// idempotency key, a Connect account or fields to expand.
#[must_use = "a call does nothing until awaited"]
pub struct StripeCall<T> {
    client: StripeClient,
    method: Method,
    path: String,
    endpoint: &'static str,
    params: Result<String, StripeError>,
    expand: Vec<String>,
    idempotency_key: Option<String>,
    account: Option<String>,
    _out: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for StripeCall<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeCall")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> StripeCall<T> {
    /// Uses `key` (at most 255 characters) as the `Idempotency-Key` on every attempt, instead
    /// of the one generated per call. Pass the same key when you retry a call yourself.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Acts on the Connect account `account` for this call only.
    pub fn stripe_account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Asks Stripe to expand a field (`"customer"`, `"latest_charge"`).
    pub fn expand(mut self, field: impl Into<String>) -> Self {
        self.expand.push(field.into());
        self
    }

    /// Sends the call.
    ///
    /// # Errors
    /// A [`StripeError`]: Stripe's error fields when it answered with an error, the core
    /// error's kind otherwise (a body that is not the expected object is `Decode`).
    pub async fn send(self) -> Result<T, StripeError> {
        let mut encoded = self.params?;
        let is_post = self.method == Method::POST;
        for (i, field) in self.expand.iter().enumerate() {
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
        let mut req = self
            .client
            .connection
            .request(self.method.clone(), self.path)
            .endpoint(self.endpoint);
        if is_post {
            req = req.body(encoded, "application/x-www-form-urlencoded");
        } else if !encoded.is_empty() {
            req = req.query(&pairs(&encoded));
        }
        if let Some(key) = self.idempotency_key {
            req = req.idempotency_key(key);
        }
        if let Some(acct) = self.account.as_deref().or(self.client.account.as_deref()) {
            req = req.header("Stripe-Account", acct);
        }
        let resp = req.send().await?;
        Ok(resp.json::<T>().await?)
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for StripeCall<T> {
    type Output = Result<T, StripeError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, StripeError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
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
