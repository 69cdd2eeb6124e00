//! [`DocuSignClient`]: the typed handle over a [`Connection`] to one DocuSign account, and the
//! connection settings the `docusign` template binds for it.

use std::fmt;
use std::sync::Arc;

use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::Documents;
use super::models::{Account, AccountId, UserInfo};
use super::{DocuSignError, API_VERSION, DEMO_AUTH_BASE_URL};
use crate::toolkit::{segment, Call};
use crate::{Connection, RequestBuilder};

/// What [`super::DocuSignIntegration`] binds into a connection for its typed client: the
/// account (when the connection's first test looked it up) and the authentication host.
#[derive(Debug, Clone)]
pub(crate) struct DocuSignSettings {
    /// The account, once known (with `base_uri`, the connection's base URL).
    pub(crate) account_id: Option<AccountId>,
    /// Whether the connection's base URL is the account's API host (else it is the
    /// authentication host, and only [`DocuSignClient::user_info`] works).
    pub(crate) api_ready: bool,
    /// The authentication host (`https://account-d.docusign.com`).
    pub(crate) auth_base_url: String,
}

/// The typed DocuSign eSignature API of one account over a [`Connection`] made with a
/// [`super::DocuSignConnector`].
///
/// Cheap to clone (a connection handle and the account id).
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::docusign::DocuSignError> {
/// use switchboard::docusign::DocuSignClient;
/// let docusign = DocuSignClient::from_connection(connection)?;
/// let account = docusign.account().await?;
/// println!("{:?}", account.account_name);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct DocuSignClient {
    connection: Connection,
    account_id: Option<AccountId>,
    api_ready: bool,
    auth_base_url: Arc<str>,
}

impl fmt::Debug for DocuSignClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignClient")
            .field("connection", &self.connection)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl DocuSignClient {
    /// A client over `connection`, which must be a connection of a
    /// [`super::DocuSignConnector`]: made by [`super::DocuSignIntegration`] through
    /// [`Connections`](crate::connections::Connections) (its account is the one the
    /// connection's test looked up), or by a host with
    /// `Switchboard::connection(DocuSignConnector::new())` to the account's `base_uri`, then
    /// [`DocuSignClient::with_account`].
    ///
    /// # Errors
    /// A [`DocuSignError`] of kind [`ErrorKind::Config`](crate::ErrorKind::Config) naming
    /// `docusign.connection` when the connection belongs to another connector.
    pub fn from_connection(connection: Connection) -> Result<Self, DocuSignError> {
        crate::toolkit::connector_of::<super::DocuSignConnector>(
            &connection,
            "docusign.connection",
        )?;
        let (account_id, api_ready, auth) = match connection.settings::<DocuSignSettings>() {
            Some(s) => (
                s.account_id.clone(),
                s.api_ready,
                Arc::from(s.auth_base_url.as_str()),
            ),
            // Built by hand: the base URL is the account's API host.
            None => (None, true, Arc::from(DEMO_AUTH_BASE_URL)),
        };
        Ok(DocuSignClient {
            connection,
            account_id,
            api_ready,
            auth_base_url: auth,
        })
    }

    /// The same client acting on `account` (of the same API host).
    #[must_use]
    pub fn with_account(&self, account: impl Into<String>) -> Self {
        DocuSignClient {
            account_id: Some(AccountId::new(account)),
            ..self.clone()
        }
    }

    /// The same client with its connection's base URL taken as the account's API host.
    pub(crate) fn with_api_ready(mut self) -> Self {
        self.api_ready = true;
        self
    }

    /// The account every call acts on, when known.
    pub fn account_id(&self) -> Option<&AccountId> {
        self.account_id.as_ref()
    }

    /// The underlying connection, for calls this client does not model.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// `GET {auth}/oauth/userinfo`: the user the token acts for and their accounts, each with
    /// its `base_uri`.
    pub fn user_info(&self) -> Call<UserInfo, DocuSignError> {
        match self
            .connection
            .derive_with_base_url(self.auth_base_url.to_string())
        {
            Ok(auth) => Call::new(auth.get("/oauth/userinfo").endpoint("oauth.userinfo")),
            Err(e) => Call::failed(e.into(), |r| Box::pin(r.json())),
        }
    }

    /// `GET /restapi/v2.1/accounts/{accountId}`: the account's information.
    pub fn account(&self) -> Call<Account, DocuSignError> {
        self.call(Method::GET, "", "accounts.get")
    }

    /// The documents of the envelope `envelope_id`: list them, download one or the combined
    /// PDF as a stream.
    pub fn documents(&self, envelope_id: &str) -> Documents {
        Documents::new(self.clone(), envelope_id)
    }

    /// The path of `rest` under the account (`/restapi/v2.1/accounts/{id}{rest}`).
    pub(crate) fn account_path(&self, rest: &str) -> Result<String, DocuSignError> {
        if !self.api_ready {
            return Err(crate::Error::config(
                "docusign.base_uri",
                "is not known yet: test the connection first (Connections::test_connection), which looks up the account's API host",
            )
            .into());
        }
        let account = self.account_id.as_ref().ok_or_else(|| {
            crate::Error::config(
                "docusign.account_id",
                "is not known yet: test the connection first (Connections::test_connection), which looks up the default account",
            )
        })?;
        Ok(format!(
            "/restapi/{API_VERSION}/accounts/{}{rest}",
            segment(account.as_str())
        ))
    }

    /// A request to `rest` under the account.
    pub(crate) fn request(
        &self,
        method: Method,
        rest: &str,
        endpoint: &'static str,
    ) -> Result<RequestBuilder, DocuSignError> {
        Ok(self
            .connection
            .request(method, self.account_path(rest)?)
            .endpoint(endpoint))
    }

    /// A typed call answered with JSON.
    pub(crate) fn call<T>(
        &self,
        method: Method,
        rest: &str,
        endpoint: &'static str,
    ) -> Call<T, DocuSignError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        match self.request(method, rest, endpoint) {
            Ok(req) => Call::new(req),
            Err(e) => Call::failed(e, |r| Box::pin(r.json())),
        }
    }

    /// A typed call with a JSON body, answered with JSON.
    pub(crate) fn call_json<T, B>(
        &self,
        method: Method,
        rest: &str,
        endpoint: &'static str,
        body: &B,
    ) -> Call<T, DocuSignError>
    where
        T: DeserializeOwned + Send + 'static,
        B: Serialize + ?Sized,
    {
        match self.request(method, rest, endpoint) {
            Ok(req) => Call::new(req.json(body)),
            Err(e) => Call::failed(e, |r| Box::pin(r.json())),
        }
    }
}
