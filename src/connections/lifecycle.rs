//! [`Connections`]: creates connections from templates, keeps their secrets sealed, moves them
//! through their lifecycle, and publishes every transition.
//!
//! Pipeline outcomes move a connection too: a `Connection` made here reports each call's
//! outcome, so an auth rejection or an open breaker turns an `active` connection to `error`,
//! and the next success turns it back. Only changes are written, never every call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{
    illegal_transition, new_webhook_token, ConnectionRecord, ConnectionStatus, ConnectionStore,
    InMemoryConnectionStore,
};
use crate::auth::Authenticator;
use crate::client::{CallObserver, Connection, Switchboard};
use crate::credentials::{CredentialKey, CredentialStore};
use crate::error::{Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::pipeline::PipelineRequest;
use crate::templates::{ActivationContext, ConnectionConfig, Integration, Registry};
use crate::tokens::TokenManager;
use crate::vault::Vault;
use crate::webhook::public_base::{route_prefix, PublicBase};
use crate::webhook::WebhookVerifier;

/// The credential kind under which a connection's secret config fields are sealed.
pub const CONFIG_KIND: &str = "config";
const MAX_CAS_RETRIES: usize = 16;
/// How long an opened config (and the webhook verifier built from it) is kept at most; it is
/// revalidated against the record far more often (see [`CONFIG_RECHECK`]).
const CONFIG_TTL: Duration = Duration::from_secs(300);
/// How long [`Connections::config`] trusts a cached config before re-reading the record's
/// [`ConnectionRecord::config_generation`] (one small store read, no vault work): the bound
/// within which a config written through another replica is used here. Paths that hold a
/// freshly read record (clients, webhook verifiers) compare its generation on every use.
const CONFIG_RECHECK: Duration = Duration::from_secs(1);

/// A webhook verifier and the config snapshot it was built from.
type CachedVerifier = (Arc<ConnectionConfig>, Arc<dyn WebhookVerifier>);

/// An opened config, the record generation it was opened for, and when that generation was
/// last confirmed against the store.
#[derive(Debug)]
struct CachedConfig {
    config: Arc<ConnectionConfig>,
    generation: Option<String>,
    checked: Mutex<Instant>,
}

impl CachedConfig {
    fn fresh(&self) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            < CONFIG_RECHECK
    }

    fn confirm(&self) {
        *self.checked.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }
}

/// Where the host serves webhooks: its public origin and the router's route prefix.
#[derive(Debug, Clone)]
pub(crate) struct WebhookBase {
    pub(crate) public: PublicBase,
    pub(crate) prefix: String,
}

/// How many times an activation whose write lost a race is run again (on the winner's config,
/// where an idempotent hook finds its work done).
const MAX_ACTIVATION_TRIES: usize = 4;

/// A lifecycle transition, published to [`Connections::subscribe`]rs.
///
/// An event whose `from` equals `to` reports a failure that changed no status, in `error`:
/// the provider's webhook could not be removed when the connection was disconnected
/// ([`Connections::disconnect`]).
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
    configs: moka::future::Cache<(TenantId, ConnectionId), Arc<CachedConfig>>,
    verifiers: moka::future::Cache<(TenantId, ConnectionId), CachedVerifier>,
    /// Bumped by every config write, so a read that raced one is not cached.
    config_writes: AtomicU64,
    /// Where the host serves webhooks, for the URL activation gives providers.
    webhook_base: Option<WebhookBase>,
    /// The status cell each live connection's observer shares; see [`StatusCell`].
    statuses: Mutex<StatusCells>,
    /// Where connections whose integration binds a token grant get their access tokens.
    tokens: Option<TokenManager>,
}

/// What [`Connections::build`] keeps from one service to the next `with_*` one.
struct Options {
    store: Arc<dyn ConnectionStore>,
    webhook_base: Option<WebhookBase>,
    tokens: Option<TokenManager>,
}

impl Connections {
    /// A service over `registry`, sealing with `vault` into the switchboard's credential store,
    /// with records in memory until [`Self::with_connection_store`] says otherwise.
    pub fn new(switchboard: Switchboard, vault: Vault, registry: Registry) -> Self {
        Self::build(
            switchboard,
            vault,
            registry,
            Options {
                store: Arc::new(InMemoryConnectionStore::new()),
                webhook_base: None,
                tokens: None,
            },
        )
    }

    fn options(&self) -> Options {
        let i = &self.inner;
        Options {
            store: i.store.clone(),
            webhook_base: i.webhook_base.clone(),
            tokens: i.tokens.clone(),
        }
    }

    fn rebuilt(&self, options: Options) -> Self {
        let i = &self.inner;
        Self::build(
            i.switchboard.clone(),
            i.vault.clone(),
            i.registry.clone(),
            options,
        )
    }

    /// The same service, with `tokens` as the place connections get OAuth access tokens from:
    /// required by every integration whose binding has a
    /// [token grant](crate::templates::IntegrationBinding::with_token_grant) (DocuSign's JWT
    /// grant, OAuth apps). Each such connection's grant is registered under its tenant and id
    /// when it is bound, so tokens are cached, sealed into the manager's credential store and
    /// renewed per connection, once across replicas sharing the manager's refresh lock.
    ///
    /// To move connections to `error` when their grant is rejected, also run
    /// [`Self::follow_token_events`] with the same manager.
    #[must_use]
    pub fn with_tokens(self, tokens: TokenManager) -> Self {
        let mut options = self.options();
        options.tokens = Some(tokens);
        self.rebuilt(options)
    }

    /// The token manager given to [`Self::with_tokens`], if any.
    pub fn tokens(&self) -> Option<&TokenManager> {
        self.inner.tokens.as_ref()
    }

    /// The same service with records in `store`.
    #[must_use]
    pub fn with_connection_store(self, store: Arc<dyn ConnectionStore>) -> Self {
        let mut options = self.options();
        options.store = store;
        self.rebuilt(options)
    }

    /// The same service, told where the host serves inbound webhooks: `public_base_url` is the
    /// public origin providers post to (`https://hooks.example.com`, optionally with a path
    /// prefix a proxy strips) and `prefix` the webhook router's route prefix (`/webhooks`, its
    /// default). A connection's public webhook URL is then
    /// `{public_base_url}{prefix}/{template}/{webhook_token}` ([`Self::webhook_url`]), which
    /// activation hands to the integration to register with the provider
    /// ([`Integration::activate`]). A [`WebhookRouter`](crate::webhook::router::WebhookRouter)
    /// built over this service takes both from here.
    ///
    /// Without it, integrations are given no URL and register nothing.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming `connections.webhook_base_url` for a URL that is not http(s)
    /// with a host, or has a query, fragment or user; `connections.webhook_prefix` for a prefix
    /// not starting with `/`.
    pub fn with_webhook_base_url(self, public_base_url: &str, prefix: &str) -> Result<Self, Error> {
        let base = WebhookBase {
            public: PublicBase::parse(public_base_url, "connections.webhook_base_url")?,
            prefix: route_prefix(prefix, "connections.webhook_prefix")?,
        };
        let mut options = self.options();
        options.webhook_base = Some(base);
        Ok(self.rebuilt(options))
    }

    /// Where the host serves webhooks, if it said ([`Self::with_webhook_base_url`]).
    pub(crate) fn webhook_base(&self) -> Option<&WebhookBase> {
        self.inner.webhook_base.as_ref()
    }

    fn build(switchboard: Switchboard, vault: Vault, registry: Registry, options: Options) -> Self {
        let Options {
            store,
            webhook_base,
            tokens,
        } = options;
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
                    .time_to_live(CONFIG_TTL)
                    .build(),
                verifiers: moka::future::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(CONFIG_TTL)
                    .build(),
                config_writes: AtomicU64::new(0),
                webhook_base,
                statuses: Mutex::new(StatusCells::default()),
                tokens,
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

    /// The record store, for the health monitor's listing and re-reads under its lease.
    pub(crate) fn record_store(&self) -> &Arc<dyn ConnectionStore> {
        &self.inner.store
    }

    fn credentials(&self) -> &Arc<dyn CredentialStore> {
        self.inner.switchboard.credential_store()
    }

    fn integration(&self, template: &str) -> Result<&Arc<dyn Integration>, Error> {
        self.inner.registry.get(template).ok_or_else(|| {
            Error::config(
                "connection.template",
                format!("no template named `{template}`"),
            )
        })
    }

    /// Creates a `pending` connection: validates `config` against the template, seals the
    /// secret fields, stores the rest, and gives it a new random webhook token
    /// ([`ConnectionRecord::webhook_token`]) and, for payload-routed integrations, its routing
    /// key ([`ConnectionRecord::webhook_routing_key`]).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown template, [`ErrorKind::Validation`] listing every
    /// config problem (values never echoed; an endpoint URL field the switchboard's
    /// [`crate::templates::EndpointPolicy`] refuses is one), [`ErrorKind::Conflict`] when the
    /// id exists or another connection of the template (in any tenant) has the same routing key.
    pub async fn create(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        template: &str,
        name: &str,
        config: &Value,
    ) -> Result<ConnectionRecord, Error> {
        let integration = self.integration(template)?;
        let split = integration.template().split(config)?;
        // Endpoint URLs in tenant config must pass the host's policy (https, public host).
        integration
            .template()
            .check_endpoints(config, self.inner.switchboard.endpoint_policy())?;
        let mut record = ConnectionRecord::new(tenant.clone(), id.clone(), template, name);
        record.config = split.plain().clone();
        record.webhook_token = Some(new_webhook_token());
        record.webhook_routing_key = routing_key(integration.as_ref(), split.plain());
        // A fresh generation, so a replica that cached the config of a deleted connection of
        // the same id never takes it for this one's.
        record.config_generation = Some(new_generation());
        // Record first: if sealing fails we have a pending connection without secrets (which a
        // check reports), never secrets without a connection.
        record.version = self.inner.store.save(&record).await?;
        let key = config_key(tenant, id, record.config_generation.as_deref());
        let sealed = self.inner.vault.seal(&key, &split.secrets_json())?;
        let expected = self.credentials().load(&key).await?.map(|v| v.version);
        self.credentials().save(&key, sealed, expected).await?;
        self.forget_config(tenant, id).await;
        Ok(record)
    }

    /// Changes the connection's config (rotating its secrets, changing its routing key) by a
    /// JSON merge patch ([RFC 7386](https://www.rfc-editor.org/rfc/rfc7386)): `patch` is merged
    /// into the current config with its secrets opened (a field set to `null` is removed, an
    /// object is merged field by field, anything else replaces), the result is validated
    /// against the template and the endpoint policy as in [`Self::create`], and re-sealed.
    ///
    /// # One compare-and-swap write
    /// The record and the sealed secrets live in two stores, so the write is made so that
    /// there is never a half state: the new secrets are sealed first under a new credential
    /// kind, `config.{generation}` (a fresh random generation, written with "must not exist"),
    /// and only then is the record written with one compare-and-swap that carries the new
    /// plain config, routing key and [`ConnectionRecord::config_generation`]. Readers open the
    /// generation their record names, so they see the old pair or the new pair, never a mix.
    /// If the record's compare-and-swap loses, the new generation is deleted and the patch is
    /// applied again on top of the winner's config; if it wins, the old generation is deleted
    /// (a crash in between leaves an unreferenced sealed blob, which [`Self::delete`] removes).
    ///
    /// The cached config and webhook verifier are dropped here at once; other replicas use
    /// the new config within [`Self::config`]'s one-second bound (clients and webhook
    /// verifiers made after the write, at once). No other connection's are touched.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the connection does not exist; [`ErrorKind::Validation`]
    /// when the merged config is invalid (values never echoed); [`ErrorKind::Conflict`] when
    /// the new routing key is taken or the record kept changing; store and vault failures.
    pub async fn update_config(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        patch: &Value,
    ) -> Result<ConnectionRecord, Error> {
        self.write_config(tenant, id, patch, None, &[]).await
    }

    /// [`Self::update_config`], and when `expect` is given, only while the record still names
    /// that sealed config generation (else [`ErrorKind::Conflict`]: the config changed since
    /// the caller read it); every pointer in `sealed` must come out of the template's split as
    /// a secret (else [`ErrorKind::Config`], nothing written).
    async fn write_config(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        patch: &Value,
        expect: Option<&Option<String>>,
        sealed: &[String],
    ) -> Result<ConnectionRecord, Error> {
        for _ in 0..MAX_CAS_RETRIES {
            let current = self.get(tenant, id).await?;
            if expect.is_some_and(|g| *g != current.config_generation) {
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "the config of connection `{id}` of tenant `{tenant}` changed while it \
                         was being activated"
                    ),
                ));
            }
            let integration = self.integration(&current.template)?;
            let old = match self.open_exact(&current).await? {
                Some(old) => old,
                None => {
                    let now = self.get(tenant, id).await?;
                    if now.version != current.version {
                        // Its generation was replaced and deleted while we read: again.
                        continue;
                    }
                    // Never sealed (a create that failed half-way): no secrets to keep, and
                    // this update is how the host repairs it.
                    ConnectionConfig::new(current.config.clone(), Default::default())
                }
            };
            let mut merged = full_config(&old);
            merge_patch(&mut merged, patch);
            let split = integration.template().split(&merged)?;
            integration
                .template()
                .check_endpoints(&merged, self.inner.switchboard.endpoint_policy())?;
            drop(merged);
            if let Some(plain) = sealed.iter().find(|p| split.secret(p).is_none()) {
                return Err(Error::config(
                    "integration.activate",
                    format!(
                        "`{plain}` was given as a secret, but template `{}` does not mark it \
                         secret; refused so it is never stored in the plain record",
                        current.template
                    ),
                ));
            }
            let generation = new_generation();
            let key = config_key(tenant, id, Some(&generation));
            let sealed = self.inner.vault.seal(&key, &split.secrets_json())?;
            self.credentials().save(&key, sealed, None).await?;
            let mut record = current.clone();
            record.config = split.plain().clone();
            record.webhook_routing_key = routing_key(integration.as_ref(), split.plain());
            record.config_generation = Some(generation);
            match self.inner.store.save(&record).await {
                Ok(version) => {
                    record.version = version;
                    let old_key = config_key(tenant, id, current.config_generation.as_deref());
                    self.remove_credential(&old_key).await;
                    self.forget_config(tenant, id).await;
                    return Ok(record);
                }
                Err(e) => {
                    self.remove_credential(&key).await;
                    let lost_race = e.kind() == ErrorKind::Conflict
                        && self
                            .inner
                            .store
                            .load(tenant, id)
                            .await?
                            .is_none_or(|r| r.version != current.version);
                    if !lost_race {
                        // Not a lost race (a taken routing key, a store failure): retrying
                        // would fail the same way.
                        return Err(e);
                    }
                }
            }
        }
        Err(Error::conflict(format!(
            "connection `{id}` kept changing; gave up after {MAX_CAS_RETRIES} tries"
        )))
    }

    /// Every connection of `tenant`, sorted by id, with its status, last error (redacted),
    /// last check, success, sync and event. Never another tenant's.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<ConnectionRecord>, Error> {
        let mut records = self.inner.store.list(tenant).await?;
        records.retain(|r| &r.tenant == tenant);
        records.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        Ok(records)
    }

    /// Deletes the connection and every credential sealed for it: its sealed config (every
    /// generation, including one a crashed [`Self::update_config`] left behind) and any other
    /// credential kind stored under this (tenant, connection), such as OAuth tokens. The
    /// record goes first (compare-and-swap), so nothing can use the connection once its
    /// secrets start to go; cached configs and verifiers here are dropped (other replicas
    /// notice within [`Self::config`]'s bound, at once for new clients and webhooks, which
    /// read the record). The same connection id of another tenant is not touched.
    ///
    /// Not covered: outbound webhook endpoints and queued messages are per tenant, not per
    /// connection, and are left alone; a token manager's in-memory cache of this
    /// connection's access token is not cleared (it has no API for that), though the stored
    /// token it would refresh from is gone.
    ///
    /// Finding the credentials lists every key of the credential store
    /// ([`CredentialStore::list_keys`]), which is linear in the store's size.
    ///
    /// First the integration removes what its activation registered with the provider (its
    /// webhook: [`Integration::deactivate`], with the stored config). A failure there does not
    /// stop the delete: the connection is deleted all the same, and the deactivation's error
    /// is returned afterwards (its message says the connection was deleted and names what is
    /// left at the provider), so nothing is left behind silently.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the connection does not exist; [`ErrorKind::Store`] when
    /// the record or a credential cannot be deleted (the error says which; calling again after
    /// the record is gone gives `NotFound`, so a credential left then is reported, not hidden);
    /// the deactivation's error (kind and status kept), after a complete delete.
    pub async fn delete(&self, tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        let before = self.get(tenant, id).await?;
        let leftover = self.deactivate(&before, false).await.err();
        self.delete_record(tenant, id).await?;
        match leftover {
            None => Ok(()),
            Some(e) => {
                let e = in_step(
                    e,
                    &format!(
                        "connection `{id}` of tenant `{tenant}` was deleted, but what its \
                         activation registered with the provider is left there"
                    ),
                );
                tracing::warn!(connection = %id, error = %e, "a deleted connection's provider webhook is left behind");
                Err(e)
            }
        }
    }

    /// The record and every credential of the connection (see [`Self::delete`]).
    async fn delete_record(&self, tenant: &TenantId, id: &ConnectionId) -> Result<(), Error> {
        let mut deleted = false;
        for _ in 0..MAX_CAS_RETRIES {
            let current = self.get(tenant, id).await?;
            match self.inner.store.delete(tenant, id, current.version).await {
                Ok(()) => {
                    deleted = true;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Conflict => continue,
                Err(e) => return Err(e),
            }
        }
        if !deleted {
            return Err(Error::conflict(format!(
                "connection `{id}` kept changing; gave up after {MAX_CAS_RETRIES} tries"
            )));
        }
        self.forget_config(tenant, id).await;
        if let Some(tokens) = &self.inner.tokens {
            tokens.unregister(tenant, id);
            tokens.invalidate(tenant, id).await;
        }
        let keys = self.credentials().list_keys().await?;
        for key in keys
            .into_iter()
            .filter(|k| &k.tenant == tenant && &k.connection == id)
        {
            for _ in 0..MAX_CAS_RETRIES {
                let Some(found) = self.credentials().load(&key).await? else {
                    break;
                };
                match self.credentials().delete(&key, found.version).await {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::Conflict => continue,
                    Err(e) => {
                        return Err(Error::store(format!(
                                "connection `{id}` of tenant `{tenant}` was deleted, but its sealed credential `{}` could not be",
                                key.kind
                            )).with_source(e))
                    }
                }
            }
        }
        Ok(())
    }

    /// Deletes one sealed credential, best effort: a leftover is unreferenced (no record names
    /// it) and [`Self::delete`] removes it with the connection.
    async fn remove_credential(&self, key: &CredentialKey) {
        let outcome = match self.credentials().load(key).await {
            Ok(Some(found)) => self.credentials().delete(key, found.version).await,
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(connection = %key.connection, kind = %key.kind, error = %e, "could not remove an unreferenced sealed config");
        }
    }

    /// Drops the cached config and webhook verifier of one connection.
    async fn forget_config(&self, tenant: &TenantId, id: &ConnectionId) {
        self.inner.config_writes.fetch_add(1, Ordering::AcqRel);
        let key = (tenant.clone(), id.clone());
        self.inner.configs.invalidate(&key).await;
        self.inner.verifiers.invalidate(&key).await;
    }

    /// The record.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when it does not exist; [`ErrorKind::Store`] when the store
    /// fails.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        self.inner
            .store
            .load(tenant, id)
            .await?
            .ok_or_else(|| not_found(tenant, id))
    }

    /// The path of the connection's webhook URL, `{prefix}/{template}/{webhook_token}`
    /// (`prefix` is the router's, `/webhooks` by default). The path names exactly one
    /// (tenant, connection): give it to the provider as the webhook URL (behind the host's
    /// public origin; [`WebhookRouter::webhook_url`](crate::webhook::router::WebhookRouter::webhook_url)
    /// builds the whole URL). A record stored before webhook tokens existed gets one now.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the connection does not exist; store failures.
    pub async fn webhook_path(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        prefix: &str,
    ) -> Result<String, Error> {
        let mut record = self.get(tenant, id).await?;
        if record.webhook_token.is_none() {
            let fresh = new_webhook_token();
            record = self
                .update(tenant, id, |r| {
                    if r.webhook_token.is_none() {
                        r.webhook_token = Some(fresh.clone());
                    }
                    Ok(())
                })
                .await?;
        }
        let token = record
            .webhook_token
            .as_deref()
            .ok_or_else(|| Error::store("a saved webhook token was lost"))?;
        Ok(format!(
            "{}/{}/{token}",
            prefix.trim_end_matches('/'),
            record.template
        ))
    }

    /// The connection's public webhook URL, `{public_base_url}{prefix}/{template}/{webhook_token}`
    /// ([`Self::with_webhook_base_url`]): what activation gives the provider. A record stored
    /// before webhook tokens existed gets one now.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when no webhook base URL is configured; as for
    /// [`Self::webhook_path`].
    pub async fn webhook_url(&self, tenant: &TenantId, id: &ConnectionId) -> Result<String, Error> {
        let Some(base) = self.webhook_base() else {
            return Err(Error::config(
                "connections.webhook_base_url",
                "is needed to build a full webhook URL (Connections::with_webhook_base_url)",
            ));
        };
        let path = self.webhook_path(tenant, id, &base.prefix).await?;
        Ok(format!("{}{path}", base.public.origin()))
    }

    /// The record's public webhook URL, without writing (`None` without a base URL or token).
    fn known_webhook_url(&self, record: &ConnectionRecord) -> Option<String> {
        let base = self.webhook_base()?;
        let token = record.webhook_token.as_deref()?;
        Some(format!(
            "{}{}/{}/{token}",
            base.public.origin(),
            base.prefix,
            record.template
        ))
    }

    /// Runs the integration's [`Integration::activate`] for a connection whose check passed
    /// (or that is being enabled) and writes the changes it returns, only over the config it
    /// read. When the write fails, [`Integration::deactivate`] undoes at the provider what the
    /// hook registered; after a lost race the activation runs again on the winner's config.
    ///
    /// It runs in a task of its own: a caller that stops waiting (a timeout, a dropped
    /// request) does not cancel it between the provider's answer and the write.
    ///
    /// `record` is the caller's fresh read of the connection, used by the first try (a check
    /// runs this on every health tick, so it costs no second read); retries read again.
    async fn activate(
        &self,
        record: ConnectionRecord,
        connection: &Connection,
    ) -> Result<(), Error> {
        let (service, connection) = (self.clone(), connection.clone());
        tokio::spawn(async move { service.activate_to_end(record, &connection).await })
            .await
            .unwrap_or_else(|e| {
                Err(Error::new(
                    ErrorKind::State,
                    format!("the activation task ended without an answer: {e}"),
                ))
            })
    }

    async fn activate_to_end(
        &self,
        first: ConnectionRecord,
        connection: &Connection,
    ) -> Result<(), Error> {
        let (tenant, id) = (first.tenant.clone(), first.id.clone());
        let (tenant, id) = (&tenant, &id);
        let step = format!("activating connection `{id}` of tenant `{tenant}`");
        let mut fresh = Some(first);
        for _ in 0..MAX_ACTIVATION_TRIES {
            let mut record = match fresh.take() {
                Some(r) => r,
                None => self.get(tenant, id).await?,
            };
            if self.webhook_base().is_some() && record.webhook_token.is_none() {
                // A record stored before webhook tokens existed gets one first.
                self.webhook_url(tenant, id).await?;
                record = self.get(tenant, id).await?;
            }
            let integration = self.integration(&record.template)?;
            let config = self.config_for(&record).await?;
            let url = self.known_webhook_url(&record);
            let context = ActivationContext::new(tenant, id, connection, &config, url.as_deref());
            let changes = integration
                .activate(&context)
                .await
                .map_err(|e| in_step(e, &step))?;
            if changes.is_empty() {
                return Ok(());
            }
            let sealed: Vec<String> = changes.secret_fields().map(str::to_string).collect();
            let written = self
                .write_config(
                    tenant,
                    id,
                    &changes.merge_patch(),
                    Some(&record.config_generation),
                    &sealed,
                )
                .await;
            let Err(write_error) = written else {
                return Ok(());
            };
            let lost_race = write_error.kind() == ErrorKind::Conflict
                && self
                    .inner
                    .store
                    .load(tenant, id)
                    .await?
                    .is_some_and(|r| r.config_generation != record.config_generation);
            // What the provider now knows: the stored config with the hook's changes.
            let registered = changes.applied_to(&config);
            let context =
                ActivationContext::new(tenant, id, connection, &registered, url.as_deref());
            let undone = integration.deactivate(&context).await;
            drop(registered);
            let fields = changes.fields().collect::<Vec<_>>().join(", ");
            match undone {
                Ok(_) if lost_race => continue,
                Ok(_) => {
                    return Err(in_step(
                        write_error,
                        &format!(
                            "{step}: its result ({fields}) could not be stored, so what the \
                             provider registered was removed again"
                        ),
                    ))
                }
                Err(undo) => {
                    let e = in_step(
                        write_error,
                        &format!(
                            "{step}: its result ({fields}) could not be stored, and removing \
                             what the provider registered failed too ({}); it is left at the \
                             provider",
                            undo.describe()
                        ),
                    );
                    tracing::warn!(connection = %id, error = %e, "an activation left a registration at the provider");
                    return Err(e);
                }
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!("{step}: the config kept changing; gave up after {MAX_ACTIVATION_TRIES} tries"),
        ))
    }

    /// Runs the integration's [`Integration::deactivate`] on `record`'s stored config, and
    /// clears the fields it names when `write_back` (not for a connection being deleted).
    async fn deactivate(&self, record: &ConnectionRecord, write_back: bool) -> Result<(), Error> {
        let (tenant, id) = (&record.tenant, &record.id);
        let step =
            format!("removing the provider's webhook of connection `{id}` of tenant `{tenant}`");
        let run = async {
            let integration = self.integration(&record.template)?;
            let config = self.config_for(record).await?;
            let url = self.known_webhook_url(record);
            let bound = self.bind(tenant, id, false).await;
            let context = match &bound {
                Ok((_, c)) => ActivationContext::new(tenant, id, c, &config, url.as_deref()),
                Err(e) => ActivationContext::unbound(tenant, id, e, &config, url.as_deref()),
            };
            let changes = integration.deactivate(&context).await?;
            if write_back && !changes.is_empty() {
                self.write_config(tenant, id, &changes.merge_patch(), None, &[])
                    .await?;
            }
            Ok::<(), Error>(())
        };
        run.await.map_err(|e| in_step(e, &step))
    }

    /// The connection whose webhook token is `token`, in any tenant.
    ///
    /// # Errors
    /// Store failures.
    pub(crate) async fn find_by_webhook_token(
        &self,
        token: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.store.find_by_webhook_token(token).await
    }

    /// The connection of `template` whose routing key is `key`, in any tenant.
    ///
    /// # Errors
    /// Store failures.
    pub(crate) async fn find_by_routing_key(
        &self,
        template: &str,
        key: &str,
    ) -> Result<Option<ConnectionRecord>, Error> {
        self.inner.store.find_by_routing_key(template, key).await
    }

    /// Where the integration of `template` finds the connection in a payload-routed webhook.
    pub(crate) fn webhook_routing(
        &self,
        template: &str,
    ) -> Option<crate::templates::WebhookRouting> {
        self.inner.registry.get(template)?.webhook_routing()
    }

    /// The verifier for the connection's inbound webhooks, built by its integration
    /// ([`Integration::webhook_verifier`]) from this connection's own config and secrets, and
    /// cached with that config: the record is read on every call, and a verifier is reused
    /// only while the record names the sealed config generation it was built from, so a
    /// config written through any replica is used at once.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the connection does not exist; [`ErrorKind::Config`] when
    /// its integration takes no webhooks or its config has no webhook secret; store and vault
    /// failures.
    pub async fn webhook_verifier(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let record = self.get(tenant, id).await?;
        self.verifier_for(&record).await
    }

    pub(crate) async fn verifier_for(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Arc<dyn WebhookVerifier>, Error> {
        let key = (record.tenant.clone(), record.id.clone());
        let config = self.config_for(record).await?;
        // Used only if built from this very config snapshot, so a verifier never outlives the
        // config it was built from.
        if let Some((built_from, verifier)) = self.inner.verifiers.get(&key).await {
            if Arc::ptr_eq(&built_from, &config) {
                return Ok(verifier);
            }
        }
        let verifier = self
            .integration(&record.template)?
            .webhook_verifier(&config)?;
        self.inner
            .verifiers
            .insert(key, (config, verifier.clone()))
            .await;
        Ok(verifier)
    }

    /// The validated config with its secrets opened. Cached, and revalidated at most one
    /// second after it was last confirmed: then the record is re-read (one small store read)
    /// and the config is opened again only if the record names another sealed generation
    /// ([`ConnectionRecord::config_generation`]). So a config written through any replica is
    /// used here within about a second; a write through this service is seen at once.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the connection does not exist; store failures, or
    /// [`ErrorKind::Vault`] when the sealed config cannot be opened: the message names the key
    /// id it is sealed under and says this process's key ring cannot open it (a wrong or
    /// retired master key here, not a provider failure).
    pub async fn config(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Arc<ConnectionConfig>, Error> {
        let cache_key = (tenant.clone(), id.clone());
        if let Some(c) = self.inner.configs.get(&cache_key).await {
            if c.fresh() {
                return Ok(c.config.clone());
            }
        }
        let record = self.get(tenant, id).await?;
        // The record was read anyway: kept clients of this connection learn its status too (a
        // disconnect made on another replica stops their calls within this same bound).
        self.note_status(tenant, id, record.status);
        self.config_for(&record).await
    }

    /// The config of `record`, which the caller has just read: the cached one if it was
    /// opened for the generation the record names, else opened now.
    async fn config_for(&self, record: &ConnectionRecord) -> Result<Arc<ConnectionConfig>, Error> {
        let cache_key = (record.tenant.clone(), record.id.clone());
        if let Some(c) = self.inner.configs.get(&cache_key).await {
            if c.generation == record.config_generation {
                c.confirm();
                return Ok(c.config.clone());
            }
        }
        // A write through this service while we read makes what we read possibly stale: then
        // it is returned but not cached (the write's own invalidation ran before our insert).
        let writes = self.inner.config_writes.load(Ordering::Acquire);
        let (record, config) = match self.open_exact(record).await? {
            Some(config) => (record.clone(), config),
            // The generation was replaced (and deleted) after the caller read the record: the
            // current record names the one to use.
            None => {
                let fresh = self.get(&record.tenant, &record.id).await?;
                let config = self.open_exact(&fresh).await?.unwrap_or_else(|| {
                    // Still missing: a connection whose secrets were never sealed (create
                    // failed half-way); it has no secrets, which a check reports.
                    ConnectionConfig::new(fresh.config.clone(), Default::default())
                });
                (fresh, config)
            }
        };
        let config = Arc::new(config);
        if self.inner.config_writes.load(Ordering::Acquire) == writes {
            let cached = CachedConfig {
                config: config.clone(),
                generation: record.config_generation.clone(),
                checked: Mutex::new(Instant::now()),
            };
            self.inner.configs.insert(cache_key, Arc::new(cached)).await;
        }
        Ok(config)
    }

    /// Opens the config `record` names, uncached: `None` when the record names a sealed
    /// generation that is not (or no longer) stored. A record that names none (written before
    /// generations existed) uses [`CONFIG_KIND`], and no sealed record there means no secrets.
    async fn open_exact(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<ConnectionConfig>, Error> {
        let generation = record.config_generation.as_deref();
        let key = config_key(&record.tenant, &record.id, generation);
        let secrets = match self.credentials().load(&key).await? {
            Some(sealed) => {
                let plain =
                    self.inner.vault.open(&key, &sealed.value).map_err(|e| {
                        self.unopenable(&record.tenant, &record.id, &sealed.value, e)
                    })?;
                ConnectionConfig::secrets_from_json(plain.expose_secret())?
            }
            None if generation.is_some() => return Ok(None),
            None => Default::default(),
        };
        Ok(Some(ConnectionConfig::new(record.config.clone(), secrets)))
    }

    /// A client for the connection, bound by its integration, whose calls report their
    /// outcomes back to the lifecycle.
    ///
    /// # Errors
    /// As for [`Self::config`], or the integration's bind error; [`ErrorKind::Validation`] when
    /// a stored endpoint URL field, or [`ErrorKind::Config`] when the bound base URL, is refused
    /// by the switchboard's [`crate::templates::EndpointPolicy`].
    /// Its calls act on the connection's current status, whenever the client was made: a call
    /// through a `disconnected` connection fails at once with [`ErrorKind::State`] and sends
    /// nothing; an auth rejection or an open breaker moves an `active` one to `error`, and a
    /// success moves an `error` one back to `active`. Changes made through this service are
    /// seen at once; changes made through another replica within about two seconds.
    pub async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Connection, Error> {
        self.bind(tenant, id, true).await.map(|(_, conn)| conn)
    }

    /// A client for the connection; `observed` ones report outcomes and are refused while the
    /// connection is disconnected ([`Self::test_connection`] uses an unobserved one, as it
    /// records the outcome itself and may check a disconnected connection). The integration
    /// comes back too: its `check` tests the connection.
    async fn bind(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        observed: bool,
    ) -> Result<(Arc<dyn Integration>, Connection), Error> {
        self.bind_with_hint(tenant, id, observed)
            .await
            .map(|(integration, connection, _)| (integration, connection))
    }

    /// As [`Self::bind`], with the binding's error hint (for a check's failure message).
    async fn bind_with_hint(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        observed: bool,
    ) -> Result<
        (
            Arc<dyn Integration>,
            Connection,
            Option<crate::templates::ErrorHint>,
        ),
        Error,
    > {
        let record = self.get(tenant, id).await?;
        let integration = self.integration(&record.template)?.clone();
        let config = self.config_for(&record).await?;
        // Checked again here, against the policy in force now: a record may predate it, and
        // the binding's base URL may come from config the template did not declare.
        let policy = self.inner.switchboard.endpoint_policy();
        integration
            .template()
            .check_endpoints(config.plain(), policy)?;
        let binding = integration.bind(&config)?;
        let auth = self.binding_auth(tenant, id, &record.template, &binding)?;
        let hint = binding.error_hint.clone();
        let mut b = self
            .inner
            .switchboard
            .connection(binding.connector)
            .tenant(tenant.clone())
            .id(id.clone())
            .base_url(binding.base_url)
            // Checked against the endpoint policy, and resolved through the SSRF guard.
            .tenant_endpoint(true);
        if let Some(settings) = binding.settings {
            b = b.shared_settings(settings);
        }
        let cell = observed.then(|| self.status_cell(tenant, id, record.status));
        if let Some(cell) = &cell {
            b = b.observer(Arc::new(LifecycleObserver {
                service: Arc::downgrade(&self.inner),
                tenant: tenant.clone(),
                id: id.clone(),
                cell: cell.clone(),
                hint: binding.error_hint.clone(),
            }));
        }
        if let Some(auth) = auth {
            b = b.auth(Arc::new(LiveAuth {
                service: Arc::downgrade(&self.inner),
                tenant: tenant.clone(),
                id: id.clone(),
                template: record.template.clone(),
                cell,
                current: Mutex::new((config, auth)),
            }));
        }
        Ok((integration, b.build()?, hint))
    }

    /// The authenticator of a binding: its fixed `auth`, or, for a token grant, the token
    /// manager's bearer authenticator for this tenant's connection (the grant registered under
    /// both ids, so two tenants sharing a connection id never share a token).
    fn binding_auth(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        template: &str,
        binding: &crate::templates::IntegrationBinding,
    ) -> Result<Option<Arc<dyn Authenticator>>, Error> {
        let Some(grant) = &binding.token_grant else {
            return Ok(binding.auth.clone());
        };
        let tokens = self.inner.tokens.as_ref().ok_or_else(|| {
            Error::config(
                "connections.tokens",
                format!("template `{template}` authenticates with OAuth tokens: give the service a TokenManager with Connections::with_tokens"),
            )
        })?;
        tokens.register(tenant, id, grant.clone());
        Ok(Some(Arc::new(tokens.authenticator(tenant, id))))
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

    /// Turns the connection off (`active -> disconnected`), then has its integration remove
    /// what activation registered with the provider ([`Integration::deactivate`]) and clears
    /// the config fields the integration names.
    ///
    /// The disconnect never waits on the provider: calls stop first. When the removal fails
    /// the connection stays disconnected, its config keeps what is needed to try again
    /// (calling `disconnect` again does), and the failure is reported in the returned record's
    /// `last_error`, as a [`ConnectionEvent`] whose `from` and `to` are both `disconnected`,
    /// and in the log.
    ///
    /// # Errors
    /// As for [`Self::transition`] (nothing is removed at the provider then).
    pub async fn disconnect(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let record = self
            .transition(tenant, id, ConnectionStatus::Disconnected, None)
            .await?;
        let Err(e) = self.deactivate(&record, true).await else {
            return self.get(tenant, id).await;
        };
        let message = self.scrub(tenant, id, &e.describe()).await;
        tracing::warn!(connection = %id, error = %message, "a disconnected connection's provider webhook could not be removed");
        let record = self
            .update(tenant, id, |r| {
                r.last_error = Some(message.clone());
                Ok(())
            })
            .await?;
        // Nobody listening is fine.
        let _ = self.inner.events.send(ConnectionEvent {
            tenant: tenant.clone(),
            connection: id.clone(),
            from: record.status,
            to: record.status,
            error: Some(message),
            at: SystemTime::now(),
        });
        Ok(record)
    }

    /// Turns a disconnected connection back on (`disconnected -> active`): the one explicit way
    /// to re-enable it ([`Self::test_connection`] does not). Calls through its clients, those
    /// made before the disconnect too, are sent again. An `active` connection stays as it is.
    /// Its integration's activation runs first ([`Integration::activate`]: the webhook
    /// [`Self::disconnect`] removed is registered again); if it fails, the connection stays
    /// disconnected.
    ///
    /// # Errors
    /// [`ErrorKind::State`] when the connection is `pending` or `error` (a check moves those);
    /// [`ErrorKind::NotFound`]; the activation's error; store failures.
    pub async fn enable(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let current = self.get(tenant, id).await?;
        if current.status == ConnectionStatus::Active {
            return Ok(current);
        }
        if current.status == ConnectionStatus::Disconnected {
            let (_, connection) = self.bind(tenant, id, false).await?;
            self.activate(current.clone(), &connection).await?;
        }
        self.update(tenant, id, |r| match r.status {
            ConnectionStatus::Disconnected => move_to(r, ConnectionStatus::Active),
            ConnectionStatus::Active => Ok(()),
            other => Err(Error::state(format!(
                "connection `{id}` of tenant `{tenant}` is {other}, not disconnected; \
                     test_connection moves it"
            ))),
        })
        .await
    }

    /// Runs the integration's [`Integration::check`] and moves the connection: success to `active`, failure
    /// to `error` with the redacted message (a disconnected connection stays disconnected and
    /// only records the outcome; [`Self::enable`] turns it back on).
    ///
    /// After a successful check of a connection that is not disconnected, its integration's
    /// activation runs ([`Integration::activate`]: registering its webhook with the provider
    /// and storing what the provider returns). If that fails, the connection does not become
    /// `active`: the failure is recorded as a check's (status `error`) and returned.
    ///
    /// # Errors
    /// Store failures; [`ErrorKind::NotFound`]; [`ErrorKind::Vault`] when this process's key
    /// ring cannot open the connection's sealed config (nothing is recorded then: the
    /// provider was never asked, so its status stays as it is); the activation's error (kind
    /// and status of the provider's answer kept; also recorded). The check's own failure is in
    /// the returned record, not an error.
    pub async fn test_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<ConnectionRecord, Error> {
        let mut activation = Ok(());
        let mut hint = None;
        let outcome = match self.bind_with_hint(tenant, id, false).await {
            Ok((integration, conn, h)) => {
                hint = h;
                match integration.check(&conn).await {
                    Ok(()) => {
                        let record = self.get(tenant, id).await?;
                        if record.status != ConnectionStatus::Disconnected {
                            activation = self.activate(record, &conn).await;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = activation {
            if !matches!(
                e.kind(),
                ErrorKind::Vault | ErrorKind::Store | ErrorKind::NotFound
            ) {
                self.record_check(tenant, id, Err(e.clone()), hint.as_ref())
                    .await?;
            }
            return Err(e);
        }
        // Failures of this process (its key ring, its stores) say nothing about the provider
        // or the connection: reported to the caller, never written to the shared record.
        if let Err(e) = outcome {
            if matches!(
                e.kind(),
                ErrorKind::Vault | ErrorKind::Store | ErrorKind::NotFound
            ) {
                return Err(e);
            }
            return self.record_check(tenant, id, Err(e), hint.as_ref()).await;
        }
        self.record_check(tenant, id, Ok(()), None).await
    }

    /// Records a check's outcome and moves the status (never out of `disconnected`).
    async fn record_check(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        outcome: Result<(), Error>,
        hint: Option<&crate::templates::ErrorHint>,
    ) -> Result<ConnectionRecord, Error> {
        let message = match &outcome {
            Ok(()) => None,
            Err(e) => Some(self.scrub(tenant, id, &with_advice(e, hint)).await),
        };
        let now = SystemTime::now();
        self.update(tenant, id, |r| {
            r.last_check = Some(now);
            match &message {
                None => {
                    r.last_success = Some(now);
                    r.consecutive_failures = 0;
                    r.last_error = None;
                    if matches!(
                        r.status,
                        ConnectionStatus::Pending | ConnectionStatus::Error
                    ) {
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
                        service
                            .ask_to_reconnect(&tenant, &connection, &message)
                            .await;
                    }
                    // A rotating refresh token probably spent without its answer: the same
                    // way to `error`, with the reason.
                    Ok(TokenEvent::RefreshOutcomeUnknown {
                        tenant,
                        connection,
                        reason,
                        ..
                    }) => {
                        let message = format!("{reason}; reconnect the account");
                        service
                            .ask_to_reconnect(&tenant, &connection, &message)
                            .await;
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }

    /// Moves a connection whose tokens are gone to `error` with `message` (a disconnected one
    /// stays disconnected). Best effort: the token manager's event is not retried.
    async fn ask_to_reconnect(&self, tenant: &TenantId, id: &ConnectionId, message: &str) {
        let movable = self
            .get(tenant, id)
            .await
            .is_ok_and(|r| r.status.can_become(ConnectionStatus::Error));
        if movable {
            if let Err(e) = self
                .transition(tenant, id, ConnectionStatus::Error, Some(message))
                .await
            {
                tracing::warn!(connection = %id, error = %e, "could not record that a connection must be reconnected");
            }
        }
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
                    self.note_status(tenant, id, record.status);
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
        Err(Error::conflict(format!(
            "connection `{id}` kept changing; gave up after {MAX_CAS_RETRIES} tries"
        )))
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

    /// The error for a sealed config this process cannot open: names the key id it is sealed
    /// under (never key material) and says the fault is this process's key ring.
    fn unopenable(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        sealed: &crate::credentials::SealedCredential,
        e: crate::vault::VaultError,
    ) -> Error {
        let key_id = Vault::key_id_of(sealed).unwrap_or_else(|_| "(unreadable)".to_string());
        let primary = self
            .inner
            .vault
            .key_ring()
            .primary_id()
            .as_str()
            .to_string();
        Error::vault(format!(
            "the sealed config of connection `{id}` (tenant `{tenant}`) is under key \
                 `{key_id}`, which this process's key ring (primary `{primary}`) cannot open \
                 ({e}); a wrong or retired master key here, not a provider failure"
        ))
        .with_source(e)
    }

    /// The status cell of a connection, shared by every live client of it in this process,
    /// set to `status` (just read from the store).
    fn status_cell(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        status: ConnectionStatus,
    ) -> Arc<StatusCell> {
        let mut cells = self
            .inner
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (tenant.clone(), id.clone());
        if let Some(cell) = cells.cells.get(&key).and_then(Weak::upgrade) {
            cell.written(status);
            return cell;
        }
        // Cells live as long as their clients; dead entries are swept when the map doubles.
        if cells.cells.len() >= cells.sweep_at {
            cells.cells.retain(|_, w| w.strong_count() > 0);
            cells.sweep_at = (cells.cells.len() * 2).max(1024);
        }
        let cell = Arc::new(StatusCell::new(status));
        cells.cells.insert(key, Arc::downgrade(&cell));
        cell
    }

    /// Tells the connection's live clients (if any) its status, after a write or a read.
    fn note_status(&self, tenant: &TenantId, id: &ConnectionId, status: ConnectionStatus) {
        let cell = self
            .inner
            .statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .cells
            .get(&(tenant.clone(), id.clone()))
            .and_then(Weak::upgrade);
        if let Some(cell) = cell {
            cell.written(status);
        }
    }

    /// Writes a move an observer asked for, only if the stored status is still `from` (the
    /// compare-and-swap re-reads, so a stale cell costs a read and no write); otherwise the
    /// cell learns the stored status.
    async fn observed_move(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
        from: ConnectionStatus,
        to: ConnectionStatus,
        message: Option<String>,
    ) {
        let mut stored = None;
        let result = self
            .update(tenant, id, |r| {
                if r.status != from {
                    stored = Some(r.status);
                    return Err(Error::state("moved meanwhile"));
                }
                move_to(r, to)?;
                if let Some(m) = &message {
                    r.last_error = Some(m.clone());
                }
                Ok(())
            })
            .await;
        match (result, stored) {
            (Ok(_), _) => {}
            (Err(_), Some(status)) => self.note_status(tenant, id, status),
            (Err(e), None) => {
                tracing::warn!(connection = %id, error = %e, "could not record a connection state change");
                if let Ok(r) = self.get(tenant, id).await {
                    self.note_status(tenant, id, r.status);
                }
            }
        }
    }
}

/// How long a client trusts its status cell before re-reading the store in the background
/// (on its next call), so a change made through another replica is acted on within about
/// this long. Changes made through this process reach the cell at once.
const STATUS_REFRESH: Duration = Duration::from_secs(2);

/// Milliseconds since the first call, for cheap atomic timestamps.
fn now_ms() -> u64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// The last known status of one (tenant, connection), shared by every observer of its clients
/// in this process and set by every write through this service: clients act on the current
/// status without reading the store on each call.
#[derive(Debug)]
struct StatusCell {
    status: AtomicU8,
    /// When the status was last read from or written to the store ([`now_ms`]).
    refreshed: AtomicU64,
    /// Bumped by every write, so a background read that raced one is dropped.
    generation: AtomicU64,
    refreshing: AtomicBool,
}

impl StatusCell {
    fn new(status: ConnectionStatus) -> Self {
        StatusCell {
            status: AtomicU8::new(status_code(status)),
            refreshed: AtomicU64::new(now_ms()),
            generation: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
        }
    }

    fn get(&self) -> ConnectionStatus {
        status_from_code(self.status.load(Ordering::Acquire))
    }

    /// The status as the store now holds it.
    fn written(&self, status: ConnectionStatus) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.status.store(status_code(status), Ordering::Release);
        self.refreshed.store(now_ms(), Ordering::Release);
    }

    /// Moves `from -> to` if the cell still says `from`; true for the one caller that did.
    fn claim(&self, from: ConnectionStatus, to: ConnectionStatus) -> bool {
        self.status
            .compare_exchange(
                status_code(from),
                status_code(to),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }
}

/// The status cells of this process's live clients.
#[derive(Debug, Default)]
struct StatusCells {
    cells: HashMap<(TenantId, ConnectionId), Weak<StatusCell>>,
    /// The map size at which dead entries are next swept.
    sweep_at: usize,
}

/// The error of a call through a disconnected connection (nothing was sent).
fn disconnected(tenant: &TenantId, id: &ConnectionId) -> Error {
    Error::state(format!(
        "connection `{id}` of tenant `{tenant}` is disconnected; the call was not sent \
             (Connections::enable turns it back on)"
    ))
}

fn not_found(tenant: &TenantId, id: &ConnectionId) -> Error {
    Error::not_found(format!("no connection `{id}` for tenant `{tenant}`"))
}

/// The credential key of a connection's sealed config generation ([`CONFIG_KIND`] for none).
pub(super) fn config_key(
    tenant: &TenantId,
    id: &ConnectionId,
    generation: Option<&str>,
) -> CredentialKey {
    let kind = match generation {
        Some(g) => format!("{CONFIG_KIND}.{g}"),
        None => CONFIG_KIND.to_string(),
    };
    CredentialKey::new(tenant.clone(), id.clone(), kind)
}

/// A new sealed-config generation: random, so two concurrent writers never pick the same
/// one (the record's compare-and-swap decides which of them wins).
fn new_generation() -> String {
    new_webhook_token()
}

/// The whole config as a host gave it: the plain fields with every secret put back at its
/// JSON pointer. Lives only as long as a merge takes.
fn full_config(config: &ConnectionConfig) -> Value {
    let mut full = config.plain().clone();
    for pointer in config.secret_pointers() {
        if let Some(secret) = config.secret(pointer) {
            put_at(
                &mut full,
                pointer,
                Value::String(secret.expose_secret().to_string()),
            );
        }
    }
    full
}

/// Sets the value at a JSON pointer, making objects on the way (array items must exist:
/// secret array items are kept as `null` in the plain config).
fn put_at(target: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, path)) = tokens.split_last() else {
        return;
    };
    let mut at = target;
    for token in path {
        at = match at {
            Value::Object(map) => map
                .entry(token.clone())
                .or_insert_with(|| Value::Object(Default::default())),
            Value::Array(items) => match token.parse::<usize>().ok().and_then(|i| items.get_mut(i))
            {
                Some(item) => item,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        Value::Object(map) => {
            map.insert(last.clone(), value);
        }
        Value::Array(items) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = value;
            }
        }
        _ => {}
    }
}

/// Applies a JSON merge patch (RFC 7386) to `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(map) = target {
        for (name, value) in fields {
            if value.is_null() {
                map.remove(name);
            } else {
                merge_patch(map.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// The value of the integration's routing field in a plain config, if it routes by payload.
fn routing_key(integration: &dyn Integration, plain: &Value) -> Option<String> {
    let routing = integration.webhook_routing()?;
    plain
        .get(&routing.config_field)
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
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

fn status_from_code(code: u8) -> ConnectionStatus {
    ConnectionStatus::ALL[usize::from(code) % ConnectionStatus::ALL.len()]
}

/// Moves a connection when its calls say so, judged against its current status (the shared
/// [`StatusCell`], not the status seen when the client was made): an auth rejection (401, 403,
/// a rejected refresh) or an open breaker sends an `active` connection to `error`; a success
/// sends an `error` connection back to `active`. Writes only on change, once per change among
/// all clients of the connection. Refuses calls while the connection is disconnected.
/// The credentials of a client made by [`Connections`], following the connection's config:
/// clients are kept and shared, so a key changed through any replica must reach the ones
/// already made. Each call asks [`Connections::config`] (a cache hit, revalidated against the
/// record at most a second after it was last confirmed) and binds the integration again only
/// when that config changed; the base URL and connector stay those the client was made with.
struct LiveAuth {
    service: Weak<Inner>,
    tenant: TenantId,
    id: ConnectionId,
    template: String,
    /// The status cell the client's observer shares (none for `test_connection`'s client).
    cell: Option<Arc<StatusCell>>,
    current: Mutex<(Arc<ConnectionConfig>, Arc<dyn Authenticator>)>,
}

impl std::fmt::Debug for LiveAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveAuth")
            .field("tenant", &self.tenant)
            .field("connection", &self.id)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Authenticator for LiveAuth {
    async fn authenticate(&self, request: &mut PipelineRequest) -> Result<(), Error> {
        let current = || {
            self.current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .1
                .clone()
        };
        let auth = match self.service.upgrade() {
            // The service is gone (the host dropped it): the credentials the client had.
            None => current(),
            Some(inner) => {
                let service = Connections { inner };
                // Deleted, or not openable here: the call fails with that error.
                let config = service.config(&self.tenant, &self.id).await?;
                // `config` re-read the record if its cache was older than a second, and noted
                // the status: a disconnect on another replica stops the call here, unsent.
                if self
                    .cell
                    .as_ref()
                    .is_some_and(|c| c.get() == ConnectionStatus::Disconnected)
                {
                    return Err(disconnected(&self.tenant, &self.id));
                }
                let mut slot = self
                    .current
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if !Arc::ptr_eq(&slot.0, &config) {
                    let binding = service.integration(&self.template)?.bind(&config)?;
                    let auth = service
                        .binding_auth(&self.tenant, &self.id, &self.template, &binding)?
                        .ok_or_else(|| {
                            Error::auth(format!(
                                "connection `{}` of tenant `{}` no longer has credentials",
                                self.id, self.tenant
                            ))
                        })?;
                    *slot = (config, auth);
                }
                slot.1.clone()
            }
        };
        auth.authenticate(request).await
    }

    /// As the credentials it holds now. Safe when they are replaced before `authenticate`:
    /// the new ones are made for this same tenant and connection, so what an authenticator
    /// checks in the context (the OAuth one: that the call is its own connection's) holds.
    fn reads_call_context(&self) -> bool {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
            .reads_call_context()
    }
}

struct LifecycleObserver {
    service: Weak<Inner>,
    tenant: TenantId,
    id: ConnectionId,
    cell: Arc<StatusCell>,
    hint: Option<crate::templates::ErrorHint>,
}

impl std::fmt::Debug for LifecycleObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LifecycleObserver")
            .field("tenant", &self.tenant)
            .field("connection", &self.id)
            .finish_non_exhaustive()
    }
}

impl LifecycleObserver {
    /// Re-reads the stored status in the background when the cell is older than
    /// [`STATUS_REFRESH`] (one read at a time per connection; the call does not wait).
    fn refresh_if_old(&self) {
        let age = now_ms().saturating_sub(self.cell.refreshed.load(Ordering::Acquire));
        if age < STATUS_REFRESH.as_millis() as u64
            || self.cell.refreshing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (Some(inner), Ok(runtime)) = (
            self.service.upgrade(),
            tokio::runtime::Handle::try_current(),
        ) else {
            self.cell.refreshing.store(false, Ordering::Release);
            return;
        };
        let cell = self.cell.clone();
        let (tenant, id) = (self.tenant.clone(), self.id.clone());
        runtime.spawn(async move {
            let generation = cell.generation.load(Ordering::Acquire);
            match inner.store.load(&tenant, &id).await {
                Ok(Some(r)) => {
                    if cell.generation.load(Ordering::Acquire) == generation {
                        cell.status.store(status_code(r.status), Ordering::Release);
                    }
                }
                // A deleted connection's calls fail on their own.
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(connection = %id, error = %e, "could not refresh a connection's status");
                }
            }
            // Also after a failure: the next try waits a period too.
            cell.refreshed.store(now_ms(), Ordering::Release);
            cell.refreshing.store(false, Ordering::Release);
        });
    }
}

impl CallObserver for LifecycleObserver {
    fn admit(&self) -> Result<(), Error> {
        self.refresh_if_old();
        if self.cell.get() == ConnectionStatus::Disconnected {
            return Err(disconnected(&self.tenant, &self.id));
        }
        Ok(())
    }

    fn observe(&self, outcome: Result<(), &Error>) {
        let current = self.cell.get();
        let (target, message) = match outcome {
            Ok(()) if current == ConnectionStatus::Error => (ConnectionStatus::Active, None),
            Err(e) if current == ConnectionStatus::Active && moves_to_error(e) => (
                ConnectionStatus::Error,
                Some(with_advice(e, self.hint.as_ref())),
            ),
            _ => return,
        };
        let Some(inner) = self.service.upgrade() else {
            return;
        };
        // Among all clients of this connection, the one that flips the cell writes.
        if !self.cell.claim(current, target) {
            return;
        }
        let service = Connections { inner };
        let (tenant, id) = (self.tenant.clone(), self.id.clone());
        // Observers are sync; the write happens in the background, once per change.
        tokio::spawn(async move {
            let message = match message {
                Some(m) => Some(service.scrub(&tenant, &id, &m).await),
                None => None,
            };
            service
                .observed_move(&tenant, &id, current, target, message)
                .await;
        });
    }
}

/// `e` with `step` in front of its message; its kind, status and other parts are kept.
fn in_step(e: Error, step: &str) -> Error {
    let mut parts = e.into_parts();
    parts.message = format!("{step}: {}", parts.message);
    parts.build()
}

/// `e`'s description, followed by the binding's advice for it when there is some.
fn with_advice(e: &Error, hint: Option<&crate::templates::ErrorHint>) -> String {
    match hint.and_then(|h| h(e)) {
        Some(advice) => format!("{}; {advice}", e.describe()),
        None => e.describe(),
    }
}

fn moves_to_error(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Auth | ErrorKind::CircuitOpen)
        || e.status().is_some_and(|s| {
            s == http::StatusCode::UNAUTHORIZED || s == http::StatusCode::FORBIDDEN
        })
}
