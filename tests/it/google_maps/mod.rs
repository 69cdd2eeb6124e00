//! Google Maps connector tests, one file per concern: every call through the template,
//! `Connections` and the typed client against a loopback Google (`calls`), Google's statuses
//! and the typed errors of the error samples (`statuses`), the per-tenant cache, coalescing
//! and pace (`cache`), batches (`batch`), the contract with Prism (`contract`), the
//! conformance suite, and the typed models against every sample (`fixtures`).

mod batch;
mod cache;
mod calls;
mod conformance;
mod contract;
mod fixtures;
mod mock;
mod statuses;

use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::connections::Connections;
use switchboard::google_maps::{GoogleMapsClient, GoogleMapsIntegration};
use switchboard::templates::Registry;
use switchboard::{ConnectionId, Switchboard, TenantId};

use crate::support::builder;

/// The connection id every tenant uses (tenants share ids on purpose).
pub(crate) const CONNECTION: &str = "maps";

/// A config pointing at `base_url` with `key`.
pub(crate) fn config(base_url: &str, key: &str) -> Value {
    json!({"api_key": key, "base_url": base_url})
}

/// A connection service over a fresh in-memory host.
pub(crate) fn host() -> Connections {
    host_with(builder().allow_endpoint_host("127.0.0.1").build().unwrap())
}

/// A connection service over `sb` (which must allow 127.0.0.1 endpoints).
pub(crate) fn host_with(sb: Switchboard) -> Connections {
    let mut registry = Registry::new();
    registry
        .register(Arc::new(GoogleMapsIntegration::new()))
        .unwrap();
    Connections::new(sb, crate::support::test_vault(15), registry)
}

/// Creates `tenant`'s connection with `config` and returns its typed client.
pub(crate) async fn client(
    connections: &Connections,
    tenant: &str,
    config: Value,
) -> GoogleMapsClient {
    let (t, c) = (TenantId::new(tenant), ConnectionId::new(CONNECTION));
    connections
        .create(&t, &c, "google_maps", "Maps", &config)
        .await
        .unwrap();
    let conn = connections.connection(&t, &c).await.unwrap();
    GoogleMapsClient::from_connection(conn).unwrap()
}
