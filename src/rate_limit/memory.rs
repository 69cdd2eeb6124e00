//! The in-process limiter: GCRA from the `governor` crate, one keyed limiter per
//! (connector, bucket), keyed inside by (tenant, connection), plus the keys the provider's
//! rate-limit headers said are spent ([`super::RateHint`]).

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::DefaultKeyedRateLimiter;

use super::hint::Blocks;
use super::{Quota, RateDecision, RateHint, RateKey, RateLimiter};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// The maps' hasher: foldhash, seeded at random per map (SipHash, the default, was a third
/// of a check's instructions).
type Hasher = foldhash::quality::RandomState;
/// A structured key (not a joined string), so no pair of ids can collide.
type Keyed = DefaultKeyedRateLimiter<(TenantId, ConnectionId), NoOpMiddleware, Hasher>;
/// connector -> bucket -> (quota, limiter keyed by tenant and connection).
type Limits = HashMap<Arc<str>, HashMap<Arc<str>, Arc<(Quota, Keyed)>, Hasher>, Hasher>;

/// Adopted default quotas, and whether there are any (so a limiter without them never locks).
#[derive(Default)]
struct Defaults {
    any: std::sync::atomic::AtomicBool,
    limits: std::sync::RwLock<Limits>,
}

fn keyed(quota: Quota) -> Arc<(Quota, Keyed)> {
    Arc::new((
        quota,
        Keyed::dashmap_with_hasher(quota.to_governor(), Hasher::default()),
    ))
}

/// An in-process [`RateLimiter`]. Quotas are set per (connector, bucket); a key whose bucket
/// has no quota is granted unless the provider said it is spent ([`RateLimiter::observe`]).
/// Cheap to clone; clones share their state.
#[derive(Clone, Default)]
pub struct InMemoryRateLimiter {
    // Fixed after construction, so reads take no lock.
    limits: Arc<Limits>,
    /// Quotas connectors publish ([`RateLimiter::adopt_default`]) for buckets `limits` has no
    /// quota for; looked up (one read lock) only once some were adopted.
    defaults: Arc<Defaults>,
    /// Keys the provider said are spent, each until its window resets; expiring entries.
    blocks: Arc<Blocks>,
    clock: DefaultClock,
}

impl InMemoryRateLimiter {
    /// A limiter with no quotas (grants everything); add quotas with [`Self::with_quota`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `quota` for `connector`'s `bucket`, counted per (tenant, connection).
    #[must_use]
    pub fn with_quota(mut self, connector: &str, bucket: &str, quota: Quota) -> Self {
        let limits = Arc::make_mut(&mut self.limits);
        limits
            .entry(Arc::from(connector))
            .or_default()
            .insert(Arc::from(bucket), keyed(quota));
        self
    }

    /// The host's quota of `key`'s bucket, or the connector's adopted default.
    fn limit_of(&self, key: &RateKey) -> Option<Arc<(Quota, Keyed)>> {
        if let Some(l) = self
            .limits
            .get(&*key.connector)
            .and_then(|b| b.get(&*key.bucket))
        {
            return Some(l.clone());
        }
        if !self.defaults.any.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        self.defaults
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&*key.connector)
            .and_then(|b| b.get(&*key.bucket))
            .cloned()
    }

    /// Checks synchronously; what [`RateLimiter::acquire`] does, without the async wrapper.
    pub fn check(&self, key: &RateKey, cost: NonZeroU32) -> RateDecision {
        // Checked first so that a refused call spends none of our own quota.
        if let Some(left) = self.blocks.remaining(key) {
            return RateDecision::RetryAfter(left);
        }
        let Some(entry) = self.limit_of(key) else {
            return RateDecision::Granted;
        };
        let (quota, limiter) = &*entry;
        // One clone of two `Arc`s per check; governor's keyed store needs an owned key.
        let who = (key.tenant.clone(), key.connection.clone());
        let result = if cost.get() == 1 {
            limiter.check_key(&who).map_err(Some)
        } else {
            match limiter.check_key_n(&who, cost) {
                Ok(r) => r.map_err(Some),
                // More than the burst can ever hold: it will never be granted at once.
                Err(_) => Err(None),
            }
        };
        match result {
            Ok(()) => RateDecision::Granted,
            Err(Some(not_until)) => {
                RateDecision::RetryAfter(not_until.wait_time_from(self.clock.now()))
            }
            Err(None) => RateDecision::RetryAfter(quota.period()),
        }
    }

    /// Records a provider's hint synchronously; what [`RateLimiter::observe`] does.
    pub fn note(&self, key: &RateKey, hint: &RateHint) {
        if let Some(wait) = hint.exhausted_for() {
            self.blocks.block(key, wait);
        }
    }

    /// Drops state for connections that are back at full quota and for provider blocks that
    /// have ended, to bound memory. Call it now and then from a host task when tenants are
    /// many (blocks are also swept as new ones are added).
    pub fn retain_recent(&self) {
        self.blocks.sweep();
        let defaults = self
            .defaults
            .limits
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for buckets in self.limits.values().chain(defaults.values()) {
            for entry in buckets.values() {
                let (_, limiter) = &**entry;
                limiter.retain_recent();
            }
        }
    }
}

impl fmt::Debug for InMemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        for (c, buckets) in self.limits.iter() {
            for (b, entry) in buckets {
                let q = &entry.0;
                d.entry(&format_args!("{c}/{b}"), q);
            }
        }
        d.finish()
    }
}

#[async_trait]
impl RateLimiter for InMemoryRateLimiter {
    async fn acquire(&self, key: &RateKey, cost: NonZeroU32) -> Result<RateDecision, Error> {
        Ok(self.check(key, cost))
    }

    fn try_acquire_now(&self, key: &RateKey, cost: NonZeroU32) -> Option<RateDecision> {
        Some(self.check(key, cost))
    }

    async fn observe(&self, key: &RateKey, hint: &RateHint) {
        self.note(key, hint);
    }

    fn adopt_default(&self, connector: &str, bucket: &str, quota: Quota) {
        let has = |limits: &Limits| {
            limits
                .get(connector)
                .is_some_and(|b| b.contains_key(bucket))
        };
        if has(&self.limits) {
            return;
        }
        let defaults = &self.defaults;
        if defaults.any.load(std::sync::atomic::Ordering::Acquire)
            && has(&defaults
                .limits
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner))
        {
            return;
        }
        let mut limits = defaults
            .limits
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limits
            .entry(Arc::from(connector))
            .or_default()
            .entry(Arc::from(bucket))
            .or_insert_with(|| keyed(quota));
        defaults
            .any
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_adopted_default_applies_unless_the_host_set_the_bucket() {
        let key = |tenant: &str, bucket: &str| {
            RateKey::new(tenant.into(), "c1".into(), "docs", bucket.to_string())
        };
        let two = Quota::per_minute(NonZeroU32::new(2).unwrap());
        let host = InMemoryRateLimiter::new().with_quota(
            "docs",
            "default",
            Quota::per_minute(NonZeroU32::new(5).unwrap()),
        );
        host.adopt_default("docs", "default", two);
        host.adopt_default("docs", "search", two);
        for _ in 0..5 {
            assert_eq!(
                host.check(&key("a", "default"), NonZeroU32::MIN),
                RateDecision::Granted
            );
        }
        // The host's 5 a minute, not the default's 2.
        assert!(matches!(
            host.check(&key("a", "default"), NonZeroU32::MIN),
            RateDecision::RetryAfter(_)
        ));
        // A bucket the host left alone takes the default, per tenant.
        for _ in 0..2 {
            assert_eq!(
                host.check(&key("a", "search"), NonZeroU32::MIN),
                RateDecision::Granted
            );
        }
        assert!(matches!(
            host.check(&key("a", "search"), NonZeroU32::MIN),
            RateDecision::RetryAfter(_)
        ));
        assert_eq!(
            host.check(&key("b", "search"), NonZeroU32::MIN),
            RateDecision::Granted
        );
        // Adopting again keeps the state (the spent tenant stays spent).
        host.adopt_default(
            "docs",
            "search",
            Quota::per_minute(NonZeroU32::new(100).unwrap()),
        );
        assert!(matches!(
            host.check(&key("a", "search"), NonZeroU32::MIN),
            RateDecision::RetryAfter(_)
        ));
        host.retain_recent();
    }

    const ONE: NonZeroU32 = NonZeroU32::MIN;

    #[test]
    fn grants_burst_then_asks_to_wait_and_keeps_tenants_apart() {
        let q = Quota::new(NonZeroU32::new(3).unwrap(), Duration::from_secs(30)).unwrap();
        let l = InMemoryRateLimiter::new().with_quota("twilio", "messages", q);
        let a = RateKey::new(
            TenantId::new("a"),
            ConnectionId::new("c"),
            "twilio",
            "messages",
        );
        let b = RateKey::new(
            TenantId::new("b"),
            ConnectionId::new("c"),
            "twilio",
            "messages",
        );
        let a2 = RateKey::new(
            TenantId::new("a"),
            ConnectionId::new("c2"),
            "twilio",
            "messages",
        );
        // Ids holding each other's text must not meet in one bucket.
        let x = RateKey::new(
            TenantId::new("a\0c"),
            ConnectionId::new("x"),
            "twilio",
            "messages",
        );
        for _ in 0..3 {
            assert_eq!(l.check(&a, ONE), RateDecision::Granted);
        }
        match l.check(&a, ONE) {
            RateDecision::RetryAfter(d) => {
                assert!(
                    d > Duration::from_secs(5) && d <= Duration::from_secs(10),
                    "{d:?}"
                )
            }
            other => panic!("expected a wait, got {other:?}"),
        }
        assert_eq!(l.check(&b, ONE), RateDecision::Granted);
        assert_eq!(l.check(&a2, ONE), RateDecision::Granted);
        assert_eq!(l.check(&x, ONE), RateDecision::Granted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_provider_window_refuses_the_key_until_it_resets() {
        use crate::rate_limit::RateWindow;
        let q = Quota::per_second(NonZeroU32::new(100).unwrap());
        let l = InMemoryRateLimiter::new().with_quota("x", "default", q);
        let a = RateKey::new(TenantId::new("a"), ConnectionId::new("c"), "x", "default");
        let b = RateKey::new(TenantId::new("b"), ConnectionId::new("c"), "x", "default");
        let unconfigured = RateKey::new(TenantId::new("a"), ConnectionId::new("c"), "x", "other");
        let left = RateHint::single(RateWindow::new(4, Duration::from_secs(60)));
        l.observe(&a, &left).await;
        assert_eq!(l.check(&a, ONE), RateDecision::Granted);
        let spent = RateHint::single(RateWindow::new(0, Duration::from_secs(60)));
        l.observe(&a, &spent).await;
        l.observe(&unconfigured, &spent).await;
        assert_eq!(
            l.check(&a, ONE),
            RateDecision::RetryAfter(Duration::from_secs(60))
        );
        assert!(matches!(
            l.check(&unconfigured, ONE),
            RateDecision::RetryAfter(_)
        ));
        // Another tenant on a connection of the same id is not blocked.
        assert_eq!(l.check(&b, ONE), RateDecision::Granted);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(l.check(&a, ONE), RateDecision::Granted);
        assert_eq!(l.check(&unconfigured, ONE), RateDecision::Granted);
    }

    #[test]
    fn unconfigured_bucket_is_granted_and_oversized_cost_waits() {
        let q = Quota::per_second(NonZeroU32::new(2).unwrap());
        let l = InMemoryRateLimiter::new().with_quota("x", "default", q);
        let other = RateKey::new(TenantId::new("a"), ConnectionId::new("c"), "x", "other");
        assert_eq!(l.check(&other, ONE), RateDecision::Granted);
        let k = RateKey::new(TenantId::new("a"), ConnectionId::new("c"), "x", "default");
        assert!(matches!(
            l.check(&k, NonZeroU32::new(5).unwrap()),
            RateDecision::RetryAfter(_)
        ));
    }
}
