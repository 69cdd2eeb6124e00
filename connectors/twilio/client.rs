//! [`TwilioClient`]: the typed handle over two `switchboard::Connection`s, one to the REST API
//! (`api.twilio.com`) and one to Lookups (`lookups.twilio.com`), sharing tenant, id and
//! credentials. Cheap to clone.

use std::sync::Arc;

use super::api::{Accounts, Calls, Lookups, Messages};
use super::config::TwilioSettings;
use super::connector::TwilioConnector;
use super::error::TwilioError;
use crate::{toolkit, Connection, Error};

/// The typed Twilio client over one tenant's Twilio connection. Cheap to clone; share it rather
/// than wrapping it in `Arc`.
///
/// The connection comes from the connection service (`connections.connection(&tenant, &id)`,
/// bound by [`super::TwilioIntegration`]) or, without it, from
/// [`super::TwilioConfig::connection`].
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::twilio::TwilioError> {
/// use switchboard::twilio::{CreateMessage, TwilioClient};
///
/// let twilio = TwilioClient::from_connection(connection)?;
/// let msg = twilio
///     .messages()
///     .create(CreateMessage::new("+15558675310").from("+15017122661").body("Hello"))
///     .await?;
/// println!("{} {:?}", msg.sid, msg.status);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TwilioClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: TwilioSettings,
    api: Connection,
    lookups: Connection,
}

/// The settings of a Twilio connection, or the typed error every Twilio entry point gives for
/// a connection that is not one.
fn settings_of(connection: &Connection) -> Result<&TwilioSettings, Error> {
    toolkit::connector_of::<TwilioConnector>(connection, "twilio.connection")?;
    toolkit::settings_of::<TwilioSettings>(connection, "twilio.connection")
}

/// The connection check: fetch the account the connection is scoped to.
pub(crate) async fn check(connection: &Connection) -> Result<(), Error> {
    let path = format!("{}.json", settings_of(connection)?.account_path());
    connection
        .get(path)
        .endpoint("accounts.fetch")
        .send()
        .await
        .map(|_| ())
}

impl TwilioClient {
    /// The client over a Twilio connection. The Lookups connection is derived from it
    /// ([`Connection::derive_with_base_url`]): same switchboard, tenant, id, credentials,
    /// lifecycle observer and endpoint policy.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Config`] error naming `twilio.connection` when the connection's
    /// connector is not a [`TwilioConnector`] or the connection carries no Twilio settings (it
    /// was not made from a [`super::TwilioConfig`]); the same kind when the Lookups URL is
    /// refused.
    pub fn from_connection(connection: Connection) -> Result<TwilioClient, TwilioError> {
        let settings = settings_of(&connection)?.clone();
        // Derived from the given connection, so it keeps its lifecycle observer and endpoint
        // policy: a token revoked mid-life is noticed on Lookups calls too. Same connection id
        // on another host: the breaker and retry budget are per (tenant, id, host), so Lookups
        // trouble never opens the breaker of message sends.
        let lookups = connection.derive_with_base_url(settings.lookups_base_url())?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                settings,
                api: connection,
                lookups,
            }),
        })
    }

    /// Messages: send (SMS, MMS, WhatsApp), fetch, list, cancel, delete, bulk send.
    pub fn messages(&self) -> Messages {
        Messages::new(self.clone())
    }

    /// Calls: create, fetch, update.
    pub fn calls(&self) -> Calls {
        Calls::new(self.clone())
    }

    /// Lookups v2.
    pub fn lookups(&self) -> Lookups {
        Lookups::new(self.clone())
    }

    /// The account (or subaccount) this client is scoped to.
    pub fn accounts(&self) -> Accounts {
        Accounts::new(self.clone())
    }

    /// The connection's account settings (account SID, scope, default sender).
    pub fn settings(&self) -> &TwilioSettings {
        &self.inner.settings
    }

    /// The REST API connection, for calls this client does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.inner.api
    }

    /// The Lookups connection.
    pub fn lookups_connection(&self) -> &Connection {
        &self.inner.lookups
    }

    /// `/2010-04-01/Accounts/{scope}`, the prefix of every v2010 path.
    pub(crate) fn account_path(&self) -> &str {
        self.inner.settings.account_path()
    }
}
