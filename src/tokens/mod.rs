//! OAuth tokens: obtaining them (the grants), keeping them sealed in the credential store, and
//! refreshing them once — per process and across replicas — before they expire.
//!
//! The pieces, in the order a request meets them:
//!
//! 1. [`OAuthAuthenticator`] is the connection's [`Authenticator`](crate::auth::Authenticator):
//!    it asks the [`TokenManager`] for an access token and sets `Authorization: Bearer …`
//!    (marked sensitive).
//! 2. [`TokenManager::access_token`] answers from an in-memory cache while the token is not due.
//!    When it is due (it expires within the refresh skew, 60 s by default), exactly one caller
//!    per connection and process refreshes it while the others wait for that result; across
//!    replicas a [`RefreshLock`] (in-process, Redis or a PostgreSQL advisory lock) makes the
//!    refreshes take turns, and each re-reads the stored token after taking the lock, so only
//!    the first one calls the provider. The lock is extended while the refresh runs. The new
//!    token is sealed and written with a compare-and-swap on the version that was read,
//!    before it is served; a failed write is retried and the token kept in memory until it
//!    lands. A refresh token of a provider that rotates them is never resent once a request
//!    carrying it may have reached the provider.
//! 3. A [`TokenGrant`] talks to the token endpoint: `OAuthClient` (authorization code with
//!    PKCE, refresh) and `ClientCredentialsGrant` (feature `oauth`, on the `oauth2` crate),
//!    `JwtBearerGrant` (feature `jwt`: RFC 7523, as DocuSign uses it), or a host's own
//!    implementation. Transient failures (connect errors, 5xx, 429) are retried with backoff;
//!    an `invalid_grant` answer is a typed [`TokenError::InvalidGrant`].
//!
//! The manager, the stored [`Token`], the locks and [`TokenGrant`] are always built. The two
//! grants are behind features so that a host that only uses API keys does not compile the
//! `oauth2` and `jsonwebtoken` crates; the connectors that need them (`docusign`, `ghl`) turn
//! them on, and so does `full`.
//!
//! When the provider rejects a refresh token the manager returns an [`ErrorKind::Auth`] error,
//! remembers the rejection in the stored record (so later calls fail fast instead of asking the
//! provider again), and broadcasts [`TokenEvent::RefreshRejected`], which the connection
//! lifecycle subscribes to ([`TokenManager::subscribe`]) to move the connection to `error`.
//!
//! Tokens are stored as JSON sealed by the [`Vault`] under the credential kind
//! [`TOKEN_KIND`] (`"oauth_token"`). Nothing here logs or puts into an error a client secret,
//! an access or refresh token, an authorization code, a PKCE verifier or an assertion.

mod auth;
mod grants;
#[cfg(feature = "jwt")]
mod jwt;
mod lock;
mod manager;
#[cfg(feature = "oauth")]
mod oauth;
#[cfg(any(feature = "oauth", feature = "jwt"))]
mod transport;

pub use auth::OAuthAuthenticator;
#[cfg(any(feature = "oauth", feature = "jwt"))]
pub use grants::TokenRetry;
pub use grants::{parse_token_response, TokenError, TokenGrant};
#[cfg(feature = "jwt")]
pub use jwt::{JwtBearerGrant, JwtBearerGrantBuilder};
#[cfg(feature = "postgres")]
pub use lock::PostgresAdvisoryLock;
#[cfg(feature = "redis")]
pub use lock::RedisRefreshLock;
pub use lock::{HeldLock, InProcessLock, LockGuard, RefreshLock};
pub use manager::{TokenEvent, TokenManager, TokenManagerBuilder};
#[cfg(feature = "oauth")]
pub use oauth::{
    AuthorizationRequest, ClientAuth, ClientCredentialsGrant, OAuthClient, OAuthClientBuilder,
    PkceVerifier,
};

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::credentials::{CredentialKey, SealedCredential};
use crate::error::{DecodeError, Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::vault::Vault;

/// The credential kind OAuth tokens are stored under.
pub const TOKEN_KIND: &str = "oauth_token";

/// The longest access token lifetime taken from a provider's `expires_in` (10 years): larger
/// values are clamped to it.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

/// The credential key of `tenant`'s `connection` token.
pub fn token_key(tenant: &TenantId, connection: &ConnectionId) -> CredentialKey {
    CredentialKey::new(tenant.clone(), connection.clone(), TOKEN_KIND)
}

/// The typed [`TokenError`] behind an [`Error`] returned by this module, if there is one.
///
/// ```
/// # fn demo(err: &switchboard::Error) {
/// use switchboard::tokens::{token_error, TokenError};
/// if let Some(TokenError::InvalidGrant { .. }) = token_error(err) {
///     // ask the user to reconnect
/// }
/// # }
/// ```
pub fn token_error(err: &Error) -> Option<&TokenError> {
    std::error::Error::source(err).and_then(|s| s.downcast_ref::<TokenError>())
}

/// An OAuth token: the access token, the refresh token if the provider gave one, when it
/// expires, its scopes and type, and the provider's other response fields.
///
/// `Debug` never prints the tokens or the provider's extra values (only their names). Store it
/// with [`Token::seal`] (JSON sealed by the vault) or let the [`TokenManager`] do it.
#[derive(Clone)]
pub struct Token {
    access_token: SecretString,
    refresh_token: Option<SecretString>,
    expires_at: Option<SystemTime>,
    issued_at: Option<SystemTime>,
    scopes: Vec<String>,
    token_type: String,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("scopes", &self.scopes)
            .field("token_type", &self.token_type)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Token {
    /// A bearer token with no refresh token, no known expiry and no scopes.
    pub fn new(access_token: impl Into<SecretString>) -> Self {
        Token {
            access_token: access_token.into(),
            refresh_token: None,
            expires_at: None,
            issued_at: None,
            scopes: Vec::new(),
            token_type: "Bearer".to_string(),
            extra: serde_json::Map::new(),
        }
    }

    /// Sets the refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<SecretString>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// Sets when the access token expires.
    #[must_use]
    pub fn with_expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// Sets the expiry to `lifetime` from now and records now as the time of issue (as a
    /// provider's `expires_in` does). A lifetime above [`MAX_TOKEN_LIFETIME`] (a provider's
    /// way of saying "never", or garbage) is clamped to it, so no value can overflow the clock.
    #[must_use]
    pub fn with_expires_in(mut self, lifetime: Duration) -> Self {
        let now = SystemTime::now();
        let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
        self.issued_at = Some(now);
        // `checked_add` as well: the clamp keeps far inside `SystemTime`'s range on every
        // platform, but a token response must never be able to panic the process.
        self.expires_at = Some(now.checked_add(lifetime).unwrap_or(now));
        self
    }

    /// Sets the granted scopes.
    #[must_use]
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the token type (`"Bearer"` by default).
    #[must_use]
    pub fn with_token_type(mut self, token_type: impl Into<String>) -> Self {
        self.token_type = token_type.into();
        self
    }

    /// Sets the provider's other response fields (GoHighLevel's `locationId`, for example).
    #[must_use]
    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = extra;
        self
    }

    /// The access token.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// The refresh token, if the provider issued one.
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    /// When the access token expires, if the provider said.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// When the token was issued, if known (tokens obtained by a grant know it).
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// The granted scopes (empty if the provider did not list them).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The token type (`"Bearer"`).
    pub fn token_type(&self) -> &str {
        &self.token_type
    }

    /// The provider's other response fields. They may hold personal data or an `id_token`.
    pub fn extra(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.extra
    }

    /// Whether the access token has expired at `now`. A token without a known expiry never
    /// expires.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// When a token should be refreshed, given a refresh `skew`: `skew` before it expires, or
    /// half-way through its life when its lifetime is known and shorter than twice the skew
    /// (so a provider issuing 60-second tokens does not cause a refresh on every call).
    /// `None` for a token without a known expiry: it is never refreshed ahead of time.
    pub fn refresh_due_at(&self, skew: Duration) -> Option<SystemTime> {
        let expires_at = self.expires_at?;
        let lifetime = self
            .issued_at
            .and_then(|issued| expires_at.duration_since(issued).ok());
        let lead = match lifetime {
            Some(life) => skew.min(life / 2),
            None => skew,
        };
        Some(expires_at.checked_sub(lead).unwrap_or(UNIX_EPOCH))
    }

    /// Whether the token should be refreshed at `now` (see [`Token::refresh_due_at`]).
    pub fn is_due_at(&self, skew: Duration, now: SystemTime) -> bool {
        self.refresh_due_at(skew).is_some_and(|due| due <= now)
    }

    /// The storage form: JSON, zeroed when dropped. Holds the tokens in clear: seal it.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        StoredToken::from_token(self, None).to_json()
    }

    /// Reads the storage form written by [`Token::to_json`].
    ///
    /// # Errors
    /// [`ErrorKind::Decode`] naming the JSON path at fault (never a value).
    pub fn from_json(bytes: &[u8]) -> Result<Token, Error> {
        StoredToken::from_json(bytes).map(StoredToken::into_token)
    }

    /// Seals the token for `tenant`'s `connection` (JSON, sealed under kind [`TOKEN_KIND`]).
    ///
    /// # Errors
    /// [`ErrorKind::Vault`] when the vault refuses to seal (its key needs rotating).
    pub fn seal(
        &self,
        vault: &Vault,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<SealedCredential, Error> {
        Ok(vault.seal(&token_key(tenant, connection), &self.to_json())?)
    }

    /// Opens a token sealed by [`Token::seal`] for `tenant`'s `connection`.
    ///
    /// # Errors
    /// [`ErrorKind::Vault`] when the record does not open (tampered, another connection's,
    /// unknown or retired key), [`ErrorKind::Decode`] when it is not a token.
    pub fn open(
        vault: &Vault,
        tenant: &TenantId,
        connection: &ConnectionId,
        sealed: &SealedCredential,
    ) -> Result<Token, Error> {
        StoredToken::open(vault, &token_key(tenant, connection), sealed)
            .map(StoredToken::into_token)
    }
}

/// The stored JSON form of a token, plus the manager's note that the provider rejected its
/// refresh token. Its strings are zeroed on drop.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct StoredToken {
    v: u8,
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    token_type: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    extra: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) rejected: Option<Rejection>,
}

/// The provider rejected the stored refresh token, or a refresh that may have spent it got no
/// answer (`lost`): reconnecting is the only way forward.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct Rejection {
    pub(crate) at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// The provider rotates refresh tokens and a refresh with this one may have reached it
    /// without its answer arriving: the stored refresh token is probably spent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) lost: bool,
}

impl Drop for StoredToken {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

const STORED_VERSION: u8 = 1;

impl StoredToken {
    pub(crate) fn from_token(t: &Token, rejected: Option<Rejection>) -> Self {
        StoredToken {
            v: STORED_VERSION,
            access_token: t.access_token.expose_secret().to_string(),
            refresh_token: t
                .refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_string()),
            expires_at_ms: t.expires_at.map(unix_ms),
            issued_at_ms: t.issued_at.map(unix_ms),
            scopes: t.scopes.clone(),
            token_type: t.token_type.clone(),
            extra: t.extra.clone(),
            rejected,
        }
    }

    /// The token, leaving zeroed strings behind.
    pub(crate) fn into_token(mut self) -> Token {
        Token {
            access_token: SecretString::from(std::mem::take(&mut self.access_token)),
            refresh_token: self.refresh_token.take().map(SecretString::from),
            expires_at: self.expires_at_ms.map(from_unix_ms),
            issued_at: self.issued_at_ms.map(from_unix_ms),
            scopes: std::mem::take(&mut self.scopes),
            token_type: std::mem::take(&mut self.token_type),
            extra: std::mem::take(&mut self.extra),
        }
    }

    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        // Serializing plain strings and numbers cannot fail.
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Result<StoredToken, Error> {
        let stored: StoredToken =
            serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(bytes))
                .map_err(|e| {
                    // The serde message may quote the value (a token): keep only its position.
                    let e = DecodeError::new(
                        json_pointer(&e.path().to_string()),
                        "stored OAuth token is not in the expected format",
                    );
                    Error::from(e)
                })?;
        if stored.v != STORED_VERSION {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("stored OAuth token has unknown format version {}", stored.v),
            ));
        }
        Ok(stored)
    }

    pub(crate) fn open(
        vault: &Vault,
        key: &CredentialKey,
        sealed: &SealedCredential,
    ) -> Result<StoredToken, Error> {
        let plain = vault.open(key, sealed)?;
        StoredToken::from_json(plain.expose_secret())
    }

    pub(crate) fn seal(
        &self,
        vault: &Vault,
        key: &CredentialKey,
    ) -> Result<SealedCredential, Error> {
        vault
            .seal(key, &self.to_json())
            .map_err(|e| Error::vault(format!("cannot seal the OAuth token: {e}")).with_source(e))
    }
}

/// serde_path_to_error writes `a.b[0]`; errors here speak JSON pointers.
fn json_pointer(path: &str) -> String {
    if path == "." || path.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for seg in path.split('.') {
        for part in seg.split('[') {
            let part = part.trim_end_matches(']');
            if !part.is_empty() {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub(crate) fn from_unix_ms(ms: u64) -> SystemTime {
    // A stored value is ours, but a record written by another platform or version must not
    // panic here: a time the clock cannot hold reads as the epoch (expired, so refreshed).
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{KeyId, KeyRing, MasterKey};

    fn vault() -> Vault {
        Vault::new(KeyRing::new(
            KeyId::new("k1").unwrap(),
            MasterKey::from_bytes(&[9u8; 32]).unwrap(),
        ))
    }

    fn token() -> Token {
        Token::new("CANARY-access")
            .with_refresh_token("CANARY-refresh")
            .with_expires_in(Duration::from_secs(3600))
            .with_scopes(["a", "b"])
            .with_extra(
                serde_json::json!({"locationId": "CANARY-loc"})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
    }

    #[test]
    fn debug_prints_no_secret_and_no_extra_value() {
        let s = format!("{:?}", token());
        assert!(!s.contains("CANARY"), "{s}");
        assert!(s.contains("locationId"), "{s}");
    }

    #[test]
    fn seals_and_opens_for_the_same_connection_only() {
        let v = vault();
        let t = token();
        let sealed = t.seal(&v, &"t1".into(), &"c1".into()).unwrap();
        let back = Token::open(&v, &"t1".into(), &"c1".into(), &sealed).unwrap();
        assert_eq!(back.access_token().expose_secret(), "CANARY-access");
        assert_eq!(
            back.refresh_token().unwrap().expose_secret(),
            "CANARY-refresh"
        );
        assert_eq!(back.scopes(), ["a", "b"]);
        assert_eq!(
            unix_ms(back.expires_at().unwrap()),
            unix_ms(t.expires_at().unwrap())
        );
        assert_eq!(back.extra()["locationId"], "CANARY-loc");
        let err = Token::open(&v, &"t1".into(), &"c2".into(), &sealed).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Vault);
    }

    #[test]
    fn a_malformed_record_names_the_path_not_the_value() {
        let err =
            Token::from_json(br#"{"v":1,"access_token":"CANARY-x","token_type":7}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decode);
        let s = format!("{err} {err:?}");
        assert!(!s.contains("CANARY"), "{s}");
        assert!(s.contains("/token_type"), "{s}");
    }

    #[test]
    fn refresh_is_due_skew_before_expiry_or_half_way_for_short_lived_tokens() {
        let skew = Duration::from_secs(60);
        let now = SystemTime::now();
        let t = Token::new("x").with_expires_at(now + Duration::from_secs(30));
        assert!(t.is_due_at(skew, now));
        let t = Token::new("x").with_expires_at(now + Duration::from_secs(600));
        assert!(!t.is_due_at(skew, now));
        // A 40-second token issued now is due after 20 s, not immediately.
        let t = Token::new("x").with_expires_in(Duration::from_secs(40));
        assert!(!t.is_due_at(skew, SystemTime::now()));
        assert!(t.is_due_at(skew, SystemTime::now() + Duration::from_secs(21)));
        assert!(!Token::new("x").is_due_at(skew, now));
    }

    #[test]
    fn an_out_of_range_lifetime_is_clamped_not_a_panic() {
        let t = Token::new("x").with_expires_in(Duration::MAX);
        let life = t
            .expires_at()
            .unwrap()
            .duration_since(t.issued_at().unwrap())
            .unwrap();
        assert_eq!(life, MAX_TOKEN_LIFETIME);
        let t = Token::new("x").with_expires_in(Duration::from_secs(u64::MAX));
        assert!(t.expires_at().is_some());
        // A stored time the clock cannot hold reads as expired, without a panic.
        let json = format!(
            r#"{{"v":1,"access_token":"a","token_type":"Bearer","expires_at_ms":{}}}"#,
            u64::MAX
        );
        let t = Token::from_json(json.as_bytes()).unwrap();
        assert!(t.expires_at().is_some());
    }
}
