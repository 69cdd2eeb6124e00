//! The grants: how a token is obtained from a provider's token endpoint.
//!
//! - [`OAuthClient`]: the authorization code grant with PKCE ([`OAuthClient::authorize_url`],
//!   [`OAuthClient::exchange_code`]), refresh ([`OAuthClient::refresh`]) and client credentials
//!   ([`OAuthClient::client_credentials`]), on the `oauth2` crate.
//! - [`JwtBearerGrant`]: RFC 7523, a signed assertion (RS256) exchanged for a token, as
//!   DocuSign's "JWT grant" uses it. `oauth2` has no such grant, so it is a plain form POST.
//!
//! Every token request goes through the same transport: no redirects are followed, transient
//! failures (connect errors, timeouts, 5xx, 429, 408) are retried with backoff
//! ([`TokenRetry`], 3 attempts from 100 ms by default), and an OAuth error answer becomes a
//! typed [`TokenError`] — `invalid_grant` is [`TokenError::InvalidGrant`]. Provider error
//! descriptions are kept, cut to a sane length, with any secret the request carried removed.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use http::StatusCode;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::transport::{with_retry, HttpFailure, OAuth2Http, Transport, Use};
use super::Token;
use crate::backoff::{Backoff, Jitter, OverCap, RetryAfter};
use crate::error::{ConfigError, Error, ErrorKind, ErrorParts};

/// Why a token request failed. Holds no secret: descriptions from the provider have every
/// secret the request carried removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// `invalid_grant`: the refresh token, authorization code or assertion was rejected
    /// (expired, revoked, already used, or issued to another client). Retrying will not help;
    /// for a refresh token, the account must be reconnected.
    #[error("the provider rejected the grant (invalid_grant){}", describe(.description))]
    InvalidGrant {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// `invalid_client`: the client id or secret is wrong.
    #[error("the provider rejected the client credentials (invalid_client){}", describe(.description))]
    InvalidClient {
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// Another OAuth error (`invalid_scope`, `unauthorized_client`, DocuSign's
    /// `consent_required`…), or a non-success status without an OAuth error body.
    #[error("the provider refused the token request (`{error}`){}", describe(.description))]
    Rejected {
        /// The OAuth `error` code (`unexpected_status` when the body had none).
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
        /// The HTTP status, when known.
        status: Option<StatusCode>,
    },
    /// The token endpoint could not be reached or failed transiently, on every attempt.
    #[error("token request failed after {attempts} attempt(s): {reason}")]
    Transient {
        /// The last HTTP status, if the endpoint answered.
        status: Option<StatusCode>,
        /// The endpoint's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
        /// What went wrong last.
        reason: String,
        /// Whether the last attempt may have reached the provider (a timeout, a reset after
        /// sending, a 5xx); `false` when the connect failed or the provider answered 429/408.
        reached: bool,
    },
    /// A request carrying a single-use token (an authorization code, or the refresh token of
    /// a provider that rotates them) may have reached the provider, but no usable answer came
    /// back (a timeout, a reset after sending, a 5xx). It was not resent: the token may be
    /// spent. For a code, start the authorization again; for a refresh token, the
    /// [`TokenManager`](super::TokenManager) checks whether another replica stored a new
    /// token, and otherwise the account must be reconnected.
    #[error("token request may have reached the provider after {attempts} attempt(s) but got no usable answer ({reason}); it carried a single-use token and was not resent")]
    OutcomeUnknown {
        /// The HTTP status, if the endpoint answered.
        status: Option<StatusCode>,
        /// Attempts made (the last one is the one whose outcome is unknown).
        attempts: u32,
        /// What went wrong.
        reason: String,
    },
    /// The endpoint answered success with something that is not a token response.
    #[error("the token response is not usable: {reason}")]
    InvalidResponse {
        /// What is wrong (a JSON path, never a value).
        reason: String,
    },
    /// A refresh was asked for but no refresh token is stored.
    #[error("no refresh token is stored for this connection; reconnect the account")]
    NoRefreshToken,
    /// The JWT assertion could not be built (for example an unusable private key).
    #[error("cannot build the JWT assertion: {reason}")]
    Assertion {
        /// Why.
        reason: String,
    },
}

fn describe(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl TokenError {
    /// Whether the provider said `invalid_grant`.
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, TokenError::InvalidGrant { .. })
    }

    /// Whether the failure was transient (trying again later may succeed).
    pub fn is_transient(&self) -> bool {
        matches!(self, TokenError::Transient { .. })
    }

    /// Whether a single-use token may have been spent without its answer arriving
    /// ([`TokenError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(self, TokenError::OutcomeUnknown { .. })
    }
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        // A conversion carrying the token client's whole answer (status, delay, attempts), so
        // it fills the parts itself instead of going through one named constructor per field.
        let mut parts = match &e {
            TokenError::InvalidGrant { .. }
            | TokenError::InvalidClient { .. }
            | TokenError::NoRefreshToken => Error::auth(e.to_string()).into_parts(),
            TokenError::Rejected { status, .. } => {
                let mut p = Error::auth(e.to_string()).into_parts();
                p.status = *status;
                p
            }
            TokenError::Transient {
                status,
                retry_after,
                attempts,
                ..
            } => {
                let kind = if status.is_some() {
                    ErrorKind::Status
                } else {
                    ErrorKind::Transport
                };
                let mut p = ErrorParts::new(kind, e.to_string());
                p.status = *status;
                p.retry_after = *retry_after;
                p.attempts = *attempts;
                p.may_have_been_sent = true;
                // Asking for a token again is safe: at worst the provider issues another one.
                p.idempotent = true;
                p
            }
            TokenError::OutcomeUnknown {
                status, attempts, ..
            } => {
                // Sending the same single-use token again is what must not happen.
                let mut p = Error::outcome_unknown(e.to_string(), *status).into_parts();
                p.attempts = *attempts;
                p
            }
            TokenError::InvalidResponse { .. } => {
                Error::new(ErrorKind::Decode, e.to_string()).into_parts()
            }
            TokenError::Assertion { .. } => {
                Error::new(ErrorKind::Config, e.to_string()).into_parts()
            }
        };
        parts = parts.source(e);
        parts.build()
    }
}

/// Maps an OAuth error answer to a [`TokenError`], removing `secrets` from the description.
fn from_oauth_error(
    error: &str,
    description: Option<&str>,
    status: Option<StatusCode>,
    secrets: &[&str],
) -> TokenError {
    let description = description.map(|d| sanitize(d, secrets));
    match error {
        "invalid_grant" => TokenError::InvalidGrant { description },
        "invalid_client" => TokenError::InvalidClient { description },
        other => TokenError::Rejected {
            error: sanitize(other, secrets),
            description,
            status,
        },
    }
}

/// Provider text: secrets the request carried removed, control characters dropped, at most
/// 300 characters.
fn sanitize(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(s) {
            out = out.replace(s, "[redacted]");
        }
    }
    let mut out: String = out.chars().filter(|c| !c.is_control()).collect();
    if let Some((i, _)) = out.char_indices().nth(300) {
        out.truncate(i);
        out.push('…');
    }
    out
}

/// Retries of one token request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TokenRetry {
    pub(crate) attempts: NonZeroU32,
    pub(crate) base_delay: Duration,
    pub(crate) max_delay: Duration,
}

impl Default for TokenRetry {
    /// 3 attempts, 100 ms then 200 ms apart (with jitter), waits capped at 2 s.
    fn default() -> Self {
        TokenRetry {
            attempts: NonZeroU32::new(3).expect("3 is not zero"),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl TokenRetry {
    /// `attempts` in all, the n-th wait `base_delay * 2^(n-1)` (between half and all of it).
    pub fn new(attempts: NonZeroU32, base_delay: Duration) -> Self {
        TokenRetry {
            attempts,
            base_delay,
            ..TokenRetry::default()
        }
    }

    /// The longest wait between attempts. A `Retry-After` longer than this ends the retries
    /// and is reported in the error.
    #[must_use]
    pub fn max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The crate's one backoff with these settings: equal jitter, a `Retry-After` lengthening
    /// the wait up to `max_delay` and ending the retries beyond it.
    pub(crate) fn to_backoff(&self) -> Backoff {
        Backoff::exponential(self.base_delay, self.max_delay)
            .jitter(Jitter::EQUAL)
            .max_attempts(self.attempts.get())
            .retry_after(RetryAfter::AtLeast, self.max_delay)
            .over_cap(OverCap::GiveUp)
    }
}

/// Obtains a new token for a connection: what the [`TokenManager`](super::TokenManager) calls
/// when the stored one is due.
#[async_trait]
pub trait TokenGrant: Send + Sync + fmt::Debug {
    /// A short name for logs and messages (`"refresh_token"`, `"client_credentials"`).
    fn grant_type(&self) -> &str;

    /// Whether this grant spends the stored refresh token (then an `invalid_grant` answer means
    /// the account must be reconnected, and the manager remembers that).
    fn uses_refresh_token(&self) -> bool {
        false
    }

    /// Whether the provider rotates refresh tokens: each refresh returns a new refresh token
    /// and the old one stops working (GoHighLevel, and many providers with reuse detection).
    /// Then a refresh is never resent once it may have reached the provider, and a refresh
    /// whose answer was lost ([`TokenError::OutcomeUnknown`]) ends with the connection needing
    /// a reconnect unless another replica stored a new token. `false` by default.
    fn rotates_refresh_tokens(&self) -> bool {
        false
    }

    /// A new token. `current` is the stored token, if there is one.
    ///
    /// # Errors
    /// A [`TokenError`]; [`TokenError::InvalidGrant`] when the provider rejected the grant.
    async fn renew(&self, current: Option<&Token>) -> Result<Token, TokenError>;
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749's recommendation).
    #[default]
    BasicAuth,
    /// `client_id` and `client_secret` in the form body (GoHighLevel, many others).
    RequestBody,
}

/// Extra fields of a token response (GoHighLevel's `locationId`, `userType`…).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ExtraFields {
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

impl oauth2::ExtraTokenFields for ExtraFields {}

type TokenBody = StandardTokenResponse<ExtraFields, BasicTokenType>;
type OAuth2Client = oauth2::Client<
    BasicErrorResponse,
    TokenBody,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointMaybeSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// An OAuth 2.0 client of one provider app: authorization code with PKCE, refresh and client
/// credentials. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::Error> {
/// use switchboard::tokens::{ClientAuth, OAuthClient};
/// let client = OAuthClient::builder()
///     .client_id("my-app")
///     .client_secret("from-the-host's-secret-store")
///     .auth_url("https://marketplace.gohighlevel.com/oauth/chooselocation")
///     .token_url("https://services.leadconnectorhq.com/oauth/token")
///     .redirect_url("https://myapp.example/oauth/callback")
///     .scopes(["contacts.readonly"])
///     .client_auth(ClientAuth::RequestBody)
///     .build()?;
/// let request = client.authorize_url()?;
/// // Keep request.state() and request.pkce_verifier() in the user's session, redirect to
/// // request.url(); on the callback, check the state, then:
/// # let code = "";
/// let token = client.exchange_code(code, request.pkce_verifier()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct OAuthClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    oauth: OAuth2Client,
    client_id: String,
    client_secret: Option<SecretString>,
    token_url: String,
    scopes: Vec<String>,
    authorize_params: Vec<(String, String)>,
    token_params: Vec<(String, String)>,
    transport: Transport,
    retry: TokenRetry,
    rotates_refresh_tokens: bool,
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("OAuthClient")
            .field("client_id", &i.client_id)
            .field(
                "client_secret",
                &i.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("token_url", &i.token_url)
            .field("scopes", &i.scopes)
            .finish_non_exhaustive()
    }
}

/// Builds an [`OAuthClient`]; validation happens in [`OAuthClientBuilder::build`].
#[must_use]
#[derive(Default)]
pub struct OAuthClientBuilder {
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    auth_url: Option<String>,
    token_url: Option<String>,
    redirect_url: Option<String>,
    scopes: Vec<String>,
    client_auth: ClientAuth,
    authorize_params: Vec<(String, String)>,
    token_params: Vec<(String, String)>,
    retry: TokenRetry,
    rotates_refresh_tokens: bool,
    env_proxy: bool,
}

impl fmt::Debug for OAuthClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientBuilder")
            .field("client_id", &self.client_id)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OAuthClientBuilder {
    /// The app's client id (required).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The app's client secret (omit it for public clients, which rely on PKCE alone).
    pub fn client_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// The authorization endpoint (required for [`OAuthClient::authorize_url`]).
    pub fn auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = Some(url.into());
        self
    }

    /// The token endpoint (required).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The redirect URI registered with the provider; sent with the authorization request
    /// and the code exchange.
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = Some(url.into());
        self
    }

    /// Scopes to ask for in the authorization request and the client credentials grant.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How the client authenticates to the token endpoint ([`ClientAuth::BasicAuth`] by
    /// default).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.client_auth = auth;
        self
    }

    /// An extra query parameter of the authorization URL (Google's `access_type=offline`,
    /// GoHighLevel's `loginWindowOpenMode=self`).
    pub fn authorize_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.authorize_params.push((name.into(), value.into()));
        self
    }

    /// An extra form parameter of every token request (GoHighLevel's `user_type=Location`).
    pub fn token_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.token_params.push((name.into(), value.into()));
        self
    }

    /// Retries of transient failures ([`TokenRetry::default`]: 3 attempts from 100 ms).
    /// Requests carrying a single-use token (the authorization code, and the refresh token
    /// when [`OAuthClientBuilder::rotates_refresh_tokens`] is set) are retried only when they
    /// cannot have reached the provider (a failed connect, 429, 408).
    pub fn retry(mut self, retry: TokenRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Declares that the provider rotates refresh tokens (each refresh returns a new one and
    /// the old one stops working), as GoHighLevel does: see
    /// [`TokenGrant::rotates_refresh_tokens`]. `false` by default.
    pub fn rotates_refresh_tokens(mut self, rotates: bool) -> Self {
        self.rotates_refresh_tokens = rotates;
        self
    }

    /// Lets the token client use a proxy from the environment (`HTTPS_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`…). Off by default: token requests carry the client secret and refresh
    /// tokens, and go direct unless the host opts in.
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.env_proxy = enabled;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the client id or token URL is missing, or a URL is invalid.
    pub fn build(self) -> Result<OAuthClient, Error> {
        let client_id = self
            .client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConfigError::new("client_id", "is required"))?;
        let token_url = self
            .token_url
            .ok_or_else(|| ConfigError::new("token_url", "is required"))?;
        let token_uri = TokenUrl::new(token_url.clone())
            .map_err(|_| ConfigError::new("token_url", "is not a valid URL"))?;
        let auth_uri = self
            .auth_url
            .map(AuthUrl::new)
            .transpose()
            .map_err(|_| ConfigError::new("auth_url", "is not a valid URL"))?;
        let mut oauth = oauth2::Client::new(ClientId::new(client_id.clone()))
            .set_auth_uri_option(auth_uri)
            .set_token_uri(token_uri)
            .set_auth_type(match self.client_auth {
                ClientAuth::BasicAuth => oauth2::AuthType::BasicAuth,
                ClientAuth::RequestBody => oauth2::AuthType::RequestBody,
            });
        if let Some(secret) = &self.client_secret {
            oauth = oauth.set_client_secret(ClientSecret::new(secret.expose_secret().to_string()));
        }
        if let Some(redirect) = self.redirect_url {
            oauth = oauth.set_redirect_uri(
                RedirectUrl::new(redirect)
                    .map_err(|_| ConfigError::new("redirect_url", "is not a valid URL"))?,
            );
        }
        let client = Transport::default_client(self.env_proxy).map_err(|e| {
            Error::new(ErrorKind::Config, "cannot build the HTTP client").with_source(e)
        })?;
        let shown = token_url
            .parse::<http::Uri>()
            .map(|u| crate::redact::redact_uri(&u, &[]))
            .unwrap_or_default();
        Ok(OAuthClient {
            inner: Arc::new(ClientInner {
                oauth,
                client_id,
                client_secret: self.client_secret,
                token_url: shown,
                scopes: self.scopes,
                authorize_params: self.authorize_params,
                token_params: self.token_params,
                transport: Transport::new(client),
                retry: self.retry,
                rotates_refresh_tokens: self.rotates_refresh_tokens,
            }),
        })
    }
}

/// What [`OAuthClient::authorize_url`] returns: the URL to send the user to, and what to keep
/// in the user's session until the callback (the `state` to compare, the PKCE verifier to
/// send with the code).
#[derive(Clone)]
pub struct AuthorizationRequest {
    url: String,
    state: String,
    verifier: PkceVerifier,
}

impl fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("url", &self.url)
            .field("state", &self.state)
            .field("verifier", &self.verifier)
            .finish()
    }
}

impl AuthorizationRequest {
    /// The authorization URL (with `state`, `code_challenge` and `code_challenge_method=S256`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The CSRF `state`: the callback's `state` must equal it.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The PKCE verifier to pass to [`OAuthClient::exchange_code`].
    pub fn pkce_verifier(&self) -> &PkceVerifier {
        &self.verifier
    }

    /// The URL, the state and the verifier.
    pub fn into_parts(self) -> (String, String, PkceVerifier) {
        (self.url, self.state, self.verifier)
    }
}

/// A PKCE code verifier. Secret until the code is exchanged; `Debug` hides it.
#[derive(Clone)]
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// A verifier kept elsewhere (for example in the user's session) between the redirect and
    /// the callback.
    pub fn new(verifier: impl Into<SecretString>) -> Self {
        PkceVerifier(verifier.into())
    }

    /// The verifier.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

impl OAuthClient {
    /// Starts building a client.
    pub fn builder() -> OAuthClientBuilder {
        OAuthClientBuilder::default()
    }

    /// An authorization URL with a fresh random `state` and PKCE challenge (S256).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when the client has no `auth_url`.
    pub fn authorize_url(&self) -> Result<AuthorizationRequest, Error> {
        let i = &self.inner;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = i
            .oauth
            .authorize_url(CsrfToken::new_random)
            .map_err(|_| {
                ConfigError::new("auth_url", "is required for the authorization code flow")
            })?
            .set_pkce_challenge(challenge)
            .add_scopes(i.scopes.iter().cloned().map(Scope::new));
        for (k, v) in &i.authorize_params {
            req = req.add_extra_param(k.as_str(), v.as_str());
        }
        let (url, state) = req.url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            state: state.into_secret(),
            verifier: PkceVerifier(SecretString::from(verifier.into_secret())),
        })
    }

    /// Exchanges the authorization `code` from the callback, with the PKCE `verifier` kept
    /// since [`OAuthClient::authorize_url`]. A code is single-use: once a request may have
    /// reached the provider it is not sent again. Store the token (for example with
    /// [`TokenManager::store_token`](super::TokenManager::store_token)) before using it.
    ///
    /// # Errors
    /// [`TokenError::InvalidGrant`] when the code is expired, used, or does not match the
    /// verifier or redirect URI; [`TokenError::OutcomeUnknown`] when the exchange may have
    /// reached the provider without an answer (start the authorization again); other
    /// [`TokenError`]s as for any token request.
    pub async fn exchange_code(
        &self,
        code: &str,
        verifier: &PkceVerifier,
    ) -> Result<Token, TokenError> {
        let i = &self.inner;
        let secrets = self.secrets(&[code, verifier.0.expose_secret()]);
        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        let secrets = &secrets[..];
        with_retry(
            &i.retry,
            "authorization_code",
            Use::SingleUse,
            || async move {
                let mut req = i
                    .oauth
                    .exchange_code(AuthorizationCode::new(code.to_string()))
                    .set_pkce_verifier(PkceCodeVerifier::new(
                        verifier.0.expose_secret().to_string(),
                    ));
                for (k, v) in &i.token_params {
                    req = req.add_extra_param(k.as_str(), v.as_str());
                }
                let res = req.request_async(&OAuth2Http(&i.transport)).await;
                to_token(res, secrets)
            },
        )
        .await
    }

    /// A new token for `refresh_token`. If the provider does not send a new refresh token the
    /// result has none; the [`TokenManager`](super::TokenManager) then keeps the old one.
    ///
    /// When the client is declared to rotate refresh tokens
    /// ([`OAuthClientBuilder::rotates_refresh_tokens`]), a request that may have reached the
    /// provider is not resent.
    ///
    /// # Errors
    /// [`TokenError::InvalidGrant`] when the refresh token is rejected (expired, revoked, or
    /// already spent where the provider rotates refresh tokens);
    /// [`TokenError::OutcomeUnknown`] when a rotating refresh may have reached the provider
    /// without an answer.
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Token, TokenError> {
        let i = &self.inner;
        let secrets = self.secrets(&[refresh_token.expose_secret()]);
        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        let secrets = &secrets[..];
        let rt = &RefreshToken::new(refresh_token.expose_secret().to_string());
        let usage = if i.rotates_refresh_tokens {
            Use::SingleUse
        } else {
            Use::Repeatable
        };
        with_retry(&i.retry, "refresh_token", usage, || async move {
            let mut req = i.oauth.exchange_refresh_token(rt);
            for (k, v) in &i.token_params {
                req = req.add_extra_param(k.as_str(), v.as_str());
            }
            let res = req.request_async(&OAuth2Http(&i.transport)).await;
            to_token(res, secrets)
        })
        .await
    }

    /// A token for the app itself (the client credentials grant), with the configured scopes.
    ///
    /// # Errors
    /// As for any token request; [`TokenError::InvalidClient`] for wrong credentials.
    pub async fn client_credentials(&self) -> Result<Token, TokenError> {
        let i = &self.inner;
        let secrets = self.secrets(&[]);
        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        let secrets = &secrets[..];
        with_retry(
            &i.retry,
            "client_credentials",
            Use::Repeatable,
            || async move {
                let mut req = i
                    .oauth
                    .exchange_client_credentials()
                    .add_scopes(i.scopes.iter().cloned().map(Scope::new));
                for (k, v) in &i.token_params {
                    req = req.add_extra_param(k.as_str(), v.as_str());
                }
                let res = req.request_async(&OAuth2Http(&i.transport)).await;
                to_token(res, secrets)
            },
        )
        .await
    }

    /// The client secret and `more`, for scrubbing provider text.
    fn secrets(&self, more: &[&str]) -> Vec<zeroize::Zeroizing<String>> {
        self.inner
            .client_secret
            .iter()
            .map(|s| s.expose_secret())
            .chain(more.iter().copied())
            .map(|s| zeroize::Zeroizing::new(s.to_string()))
            .collect()
    }
}

/// Renews with the stored refresh token.
#[async_trait]
impl TokenGrant for OAuthClient {
    fn grant_type(&self) -> &str {
        "refresh_token"
    }

    fn uses_refresh_token(&self) -> bool {
        true
    }

    fn rotates_refresh_tokens(&self) -> bool {
        self.inner.rotates_refresh_tokens
    }

    async fn renew(&self, current: Option<&Token>) -> Result<Token, TokenError> {
        let refresh_token = current
            .and_then(Token::refresh_token)
            .ok_or(TokenError::NoRefreshToken)?;
        self.refresh(refresh_token).await
    }
}

/// A [`TokenGrant`] that renews with the client credentials grant of an [`OAuthClient`].
#[derive(Debug, Clone)]
pub struct ClientCredentialsGrant {
    client: OAuthClient,
}

impl ClientCredentialsGrant {
    /// Renews with `client`'s client credentials.
    pub fn new(client: OAuthClient) -> Self {
        ClientCredentialsGrant { client }
    }
}

#[async_trait]
impl TokenGrant for ClientCredentialsGrant {
    fn grant_type(&self) -> &str {
        "client_credentials"
    }

    async fn renew(&self, _current: Option<&Token>) -> Result<Token, TokenError> {
        self.client.client_credentials().await
    }
}

fn to_token(
    res: Result<TokenBody, RequestTokenError<HttpFailure, BasicErrorResponse>>,
    secrets: &[&str],
) -> Result<Token, TokenError> {
    match res {
        Ok(body) => {
            let mut token = Token::new(SecretString::from(body.access_token().secret().clone()))
                .with_token_type(body.token_type().as_ref())
                .with_extra(body.extra_fields().fields.clone());
            if let Some(rt) = body.refresh_token() {
                token = token.with_refresh_token(SecretString::from(rt.secret().clone()));
            }
            if let Some(lifetime) = body.expires_in() {
                token = token.with_expires_in(lifetime);
            }
            if let Some(scopes) = body.scopes() {
                token = token.with_scopes(scopes.iter().map(|s| s.to_string()));
            }
            Ok(token)
        }
        Err(RequestTokenError::ServerResponse(r)) => Err(from_oauth_error(
            r.error().as_ref(),
            r.error_description().map(String::as_str),
            None,
            secrets,
        )),
        Err(RequestTokenError::Request(f)) => Err(f.into()),
        // The body may hold a token: keep only where the shape broke.
        Err(RequestTokenError::Parse(e, _body)) => Err(TokenError::InvalidResponse {
            reason: format!(
                "token response does not have the OAuth shape at `{}`",
                e.path()
            ),
        }),
        Err(RequestTokenError::Other(reason)) => Err(TokenError::InvalidResponse {
            reason: sanitize(&reason, secrets),
        }),
    }
}

/// The JWT bearer grant (RFC 7523): a short-lived assertion signed with the app's RSA key
/// (RS256, claims `iss`, `sub`, `aud`, `iat`, `exp`, `scope`) exchanged for an access token.
/// DocuSign's "JWT grant" is this. Cheap to clone.
///
/// ```no_run
/// # async fn demo(pem: String) -> Result<(), switchboard::Error> {
/// use switchboard::tokens::JwtBearerGrant;
/// let grant = JwtBearerGrant::builder()
///     .token_url("https://account-d.docusign.com/oauth/token")
///     .issuer("integration-key")
///     .subject("user-guid")
///     .audience("account-d.docusign.com")
///     .scopes(["signature", "impersonation"])
///     .private_key_pem(pem)
///     .build()?;
/// let token = grant.request_token().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JwtBearerGrant {
    inner: Arc<JwtInner>,
}

struct JwtInner {
    token_url: String,
    issuer: String,
    subject: Option<String>,
    audience: String,
    scopes: Vec<String>,
    key: jsonwebtoken::EncodingKey,
    key_id: Option<String>,
    lifetime: Duration,
    transport: Transport,
    retry: TokenRetry,
}

impl fmt::Debug for JwtBearerGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("JwtBearerGrant")
            .field("token_url", &crate::redact::redact_query(&i.token_url, &[]))
            .field("issuer", &i.issuer)
            .field("subject", &i.subject)
            .field("audience", &i.audience)
            .field("scopes", &i.scopes)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwtBearerGrant`]; validation happens in [`JwtBearerGrantBuilder::build`].
#[must_use]
pub struct JwtBearerGrantBuilder {
    token_url: Option<String>,
    issuer: Option<String>,
    subject: Option<String>,
    audience: Option<String>,
    scopes: Vec<String>,
    private_key_pem: Option<SecretString>,
    key_id: Option<String>,
    lifetime: Duration,
    retry: TokenRetry,
    env_proxy: bool,
}

impl fmt::Debug for JwtBearerGrantBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBearerGrantBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl JwtBearerGrantBuilder {
    /// The token endpoint (required).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// `iss`: the app's client id / integration key (required).
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// `sub`: the user to act as (DocuSign's user id). Omitted when not set.
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = Some(sub.into());
        self
    }

    /// `aud`: the authorization server (DocuSign: `account-d.docusign.com`) (required).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// `scope`, space-separated in the assertion. Omitted when empty.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The RSA private key, PEM (PKCS#1 or PKCS#8) (required).
    pub fn private_key_pem(mut self, pem: impl Into<SecretString>) -> Self {
        self.private_key_pem = Some(pem.into());
        self
    }

    /// A `kid` header naming the key, for providers that hold several.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// How long each assertion is valid (`exp - iat`); 5 minutes by default. DocuSign
    /// accepts at most an hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Retries of transient failures ([`TokenRetry::default`]).
    pub fn retry(mut self, retry: TokenRetry) -> Self {
        self.retry = retry;
        self
    }

    /// Lets the token client use a proxy from the environment (`HTTPS_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`…). Off by default, as for [`OAuthClientBuilder::proxy_from_env`].
    pub fn proxy_from_env(mut self, enabled: bool) -> Self {
        self.env_proxy = enabled;
        self
    }

    /// The grant.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when a required setting is missing, the token URL is invalid or
    /// the key is not an RSA private key in PEM.
    pub fn build(self) -> Result<JwtBearerGrant, Error> {
        let token_url = self
            .token_url
            .ok_or_else(|| ConfigError::new("token_url", "is required"))?;
        token_url
            .parse::<http::Uri>()
            .ok()
            .filter(|u| u.scheme().is_some() && u.host().is_some())
            .ok_or_else(|| ConfigError::new("token_url", "is not a valid absolute URL"))?;
        let issuer = self
            .issuer
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::new("issuer", "is required"))?;
        let audience = self
            .audience
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConfigError::new("audience", "is required"))?;
        let pem = self
            .private_key_pem
            .ok_or_else(|| ConfigError::new("private_key_pem", "is required"))?;
        // The jsonwebtoken error names only the kind of failure, never key bytes.
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|_| ConfigError::new("private_key_pem", "is not an RSA private key in PEM"))?;
        if self.lifetime.is_zero() || self.lifetime > Duration::from_secs(3600) {
            return Err(Error::config("lifetime", "must be between 1 s and 1 hour"));
        }
        let client = Transport::default_client(self.env_proxy).map_err(|e| {
            Error::new(ErrorKind::Config, "cannot build the HTTP client").with_source(e)
        })?;
        Ok(JwtBearerGrant {
            inner: Arc::new(JwtInner {
                token_url,
                issuer,
                subject: self.subject,
                audience,
                scopes: self.scopes,
                key,
                key_id: self.key_id,
                lifetime: self.lifetime,
                transport: Transport::new(client),
                retry: self.retry,
            }),
        })
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    aud: &'a str,
    iat: u64,
    exp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// RFC 6749 §5.1 response, read by hand for the JWT bearer grant. Strings zeroed on drop.
#[derive(Deserialize)]
struct RawToken {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<NumberOrString>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Drop for RawToken {
    fn drop(&mut self) {
        self.access_token.zeroize();
        if let Some(r) = &mut self.refresh_token {
            r.zeroize();
        }
    }
}

/// Some providers send `expires_in` as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

#[derive(Deserialize)]
struct RawError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl JwtBearerGrant {
    /// Starts building a grant.
    pub fn builder() -> JwtBearerGrantBuilder {
        JwtBearerGrantBuilder {
            token_url: None,
            issuer: None,
            subject: None,
            audience: None,
            scopes: Vec::new(),
            private_key_pem: None,
            key_id: None,
            lifetime: Duration::from_secs(300),
            retry: TokenRetry::default(),
            env_proxy: false,
        }
    }

    /// A fresh signed assertion.
    fn assertion(&self) -> Result<SecretString, TokenError> {
        let i = &self.inner;
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            iss: &i.issuer,
            sub: i.subject.as_deref(),
            aud: &i.audience,
            iat,
            exp: iat + i.lifetime.as_secs(),
            scope: (!i.scopes.is_empty()).then(|| i.scopes.join(" ")),
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid.clone_from(&i.key_id);
        jsonwebtoken::encode(&header, &claims, &i.key)
            .map(SecretString::from)
            .map_err(|e| TokenError::Assertion {
                reason: format!("{:?}", e.kind()),
            })
    }

    /// Exchanges a fresh assertion for a token.
    ///
    /// # Errors
    /// [`TokenError::InvalidGrant`] when the provider rejects the assertion (wrong key, clock
    /// skew, unknown user); [`TokenError::Rejected`] with `consent_required` when the user
    /// has not consented (DocuSign); other [`TokenError`]s as for any token request.
    pub async fn request_token(&self) -> Result<Token, TokenError> {
        let i = &self.inner;
        let assertion = self.assertion()?;
        let body = zeroize::Zeroizing::new(
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", assertion.expose_secret())
                .finish(),
        );
        let secret_list = [assertion.expose_secret()];
        let secrets = &secret_list[..];
        let body = &body;
        with_retry(&i.retry, "jwt_bearer", Use::Repeatable, || async move {
            let request = http::Request::post(&i.token_url)
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .header(http::header::ACCEPT, "application/json")
                .body(body.as_bytes().to_vec())
                .map_err(|_| TokenError::InvalidResponse {
                    reason: "cannot build the token request".to_string(),
                })?;
            let response = i.transport.send(request).await?;
            parse_raw(response.status(), response.body(), secrets)
        })
        .await
    }
}

/// A token from the body of a successful OAuth token response (`access_token`, `expires_in`,
/// `refresh_token`, `scope`, the provider's other fields kept in [`Token::extra`]), for token
/// endpoints a grant does not model: GoHighLevel's agency-to-location exchange answers one.
///
/// # Errors
/// [`TokenError::InvalidResponse`] naming where the body breaks the OAuth shape (never a
/// token).
pub fn parse_token_response(body: &[u8]) -> Result<Token, TokenError> {
    parse_raw(StatusCode::OK, body, &[])
}

fn parse_raw(status: StatusCode, body: &[u8], secrets: &[&str]) -> Result<Token, TokenError> {
    if !status.is_success() {
        let err: RawError = serde_json::from_slice(body).map_err(|_| TokenError::Rejected {
            error: "unexpected_status".to_string(),
            description: None,
            status: Some(status),
        })?;
        return Err(from_oauth_error(
            &err.error,
            err.error_description.as_deref(),
            Some(status),
            secrets,
        ));
    }
    let mut raw: RawToken = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(body),
    )
    .map_err(|e| TokenError::InvalidResponse {
        reason: format!(
            "token response does not have the OAuth shape at `{}`",
            e.path()
        ),
    })?;
    let mut token = Token::new(SecretString::from(std::mem::take(&mut raw.access_token)))
        .with_token_type(raw.token_type.take().unwrap_or_else(|| "Bearer".into()))
        .with_extra(std::mem::take(&mut raw.extra));
    if let Some(rt) = raw.refresh_token.take() {
        token = token.with_refresh_token(SecretString::from(rt));
    }
    let expires_in = match raw.expires_in.take() {
        Some(NumberOrString::Number(n)) => Some(n),
        Some(NumberOrString::String(s)) => {
            Some(
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| TokenError::InvalidResponse {
                        reason: "token response has a non-numeric `expires_in`".to_string(),
                    })?,
            )
        }
        None => None,
    };
    if let Some(secs) = expires_in {
        token = token.with_expires_in(Duration::from_secs(secs));
    }
    if let Some(scope) = raw.scope.take() {
        token = token.with_scopes(scope.split_whitespace().map(str::to_string));
    }
    Ok(token)
}

#[async_trait]
impl TokenGrant for JwtBearerGrant {
    fn grant_type(&self) -> &str {
        "jwt_bearer"
    }

    async fn renew(&self, _current: Option<&Token>) -> Result<Token, TokenError> {
        self.request_token().await
    }
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn TokenGrant>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_removes_secrets_controls_and_length() {
        let s = sanitize("bad token CANARY-rt\nend", &["CANARY-rt"]);
        assert_eq!(s, "bad token [redacted]end");
        let long = "x".repeat(1000);
        assert_eq!(sanitize(&long, &[]).chars().count(), 301);
    }

    #[test]
    fn oauth_errors_map_to_typed_variants() {
        assert!(from_oauth_error("invalid_grant", None, None, &[]).is_invalid_grant());
        assert!(matches!(
            from_oauth_error("invalid_client", Some("x"), None, &[]),
            TokenError::InvalidClient { .. }
        ));
        assert!(matches!(
            from_oauth_error("consent_required", None, Some(StatusCode::BAD_REQUEST), &[]),
            TokenError::Rejected { .. }
        ));
    }

    #[test]
    fn invalid_grant_is_an_auth_error_that_is_not_retryable() {
        let e = Error::from(TokenError::InvalidGrant { description: None });
        assert_eq!(e.kind(), ErrorKind::Auth);
        assert!(!e.is_retryable());
        assert!(super::super::token_error(&e).unwrap().is_invalid_grant());
        let e = Error::from(TokenError::Transient {
            status: Some(StatusCode::SERVICE_UNAVAILABLE),
            retry_after: None,
            attempts: 3,
            reason: "x".into(),
            reached: true,
        });
        assert!(e.is_retryable());
        assert_eq!(e.attempts(), 3);
    }

    #[test]
    fn raw_token_expiry_out_of_range_is_clamped_or_typed() {
        let huge = format!(r#"{{"access_token":"a","expires_in":{}}}"#, u64::MAX);
        let t = parse_raw(StatusCode::OK, huge.as_bytes(), &[]).unwrap();
        let life = t
            .expires_at()
            .unwrap()
            .duration_since(t.issued_at().unwrap())
            .unwrap();
        assert_eq!(life, super::super::MAX_TOKEN_LIFETIME);
        let huge = format!(r#"{{"access_token":"a","expires_in":"{}"}}"#, u64::MAX);
        assert!(parse_raw(StatusCode::OK, huge.as_bytes(), &[]).is_ok());
        for bad in [
            r#"{"access_token":"a","expires_in":-5}"#,
            r#"{"access_token":"a","expires_in":"-5"}"#,
            r#"{"access_token":"a","expires_in":1e300}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":[1]}"#,
        ] {
            let e = parse_raw(StatusCode::OK, bad.as_bytes(), &[]).unwrap_err();
            assert!(
                matches!(e, TokenError::InvalidResponse { .. }),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn raw_token_accepts_string_expiry_and_keeps_extras() {
        let t = parse_raw(
            StatusCode::OK,
            br#"{"access_token":"a","expires_in":"3600","scope":"x y","locationId":"L1"}"#,
            &[],
        )
        .unwrap();
        assert_eq!(t.scopes(), ["x", "y"]);
        assert_eq!(t.extra()["locationId"], "L1");
        assert!(t.expires_at().is_some());
        let e = parse_raw(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"assertion CANARY-a bad"}"#,
            &["CANARY-a"],
        )
        .unwrap_err();
        assert!(!e.to_string().contains("CANARY"), "{e}");
    }
}
