//! [`TokenManager`]: the access token of a connection, refreshed once before it expires.
//!
//! The path of [`TokenManager::access_token`]:
//!
//! 1. The in-memory cache answers while the token is not due. Entries expire when the token
//!    becomes due (and after `cache_ttl` at the latest, so a reconnect made by another replica
//!    is seen).
//! 2. On a miss, one caller per connection (the cache coalesces concurrent misses) loads and
//!    opens the stored token. Not due: done.
//! 3. Due: take the [`RefreshLock`] for the connection (and extend it every third of its ttl
//!    while working), re-read the stored token (another replica may have refreshed it
//!    meanwhile: then use that), otherwise ask the grant for a new one and write it with a
//!    compare-and-swap on the version read, then release the lock.
//!
//! The new token is stored before anyone gets it. The write is fenced: the lock is extended
//! (so checked) right before it, and a token set stored by another writer after the read (a
//! reconnect, a replica whose lock this one outlived) is never overwritten. A write the store
//! refuses is retried for `store_retry_for`; after that the callers get a `Store` error
//! while the sealed token stays in memory and a background task, still holding and extending
//! the lock so no replica spends the old refresh token, retries until the write lands.
//!
//! For a grant whose provider rotates refresh tokens
//! ([`TokenGrant::rotates_refresh_tokens`]), a refresh that may have reached the provider
//! without an answer (timeout, reset after sending, 5xx, an unreadable 2xx) is not resent: the
//! store is read again (another replica may have stored the new token) and otherwise the
//! stored token is marked unusable, [`TokenEvent::RefreshOutcomeUnknown`] is sent (the
//! lifecycle moves the connection to `error` asking for a reconnect) and the call fails with
//! an [`ErrorKind::Auth`] error whose source is [`TokenError::OutcomeUnknown`].
//!
//! Steps 2 and 3 run in a task of their own, so a caller that gives up (a deadline, a dropped
//! request) never abandons a refresh between the provider's answer and the write — with
//! providers that rotate refresh tokens (GoHighLevel), losing that answer loses the
//! connection.
//!
//! When the provider is unreachable or the lock cannot be taken, a token that is due but has
//! not expired yet is still served (with a warning) rather than failing the call.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::broadcast;

use super::grants::{TokenError, TokenGrant};
use super::lock::{InProcessLock, LockGuard, RefreshLock};
use super::{token_key, unix_ms, OAuthAuthenticator, Rejection, StoredToken, Token};
use crate::credentials::{CredentialKey, CredentialStore, SealedCredential};
use crate::error::{Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::vault::Vault;

/// A token that expires sooner than this is not served as a fallback when a refresh fails.
const FALLBACK_MARGIN: Duration = Duration::from_secs(5);
/// Attempts of a compare-and-swap write that keeps losing to other writers.
const CAS_ATTEMPTS: usize = 5;
/// How long each round of the background write of an unstored token retries before it logs
/// again.
const BACKGROUND_PATIENCE: Duration = Duration::from_secs(30);

type ConnKey = (TenantId, ConnectionId);

/// What happened to a connection's token, for the host and the connection lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenEvent {
    /// A new token was obtained and stored.
    #[non_exhaustive]
    Refreshed {
        /// The tenant.
        tenant: TenantId,
        /// The connection.
        connection: ConnectionId,
        /// When the new access token expires, if known.
        expires_at: Option<SystemTime>,
    },
    /// The provider answered `invalid_grant`: the connection cannot get tokens until it is
    /// reconnected (for a refresh token) or its credentials or consent are fixed. Move the
    /// connection to `error`.
    #[non_exhaustive]
    RefreshRejected {
        /// The tenant.
        tenant: TenantId,
        /// The connection.
        connection: ConnectionId,
        /// The provider's description, secrets removed.
        description: Option<String>,
    },
    /// A refresh with the refresh token of a provider that rotates them may have reached the
    /// provider, but its answer was lost (a timeout, a reset, a 5xx) and no other replica
    /// stored a new token: the stored refresh token is probably spent. Move the connection to
    /// `error` and ask for a reconnect.
    #[non_exhaustive]
    RefreshOutcomeUnknown {
        /// The tenant.
        tenant: TenantId,
        /// The connection.
        connection: ConnectionId,
        /// What went wrong (no secret).
        reason: String,
    },
}

/// Access tokens of many connections, refreshed single-flight: once per connection in this
/// process, and once across replicas that share the credential store and a [`RefreshLock`].
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo(vault: switchboard::vault::Vault, grant: std::sync::Arc<dyn switchboard::tokens::TokenGrant>) -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::credentials::InMemoryCredentialStore;
/// use switchboard::tokens::TokenManager;
///
/// let tokens = TokenManager::builder(vault, Arc::new(InMemoryCredentialStore::new())).build()?;
/// // `grant`: an OAuthClient (feature `oauth`), a JwtBearerGrant (feature `jwt`) or the host's own.
/// tokens.register(&"acme".into(), &"acme-ghl".into(), grant);
/// let mut events = tokens.subscribe(); // the lifecycle watches for RefreshRejected
/// let auth = tokens.authenticator(&"acme".into(), &"acme-ghl".into());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    vault: Vault,
    store: Arc<dyn CredentialStore>,
    lock: Arc<dyn RefreshLock>,
    skew: Duration,
    lock_ttl: Duration,
    store_retry_for: Duration,
    grants: RwLock<HashMap<ConnKey, Arc<dyn TokenGrant>>>,
    cache: moka::future::Cache<ConnKey, Cached>,
    events: broadcast::Sender<TokenEvent>,
    /// Connections whose refreshed token waits in memory for the store to take it.
    pending: Mutex<HashSet<ConnKey>>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("TokenManager")
            .field("store", &i.store)
            .field("lock", &i.lock)
            .field("skew", &i.skew)
            .field("lock_ttl", &i.lock_ttl)
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenManager`]; validation happens in [`TokenManagerBuilder::build`].
#[must_use]
pub struct TokenManagerBuilder {
    vault: Vault,
    store: Arc<dyn CredentialStore>,
    lock: Option<Arc<dyn RefreshLock>>,
    skew: Duration,
    lock_ttl: Duration,
    cache_ttl: Duration,
    cache_capacity: u64,
    event_capacity: usize,
    store_retry_for: Duration,
}

impl fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("skew", &self.skew)
            .field("lock_ttl", &self.lock_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenManagerBuilder {
    /// Refresh a token this long before it expires (60 s by default). For tokens whose
    /// lifetime is known and shorter than twice this, half-way through their life instead.
    pub fn refresh_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// The lock that makes replicas take turns ([`InProcessLock`] by default: right for one
    /// process). Use `RedisRefreshLock` (feature `redis`) or `PostgresAdvisoryLock` (feature
    /// `postgres`) for several replicas.
    pub fn refresh_lock(mut self, lock: Arc<dyn RefreshLock>) -> Self {
        self.lock = Some(lock);
        self
    }

    /// How long a refresh lock outlives a holder that died (60 s by default). A holder that
    /// is alive extends it every third of the ttl while it refreshes, so a refresh may take
    /// longer than this.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// How long a refresh keeps retrying a store write that fails (5 s by default) before it
    /// answers its callers with an [`ErrorKind::Store`] error saying the token is not stored
    /// yet (try again shortly). The new token is never served before it is stored: it stays
    /// sealed in memory, the lock stays held and the write is retried in the background until
    /// it lands.
    pub fn store_retry_for(mut self, patience: Duration) -> Self {
        self.store_retry_for = patience;
        self
    }

    /// The longest an access token is served from memory without re-reading the store
    /// (5 minutes by default), whatever its expiry.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How many connections' access tokens are kept in memory (10 000 by default).
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How many [`TokenEvent`]s a slow subscriber may fall behind before it misses some
    /// (64 by default).
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// The manager.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when a duration or capacity is zero.
    pub fn build(self) -> Result<TokenManager, Error> {
        if self.lock_ttl.is_zero() {
            return Err(Error::config("lock_ttl", "must be greater than zero"));
        }
        if self.cache_ttl.is_zero() {
            return Err(Error::config("cache_ttl", "must be greater than zero"));
        }
        if self.event_capacity == 0 {
            return Err(Error::config("event_capacity", "must be greater than zero"));
        }
        let cache = moka::future::Cache::builder()
            .max_capacity(self.cache_capacity)
            .time_to_live(self.cache_ttl)
            .expire_after(UntilDue)
            .build();
        let (events, _) = broadcast::channel(self.event_capacity);
        Ok(TokenManager {
            inner: Arc::new(Inner {
                vault: self.vault,
                store: self.store,
                lock: self.lock.unwrap_or_else(|| Arc::new(InProcessLock::new())),
                skew: self.skew,
                lock_ttl: self.lock_ttl,
                store_retry_for: self.store_retry_for,
                grants: RwLock::new(HashMap::new()),
                cache,
                events,
                pending: Mutex::new(HashSet::new()),
            }),
        })
    }
}

/// An access token in memory, until it is due.
#[derive(Clone)]
struct Cached {
    access: SecretString,
    due_at: Option<SystemTime>,
}

struct UntilDue;

impl moka::Expiry<ConnKey, Cached> for UntilDue {
    fn expire_after_create(
        &self,
        _key: &ConnKey,
        value: &Cached,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        value.due_at.map(|due| {
            due.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        })
    }
}

impl TokenManager {
    /// Starts building a manager that seals tokens with `vault` into `store`.
    pub fn builder(vault: Vault, store: Arc<dyn CredentialStore>) -> TokenManagerBuilder {
        TokenManagerBuilder {
            vault,
            store,
            lock: None,
            skew: Duration::from_secs(60),
            lock_ttl: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(300),
            cache_capacity: 10_000,
            event_capacity: 64,
            store_retry_for: Duration::from_secs(5),
        }
    }

    /// Sets how `tenant`'s `connection` renews its token (for example an `OAuthClient`, feature
    /// `oauth`, which refreshes with the stored refresh token).
    pub fn register(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        grant: Arc<dyn TokenGrant>,
    ) {
        self.inner
            .grants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((tenant.clone(), connection.clone()), grant);
    }

    /// Forgets the grant of `tenant`'s `connection`.
    pub fn unregister(&self, tenant: &TenantId, connection: &ConnectionId) {
        self.inner
            .grants
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(tenant.clone(), connection.clone()));
    }

    /// Events about tokens (refreshed, rejected). Each receiver sees every event sent after
    /// it subscribed, unless it falls more than the event capacity behind.
    pub fn subscribe(&self) -> broadcast::Receiver<TokenEvent> {
        self.inner.events.subscribe()
    }

    /// An [`Authenticator`](crate::auth::Authenticator) that sends `tenant`'s `connection`
    /// access token as `Authorization: Bearer …`, with the grant registered for it.
    pub fn authenticator(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> OAuthAuthenticator {
        OAuthAuthenticator::new(self.clone(), tenant.clone(), connection.clone())
    }

    /// The access token of `tenant`'s `connection`, refreshed first if it is due, with the
    /// grant registered by [`TokenManager::register`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when no grant is registered; otherwise as for
    /// [`TokenManager::access_token_with`].
    pub async fn access_token(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<SecretString, Error> {
        let grant = self.grant_of(tenant, connection)?;
        self.access_token_with(tenant, connection, &grant).await
    }

    /// The access token of `tenant`'s `connection`, renewed with `grant` if it is due.
    ///
    /// # Errors
    /// - [`ErrorKind::Auth`] when no token is stored and `grant` needs one (connect the
    ///   account first), or the provider rejected the grant: for a refresh token the message
    ///   says to reconnect the account, a [`TokenEvent::RefreshRejected`] is sent once, and
    ///   later calls fail the same way without asking the provider until a new token is
    ///   stored. [`token_error`](super::token_error) gives the typed [`TokenError`].
    /// - A retryable error ([`Error::is_retryable`]) when the token endpoint failed
    ///   transiently on every attempt and the stored token has expired, or the refresh lock
    ///   stayed taken ([`ErrorKind::Timeout`]).
    /// - [`ErrorKind::Store`], [`ErrorKind::Vault`] or [`ErrorKind::Decode`] when the stored
    ///   token cannot be read.
    pub async fn access_token_with(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        grant: &Arc<dyn TokenGrant>,
    ) -> Result<SecretString, Error> {
        let key: ConnKey = (tenant.clone(), connection.clone());
        let inner = self.inner.clone();
        let task_key = key.clone();
        let grant = grant.clone();
        let cached = self
            .inner
            .cache
            .try_get_with(key, async move {
                // A task of its own: see the module documentation.
                let task =
                    tokio::spawn(async move { inner.load_or_refresh(&task_key, grant).await });
                task.await.unwrap_or_else(|e| {
                    Err(Error::auth(if e.is_panic() {
                        "the token refresh task panicked"
                    } else {
                        "the token refresh task was cancelled"
                    }))
                })
            })
            .await
            .map_err(|e| (*e).clone())?;
        Ok(cached.access)
    }

    /// Stores `token` for `tenant`'s `connection` (after a code exchange or a reconnect),
    /// replacing whatever is stored, including a rejected refresh token.
    ///
    /// # Errors
    /// [`ErrorKind::Vault`] or [`ErrorKind::Store`]; [`ErrorKind::Conflict`] if other writers
    /// kept winning.
    pub async fn store_token(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        token: &Token,
    ) -> Result<(), Error> {
        let ckey = token_key(tenant, connection);
        let sealed = StoredToken::from_token(token, None).seal(&self.inner.vault, &ckey)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let expected = self.inner.store.load(&ckey).await?.map(|r| r.version);
            match self.inner.store.save(&ckey, sealed.clone(), expected).await {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < CAS_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
        self.invalidate(tenant, connection).await;
        Ok(())
    }

    /// The stored token of `tenant`'s `connection`, opened, without refreshing it.
    ///
    /// # Errors
    /// [`ErrorKind::Store`], [`ErrorKind::Vault`] or [`ErrorKind::Decode`].
    pub async fn token(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<Token>, Error> {
        let ckey = token_key(tenant, connection);
        Ok(self.inner.load(&ckey).await?.map(|l| l.token))
    }

    /// Deletes the stored token of `tenant`'s `connection` (on disconnect).
    ///
    /// # Errors
    /// [`ErrorKind::Store`]; [`ErrorKind::Conflict`] if other writers kept winning.
    pub async fn remove_token(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), Error> {
        let ckey = token_key(tenant, connection);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(rec) = self.inner.store.load(&ckey).await? else {
                break;
            };
            match self.inner.store.delete(&ckey, rec.version).await {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < CAS_ATTEMPTS => {}
                Err(e) => return Err(e),
            }
        }
        self.invalidate(tenant, connection).await;
        Ok(())
    }

    /// Drops the in-memory copy of `tenant`'s `connection` access token, so the next call
    /// reads the store.
    pub async fn invalidate(&self, tenant: &TenantId, connection: &ConnectionId) {
        self.inner
            .cache
            .invalidate(&(tenant.clone(), connection.clone()))
            .await;
    }

    fn grant_of(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Arc<dyn TokenGrant>, Error> {
        self.inner
            .grants
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(tenant.clone(), connection.clone()))
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "no token grant is registered for connection `{connection}` of tenant `{tenant}`"
                    ),
                )
            })
    }
}

/// A stored token, opened, with the manager's rejection note.
struct Loaded {
    version: u64,
    token: Token,
    rejected: Option<Rejection>,
}

impl Inner {
    async fn load(&self, ckey: &CredentialKey) -> Result<Option<Loaded>, Error> {
        let Some(rec) = self.store.load(ckey).await? else {
            return Ok(None);
        };
        let mut stored = StoredToken::open(&self.vault, ckey, &rec.value)?;
        let rejected = stored.rejected.take();
        Ok(Some(Loaded {
            version: rec.version,
            token: stored.into_token(),
            rejected,
        }))
    }

    fn cached(&self, token: &Token) -> Cached {
        Cached {
            access: token.access_token.clone(),
            due_at: token.refresh_due_at(self.skew),
        }
    }

    fn is_pending(&self, key: &ConnKey) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    fn set_pending(&self, key: &ConnKey, pending: bool) {
        let mut set = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending {
            set.insert(key.clone());
        } else {
            set.remove(key);
        }
    }

    /// Steps 2 and 3 of the module documentation.
    async fn load_or_refresh(
        self: &Arc<Self>,
        key: &ConnKey,
        grant: Arc<dyn TokenGrant>,
    ) -> Result<Cached, Error> {
        if self.is_pending(key) {
            return Err(not_stored_yet(key));
        }
        let ckey = token_key(&key.0, &key.1);
        let current = self.load(&ckey).await?;
        match &current {
            Some(l) => {
                if let Some(r) = &l.rejected {
                    return Err(rejected_error(&*grant, r));
                }
                if !l.token.is_due_at(self.skew, SystemTime::now()) {
                    return Ok(self.cached(&l.token));
                }
            }
            None if grant.uses_refresh_token() => return Err(not_connected(key)),
            None => {}
        }
        let lock_key = format!("oauth-refresh:{}:{}:{}", key.0.as_str().len(), key.0, key.1);
        let guard = match self.lock.acquire(&lock_key, self.lock_ttl).await {
            Ok(guard) => guard,
            Err(e) => return fall_back(key, current.map(|l| l.token), e),
        };
        let lease = Lease::start(guard, self.lock_ttl);
        match self.refresh_locked(key, &ckey, &*grant, &lease).await {
            Step::Done(result) => {
                lease.release(key).await;
                result
            }
            Step::Unstored(write) => {
                // The provider's answer lives only in `write` now. Keep the lock (so no other
                // replica spends the old refresh token) and keep writing in the background;
                // until it lands, callers get an error rather than an unstored token.
                self.set_pending(key, true);
                let inner = self.clone();
                let task_key = key.clone();
                tokio::spawn(async move {
                    inner.finish_write(&task_key, write, lease).await;
                });
                Err(not_stored_yet(key))
            }
        }
    }

    /// Step 3, holding the lock.
    async fn refresh_locked(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        grant: &dyn TokenGrant,
        lease: &Lease,
    ) -> Step {
        let loaded = match self.load(ckey).await {
            Ok(l) => l,
            Err(e) => return Step::Done(Err(e)),
        };
        let (expected, old) = match loaded {
            Some(l) => {
                if let Some(r) = &l.rejected {
                    return Step::Done(Err(rejected_error(grant, r)));
                }
                if !l.token.is_due_at(self.skew, SystemTime::now()) {
                    tracing::debug!(
                        tenant = %key.0,
                        connection = %key.1,
                        "token was refreshed by another holder of the lock; using it"
                    );
                    return Step::Done(Ok(self.cached(&l.token)));
                }
                (Some(l.version), Some(l.token))
            }
            None if grant.uses_refresh_token() => return Step::Done(Err(not_connected(key))),
            None => (None, None),
        };
        tracing::debug!(
            tenant = %key.0,
            connection = %key.1,
            grant = grant.grant_type(),
            "requesting a new OAuth token"
        );
        match grant.renew(old.as_ref()).await {
            Ok(new) => {
                let new = carry_over(new, old.as_ref());
                let write = match PendingWrite::seal(&self.vault, ckey, new, old.clone(), expected)
                {
                    Ok(w) => Box::new(w),
                    Err(e) => return Step::Done(Err(e)),
                };
                self.save_new(key, ckey, write, lease, self.store_retry_for)
                    .await
            }
            Err(TokenError::InvalidGrant { description }) => {
                // A writer that did not wait for this lock (a holder whose lock outlived its
                // ttl, a reconnect) may have spent or replaced the refresh token meanwhile:
                // its fresh token is the answer, not a rejection.
                match self.fresh_other(ckey, expected).await {
                    Ok(Some(cached)) => return Step::Done(Ok(cached)),
                    Ok(None) => {}
                    Err(e) => return Step::Done(Err(e)),
                }
                tracing::warn!(
                    tenant = %key.0,
                    connection = %key.1,
                    grant = grant.grant_type(),
                    "the provider rejected the grant (invalid_grant)"
                );
                let note = Rejection {
                    at_ms: unix_ms(SystemTime::now()),
                    description: description.clone(),
                    lost: false,
                };
                if grant.uses_refresh_token() {
                    if let (Some(version), Some(old)) = (expected, &old) {
                        self.mark_rejected(key, ckey, old, version, note.clone())
                            .await;
                    }
                }
                let _ = self.events.send(TokenEvent::RefreshRejected {
                    tenant: key.0.clone(),
                    connection: key.1.clone(),
                    description,
                });
                Step::Done(Err(rejected_error(grant, &note)))
            }
            Err(e)
                if grant.uses_refresh_token()
                    && grant.rotates_refresh_tokens()
                    && may_have_spent(&e) =>
            {
                // The single-use refresh token may be spent and its successor was never seen
                // here. Another replica (one whose lock we outlived) may have stored a new
                // token: that is the answer. Otherwise resending the old token would at best
                // be rejected and at worst revoke the grant: the account must be reconnected.
                match self.fresh_other(ckey, expected).await {
                    Ok(Some(cached)) => return Step::Done(Ok(cached)),
                    Ok(None) => {}
                    Err(load_err) => return Step::Done(Err(load_err)),
                }
                tracing::error!(
                    tenant = %key.0,
                    connection = %key.1,
                    error = %e,
                    "a refresh with a rotating refresh token may have reached the provider without an answer; the connection must be reconnected"
                );
                let reason = e.to_string();
                let note = Rejection {
                    at_ms: unix_ms(SystemTime::now()),
                    description: Some(reason.clone()),
                    lost: true,
                };
                if let (Some(version), Some(old)) = (expected, &old) {
                    self.mark_rejected(key, ckey, old, version, note).await;
                }
                let _ = self.events.send(TokenEvent::RefreshOutcomeUnknown {
                    tenant: key.0.clone(),
                    connection: key.1.clone(),
                    reason,
                });
                Step::Done(Err(lost_error(key, e)))
            }
            Err(e) if e.is_transient() => Step::Done(fall_back(key, old, e.into())),
            Err(e) => Step::Done(Err(e.into())),
        }
    }

    /// A token another writer stored since `expected` was read, if it is usable.
    async fn fresh_other(
        &self,
        ckey: &CredentialKey,
        expected: Option<u64>,
    ) -> Result<Option<Cached>, Error> {
        Ok(match self.load(ckey).await? {
            Some(l)
                if Some(l.version) != expected
                    && l.rejected.is_none()
                    && !l.token.is_due_at(self.skew, SystemTime::now()) =>
            {
                Some(self.cached(&l.token))
            }
            _ => None,
        })
    }

    /// Writes a new token with a compare-and-swap on the version read under the lock, fenced by
    /// the lock (see the lock module), retrying failed writes for `patience`. Returns the token
    /// now in effect (ours, or a different one another writer stored meanwhile), or the write
    /// still to do.
    async fn save_new(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        mut write: Box<PendingWrite>,
        lease: &Lease,
        patience: Duration,
    ) -> Step {
        let started = tokio::time::Instant::now();
        let mut failures: u32 = 0;
        let mut conflicts = 0;
        loop {
            let held = lease.fence().await;
            match self
                .store
                .save(ckey, write.sealed.clone(), write.expected)
                .await
            {
                Ok(_) => {
                    let _ = self.events.send(TokenEvent::Refreshed {
                        tenant: key.0.clone(),
                        connection: key.1.clone(),
                        expires_at: write.token.expires_at,
                    });
                    return Step::Done(Ok(self.cached(&write.token)));
                }
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    conflicts += 1;
                    let current = match self.load(ckey).await {
                        Ok(c) => c,
                        Err(load_err) => {
                            failures += 1;
                            if started.elapsed() >= patience {
                                write.last_error = Some(load_err);
                                return Step::Unstored(write);
                            }
                            tokio::time::sleep(store_backoff(failures)).await;
                            continue;
                        }
                    };
                    match current {
                        // The same token set under a new version (a key rotation re-sealed
                        // it, or another holder noted a rejection of the refresh token we
                        // just spent): ours is its successor. Only while we hold the lock,
                        // and only so many times.
                        Some(l) if held && conflicts < CAS_ATTEMPTS && write.succeeds(&l.token) => {
                            write.expected = Some(l.version);
                        }
                        // A different token set was stored after we read (a reconnect, or a
                        // replica whose lock we outlived): never overwrite it.
                        Some(l)
                            if l.rejected.is_none()
                                && !l.token.is_expired_at(SystemTime::now()) =>
                        {
                            tracing::warn!(
                                tenant = %key.0,
                                connection = %key.1,
                                lock_held = held,
                                "another writer stored a token during this refresh; keeping theirs"
                            );
                            return Step::Done(Ok(self.cached(&l.token)));
                        }
                        _ => {
                            tracing::error!(
                                tenant = %key.0,
                                connection = %key.1,
                                lock_held = held,
                                "the stored token changed during this refresh; not overwriting it"
                            );
                            return Step::Done(Err(Error::conflict(format!(
                                    "the token of connection `{}` changed in the store while it was being refreshed{}; the refreshed token was not stored over it",
                                    key.1,
                                    if held { "" } else { " and the refresh lock was lost" }
                                ))));
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(
                        tenant = %key.0,
                        connection = %key.1,
                        attempt = failures,
                        error = %e,
                        "cannot store the refreshed OAuth token; retrying"
                    );
                    if started.elapsed() >= patience {
                        write.last_error = Some(e);
                        return Step::Unstored(write);
                    }
                    tokio::time::sleep(store_backoff(failures)).await;
                }
            }
        }
    }

    /// Keeps writing a refreshed token the store refused, holding the lock, until it lands or
    /// another writer's token replaces it.
    async fn finish_write(self: Arc<Self>, key: &ConnKey, write: Box<PendingWrite>, lease: Lease) {
        let ckey = token_key(&key.0, &key.1);
        if let Some(e) = &write.last_error {
            tracing::error!(
                tenant = %key.0,
                connection = %key.1,
                error = %e,
                "the refreshed OAuth token is not stored yet; it is kept in memory and the write retried in the background"
            );
        }
        let mut write = write;
        loop {
            match self
                .save_new(key, &ckey, write, &lease, BACKGROUND_PATIENCE)
                .await
            {
                Step::Done(result) => {
                    if let Err(e) = result {
                        tracing::error!(
                            tenant = %key.0,
                            connection = %key.1,
                            error = %e,
                            "gave up storing the refreshed OAuth token"
                        );
                    } else {
                        tracing::info!(
                            tenant = %key.0,
                            connection = %key.1,
                            "the refreshed OAuth token is stored"
                        );
                    }
                    break;
                }
                Step::Unstored(w) => write = w,
            }
        }
        self.set_pending(key, false);
        self.cache.invalidate(key).await;
        lease.release(key).await;
    }

    /// Notes in the stored record that its refresh token is unusable, so other callers and
    /// replicas fail fast instead of spending requests on it.
    async fn mark_rejected(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        old: &Token,
        version: u64,
        note: Rejection,
    ) {
        let result = match StoredToken::from_token(old, Some(note)).seal(&self.vault, ckey) {
            Ok(sealed) => self
                .store
                .save(ckey, sealed, Some(version))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // A conflict means someone stored a new token meanwhile: nothing to note.
            if e.kind() != ErrorKind::Conflict {
                tracing::warn!(
                    tenant = %key.0,
                    connection = %key.1,
                    error = %e,
                    "cannot note the unusable refresh token in the store"
                );
            }
        }
    }
}

/// What step 3 ended with.
enum Step {
    /// A result for the callers.
    Done(Result<Cached, Error>),
    /// A new token the store has not taken yet.
    Unstored(Box<PendingWrite>),
}

/// A refreshed token and its sealed form, kept in memory until the store takes it.
struct PendingWrite {
    token: Token,
    /// The stored token it was refreshed from.
    from: Option<Token>,
    sealed: SealedCredential,
    expected: Option<u64>,
    last_error: Option<Error>,
}

impl PendingWrite {
    fn seal(
        vault: &Vault,
        ckey: &CredentialKey,
        token: Token,
        from: Option<Token>,
        expected: Option<u64>,
    ) -> Result<Self, Error> {
        let sealed = StoredToken::from_token(&token, None).seal(vault, ckey)?;
        Ok(PendingWrite {
            token,
            from,
            sealed,
            expected,
            last_error: None,
        })
    }

    /// Whether `stored` is the token set this one was refreshed from, or this one: either way
    /// writing this one over it loses nothing.
    fn succeeds(&self, stored: &Token) -> bool {
        same_set(stored, &self.token) || self.from.as_ref().is_some_and(|f| same_set(stored, f))
    }
}

/// Holds the refresh lock and extends it every third of its ttl until released.
struct Lease {
    guard: Arc<tokio::sync::Mutex<Option<LockGuard>>>,
    lost: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    keeper: Option<tokio::task::JoinHandle<()>>,
    ttl: Duration,
}

impl Lease {
    fn start(guard: LockGuard, ttl: Duration) -> Lease {
        let guard = Arc::new(tokio::sync::Mutex::new(Some(guard)));
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let every = (ttl / 3).max(Duration::from_millis(1));
        let keeper = {
            let guard = guard.clone();
            let lost = lost.clone();
            tokio::spawn(async move {
                loop {
                    // Only the sleep is ever cancelled, never an extension in flight (a
                    // PostgreSQL session must not be left mid-query).
                    tokio::select! {
                        _ = &mut stopped => break,
                        () = tokio::time::sleep(every) => {}
                    }
                    if !Lease::extend_now(&guard, &lost, ttl).await {
                        break;
                    }
                }
            })
        };
        Lease {
            guard,
            lost,
            stop: Some(stop),
            keeper: Some(keeper),
            ttl,
        }
    }

    /// Extends the lock; `false` once it is known lost.
    async fn extend_now(
        guard: &tokio::sync::Mutex<Option<LockGuard>>,
        lost: &AtomicBool,
        ttl: Duration,
    ) -> bool {
        if lost.load(Ordering::SeqCst) {
            return false;
        }
        let mut g = guard.lock().await;
        let Some(g) = g.as_mut() else {
            return false;
        };
        match g.extend(ttl).await {
            Ok(()) => true,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                tracing::warn!(error = %e, "the token refresh lock was lost during a refresh");
                lost.store(true, Ordering::SeqCst);
                false
            }
            Err(e) => {
                // The backend hiccuped: the lock may still be ours; try again next tick.
                tracing::warn!(error = %e, "cannot extend the token refresh lock");
                true
            }
        }
    }

    /// Extends the lock right before a write and says whether it is still held.
    async fn fence(&self) -> bool {
        Lease::extend_now(&self.guard, &self.lost, self.ttl).await
    }

    async fn release(mut self, key: &ConnKey) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(keeper) = self.keeper.take() {
            let _ = keeper.await;
        }
        let guard = self.guard.lock().await.take();
        if let Some(guard) = guard {
            if let Err(e) = guard.release().await {
                tracing::warn!(
                    tenant = %key.0,
                    connection = %key.1,
                    error = %e,
                    "cannot release the token refresh lock; it ends with its ttl"
                );
            }
        }
    }
}

/// The new token keeps what the provider did not resend: the refresh token (RFC 6749 §6: the
/// client keeps the old one unless a new one is issued) and the scopes.
fn carry_over(mut new: Token, old: Option<&Token>) -> Token {
    if let Some(old) = old {
        if new.refresh_token.is_none() {
            new.refresh_token.clone_from(&old.refresh_token);
        }
        if new.scopes.is_empty() {
            new.scopes.clone_from(&old.scopes);
        }
    }
    new
}

/// Serves a token that is due but not yet expired when a refresh could not happen; otherwise
/// returns `err`. The token is not cached, so the next call tries to refresh again.
fn fall_back(key: &ConnKey, token: Option<Token>, err: Error) -> Result<Cached, Error> {
    let now = SystemTime::now();
    match token {
        Some(t) if !t.is_expired_at(now + FALLBACK_MARGIN) => {
            tracing::warn!(
                tenant = %key.0,
                connection = %key.1,
                error = %err,
                "token refresh failed; using the current token until it expires"
            );
            Ok(Cached {
                access: t.access_token.clone(),
                due_at: Some(now),
            })
        }
        _ => Err(err),
    }
}

fn not_connected(key: &ConnKey) -> Error {
    Error::auth(format!(
        "no OAuth token is stored for connection `{}`; connect the account first",
        key.1
    ))
}

/// Whether two tokens are the same set (same access and refresh token).
fn same_set(a: &Token, b: &Token) -> bool {
    a.access_token.expose_secret() == b.access_token.expose_secret()
        && a.refresh_token.as_ref().map(ExposeSecret::expose_secret)
            == b.refresh_token.as_ref().map(ExposeSecret::expose_secret)
}

/// Whether a failed refresh may have spent a single-use refresh token: the request may have
/// reached the provider and no usable answer came back (a 2xx the grant could not read
/// counts: the provider said yes).
fn may_have_spent(e: &TokenError) -> bool {
    matches!(
        e,
        TokenError::OutcomeUnknown { .. }
            | TokenError::Transient { reached: true, .. }
            | TokenError::InvalidResponse { .. }
    )
}

/// Wait after the `n`-th failed store write: 50 ms doubling, capped at 2 s.
fn store_backoff(n: u32) -> Duration {
    Duration::from_millis(50)
        .saturating_mul(1u32 << n.saturating_sub(1).min(6))
        .min(Duration::from_secs(2))
}

fn not_stored_yet(key: &ConnKey) -> Error {
    Error::store(format!(
            "the refreshed OAuth token of connection `{}` is not stored yet (the credential store failed); the write is being retried, try again shortly",
            key.1
        ),
    )
}

fn lost_error(key: &ConnKey, e: TokenError) -> Error {
    Error::auth(format!(
            "the refresh of connection `{}` may have reached the provider, which rotates refresh tokens, without an answer: the stored refresh token is probably spent; reconnect the account",
            key.1
        )).with_source(e)
}

fn rejected_error(grant: &dyn TokenGrant, note: &Rejection) -> Error {
    let description = note.description.clone();
    if note.lost {
        return Error::auth("an earlier refresh may have spent the refresh token without its answer arriving; reconnect the account").with_source(TokenError::OutcomeUnknown {
            status: None,
            attempts: 1,
            reason: description.unwrap_or_default(),
        });
    }
    let message = if grant.uses_refresh_token() {
        "refresh token rejected by the provider (invalid_grant); reconnect the account".to_string()
    } else {
        format!(
            "the provider rejected the {} grant (invalid_grant); check the connection's credentials and consent",
            grant.grant_type()
        )
    };
    Error::auth(message).with_source(TokenError::InvalidGrant { description })
}
