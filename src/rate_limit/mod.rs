//! Rate limiting: the [`RateLimiter`] trait, the [`Quota`] value that configures every limiter,
//! the in-process implementation [`InMemoryRateLimiter`], and (feature `redis`) the shared
//! `RedisRateLimiter` for hosts with several replicas.
//!
//! A limiter never sleeps: it answers "granted" or "come back after `d`", and the pipeline's
//! rate-limit layer decides whether to wait (up to a configured maximum) or fail with a typed
//! error. Keys are (tenant, connection, connector, bucket): a provider counts its limits per
//! account, which is one connection, so one tenant's burst never spends another's quota, and
//! two connections of one tenant (two Stripe accounts) have a quota each. Tenant and
//! connection are both in the key because connection ids are unique only within a tenant.
//!
//! Besides counting our own calls, a limiter hears what the provider said: a connector reads its
//! provider's rate-limit headers into a [`RateHint`] ([`crate::Connector::rate_hint`]), the
//! pipeline hands it to [`RateLimiter::observe`] after every response, and while a window the
//! provider reported is spent the key is refused until that window resets, whatever our own
//! quota would allow. Hints are kept per key too, so one tenant's spent quota never blocks
//! another's.

mod hint;
mod memory;
mod quota;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{FailMode, RedisRateLimiter};
pub use hint::{RateHint, RateWindow};
pub use memory::InMemoryRateLimiter;
pub use quota::Quota;

use std::fmt::Debug;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// Decides whether a call may go now.
#[async_trait]
pub trait RateLimiter: Send + Sync + Debug {
    /// Takes `cost` units for `key`, or says when they will be available. Never sleeps.
    ///
    /// # Errors
    /// Only when the limiter's backend fails and it is configured to fail closed.
    async fn acquire(&self, key: &RateKey, cost: NonZeroU32) -> Result<RateDecision, Error>;

    /// Answers without I/O when the limiter can (an in-process limiter); `None` means "call
    /// [`RateLimiter::acquire`]". Lets the pipeline skip the boxed future on the hot path.
    fn try_acquire_now(&self, key: &RateKey, cost: NonZeroU32) -> Option<RateDecision> {
        let _ = (key, cost);
        None
    }

    /// Takes note of what the provider said about `key`'s quota after a response (success or
    /// failure). While a window of `hint` is spent ([`RateHint::exhausted_for`]), later
    /// acquires for `key` answer [`RateDecision::RetryAfter`] with the time left until it
    /// resets, even when our own quota would grant them. A later hint never shortens a block.
    ///
    /// Never fails the call: a limiter that cannot record the hint (its backend is away) logs
    /// that and carries on. The default ignores hints.
    async fn observe(&self, key: &RateKey, hint: &RateHint) {
        let _ = (key, hint);
    }

    /// Adopts `quota` as the quota of `connector`'s `bucket` unless the limiter already has one
    /// for it (the host's own always wins): how a connector's published default
    /// ([`Connector::default_quotas`](crate::Connector::default_quotas), DocuSign's 1,000 calls
    /// an hour) applies without the host configuring it. Called when a connection of that
    /// connector is built; adopting the same bucket again changes nothing. The default ignores
    /// it (a limiter without quotas of its own).
    fn adopt_default(&self, connector: &str, bucket: &str, quota: Quota) {
        let _ = (connector, bucket, quota);
    }
}

/// A limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateDecision {
    /// The units were taken; go ahead.
    Granted,
    /// Not now; the units can be had after this long.
    RetryAfter(Duration),
}

/// What a limit is counted against: one bucket of one tenant's connection (one provider
/// account) of one connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    /// The tenant whose quota is spent.
    pub tenant: TenantId,
    /// The tenant's connection (the provider account) whose quota is spent.
    pub connection: ConnectionId,
    /// The connector's name (`"twilio"`).
    pub connector: Arc<str>,
    /// The provider's bucket (`"messages"`, or `"default"`).
    pub bucket: Arc<str>,
}

impl RateKey {
    /// A key for `bucket` of `connector`, spent by `tenant`'s `connection`.
    pub fn new(
        tenant: TenantId,
        connection: ConnectionId,
        connector: impl Into<Arc<str>>,
        bucket: impl Into<Arc<str>>,
    ) -> Self {
        RateKey {
            tenant,
            connection,
            connector: connector.into(),
            bucket: bucket.into(),
        }
    }
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn RateLimiter>) {}
