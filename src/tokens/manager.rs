//! [`TokenManager`]: the access token of a connection, refreshed once before it expires.
//!
//! The path of [`TokenManager::access_token`]:
//!
//! 1. The in-memory cache answers while the token is not due. Entries expire when the token
//!    becomes due (and after `cache_ttl` at the latest, so a reconnect made by another replica
//!    is seen).
//! 2. On a miss, one caller per connection (the cache coalesces concurrent misses) loads and
//!    opens the stored token. Not due: done.
//! 3. Due: take the [`RefreshLock`] for the connection, re-read the stored token (another
//!    replica may have refreshed it meanwhile: then use that), otherwise ask the grant for a new
//!    one and write it with a compare-and-swap on the version read, then release the lock.
//!
//! Steps 2 and 3 run in a task of their own, so a caller that gives up (a deadline, a dropped
//! request) never abandons a refresh between the provider's answer and the write — with
//! providers that rotate refresh tokens (GoHighLevel), losing that answer loses the
//! connection.
//!
//! When the provider is unreachable or the lock cannot be taken, a token that is due but has
//! not expired yet is still served (with a warning) rather than failing the call.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use tokio::sync::broadcast;

use super::grants::{TokenError, TokenGrant};
use super::lock::{InProcessLock, RefreshLock};
use super::{token_key, unix_ms, OAuthAuthenticator, Rejection, StoredToken, Token};
use crate::credentials::{CredentialKey, CredentialStore};
use crate::error::{ConfigError, Error, ErrorKind, ErrorParts};
use crate::ids::{ConnectionId, TenantId};
use crate::vault::Vault;

/// A token that expires sooner than this is not served as a fallback when a refresh fails.
const FALLBACK_MARGIN: Duration = Duration::from_secs(5);
/// Attempts of a compare-and-swap write that keeps losing to other writers.
const CAS_ATTEMPTS: usize = 5;

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
}

/// Access tokens of many connections, refreshed single-flight: once per connection in this
/// process, and once across replicas that share the credential store and a [`RefreshLock`].
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo(vault: switchboard::vault::Vault, client: switchboard::tokens::OAuthClient) -> Result<(), switchboard::Error> {
/// use std::sync::Arc;
/// use switchboard::credentials::InMemoryCredentialStore;
/// use switchboard::tokens::TokenManager;
///
/// let tokens = TokenManager::builder(vault, Arc::new(InMemoryCredentialStore::new())).build()?;
/// tokens.register(&"acme".into(), &"acme-ghl".into(), Arc::new(client));
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
    grants: RwLock<HashMap<ConnKey, Arc<dyn TokenGrant>>>,
    cache: moka::future::Cache<ConnKey, Cached>,
    events: broadcast::Sender<TokenEvent>,
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

    /// How long a refresh lock outlives a holder that died (60 s by default). Keep it above
    /// the longest refresh: three attempts of up to 10 s each, plus backoff.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
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
            return Err(ConfigError::new("lock_ttl", "must be greater than zero").into());
        }
        if self.cache_ttl.is_zero() {
            return Err(ConfigError::new("cache_ttl", "must be greater than zero").into());
        }
        if self.event_capacity == 0 {
            return Err(ConfigError::new("event_capacity", "must be greater than zero").into());
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
                grants: RwLock::new(HashMap::new()),
                cache,
                events,
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
        }
    }

    /// Sets how `tenant`'s `connection` renews its token (for example an
    /// [`OAuthClient`](super::OAuthClient), which refreshes with the stored refresh token).
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
                    Err(Error::new(
                        ErrorKind::Auth,
                        if e.is_panic() {
                            "the token refresh task panicked"
                        } else {
                            "the token refresh task was cancelled"
                        },
                    ))
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

    /// Steps 2 and 3 of the module documentation.
    async fn load_or_refresh(
        &self,
        key: &ConnKey,
        grant: Arc<dyn TokenGrant>,
    ) -> Result<Cached, Error> {
        let ckey = token_key(&key.0, &key.1);
        let current = self.load(&ckey).await?;
        match &current {
            Some(l) => {
                if let Some(r) = &l.rejected {
                    return Err(rejected_error(&*grant, r.description.clone()));
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
        let result = self.refresh_locked(key, &ckey, &*grant).await;
        if let Err(e) = guard.release().await {
            tracing::warn!(
                tenant = %key.0,
                connection = %key.1,
                error = %e,
                "cannot release the token refresh lock; it ends with its ttl"
            );
        }
        result
    }

    /// Step 3, holding the lock.
    async fn refresh_locked(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        grant: &dyn TokenGrant,
    ) -> Result<Cached, Error> {
        let (expected, old) = match self.load(ckey).await? {
            Some(l) => {
                if let Some(r) = l.rejected {
                    return Err(rejected_error(grant, r.description));
                }
                if !l.token.is_due_at(self.skew, SystemTime::now()) {
                    tracing::debug!(
                        tenant = %key.0,
                        connection = %key.1,
                        "token was refreshed by another holder of the lock; using it"
                    );
                    return Ok(self.cached(&l.token));
                }
                (Some(l.version), Some(l.token))
            }
            None if grant.uses_refresh_token() => return Err(not_connected(key)),
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
                let in_effect = self.save_new(key, ckey, new, expected).await?;
                let _ = self.events.send(TokenEvent::Refreshed {
                    tenant: key.0.clone(),
                    connection: key.1.clone(),
                    expires_at: in_effect.expires_at,
                });
                Ok(self.cached(&in_effect))
            }
            Err(TokenError::InvalidGrant { description }) => {
                // A writer that did not wait for this lock (a holder whose lock outlived its
                // ttl, a reconnect) may have spent or replaced the refresh token meanwhile:
                // its fresh token is the answer, not a rejection.
                if let Some(l) = self.load(ckey).await? {
                    if Some(l.version) != expected
                        && l.rejected.is_none()
                        && !l.token.is_due_at(self.skew, SystemTime::now())
                    {
                        return Ok(self.cached(&l.token));
                    }
                }
                tracing::warn!(
                    tenant = %key.0,
                    connection = %key.1,
                    grant = grant.grant_type(),
                    "the provider rejected the grant (invalid_grant)"
                );
                if grant.uses_refresh_token() {
                    if let (Some(version), Some(old)) = (expected, &old) {
                        self.mark_rejected(key, ckey, old, version, description.clone())
                            .await;
                    }
                }
                let _ = self.events.send(TokenEvent::RefreshRejected {
                    tenant: key.0.clone(),
                    connection: key.1.clone(),
                    description: description.clone(),
                });
                Err(rejected_error(grant, description))
            }
            Err(e) if e.is_transient() => fall_back(key, old, e.into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a new token with a compare-and-swap on `expected`, and returns the token now in
    /// effect: ours, or one another writer stored meanwhile that is fresh.
    async fn save_new(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        new: Token,
        mut expected: Option<u64>,
    ) -> Result<Token, Error> {
        let sealed = StoredToken::from_token(&new, None).seal(&self.vault, ckey)?;
        for _ in 0..CAS_ATTEMPTS {
            match self.store.save(ckey, sealed.clone(), expected).await {
                Ok(_) => return Ok(new),
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    // Someone wrote without the lock: a reconnect, or a holder whose lock
                    // outlived its ttl. A fresh token of theirs wins; a due one is replaced.
                    match self.load(ckey).await? {
                        Some(l)
                            if l.rejected.is_none()
                                && !l.token.is_due_at(self.skew, SystemTime::now()) =>
                        {
                            return Ok(l.token)
                        }
                        Some(l) => expected = Some(l.version),
                        None => expected = None,
                    }
                }
                Err(e) => {
                    // The new token is valid: serve it rather than fail the call. The store
                    // keeps the old one, which the next refresh will spend again.
                    tracing::error!(
                        tenant = %key.0,
                        connection = %key.1,
                        error = %e,
                        "cannot store the refreshed OAuth token"
                    );
                    return Ok(new);
                }
            }
        }
        Err(ErrorParts::new(
            ErrorKind::Conflict,
            format!(
                "could not store the refreshed token of connection `{}`: other writers kept winning",
                key.1
            ),
        )
        .build())
    }

    /// Notes in the stored record that the provider rejected its refresh token, so other
    /// callers and replicas fail fast instead of spending requests on it.
    async fn mark_rejected(
        &self,
        key: &ConnKey,
        ckey: &CredentialKey,
        old: &Token,
        version: u64,
        description: Option<String>,
    ) {
        let note = Rejection {
            at_ms: unix_ms(SystemTime::now()),
            description,
        };
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
                    "cannot note the rejected refresh token in the store"
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
    Error::new(
        ErrorKind::Auth,
        format!(
            "no OAuth token is stored for connection `{}`; connect the account first",
            key.1
        ),
    )
}

fn rejected_error(grant: &dyn TokenGrant, description: Option<String>) -> Error {
    let message = if grant.uses_refresh_token() {
        "refresh token rejected by the provider (invalid_grant); reconnect the account".to_string()
    } else {
        format!(
            "the provider rejected the {} grant (invalid_grant); check the connection's credentials and consent",
            grant.grant_type()
        )
    };
    ErrorParts::new(ErrorKind::Auth, message)
        .source(TokenError::InvalidGrant { description })
        .build()
}
