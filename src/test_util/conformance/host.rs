//! The host side of the suite: a switchboard that counts attempts, a vault, a registry holding
//! the integration under test, and the connection service over them, as a host builds them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tower::ServiceExt;

use super::Conformance;
use crate::connections::Connections;
use crate::pipeline::HttpService;
use crate::templates::{Integration, Registry};
use crate::tokens::{Token, TokenManager};
use crate::vault::{KeyId, KeyRing, MasterKey, Vault};
use crate::{Connection, ConnectionId, Error, RetryConfig, Switchboard, TenantId};

/// Tenant A: the connection under test.
pub(crate) const TENANT_A: &str = "conformance-a";
/// Tenant B: shares connection ids with A.
pub(crate) const TENANT_B: &str = "conformance-b";

/// A host with one integration registered.
pub(crate) struct Host {
    pub(crate) connections: Connections,
    attempts: Arc<AtomicUsize>,
    /// The access token stored for every connection, for a connector that uses OAuth tokens
    /// ([`Conformance::stored_token`]).
    token: Option<String>,
    /// The config field holding a payload-routed integration's routing key
    /// ([`Integration::webhook_routing`](crate::templates::Integration::webhook_routing)),
    /// unique per template: each connection the checks make gets its own value.
    routing_field: Option<String>,
}

impl Host {
    pub(crate) fn new(case: &Conformance) -> Result<Host, Error> {
        let integration = &case.integration;
        let routing_field = integration.webhook_routing().map(|r| r.config_field);
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        let switchboard = Switchboard::builder()
            .retry(
                RetryConfig::default()
                    .base_delay(Duration::from_millis(10))
                    .max_delay(Duration::from_millis(50))
                    .budget(1000.0, 1000, Duration::from_secs(10)),
            )
            .attempt_timeout(Duration::from_secs(5))
            .call_deadline(Duration::from_secs(20))
            .allow_endpoint_host("127.0.0.1")
            .attempt_layer(move |inner: HttpService| {
                let counter = counter.clone();
                HttpService::new(inner.map_request(move |r| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    r
                }))
            })
            .build()?;
        let mut key = [0u8; 32];
        key.iter_mut().for_each(|b| *b = fastrand::u8(..));
        let vault = Vault::new(KeyRing::new(
            KeyId::new("conformance")?,
            MasterKey::from_bytes(&key)?,
        ));
        let mut registry = Registry::new();
        registry.register(integration.clone())?;
        let tokens = case
            .stored_token
            .is_some()
            .then(|| {
                TokenManager::builder(vault.clone(), switchboard.credential_store().clone()).build()
            })
            .transpose()?;
        let mut connections = Connections::new(switchboard, vault, registry);
        if let Some(tokens) = tokens {
            connections = connections.with_tokens(tokens);
        }
        Ok(Host {
            connections,
            attempts,
            token: case.stored_token.clone(),
            routing_field,
        })
    }

    /// Attempts made through this host so far.
    pub(crate) fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// As [`Self::connect`], for one of several connections a check makes from the same
    /// valid config: a payload-routed integration's routing key is unique per template, so
    /// each gets `{key}-{id}`.
    pub(crate) async fn connect_another(
        &self,
        template: &str,
        tenant: &str,
        id: &str,
        config: &Value,
    ) -> Result<Connection, Error> {
        let mut config = config.clone();
        if let Some(field) = &self.routing_field {
            if let Some(Value::String(key)) = config.get_mut(field) {
                key.push('-');
                key.push_str(id);
            }
        }
        self.connect(template, tenant, id, &config).await
    }

    /// Creates the connection from `config` and binds it, as a host does.
    pub(crate) async fn connect(
        &self,
        template: &str,
        tenant: &str,
        id: &str,
        config: &Value,
    ) -> Result<Connection, Error> {
        let (t, c) = (TenantId::new(tenant), ConnectionId::new(id));
        self.connections
            .create(&t, &c, template, "Conformance", config)
            .await?;
        if let (Some(token), Some(tokens)) = (&self.token, self.connections.tokens()) {
            let expires = std::time::SystemTime::now() + Duration::from_secs(3600);
            tokens
                .store_token(&t, &c, &Token::new(token.clone()).with_expires_at(expires))
                .await?;
        }
        self.connections.connection(&t, &c).await
    }
}

/// `config` with every endpoint URL field of the template set to `base_url`.
pub(crate) fn pointed_at(integration: &dyn Integration, config: &Value, base_url: &str) -> Value {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        for field in integration.template().endpoint_fields() {
            map.insert(field.clone(), Value::String(base_url.to_string()));
        }
    }
    config
}
