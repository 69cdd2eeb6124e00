//! [`OAuthAuthenticator`]: the connection's OAuth access token as `Authorization: Bearer …`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use http::header::{HeaderValue, AUTHORIZATION};
use secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::{TokenGrant, TokenManager};
use crate::auth::Authenticator;
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};
use crate::pipeline::{CallContext, PipelineRequest};

/// Sends one connection's OAuth access token, refreshed by the [`TokenManager`] when due, as
/// `Authorization: Bearer …` (marked sensitive). Cheap to clone.
#[derive(Clone)]
pub struct OAuthAuthenticator {
    manager: TokenManager,
    tenant: TenantId,
    connection: ConnectionId,
    grant: Option<Arc<dyn TokenGrant>>,
}

impl fmt::Debug for OAuthAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthAuthenticator")
            .field("tenant", &self.tenant)
            .field("connection", &self.connection)
            .field(
                "grant",
                &self.grant.as_ref().map(|g| g.grant_type().to_string()),
            )
            .finish()
    }
}

impl OAuthAuthenticator {
    /// The token of `tenant`'s `connection`, renewed with the grant registered in `manager`.
    pub fn new(manager: TokenManager, tenant: TenantId, connection: ConnectionId) -> Self {
        OAuthAuthenticator {
            manager,
            tenant,
            connection,
            grant: None,
        }
    }

    /// Renews with `grant` instead of the one registered in the manager.
    #[must_use]
    pub fn with_grant(mut self, grant: Arc<dyn TokenGrant>) -> Self {
        self.grant = Some(grant);
        self
    }
}

#[async_trait]
impl Authenticator for OAuthAuthenticator {
    async fn authenticate(&self, request: &mut PipelineRequest) -> Result<(), Error> {
        // Sent through a connection of another tenant or id, this would hand one tenant's
        // token to another's call: refuse.
        if let Some(ctx) = request.extensions().get::<Arc<CallContext>>() {
            if ctx.tenant() != &self.tenant || ctx.connection() != &self.connection {
                return Err(Error::auth(format!(
                        "the OAuth authenticator of connection `{}` (tenant `{}`) was used by connection `{}` (tenant `{}`)",
                        self.connection,
                        self.tenant,
                        ctx.connection(),
                        ctx.tenant()
                    ),
                ));
            }
        }
        let token = match &self.grant {
            Some(grant) => {
                self.manager
                    .access_token_with(&self.tenant, &self.connection, grant)
                    .await?
            }
            None => {
                self.manager
                    .access_token(&self.tenant, &self.connection)
                    .await?
            }
        };
        let raw = Zeroizing::new(format!("Bearer {}", token.expose_secret()));
        let mut value = HeaderValue::from_str(&raw).map_err(|_| {
            Error::auth("the access token contains characters not allowed in an HTTP header")
        })?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }
}
