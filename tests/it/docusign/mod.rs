//! DocuSign connector tests: the JWT grant and account lookup through the template and
//! `Connections` (against a loopback authentication host and account API), Connect webhooks
//! (`connect`: the shared signature vectors, rotation, hostile header counts, event ids, typed
//! events, secrets, and the router and axum routes), and the connector's other concerns, one
//! file each.

mod auth;
mod conformance;
mod connect;
mod contract;
mod documents;
mod envelope_api;
mod envelopes;
mod limits;
mod mock;
mod spec;
mod views;

use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::connections::Connections;
use switchboard::credentials::{CredentialStore, InMemoryCredentialStore};
use switchboard::docusign::DocuSignIntegration;
use switchboard::templates::Registry;
use switchboard::tokens::{InProcessLock, RefreshLock, TokenManager};
use switchboard::vault::Vault;

use crate::support::{builder, TEST_RSA_PRIVATE_PEM};

/// The integration key of the test app.
pub(crate) const INTEGRATION_KEY: &str = "ik-00000000-test";

/// A JWT config for `user` against the authentication host at `auth_base_url`.
pub(crate) fn jwt_config(auth_base_url: &str, user: &str) -> Value {
    json!({
        "integration_key": INTEGRATION_KEY,
        "user_id": user,
        "private_key": TEST_RSA_PRIVATE_PEM,
        "auth_base_url": auth_base_url,
        "redirect_uri": "https://app.example.test/docusign/callback",
    })
}

/// What replicas of one host share: the credential store (sealed configs and tokens) and the
/// refresh lock.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) credentials: Arc<dyn CredentialStore>,
    pub(crate) lock: Arc<dyn RefreshLock>,
    pub(crate) records: Arc<dyn switchboard::connections::ConnectionStore>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            credentials: Arc::new(InMemoryCredentialStore::new()),
            lock: Arc::new(InProcessLock::new()),
            records: Arc::new(switchboard::connections::InMemoryConnectionStore::new()),
        }
    }

    /// One replica: its own switchboard, token manager and connection service over the shared
    /// stores.
    pub(crate) fn replica(&self) -> Connections {
        let vault: Vault = crate::support::test_vault(14);
        let sb = builder()
            .allow_endpoint_host("127.0.0.1")
            .credential_store(self.credentials.clone())
            .build()
            .unwrap();
        let tokens = TokenManager::builder(vault.clone(), self.credentials.clone())
            .refresh_lock(self.lock.clone())
            .build()
            .unwrap();
        let mut registry = Registry::new();
        registry
            .register(Arc::new(DocuSignIntegration::new()))
            .unwrap();
        Connections::new(sb, vault, registry)
            .with_connection_store(self.records.clone())
            .with_tokens(tokens)
    }
}
