//! [`OAuthClient`] (feature `oauth`): the authorization code grant with PKCE
//! ([`OAuthClient::authorize_url`], [`OAuthClient::exchange_code`]), refresh
//! ([`OAuthClient::refresh`]) and client credentials ([`OAuthClient::client_credentials`]), on
//! the `oauth2` crate, through the grants' shared transport and retry loop.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
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

use super::grants::{from_oauth_error, sanitize, TokenError, TokenGrant, TokenRetry};
use super::transport::{with_retry, HttpFailure, OAuth2Http, Transport, Use};
use super::Token;
use crate::error::{ConfigError, Error, ErrorKind};

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
