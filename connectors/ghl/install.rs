//! A marketplace app's lifecycle: [`install_location`] turns an `AppInstall` event into a
//! working connection of its location (the agency token exchanged for the location's), and
//! [`GhlAppEvents`] handles the app's events that reach an existing connection through the
//! webhook router (`AppUninstall` disconnects it and drops its token, a re-install turns it
//! back on), handing every other event to the host's own handler.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::{AppInstallEvent, GhlClient, GhlEvent};
use crate::connections::{ConnectionRecord, ConnectionStatus, Connections};
use crate::webhook::router::{WebhookEvent, WebhookHandler};
use crate::{ConnectionId, Error, ErrorKind, ProviderError, TenantId};

/// Connects the location an `AppInstall` event names as connection `id` of `tenant`:
/// exchanges the agency's token (`agency`, a client over the agency's own connection) for the
/// location's (`POST /oauth/locationToken`), creates the connection from `config` (the app's
/// `clientId` and `clientSecret`, and whatever else the host sets; `locationId` is the
/// event's) unless it exists, stores the token, and checks it, so the connection ends
/// `active`. Run it again for the same event (a retried delivery) and it stores a fresh token
/// and checks again: no second connection.
///
/// The event must have been verified first: a payload-routed route cannot take it, since no
/// connection has its location yet. Verify the request with the integration's
/// [`GhlVerifier`](super::GhlVerifier) in the host's install endpoint, then call this.
///
/// # Errors
/// [`ErrorKind::Config`] naming `ghl.AppInstall.locationId` for an agency-level install (no
/// location) and `ghl.connections` when `connections` has no token manager; the exchange's
/// error; the connection service's errors (a check that fails leaves the connection in
/// `error`, with the reason).
pub async fn install_location(
    connections: &Connections,
    agency: &GhlClient,
    event: &AppInstallEvent,
    tenant: &TenantId,
    id: &ConnectionId,
    name: &str,
    mut config: Value,
) -> Result<ConnectionRecord, Error> {
    let location = event
        .location_id
        .as_deref()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            Error::config(
                "ghl.AppInstall.locationId",
                "an agency-level install names no location; install each location with its own event",
            )
        })?;
    let company = event.company_id.as_deref().unwrap_or_default();
    let tokens = connections.tokens().ok_or_else(|| {
        Error::config(
            "ghl.connections",
            "the connection service has no token manager (Connections::with_tokens)",
        )
    })?;
    if let Some(map) = config.as_object_mut() {
        map.insert("locationId".into(), location.into());
    }
    let token = agency
        .agency()
        .location_token(company, location)
        .await
        .map_err(|e| e.core().clone())?;
    match connections.get(tenant, id).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {
            connections.create(tenant, id, "ghl", name, &config).await?;
        }
        Err(e) => return Err(e),
    }
    tokens.store_token(tenant, id, &token).await?;
    let record = connections.test_connection(tenant, id).await?;
    if record.status == ConnectionStatus::Disconnected {
        return connections.enable(tenant, id).await;
    }
    Ok(record)
}

/// The reason a pending connection records when its location uninstalls the app.
const UNINSTALLED: &str =
    "the app was uninstalled from this location; install it again to reconnect";

/// The app's lifecycle events on the webhook router's `ghl` route
/// ([`WebhookRoute::payload_routed`](crate::webhook::router::WebhookRoute::payload_routed)):
///
/// - `AppUninstall`: the location's connection is disconnected (a pending one, which the
///   lifecycle cannot disconnect, moves to `error` saying the app was uninstalled) and its
///   token removed (the uninstall revoked it); the connection and its history stay.
/// - `AppInstall` for a location whose connection exists (a re-install): the connection is
///   checked and, if it was disconnected, enabled again. Store the new token first
///   ([`install_location`] does both).
/// - Any other event goes to `inner` (the host's handler), if there is one.
#[derive(Clone)]
pub struct GhlAppEvents {
    connections: Connections,
    inner: Option<Arc<dyn WebhookHandler>>,
}

impl fmt::Debug for GhlAppEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GhlAppEvents")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl GhlAppEvents {
    /// A handler acting on `connections`, with no handler for other events.
    pub fn new(connections: Connections) -> Self {
        GhlAppEvents {
            connections,
            inner: None,
        }
    }

    /// Hands every event that is not the app's install or uninstall to `inner`.
    #[must_use]
    pub fn with_inner(mut self, inner: Arc<dyn WebhookHandler>) -> Self {
        self.inner = Some(inner);
        self
    }
}

#[async_trait]
impl WebhookHandler for GhlAppEvents {
    async fn handle(&self, event: WebhookEvent) -> Result<(), Error> {
        let (tenant, id) = (&event.target.tenant, &event.target.connection);
        match GhlEvent::from_slice(&event.body)? {
            GhlEvent::AppUninstall(_) => {
                match self.connections.get(tenant, id).await?.status {
                    ConnectionStatus::Active => {
                        self.connections.disconnect(tenant, id).await?;
                    }
                    // A connection that never worked cannot be disconnected (the lifecycle
                    // allows that only from `active`): it is marked as failing, with why.
                    ConnectionStatus::Pending => {
                        self.connections
                            .transition(tenant, id, ConnectionStatus::Error, Some(UNINSTALLED))
                            .await?;
                    }
                    // Already off, or failing already: the token goes below.
                    ConnectionStatus::Disconnected | ConnectionStatus::Error => {}
                }
                if let Some(tokens) = self.connections.tokens() {
                    tokens.remove_token(tenant, id).await?;
                }
                Ok(())
            }
            GhlEvent::AppInstall(_) => {
                let record = self.connections.test_connection(tenant, id).await?;
                if record.status == ConnectionStatus::Disconnected {
                    self.connections.enable(tenant, id).await?;
                }
                Ok(())
            }
            _ => match &self.inner {
                Some(inner) => inner.handle(event).await,
                None => Ok(()),
            },
        }
    }
}
