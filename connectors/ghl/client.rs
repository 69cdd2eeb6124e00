//! [`GhlClient`]: the typed handle over a [`Connection`], and the one place a call's request is
//! made (method, path, JSON body, endpoint label, the calendars' `Version`).

use std::fmt;
use std::sync::Arc;

use http::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::api::{Agency, Calendars, Contacts, Conversations, Locations, Opportunities};
use super::{GhlError, GhlSettings, CALENDARS_API_VERSION};
use crate::toolkit::Call;
use crate::RequestBuilder;
use crate::{Connection, Error, Response};

/// What [`GhlClient::check`] found: the location's name and id, and the API version in use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GhlCheck {
    /// The location's name.
    pub location_name: String,
    /// The location's id.
    pub location_id: String,
    /// The `Version` header the connection sends.
    pub api_version: String,
}

/// The typed GoHighLevel API over a [`Connection`] made with a [`super::GhlConnector`].
///
/// Cheap to clone (a connection handle and shared settings). Calls that need the location
/// (creating a contact, searching) take it from the connection's settings
/// ([`GhlSettings::location_id`], the template's `locationId`) unless the call names one.
///
/// ```no_run
/// # async fn demo(connection: switchboard::Connection) -> Result<(), switchboard::ghl::GhlError> {
/// use futures_util::StreamExt;
/// use switchboard::ghl::{CreateContact, GhlClient, SearchContacts};
/// let ghl = GhlClient::from_connection(connection)?;
/// let created = ghl.contacts().create(CreateContact::new().first_name("Ada").email("ada@example.com")).await?;
/// let mut all = ghl.contacts().search(SearchContacts::new().page_limit(100));
/// while let Some(contact) = all.next().await {
///     println!("{}", contact?.id);
/// }
/// # let _ = created; Ok(()) }
/// ```
#[derive(Clone)]
pub struct GhlClient {
    connection: Connection,
    settings: Arc<GhlSettings>,
}

impl fmt::Debug for GhlClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlClient")
            .field("connection", &self.connection)
            .field("settings", &self.settings)
            .finish()
    }
}

impl GhlClient {
    /// A client over `connection`, which must be a connection of a [`super::GhlConnector`]:
    /// made by [`super::GhlIntegration`] through
    /// [`Connections`](crate::connections::Connections) (it then carries the tenant's location
    /// and calendar), or by a host with `Switchboard::connection(GhlConnector::new())` and a
    /// [`BearerToken`](crate::auth::BearerToken) (then give the location with
    /// [`GhlClient::with_settings`]).
    ///
    /// # Errors
    /// A [`GhlError`] of kind [`ErrorKind::Config`](crate::ErrorKind::Config) naming
    /// `ghl.connection` when the connection belongs to another connector.
    pub fn from_connection(connection: Connection) -> Result<Self, GhlError> {
        crate::toolkit::connector_of::<super::GhlConnector>(&connection, "ghl.connection")?;
        let settings = connection
            .settings::<GhlSettings>()
            .cloned()
            .unwrap_or_default();
        Ok(GhlClient {
            connection,
            settings: Arc::new(settings),
        })
    }

    /// The same client with other settings (location, calendar).
    #[must_use]
    pub fn with_settings(&self, settings: GhlSettings) -> Self {
        GhlClient {
            connection: self.connection.clone(),
            settings: Arc::new(settings),
        }
    }

    /// The settings in use.
    pub fn settings(&self) -> &GhlSettings {
        &self.settings
    }

    /// The underlying connection, for calls this client does not model.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Contacts: create, get, update, delete, upsert, search, tags, notes.
    pub fn contacts(&self) -> Contacts {
        Contacts::new(self.clone())
    }

    /// Agency-level calls (this connection holds an agency token): the location token
    /// exchange.
    pub fn agency(&self) -> Agency {
        Agency::new(self.clone())
    }

    /// Locations (sub-accounts): get, search.
    pub fn locations(&self) -> Locations {
        Locations::new(self.clone())
    }

    /// Calendars: list, get, free slots, events, block slots and appointments.
    pub fn calendars(&self) -> Calendars {
        Calendars::new(self.clone())
    }

    /// Opportunities (deals in pipelines): search, get, create, update, status and stage.
    pub fn opportunities(&self) -> Opportunities {
        Opportunities::new(self.clone())
    }

    /// Conversations: send a message (SMS, email, other channels).
    pub fn conversations(&self) -> Conversations {
        Conversations::new(self.clone())
    }

    /// What the template's check reports: the connection's location, read with its token,
    /// and the API version it sends (`GET /locations/{locationId}`).
    ///
    /// # Errors
    /// The call's [`GhlError`] (a refused token is [`ErrorKind::Auth`](crate::ErrorKind::Auth)).
    pub async fn check(&self) -> Result<GhlCheck, GhlError> {
        let location = self.locations().current().await?;
        Ok(GhlCheck {
            location_name: location.name.clone().unwrap_or_default(),
            location_id: location.id.0,
            api_version: self.settings.api_version.clone(),
        })
    }

    /// The location a call is for: the call's own, else the settings'.
    pub(crate) fn location_or<'a>(&'a self, own: Option<&'a str>) -> Result<&'a str, GhlError> {
        own_or_setting(
            own,
            self.settings.location_id.as_deref(),
            "ghl.locationId",
            "location",
        )
    }

    /// The calendar a call is for: the call's own, else the settings'.
    pub(crate) fn calendar_or<'a>(&'a self, own: Option<&'a str>) -> Result<&'a str, GhlError> {
        own_or_setting(
            own,
            self.settings.calendar_id.as_deref(),
            "ghl.calendarId",
            "calendar",
        )
    }

    /// The request of a call: `method` on `path`, with `body` as JSON when there is one.
    fn request(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        body: Option<Value>,
    ) -> RequestBuilder {
        let request = self.connection.request(method, path).endpoint(endpoint);
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
    }

    /// A typed call of `method` on `path`, with `body` as JSON when there is one.
    pub(crate) fn call<T>(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        body: Option<Value>,
    ) -> Call<T, GhlError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        Call::new(self.request(method, path, endpoint, body))
    }

    /// A typed call whose answer is the object inside GoHighLevel's envelope
    /// (`{"contact": {...}}` answers a [`Contact`](super::Contact)).
    pub(crate) fn call_in<E: Envelope>(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        body: Option<Value>,
    ) -> Call<E::Inner, GhlError> {
        Call::with_decoder(
            self.request(method, path, endpoint, body),
            unwrap_envelope::<E>,
        )
    }

    /// A typed call of the calendars or conversations API, which answer only to
    /// `Version: 2021-04-15` ([`CALENDARS_API_VERSION`]).
    pub(crate) fn calendar_call<T>(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        body: Option<Value>,
    ) -> Call<T, GhlError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.call(method, path, endpoint, body)
            .header("Version", CALENDARS_API_VERSION)
    }

    /// [`GhlClient::calendar_call`] whose answer is the object inside an envelope.
    pub(crate) fn calendar_call_in<E: Envelope>(
        &self,
        method: Method,
        path: String,
        endpoint: &'static str,
        body: Option<Value>,
    ) -> Call<E::Inner, GhlError> {
        self.call_in::<E>(method, path, endpoint, body)
            .header("Version", CALENDARS_API_VERSION)
    }

    /// A call that fails at send with `error` and sends nothing.
    pub(crate) fn failed<T>(error: GhlError) -> Call<T, GhlError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        Call::failed(error, |r| Box::pin(r.json()))
    }
}

/// A GoHighLevel answer that wraps the object a call returns (`{"contact": {...}}`).
pub(crate) trait Envelope: DeserializeOwned + Send + 'static {
    /// The wrapped object.
    type Inner: Send + 'static;
    /// Unwraps it.
    fn into_inner(self) -> Self::Inner;
}

/// Implements [`Envelope`] for envelope types whose one field holds the object.
macro_rules! envelope {
    ($($ty:ty => $field:ident : $inner:ty),* $(,)?) => {$(
        impl crate::ghl::client::Envelope for $ty {
            type Inner = $inner;
            fn into_inner(self) -> $inner {
                self.$field
            }
        }
    )*};
}
pub(crate) use envelope;

fn unwrap_envelope<E: Envelope>(
    response: Response,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<E::Inner, Error>> + Send>> {
    Box::pin(async move { response.json::<E>().await.map(E::into_inner) })
}

/// `own`, else `setting`; neither (or an empty one) is a config error naming `field`.
fn own_or_setting<'a>(
    own: Option<&'a str>,
    setting: Option<&'a str>,
    field: &'static str,
    what: &str,
) -> Result<&'a str, GhlError> {
    own.or(setting).filter(|v| !v.is_empty()).ok_or_else(|| {
        crate::Error::config(
            field,
            format!(
                "this call needs a {what}: set the connection's {} or name one on the call",
                field.trim_start_matches("ghl.")
            ),
        )
        .into()
    })
}
