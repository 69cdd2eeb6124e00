//! GoHighLevel connector tests: the contract (every call through Prism serving GoHighLevel's
//! own specs with `--errors`), the template and `Connections` path, tokens across replicas,
//! webhooks, and sync, one file per concern.

mod bookings;
mod conformance;
mod contract;
mod events;
#[cfg(feature = "redis")]
mod limits;
mod mock;
mod sync;
mod tokens;
mod webhooks;

use std::sync::Arc;

use switchboard::connections::Connections;
use switchboard::ghl::GhlIntegration;
use switchboard::templates::Registry;

use crate::support::builder;

/// A connection service over a fresh in-memory host with the `ghl` template.
pub(crate) fn host() -> Connections {
    host_with(GhlIntegration::new())
}

/// A connection service over a fresh in-memory host with `integration` as the `ghl` template.
pub(crate) fn host_with(integration: GhlIntegration) -> Connections {
    let sb = builder().allow_endpoint_host("127.0.0.1").build().unwrap();
    let mut registry = Registry::new();
    registry.register(Arc::new(integration)).unwrap();
    Connections::new(sb, crate::support::test_vault(16), registry)
}
mod contract_calendars;
