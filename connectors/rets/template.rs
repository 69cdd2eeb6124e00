//! [`RetsIntegration`]: the `rets` template (config as JSON Schema), its binding to a
//! [`RetsConnector`] with a session per credential, and the check (log in, then log out).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use serde_json::json;

use super::client::Bound;
use super::session::{Credentials, RetsAuthenticator, SessionKey, SessionState};
use super::{RetsClient, RetsConfig, RetsConnector, SUPPORTED_VERSIONS};
use crate::templates::{ConnectionConfig, Integration, IntegrationBinding, IntegrationTemplate};
use crate::{Connection, Error, ProviderError};

/// The RETS integration: template name `rets`.
///
/// Config fields: `login_url` (required), `username` (required), `password` (required,
/// secret), `user_agent`, `user_agent_password` (secret, for `RETS-UA-Authorization`),
/// `rets_version` (1.5 to 1.8, default 1.7.2), `http_auth` (`auto`, `digest`, `basic`),
/// `http_method` (`GET`, `POST`), `page_size` (default 1,000) and `photo_cache_ttl_secs`
/// (default 24 h).
///
/// **One session per credential.** Servers allow one login per user (20022 "additional
/// login not permitted"), so every connection this integration binds with the same login
/// URL, user name and secrets shares one server session, its cookies and its metadata cache,
/// whichever tenant it belongs to: it is the same MLS account. Breakers, limits, the
/// response and photo caches and the connection's state stay per tenant and connection.
///
/// The check logs in and logs out.
#[derive(Debug)]
pub struct RetsIntegration {
    template: IntegrationTemplate,
    sessions: Mutex<HashMap<SessionKey, Weak<SessionState>>>,
}

impl Default for RetsIntegration {
    fn default() -> Self {
        Self::new()
    }
}

impl RetsIntegration {
    /// The integration with its template.
    pub fn new() -> Self {
        let template = IntegrationTemplate::builder("rets")
            .display_name("MLS (RETS)")
            .category("real-estate")
            .webhooks(false)
            .api_version("RETS/1.7.2")
            .setup_instructions(
                "1. Ask your MLS for a RETS feed: the Login URL, a user name and password, and \
                 the User-Agent (and User-Agent password, if it requires one) registered for \
                 your product.\n\
                 2. Paste them here. Leave the RETS version at 1.7.2 unless the MLS names \
                 another, and the method at GET unless it asks for POST.",
            )
            .config_schema(json!({
                "type": "object",
                "required": ["login_url", "username", "password"],
                "additionalProperties": false,
                "properties": {
                    "login_url": {
                        "type": "string",
                        "title": "Login URL",
                        "pattern": "^https?://",
                        "x-error-message": {"pattern": "must be an http or https URL"}
                    },
                    "username": {"type": "string", "title": "User name", "minLength": 1},
                    "password": {"type": "string", "title": "Password", "format": "password", "minLength": 1},
                    "user_agent": {"type": "string", "title": "User-Agent", "minLength": 1, "maxLength": 200},
                    "user_agent_password": {"type": "string", "title": "User-Agent password", "format": "password", "minLength": 1},
                    "rets_version": {"type": "string", "title": "RETS version", "enum": SUPPORTED_VERSIONS, "default": super::DEFAULT_RETS_VERSION},
                    "http_auth": {"type": "string", "title": "HTTP authentication", "enum": ["auto", "digest", "basic"], "default": "auto"},
                    "http_method": {"type": "string", "title": "HTTP method", "enum": ["GET", "POST"], "default": "GET"},
                    "page_size": {"type": "integer", "title": "Rows per search page", "minimum": 1, "maximum": 100000, "default": super::DEFAULT_PAGE_SIZE},
                    "photo_cache_ttl_secs": {"type": "integer", "title": "Photo cache lifetime (seconds; 0 turns it off)", "minimum": 0, "maximum": 2592000, "default": super::DEFAULT_PHOTO_CACHE_TTL.as_secs()}
                }
            }))
            .endpoint_url_field("login_url")
            .build()
            .expect("the RETS template is valid");
        RetsIntegration {
            template,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The session of this login: the live one when another binding has it, else a new one.
    fn session(&self, key: SessionKey, make: impl FnOnce() -> SessionState) -> Arc<SessionState> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.strong_count() > 0);
        if let Some(live) = sessions.get(&key).and_then(Weak::upgrade) {
            return live;
        }
        let session = Arc::new(make());
        sessions.insert(key, Arc::downgrade(&session));
        session
    }
}

#[async_trait]
impl Integration for RetsIntegration {
    fn template(&self) -> &IntegrationTemplate {
        &self.template
    }

    /// Logs in, then out: the credentials, the User-Agent and its password all pass.
    async fn check(&self, connection: &Connection) -> Result<(), Error> {
        let client =
            RetsClient::from_connection(connection.clone()).map_err(|e| e.core().clone())?;
        client.login().await.map_err(|e| e.core().clone())?;
        client.logout().await.map_err(|e| e.core().clone())
    }

    fn bind(&self, config: &ConnectionConfig) -> Result<IntegrationBinding, Error> {
        let config = RetsConfig::from_config(config)?;
        let settings = config.settings()?;
        let credentials = Credentials {
            username: config.username.clone(),
            password: config.password.clone(),
            ua_password: config.user_agent_password.clone(),
            http_auth: config.http_auth,
        };
        let origin = settings.login_url.origin().ascii_serialization();
        let key = SessionKey::new(&settings, &credentials);
        let session = self.session(key, || SessionState::new(settings, credentials));
        Ok(IntegrationBinding::new(
            Arc::new(RetsConnector::new()),
            origin,
            Some(Arc::new(RetsAuthenticator::new(session.clone()))),
        )
        .with_settings(Bound { session }))
    }
}
