//! [`TwilioClient`]: the typed handle over two `switchboard::Connection`s, one to the REST API
//! (`api.twilio.com`) and one to Lookups (`lookups.twilio.com`), sharing tenant, id and
//! credentials. Cheap to clone.

use std::sync::Arc;

use super::api::{Accounts, Calls, Lookups, Messages};
use super::connector::TwilioConnector;
use crate::{ConfigError, Connection, ConnectionId, Error, Switchboard, TenantId};

/// The typed Twilio client. Cheap to clone; share it rather than wrapping it in `Arc`.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use switchboard::twilio::{NewMessage, TwilioClient, TwilioConnector};
/// use switchboard::Switchboard;
///
/// let sb = Switchboard::builder().build()?;
/// let connector = TwilioConnector::builder()
///     .account_sid("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
///     .auth_token(std::env::var("TWILIO_AUTH_TOKEN")?)
///     .build()?;
/// let twilio = TwilioClient::connect(&sb, connector, "acme", "acme-sms")?;
/// let msg = twilio
///     .messages()
///     .send(&NewMessage::new("+15558675310").from("+15017122661").body("Hello"))
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
    connector: TwilioConnector,
    api: Connection,
    lookups: Connection,
}

impl TwilioClient {
    /// Builds the API and Lookups connections of `connector` for a tenant's connection.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Config`] error when a base URL is unusable.
    pub fn connect(
        switchboard: &Switchboard,
        connector: TwilioConnector,
        tenant: impl Into<TenantId>,
        id: impl Into<ConnectionId>,
    ) -> Result<TwilioClient, Error> {
        let api = switchboard
            .connection(Arc::new(connector.clone()))
            .tenant(tenant)
            .id(id)
            .base_url(connector.base_url())
            .auth(connector.authenticator())
            .build()?;
        // Derived, so it shares everything but the host (and its per-host breaker).
        let lookups = api.derive_with_base_url(connector.lookups_base_url())?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                connector,
                api,
                lookups,
            }),
        })
    }

    /// A client over a connection made from a [`TwilioConnector`] (for example by the
    /// connection service from [`crate::twilio::TwilioIntegration`]'s binding). The Lookups
    /// connection is derived from it ([`Connection::derive_with_base_url`]): same switchboard,
    /// tenant, id, credentials, lifecycle observer and endpoint policy.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Config`] error when the connection's connector is not Twilio's.
    pub fn from_connection(connection: Connection) -> Result<TwilioClient, Error> {
        let connector = connection
            .connector()
            .as_any()
            .and_then(|a| a.downcast_ref::<TwilioConnector>())
            .cloned()
            .ok_or_else(|| {
                ConfigError::new(
                    "twilio.connection",
                    "is not a connection of TwilioConnector",
                )
            })?;
        // Derived from the given connection, so it keeps its lifecycle observer and endpoint
        // policy: a token revoked mid-life is noticed on Lookups calls too. Same connection id
        // on another host: the breaker and retry budget are per (tenant, id, host), so Lookups
        // trouble never opens the breaker of message sends.
        let lookups = connection.derive_with_base_url(connector.lookups_base_url())?;
        Ok(TwilioClient {
            inner: Arc::new(Inner {
                connector,
                api: connection,
                lookups,
            }),
        })
    }

    /// Messages: send (SMS, MMS, WhatsApp), fetch, list, cancel, delete, bulk send.
    pub fn messages(&self) -> Messages<'_> {
        Messages::new(self)
    }

    /// Calls: create, fetch, update.
    pub fn calls(&self) -> Calls<'_> {
        Calls::new(self)
    }

    /// Lookups v2.
    pub fn lookups(&self) -> Lookups<'_> {
        Lookups::new(self)
    }

    /// The account (or subaccount) this client is scoped to.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(self)
    }

    /// The connector (account SID, scope, defaults).
    pub fn connector(&self) -> &TwilioConnector {
        &self.inner.connector
    }

    /// The REST API connection, for calls this client does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.inner.api
    }

    /// The Lookups connection.
    pub fn lookups_connection(&self) -> &Connection {
        &self.inner.lookups
    }
}
