//! How a DocuSign connection gets its access tokens: the JWT grant (service integrations, one
//! consent per user) and the authorization-code grant (user consent apps, refreshed), the
//! consent URL, and the demo and production authentication hosts.
//!
//! Tokens live in the core's [`TokenManager`](crate::tokens::TokenManager): a JWT token (1 h,
//! no refresh token) is reused until shortly before it expires, then one new one is minted
//! for the connection, once across replicas.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::config::DocuSignConfig;
use super::{DEMO_AUTH_BASE_URL, JWT_SCOPES, PRODUCTION_AUTH_BASE_URL};
use crate::tokens::{JwtBearerGrant, OAuthClient, Token, TokenError, TokenGrant};
use crate::{Error, ExposeSecret};

/// How a connection gets its tokens (config field `grant`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocuSignGrant {
    /// The JWT grant: the app signs an assertion for `user_id` with its RSA key; the user
    /// consented once ([`consent_url`]).
    #[default]
    Jwt,
    /// The authorization-code grant: the user signed in through the app (the host runs the
    /// code flow with [`super::DocuSignIntegration::oauth_client`] and stores the token);
    /// tokens are refreshed with the stored refresh token.
    AuthorizationCode,
}

/// DocuSign's demo (developer) or production platform (config field `environment`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DocuSignEnvironment {
    /// `account-d.docusign.com`, developer accounts.
    #[default]
    Demo,
    /// `account.docusign.com`.
    Production,
}

impl DocuSignEnvironment {
    /// The environment's authentication host.
    pub fn auth_base_url(self) -> &'static str {
        match self {
            DocuSignEnvironment::Demo => DEMO_AUTH_BASE_URL,
            DocuSignEnvironment::Production => PRODUCTION_AUTH_BASE_URL,
        }
    }
}

/// The URL a user opens once to let the app act for them with the JWT grant
/// (`{auth}/oauth/auth?response_type=code&scope=signature%20impersonation&client_id=…&redirect_uri=…`).
///
/// # Errors
/// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `docusign.auth_base_url` when the
/// authentication host is not a URL.
pub fn consent_url(
    auth_base_url: &str,
    integration_key: &str,
    redirect_uri: &str,
) -> Result<String, Error> {
    let mut url = url::Url::parse(&format!(
        "{}/oauth/auth",
        auth_base_url.trim_end_matches('/')
    ))
    .map_err(|_| Error::config("docusign.auth_base_url", "is not a valid URL"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("scope", &JWT_SCOPES.join(" "))
        .append_pair("client_id", integration_key)
        .append_pair("redirect_uri", redirect_uri);
    Ok(url.into())
}

/// The JWT `aud`: the authentication host's name (with its port when it has one), as
/// DocuSign expects `account-d.docusign.com`.
fn audience(auth_base_url: &str) -> Result<String, Error> {
    let url = url::Url::parse(auth_base_url)
        .map_err(|_| Error::config("docusign.auth_base_url", "is not a valid URL"))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::config("docusign.auth_base_url", "has no host"))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// DocuSign's JWT grant: the core's [`JwtBearerGrant`] with DocuSign's claims (`iss` the
/// integration key, `sub` the user, `aud` the authentication host, `scope` `signature
/// impersonation`, one-hour assertions), whose `consent_required` answer carries the
/// [`consent_url`] to send the user to.
#[derive(Clone)]
pub struct DocuSignJwtGrant {
    grant: JwtBearerGrant,
    consent: Option<String>,
}

impl fmt::Debug for DocuSignJwtGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocuSignJwtGrant")
            .field("grant", &self.grant)
            .field("consent", &self.consent)
            .finish()
    }
}

impl DocuSignJwtGrant {
    /// The grant of a JWT connection.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming `docusign.user_id` or
    /// `docusign.private_key` when missing, or the key when it is not an RSA private key.
    pub fn from_config(config: &DocuSignConfig) -> Result<Self, Error> {
        let user = config
            .user_id
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| Error::config("docusign.user_id", "is required for the JWT grant"))?;
        let key = config.private_key.clone().ok_or_else(|| {
            Error::config("docusign.private_key", "is required for the JWT grant")
        })?;
        let auth = config.auth_base_url();
        let grant = JwtBearerGrant::builder()
            .token_url(format!("{auth}/oauth/token"))
            .issuer(config.integration_key.as_str())
            .subject(user)
            .audience(audience(auth)?)
            .scopes(JWT_SCOPES)
            .private_key_pem(key)
            .lifetime(std::time::Duration::from_secs(3600))
            .build()
            .map_err(|e| match e.kind() {
                crate::ErrorKind::Config => {
                    Error::config("docusign.private_key", "is not an RSA private key in PEM")
                }
                _ => e,
            })?;
        let consent = config
            .redirect_uri
            .as_deref()
            .and_then(|r| consent_url(auth, &config.integration_key, r).ok());
        Ok(DocuSignJwtGrant { grant, consent })
    }
}

#[async_trait]
impl TokenGrant for DocuSignJwtGrant {
    fn grant_type(&self) -> &str {
        "jwt_bearer"
    }

    async fn renew(&self, current: Option<&Token>) -> Result<Token, TokenError> {
        match self.grant.renew(current).await {
            Err(TokenError::Rejected {
                error,
                description,
                status,
            }) if error == "consent_required" => Err(TokenError::Rejected {
                description: Some(match &self.consent {
                    Some(url) => format!("grant consent: the user must open {url} once"),
                    None => description.map_or_else(
                        || "grant consent: the user must consent to the app once (set redirect_uri to get the consent URL)".to_string(),
                        |d| format!("grant consent: {d}"),
                    ),
                }),
                error,
                status,
            }),
            other => other,
        }
    }
}

/// The OAuth client of an authorization-code connection: refreshes its stored token, and
/// gives a host the authorization URL and code exchange.
pub(crate) fn oauth_client(config: &DocuSignConfig) -> Result<OAuthClient, Error> {
    let auth = config.auth_base_url();
    let secret = config.client_secret.clone().ok_or_else(|| {
        Error::config(
            "docusign.client_secret",
            "is required for the authorization-code grant",
        )
    })?;
    let mut b = OAuthClient::builder()
        .client_id(config.integration_key.as_str())
        .client_secret(secret)
        .auth_url(format!("{auth}/oauth/auth"))
        .token_url(format!("{auth}/oauth/token"))
        .scopes(["signature"]);
    if let Some(r) = &config.redirect_uri {
        b = b.redirect_url(r.as_str());
    }
    b.build()
}

/// The grant a connection's config asks for.
pub(crate) fn grant_of(config: &DocuSignConfig) -> Result<Arc<dyn TokenGrant>, Error> {
    Ok(match config.grant {
        DocuSignGrant::Jwt => Arc::new(DocuSignJwtGrant::from_config(config)?),
        DocuSignGrant::AuthorizationCode => Arc::new(oauth_client(config)?),
    })
}

/// What identifies a grant's settings, secrets included, as a digest: the key of the
/// integration's grant cache (a grant builds an HTTP client, too costly per bind). Holds no
/// secret, only its SHA-256 among the other fields.
pub(crate) fn grant_fingerprint(config: &DocuSignConfig) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    part(match config.grant {
        DocuSignGrant::Jwt => "jwt",
        DocuSignGrant::AuthorizationCode => "code",
    });
    part(&config.integration_key);
    part(config.user_id.as_deref().unwrap_or(""));
    part(config.auth_base_url());
    part(config.redirect_uri.as_deref().unwrap_or(""));
    part(
        config
            .private_key
            .as_ref()
            .map_or("", |k| k.expose_secret()),
    );
    part(
        config
            .client_secret
            .as_ref()
            .map_or("", |k| k.expose_secret()),
    );
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_url_names_the_app_scopes_and_redirect() {
        let url = consent_url(DEMO_AUTH_BASE_URL, "ik-1", "https://app.example/cb").unwrap();
        assert_eq!(
            url,
            "https://account-d.docusign.com/oauth/auth?response_type=code&scope=signature+impersonation&client_id=ik-1&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
        );
    }

    #[test]
    fn the_audience_is_the_host_with_its_port_when_given() {
        assert_eq!(
            audience(PRODUCTION_AUTH_BASE_URL).unwrap(),
            "account.docusign.com"
        );
        assert_eq!(audience("http://127.0.0.1:4010").unwrap(), "127.0.0.1:4010");
        assert!(audience("not a url").is_err());
    }
}
