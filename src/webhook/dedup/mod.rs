//! Event-id de-duplication for inbound webhooks: the [`DedupStore`] trait and its backends.
//!
//! Providers deliver *at least once*: a timeout on their side, a retry after our 500, or a
//! replay from their dashboard all send the same event again. A [`DedupStore`] turns that into
//! *processed once*:
//!
//! 1. [`DedupStore::claim`] the event id. [`Claim::Fresh`] means "yours: process it";
//!    [`Claim::InFlight`] means another worker holds it and its visibility timeout has not run
//!    out; [`Claim::Done`] means it was processed already.
//! 2. After processing, [`DedupStore::complete`] the token: the id stays [`Claim::Done`] for the
//!    store's TTL (72 h by default, longer than any provider's retry schedule).
//! 3. If processing failed, [`DedupStore::release`] the token so the next redelivery is
//!    processed at once. If the worker crashed instead, the claim lapses after its visibility
//!    timeout and the next redelivery is processed then.
//! 4. While processing, [`DedupStore::extend`] the claim (the router does it every third of
//!    the visibility timeout), so a handler slower than the timeout is not run twice.
//!
//! | backend | feature | use it when |
//! | --- | --- | --- |
//! | [`InMemoryDedupStore`] | none | tests, or one process |
//! | `SqliteDedupStore` | `sqlite` | one host (or a few processes) on one machine; from `SqliteBackend::dedup`, it shares the file of the other stores |
//! | `RedisDedupStore` | `redis` | several replicas behind a load balancer |
//! | `PostgresDedupStore` | `postgres` | several replicas that share a PostgreSQL database; from `PostgresBackend::dedup`, it shares the pool of the other stores |

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::InMemoryDedupStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresDedupStore;
#[cfg(feature = "redis")]
pub use redis::RedisDedupStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteDedupStore;

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;

/// How long a completed event id is remembered by default: 72 hours.
pub const DEFAULT_TTL: Duration = Duration::from_secs(72 * 3600);

/// Proof of a [`Claim::Fresh`]: pass it to [`DedupStore::complete`] or
/// [`DedupStore::release`]. Each claim gets a new random token, so a worker whose claim
/// lapsed cannot release the claim of the worker that took over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken {
    scope: Arc<str>,
    event_id: Arc<str>,
    nonce: Arc<str>,
}

impl ClaimToken {
    /// A token for a new claim of `event_id` in `scope`, with a fresh random nonce (for
    /// hosts writing their own [`DedupStore`]).
    pub fn new(scope: &str, event_id: &str) -> Self {
        ClaimToken {
            scope: Arc::from(scope),
            event_id: Arc::from(event_id),
            nonce: Arc::from(uuid::Uuid::new_v4().simple().to_string()),
        }
    }

    /// The scope the id was claimed in (for the router: connector and connection).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The claimed event id.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// The claim's random nonce: store it with the claim, and release only when it matches.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

/// The answer to [`DedupStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Claim {
    /// Nobody processed this id (or a previous claim lapsed): process it, then complete.
    Fresh(ClaimToken),
    /// Someone else is processing it and their visibility timeout has not run out.
    InFlight,
    /// It was processed already.
    Done,
}

/// Remembers which webhook event ids were processed. Implementations are atomic across every
/// worker that shares the backend: of many concurrent claims of one id, exactly one is
/// [`Claim::Fresh`].
#[async_trait]
pub trait DedupStore: Send + Sync + Debug {
    /// Claims `event_id` within `scope` for `visibility_timeout`.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails; the caller should
    /// answer the sender with a retryable status.
    async fn claim(
        &self,
        scope: &str,
        event_id: &str,
        visibility_timeout: Duration,
    ) -> Result<Claim, Error>;

    /// Marks the claimed id processed: it is [`Claim::Done`] for the store's TTL. Completing
    /// after the claim lapsed still marks it done (the work was done).
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn complete(&self, token: ClaimToken) -> Result<(), Error>;

    /// Gives the claim up so the next delivery is processed at once. Does nothing when the
    /// claim already lapsed and someone else holds the id, or it is done.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn release(&self, token: ClaimToken) -> Result<(), Error>;

    /// Pushes the claim's expiry to `visibility_timeout` from now, while `token` still holds
    /// it; the router calls it while a handler runs, so a slow handler is not run a second time
    /// by a redelivery. `Ok(false)` when the claim is no longer this token's (it lapsed and
    /// someone else took it, or it is done).
    ///
    /// The default does nothing and answers `Ok(false)`: a store that cannot extend needs a
    /// visibility timeout above the slowest handler's run time.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend fails.
    async fn extend(
        &self,
        token: &ClaimToken,
        visibility_timeout: Duration,
    ) -> Result<bool, Error> {
        let _ = (token, visibility_timeout);
        Ok(false)
    }
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn DedupStore>) {}
