//! [`Connections`]: creates connections from templates, keeps their secrets sealed, moves them
//! through their lifecycle, and publishes every transition.
//!
//! Pipeline outcomes move a connection too: a `Connection` made here reports each call's
//! outcome, so an auth rejection or an open breaker turns an `active` connection to `error`,
//! and the next success turns it back. Only changes are written, never every call.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{
    illegal_transition, ConnectionRecord, ConnectionStatus, ConnectionStore,
    InMemoryConnectionStore,
};
use crate::client::{CallObserver, Connection, Switchboard};
use crate::credentials::{CredentialKey, CredentialStore};
use crate::error::{ConfigError, Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::templates::{ConnectionConfig, Registry};
use crate::vault::Vault;

/// The credential kind under which a connection's secret config fields are sealed.
pub const CONFIG_KIND: &str = "config";
const MAX_CAS_RETRIES: usize = 16;

/// A lifecycle transition, published to [`Connections::subscribe`]rs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnectionEvent {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// The status before.
    pub from: ConnectionStatus,
    /// The status after.
    pub to: ConnectionStatus,
    /// The redacted error that caused it, if any.
    pub error: Option<String>,
    /// When it happened.
    pub at: SystemTime,
}

/// The connection lifecycle service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connections {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    switchboard: Switchboard,
    registry: Registry,
    vault: Vault,
    store: Arc<dyn ConnectionStore>,
    events: broadcast::Sender<ConnectionEvent>,
    configs: moka::future::Cache<(TenantId, ConnectionId), Arc<ConnectionConfig>>,
}

impl Connections {
    /// A service over `registry`, sealing with `vault` into the switchboard's credential store,
    /// with records in memory until [`Self::with_connection_store`] says otherwise.
    pub fn new(switchboard: Switchboard, vault: Vault, registry: Registry) -> Self {
        Self::build(
            switchboard,
            vault,
            registry,
            Arc::new(InMemoryConnectionStore::new()),
        )
    }

    /// The same service with records in `store`.
    #[must_use]
    pub fn with_connection_store(self, store: Arc<dyn ConnectionStore>) -> Self {
        let i = &self.inner;
        Self::build(
            i.switchboard.clone(),
            i.vault.clone(),
            i.registry.clone(),
            store,
        )
    }

    fn build(
        switchboard: Switchboard,
        vault: Vault,
        registry: Registry,
        store: Arc<dyn ConnectionStore>,
    ) -> Self {
        let (events, _) = broadcast::channel(1024);
        Connections {
            inner: Arc::new(Inner {
                switchboard,
                registry,
                vault,
                store,
                events,
                configs: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(300))
                    .build(),
            }),
        }
    }

    /// Every transition from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.inner.events.subscribe()
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn credentials(&self) -> &Arc<dyn CredentialStore> {
        self.inner.switchboard.credential_store()
    }

    /// Creates a `pending` connection: validates `config` against the template, seals the
    /// secret fields, stores the rest.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown template, [`ErrorKind::Validation`] listing every
    /// config problem (values never echoed; an endpoint URL field the switchboard's
    /// [`crate::templates::EndpointPolicy`] refuses is one), [`ErrorKind::Conflict`] when the
    /// id exists.
    pub async fn create(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        template: &str,
        name: &str,
        config: &Value,
    ) -> Result<ConnectionRecord, Error> {
        let integration = self.inner.registry.get(template).ok_or_else(|| {
            ConfigError::new(
                "connection.template",
                format!("no template named `{template}`"),
            )
        })?;
        let split = integration.template().split(config)?;
        // Endpoint URLs in tenant config must pass the host's policy (https, public host).
        integration
            .template()
            .check_endpoints(config, self.inner.switchboard.endpoint_policy())?;
        let mut record = ConnectionRecord::new(tenant.clone(), id.clone(), template, name);
        record.config = split.plain().clone();
        // Record first: if sealing fails we have a pending connection without secrets (which a
        // check reports), never secrets without a connection.
        record.version = self.inner.store.save(&record).await?;
        let key = CredentialKey::new(tenant.clone(), id.clone(), CONFIG_KIND);
        let sealed = self.inner.vault.seal(&key, &split.secrets_json())?;
        let expected = self.credentials().load(&key).await?.map(|v| v.version);
        self.credentials().save(&key, sealed, expected).await?;
        self.inner
            .configs
            .invalidate(&(tenant.clone(), id.clone()))
            .await;
        Ok(record)
    }

    /// The record.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when it does not exist or the store fails.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        self.inner.store.load(tenant, id).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Store,
                format!("no connection `{id}` for tenant `{tenant}`"),
            )
        })
    }

    /// The validated config with its secrets opened; cached for five minutes and dropped on
    /// every write through this service.
    ///
    /// # Errors
    /// Store failures, or [`ErrorKind::Vault`] when the sealed config cannot be opened.
    pub async fn config(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Arc<ConnectionConfig>, Error> {
        let cache_key = (tenant.clone(), id.clone());
        if let Some(c) = self.inner.configs.get(&cache_key).await {
            return Ok(c);
        }
        let record = self.get(tenant, id).await?;
        let key = CredentialKey::new(tenant.clone(), id.clone(), CONFIG_KIND);
        let secrets = match self.credentials().load(&key).await? {
            Some(sealed) => {
                let plain = self.inner.vault.open(&key, &sealed.value)?;
                ConnectionConfig::secrets_from_json(plain.expose_secret())?
            }
            None => Default::default(),
        };
        let config = Arc::new(ConnectionConfig::new(record.config, secrets));
        self.inner.configs.insert(cache_key, config.clone()).await;
        Ok(config)
    }

    /// A client for the connection, bound by its integration, whose calls report their
    /// outcomes back to the lifecycle.
    ///
    /// # Errors
    /// As for [`Self::config`], or the integration's bind error; [`ErrorKind::Validation`] when
    /// a stored endpoint URL field, or [`ErrorKind::Config`] when the bound base URL, is refused
    /// by the switchboard's [`crate::templates::EndpointPolicy`].
    pub async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Connection, Error> {
        let record = self.get(tenant, id).await?;
        let integration = self.inner.registry.get(&record.template).ok_or_else(|| {
            ConfigError::new(
                "connection.template",
                format!("no template named `{}`", record.template),
            )
        })?;
        let config = self.config(tenant, id).await?;
        // Checked again here, against the policy in force now: a record may predate it, and
        // the binding's base URL may come from config the template did not declare.
        let policy = self.inner.switchboard.endpoint_policy();
        integration
            .template()
            .check_endpoints(config.plain(), policy)?;
        let binding = integration.bind(&config)?;
        let observer = Arc::new(LifecycleObserver {
            service: Arc::downgrade(&self.inner),
            tenant: tenant.clone(),
            id: id.clone(),
            status: AtomicU8::new(status_code(record.status)),
        });
        let mut b = self
            .inner
            .switchboard
            .connection(binding.connector)
            .tenant(tenant.clone())
            .id(id.clone())
            .base_url(binding.base_url)
            // Checked against the endpoint policy, and resolved through the SSRF guard.
            .tenant_endpoint(true)
            .observer(observer);
        if let Some(auth) = binding.auth {
            b = b.auth(auth);
        }
        b.build()
    }

    /// Moves the connection to `to`, recording `error` (redacted) when given.
    ///
    /// # Errors
    /// [`ErrorKind::State`] for an illegal transition; store failures.
    pub async fn transition(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        to: ConnectionStatus,
        error: Option<&str>,
    ) -> Result<ConnectionRecord, Error> {
        let error = error.map(str::to_string);
        self.update(tenant, id, |r| {
            move_to(r, to)?;
            if let Some(e) = &error {
                r.last_error = Some(e.clone());
            }
            Ok(())
        })
        .await
    }

    /// Turns the connection off (`active -> disconnected`).
    ///
    /// # Errors
    /// As for [`Self::transition`].
    pub async fn disconnect(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        self.transition(tenant, id, ConnectionStatus::Disconnected, None)
            .await
    }

    /// Runs the connector's `check()` and moves the connection: success to `active`, failure
    /// to `error` with the redacted message (a disconnected connection stays disconnected and
    /// only records the outcome).
    ///
    /// # Errors
    /// Store failures. The check's own failure is in the returned record, not an error.
    pub async fn test_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let outcome = match self.connection(tenant, id).await {
            Ok(conn) => conn.check().await,
            Err(e) => Err(e),
        };
        let message = match &outcome {
            Ok(()) => None,
            Err(e) => Some(self.scrub(tenant, id, &e.to_string()).await),
        };
        let now = SystemTime::now();
        self.update(tenant, id, |r| {
            r.last_check = Some(now);
            match &message {
                None => {
                    r.last_success = Some(now);
                    r.consecutive_failures = 0;
                    r.last_error = None;
                    if r.status != ConnectionStatus::Active {
                        move_to(r, ConnectionStatus::Active)?;
                    }
                }
                Some(m) => {
                    r.consecutive_failures = r.consecutive_failures.saturating_add(1);
                    r.last_error = Some(m.clone());
                    if r.status.can_become(ConnectionStatus::Error) {
                        move_to(r, ConnectionStatus::Error)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Moves a connection to `error` whenever `tokens` reports that the provider rejected its
    /// refresh (`invalid_grant`), with a message telling the user to reconnect. The task ends
    /// when the token manager is dropped.
    pub fn follow_token_events(
        &self,
        tokens: &crate::tokens::TokenManager,
    ) -> tokio::task::JoinHandle<()> {
        use crate::tokens::TokenEvent;
        use tokio::sync::broadcast::error::RecvError;
        let mut events = tokens.subscribe();
        let service = self.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(TokenEvent::RefreshRejected {
                        tenant,
                        connection,
                        description,
                        ..
                    }) => {
                        let message = format!(
                            "the provider rejected the refresh token (invalid_grant){}; reconnect the account",
                            description.map(|d| format!(": {d}")).unwrap_or_default()
                        );
                        let movable = service
                            .get(&tenant, &connection)
                            .await
                            .is_ok_and(|r| r.status.can_become(ConnectionStatus::Error));
                        if movable {
                            if let Err(e) = service
                                .transition(
                                    &tenant,
                                    &connection,
                                    ConnectionStatus::Error,
                                    Some(&message),
                                )
                                .await
                            {
                                tracing::warn!(connection = %connection, error = %e, "could not record a rejected refresh");
                            }
                        }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// Records that a verified webhook event arrived now.
    ///
    /// # Errors
    /// Store failures.
    pub async fn record_event(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let now = SystemTime::now();
        self.update(tenant, id, |r| {
            r.last_event = Some(now);
            Ok(())
        })
        .await
    }

    /// Records that data was synced now.
    ///
    /// # Errors
    /// Store failures.
    pub async fn record_sync(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let now = SystemTime::now();
        self.update(tenant, id, |r| {
            r.last_sync = Some(now);
            Ok(())
        })
        .await
    }

    /// Reads, changes and writes a record with compare-and-swap, re-reading on conflict, and
    /// publishes the transition if the status changed.
    async fn update(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        mut change: impl FnMut(&mut ConnectionRecord) -> Result<(), Error>,
    ) -> Result<ConnectionRecord, Error> {
        for _ in 0..MAX_CAS_RETRIES {
            let mut record = self.get(tenant, id).await?;
            let from = record.status;
            change(&mut record)?;
            match self.inner.store.save(&record).await {
                Ok(version) => {
                    record.version = version;
                    if from != record.status {
                        // Nobody listening is fine.
                        let _ = self.inner.events.send(ConnectionEvent {
                            tenant: tenant.clone(),
                            connection: id.clone(),
                            from,
                            to: record.status,
                            error: record.last_error.clone(),
                            at: SystemTime::now(),
                        });
                    }
                    return Ok(record);
                }
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("connection `{id}` kept changing; gave up after {MAX_CAS_RETRIES} tries"),
        ))
    }

    /// Removes this connection's secret values from a message, in case a provider echoed one.
    async fn scrub(&self, tenant: &TenantId, id: &ConnectionId, message: &str) -> String {
        let mut out = message.to_string();
        if let Ok(config) = self.config(tenant, id).await {
            for secret in config.secret_values().filter(|s| s.len() >= 4) {
                out = out.replace(secret, crate::redact::REDACTED);
            }
        }
        out
    }
}

fn move_to(r: &mut ConnectionRecord, to: ConnectionStatus) -> Result<(), Error> {
    if r.status == to {
        return Ok(());
    }
    if !r.status.can_become(to) {
        return Err(illegal_transition(r.status, to));
    }
    r.status = to;
    Ok(())
}

fn status_code(s: ConnectionStatus) -> u8 {
    ConnectionStatus::ALL
        .iter()
        .position(|x| *x == s)
        .unwrap_or(0) as u8
}

/// Moves a connection when its calls say so: an auth rejection (401, 403, a rejected refresh)
/// or an open breaker sends an `active` connection to `error`; a success sends an `error`
/// connection back to `active`. Remembers the last status so it writes only on change.
#[derive(Debug)]
struct LifecycleObserver {
    service: Weak<Inner>,
    tenant: TenantId,
    id: ConnectionId,
    status: AtomicU8,
}

impl CallObserver for LifecycleObserver {
    fn observe(&self, outcome: Result<(), &Error>) {
        let current = ConnectionStatus::ALL[usize::from(self.status.load(Ordering::Relaxed)) % 4];
        let (target, message) = match outcome {
            Ok(()) if current == ConnectionStatus::Error => (ConnectionStatus::Active, None),
            Err(e) if current == ConnectionStatus::Active && moves_to_error(e) => {
                (ConnectionStatus::Error, Some(e.to_string()))
            }
            _ => return,
        };
        let Some(inner) = self.service.upgrade() else {
            return;
        };
        self.status.store(status_code(target), Ordering::Relaxed);
        let service = Connections { inner };
        let (tenant, id) = (self.tenant.clone(), self.id.clone());
        // Observers are sync; the write happens in the background, once per change.
        tokio::spawn(async move {
            let message = match message {
                Some(m) => Some(service.scrub(&tenant, &id, &m).await),
                None => None,
            };
            if let Err(e) = service
                .transition(&tenant, &id, target, message.as_deref())
                .await
            {
                tracing::warn!(connection = %id, error = %e, "could not record a connection state change");
            }
        });
    }
}

fn moves_to_error(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::CircuitOpen)
        || e.status().is_some_and(|s| {
            s == http::StatusCode::UNAUTHORIZED || s == http::StatusCode::FORBIDDEN
        })
}
