//! [`DocuSignClient`]: the typed handle over a [`Connection`] to one DocuSign account, and the
//! connection settings the `docusign` template binds for it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api::{Envelopes, Views};
use super::models::{Account, AccountId, UserInfo};
use super::{DocuSignError, API_VERSION, DEFAULT_STATUS_POLL_INTERVAL, DEMO_AUTH_BASE_URL};
use crate::toolkit::{segment, Call};
use crate::{Connection, RequestBuilder};

/// What [`super::DocuSignIntegration`] binds into a connection for its typed client: the
/// account (when the connection's first test looked it up), the authentication host and the
/// least time between two status reads of one envelope.
#[derive(Debug, Clone)]
pub(crate) struct DocuSignSettings {
    /// The account, once known (with `base_uri`, the connection's base URL).
    pub(crate) account_id: Option<AccountId>,
    /// Whether the connection's base URL is the account's API host (else it is the
    /// authentication host, and only [`DocuSignClient::user_info`] works).
    pub(crate) api_ready: bool,
    /// The authentication host (`https://account-d.docusign.com`).
    pub(crate) auth_base_url: String,
    /// How long [`super::Envelopes::get`] answers from the status cache
    /// (`status_poll_interval_secs`).
    pub(crate) status_poll_interval: Duration,
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
    status_poll_interval: Duration,
}

impl fmt::Debug for DocuSignClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignClient")
            .field("connection", &self.connection)
            .field("account_id", &self.account_id)
            .field("status_poll_interval", &self.status_poll_interval)
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
        let (account_id, api_ready, auth, interval) =
            match connection.settings::<DocuSignSettings>() {
                Some(s) => (
                    s.account_id.clone(),
                    s.api_ready,
                    Arc::from(s.auth_base_url.as_str()),
                    s.status_poll_interval,
                ),
                // Built by hand: the base URL is the account's API host.
                None => (
                    None,
                    true,
                    Arc::from(DEMO_AUTH_BASE_URL),
                    DEFAULT_STATUS_POLL_INTERVAL,
                ),
            };
        Ok(DocuSignClient {
            connection,
            account_id,
            api_ready,
            auth_base_url: auth,
            status_poll_interval: interval,
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

    /// The same client with another least time between two status reads of one envelope
    /// from DocuSign (default: the connection's `status_poll_interval_secs`, else 900 s;
    /// zero turns the status cache off). DocuSign suspends API access of accounts that poll
    /// an envelope more often than every 15 minutes: lower it only for tests.
    #[must_use]
    pub fn with_status_poll_interval(&self, interval: Duration) -> Self {
        DocuSignClient {
            status_poll_interval: interval,
            ..self.clone()
        }
    }

    /// The least time between two status reads of one envelope from DocuSign.
    pub fn status_poll_interval(&self) -> Duration {
        self.status_poll_interval
    }

    /// The envelope calls: create and send, get (from the status cache), status changes,
    /// void, resend, recipients.
    pub fn envelopes(&self) -> Envelopes {
        Envelopes::new(self.clone())
    }

    /// The embedded views: recipient (signing) and sender.
    pub fn views(&self) -> Views {
        Views::new(self.clone())
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

    /// The URL path of `rest` under the account, with the base URL's own path in front: what
    /// the response cache compares when a write invalidates entries.
    pub(crate) fn full_path(&self, rest: &str) -> Result<String, DocuSignError> {
        let account = self.account_path(rest)?;
        let base = url::Url::parse(self.connection.base_url())
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(format!("{base}{account}"))
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
