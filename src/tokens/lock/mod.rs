//! Locks that make token refreshes of one connection take turns across replicas.
//!
//! The [`RefreshLock`] trait is here with the default [`InProcessLock`] (enough for one
//! process, or several managers in one process); [`RedisRefreshLock`] (feature `redis`) and
//! [`PostgresAdvisoryLock`] (feature `postgres`) serve several replicas.
//!
//! A lock only has to make refreshes take turns: the [`TokenManager`](super::TokenManager)
//! re-reads the stored token after taking it and skips the refresh when another holder already
//! did it, and every write is a compare-and-swap on the version read under the lock.
//!
//! A refresh may take longer than the lock's time-to-live (a slow provider, retries, a store
//! that fails writes for a while), so the manager extends the lock ([`LockGuard::extend`])
//! every third of the ttl while it works, and once more right before it writes: a holder
//! that finds its lock lost logs it and writes only if the record is still the version it
//! read, so it can never overwrite a token set stored after that.

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "postgres")]
pub use postgres::PostgresAdvisoryLock;
#[cfg(feature = "redis")]
pub use redis::RedisRefreshLock;

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind};

/// A lock named by a string, held until released (or, for distributed locks, until its
/// time-to-live runs out).
#[async_trait]
pub trait RefreshLock: Send + Sync + Debug {
    /// Waits for the lock named `key` and holds it. `ttl` bounds how long a holder that died
    /// keeps others out (locks that end with their holder's session may ignore it).
    ///
    /// # Errors
    /// [`ErrorKind::Timeout`] when the lock stayed taken for the lock's wait timeout;
    /// [`ErrorKind::Store`] when the backend failed.
    async fn acquire(&self, key: &str, ttl: Duration) -> Result<LockGuard, Error>;
}

/// A lock being held, as a [`RefreshLock`] implementation returns it inside a [`LockGuard`].
/// Implementations release on drop too, as well as they can without awaiting.
#[async_trait]
pub trait HeldLock: Send + Debug {
    /// Keeps the lock for `ttl` from now, if it is still held by this holder.
    ///
    /// The default does nothing and reports the lock held: right for locks that end only
    /// with their holder (a process mutex).
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when the lock is no longer held (it outlived its ttl and may
    /// be someone else's now); [`ErrorKind::Store`] when the backend failed.
    async fn extend(&mut self, ttl: Duration) -> Result<(), Error> {
        let _ = ttl;
        Ok(())
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the backend failed (the lock then ends with its time-to-live
    /// or its session).
    async fn release(self: Box<Self>) -> Result<(), Error>;
}

/// A held lock. Release it with [`LockGuard::release`]; dropping it releases it too, in the
/// background.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard {
    held: Box<dyn HeldLock>,
}

impl LockGuard {
    /// Wraps a held lock.
    pub fn new(held: impl HeldLock + 'static) -> Self {
        LockGuard {
            held: Box::new(held),
        }
    }

    /// Keeps the lock for `ttl` from now.
    ///
    /// # Errors
    /// As for [`HeldLock::extend`]: [`ErrorKind::Conflict`] when the lock was lost.
    pub async fn extend(&mut self, ttl: Duration) -> Result<(), Error> {
        self.held.extend(ttl).await
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// As for [`HeldLock::release`].
    pub async fn release(self) -> Result<(), Error> {
        self.held.release().await
    }
}

/// Turns of one process: a `tokio` mutex per key. The default lock of a
/// [`TokenManager`](super::TokenManager); share one between managers of the same process.
/// Cheap to clone (clones share the locks).
#[derive(Clone, Default)]
pub struct InProcessLock {
    locks: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
    wait_timeout: Option<Duration>,
}

impl Debug for InProcessLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessLock")
            .field("wait_timeout", &self.wait_timeout)
            .finish_non_exhaustive()
    }
}

impl InProcessLock {
    /// A set of in-process locks; waiters wait up to 30 s.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long `acquire` waits before giving up (30 s by default).
    #[must_use]
    pub fn wait_timeout(mut self, wait: Duration) -> Self {
        self.wait_timeout = Some(wait);
        self
    }

    fn mutex_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = locks.get(key).and_then(Weak::upgrade) {
            return m;
        }
        // Forget keys nobody holds or waits for, so the map stays as small as the set of
        // connections refreshing right now.
        locks.retain(|_, w| w.strong_count() > 0);
        let m = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.to_string(), Arc::downgrade(&m));
        m
    }
}

#[async_trait]
impl RefreshLock for InProcessLock {
    async fn acquire(&self, key: &str, _ttl: Duration) -> Result<LockGuard, Error> {
        let wait = self.wait_timeout.unwrap_or(DEFAULT_WAIT);
        let mutex = self.mutex_for(key);
        match tokio::time::timeout(wait, mutex.lock_owned()).await {
            Ok(guard) => Ok(LockGuard::new(InProcessHeld { _guard: guard })),
            Err(_) => Err(wait_timed_out(wait)),
        }
    }
}

/// Holds the mutex until dropped.
struct InProcessHeld {
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Debug for InProcessHeld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InProcessHeld")
    }
}

#[async_trait]
impl HeldLock for InProcessHeld {
    async fn release(self: Box<Self>) -> Result<(), Error> {
        Ok(())
    }
}

/// How long a waiter waits for a lock by default.
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(30);

pub(crate) fn wait_timed_out(wait: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "waited {} ms for the token refresh lock; another refresh is still running",
            wait.as_millis()
        ),
    )
}

/// The error of [`HeldLock::extend`] when the lock is no longer held.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn lock_lost() -> Error {
    Error::conflict("the token refresh lock was lost (it outlived its ttl or its session ended)")
}

/// A random hex string that names one holder of a distributed lock.
#[cfg(feature = "redis")]
pub(crate) fn holder_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// A short poll interval with jitter, so replicas waiting on one lock do not poll in step.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn poll_delay(base: Duration) -> Duration {
    base + base.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
fn _obj_safe(_: Arc<dyn RefreshLock>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_lock_makes_holders_take_turns_and_times_out() {
        let lock = InProcessLock::new().wait_timeout(Duration::from_millis(50));
        let held = lock.acquire("k", Duration::from_secs(1)).await.unwrap();
        let err = lock.acquire("k", Duration::from_secs(1)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        // Another key is independent.
        let other = lock.acquire("k2", Duration::from_secs(1)).await.unwrap();
        held.release().await.unwrap();
        let again = lock.acquire("k", Duration::from_secs(1)).await.unwrap();
        drop(again);
        drop(other);
        assert!(lock.acquire("k", Duration::from_secs(1)).await.is_ok());
    }
}
