//! [`JwtBearerGrant`] (feature `jwt`): RFC 7523, a signed assertion (RS256) exchanged for a
//! token, as DocuSign's "JWT grant" uses it. `oauth2` has no such grant, so it is a plain form
//! POST through the grants' shared transport and retry loop.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::grants::{parse_raw, TokenError, TokenGrant, TokenRetry};
use super::transport::{with_retry, Transport, Use};
use super::Token;
use crate::error::{ConfigError, Error, ErrorKind};

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
    /// `NO_PROXY`…). Off by default, as for [`OAuthClientBuilder::proxy_from_env`](crate::tokens::OAuthClientBuilder::proxy_from_env).
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
#[async_trait]
impl TokenGrant for JwtBearerGrant {
    fn grant_type(&self) -> &str {
        "jwt_bearer"
    }

    async fn renew(&self, _current: Option<&Token>) -> Result<Token, TokenError> {
        self.request_token().await
    }
}
