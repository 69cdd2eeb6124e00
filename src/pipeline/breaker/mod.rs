//! Stage 4, circuit breaker: one breaker per (tenant, connection, host). The tenant is part of
//! the key because connection ids are unique only within a tenant: tenant A's failures on its
//! connection `stripe` must not open tenant B's breaker for B's own `stripe`.
//!
//! It opens when at least `min_calls` calls in the rolling window ended and at least
//! `failure_ratio` of them failed (a transport failure, a timeout or a 5xx after retries),
//! fails fast while open, lets exactly one probe through after each cool-down, and closes when
//! the probe succeeds. 4xx answers and provider rate limits do not count as failures: the
//! provider is up.

mod state;

pub use state::{BreakerConfig, BreakerState};

use std::sync::Arc;

use super::registry::{ConnectionKey, Registry};
use super::{CallContext, PipelineResponse};
use crate::error::{Error, ErrorKind};
use crate::ids::{ConnectionId, TenantId};
use crate::observe;
pub(crate) use state::Breaker;
use state::{Outcome, Permit};

/// The breakers of one switchboard, by tenant, connection and host.
#[derive(Debug)]
pub(crate) struct Breakers {
    config: BreakerConfig,
    by_key: Registry<Breaker>,
}

/// One breaker's state, for health reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerReport {
    /// The tenant that owns the connection.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// The provider host.
    pub host: String,
    /// Its state now.
    pub state: BreakerState,
}

impl Breakers {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breakers {
            config,
            by_key: Registry::default(),
        }
    }

    /// The breaker for a tenant's connection and host, created on first use.
    pub(crate) fn get(&self, key: &ConnectionKey) -> Arc<Breaker> {
        self.by_key
            .get_or_insert_with(key, || Breaker::new(self.config.clone()))
    }

    pub(crate) fn state(&self, key: &ConnectionKey) -> Option<BreakerState> {
        self.by_key.get(key).map(|b| b.state())
    }

    pub(crate) fn reports(&self) -> Vec<BreakerReport> {
        self.by_key
            .snapshot()
            .into_iter()
            .map(|(k, b)| BreakerReport {
                tenant: k.tenant,
                connection: k.connection,
                host: k.host.to_string(),
                state: b.state(),
            })
            .collect()
    }
}

/// Asks the connection's breaker (resolved once per connection and carried in the call
/// context) for leave to call: refused at once while it is open.
pub(crate) fn admit(ctx: &CallContext) -> Result<Permit<'_>, Error> {
    ctx.conn.breaker.admit().map_err(|retry_after| {
        observe::breaker_rejected(&ctx.conn.connector_name);
        Error::circuit_open(&ctx.conn.host, retry_after)
    })
}

/// Counts the outcome of a call [`admit`] let through.
pub(crate) fn record(ctx: &CallContext, permit: Permit, result: &Result<PipelineResponse, Error>) {
    let outcome = match result {
        Ok(_) => Outcome::Success,
        Err(e) => classify(e),
    };
    let was_closed = !permit.is_probe();
    if let Some(changed) = permit.finish(outcome) {
        observe::breaker_changed(
            &ctx.conn.connector_name,
            &ctx.conn.host,
            was_closed,
            changed.as_str(),
        );
        tracing::info!(connector = %ctx.conn.connector_name, tenant = %ctx.conn.tenant, connection = %ctx.conn.connection, host = %ctx.conn.host, state = ?changed, "circuit breaker changed state");
    }
}

fn classify(e: &Error) -> Outcome {
    match e.kind() {
        ErrorKind::Connect
        | ErrorKind::Transport
        | ErrorKind::Timeout
        | ErrorKind::Deadline
        | ErrorKind::OutcomeUnknown => Outcome::Failure,
        ErrorKind::Status if e.status().is_some_and(|s| s.is_server_error()) => Outcome::Failure,
        ErrorKind::Status => Outcome::Success,
        // Rate limits, bad settings, auth: say nothing about the provider's health.
        _ => Outcome::Ignored,
    }
}
