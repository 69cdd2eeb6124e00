//! RETS connector tests, one file per concern: login sessions (Digest, Basic, UA auth,
//! re-login, one session per credential) through the template and `Connections`
//! (`session`), searches and paging (`search`), metadata (`metadata`), GetObject and the
//! photo cache (`objects`), the recorded PHRETS replies replayed through the client
//! (`replay`), MLS sync on the engine (`sync`), and the loopback RETS server (`server`).

mod conformance;
mod metadata;
mod objects;
mod replay;
mod search;
#[path = "../../../examples/mocks/rets.rs"]
mod server;
mod session;
mod sync;

use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::connections::Connections;
use switchboard::rets::{RetsClient, RetsIntegration};
use switchboard::templates::Registry;
use switchboard::{ConnectionId, Switchboard, TenantId};

use crate::support::builder;

/// The connection id every tenant uses (tenants share ids on purpose).
pub(crate) const CONNECTION: &str = "mls";

/// A config for `login_url` as the loopback server's user with `password`.
pub(crate) fn config(login_url: &str, password: &str) -> Value {
    json!({"login_url": login_url, "username": server::USER, "password": password})
}

/// A connection service over a fresh in-memory host allowing loopback endpoints.
pub(crate) fn host() -> Connections {
    host_with(builder().allow_endpoint_host("127.0.0.1").build().unwrap())
}

/// A connection service over `sb`.
pub(crate) fn host_with(sb: Switchboard) -> Connections {
    let mut registry = Registry::new();
    registry.register(Arc::new(RetsIntegration::new())).unwrap();
    Connections::new(sb, crate::support::test_vault(17), registry)
}

/// Creates `tenant`'s connection with `config` and returns its typed client.
pub(crate) async fn client(connections: &Connections, tenant: &str, config: Value) -> RetsClient {
    let (t, c) = (TenantId::new(tenant), ConnectionId::new(CONNECTION));
    connections
        .create(&t, &c, "rets", "MLS", &config)
        .await
        .unwrap();
    let conn = connections.connection(&t, &c).await.unwrap();
    RetsClient::from_connection(conn).unwrap()
}

/// Listings `L0000`.. with one modification timestamp per `per_second` listings.
pub(crate) fn listings(n: usize, per_second: usize) -> Vec<server::Listing> {
    (0..n)
        .map(|i| {
            let s = i / per_second.max(1);
            server::Listing::new(
                &format!("L{i:04}"),
                &format!("2026-01-01T00:{:02}:{:02}", s / 60, s % 60),
            )
        })
        .collect()
}
