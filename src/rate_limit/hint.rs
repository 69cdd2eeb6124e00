//! [`RateHint`]: what a provider's rate-limit response headers said about its own quota, as
//! read by [`Connector::rate_hint`](crate::Connector::rate_hint) and handed to
//! [`RateLimiter::observe`](super::RateLimiter::observe).
//!
//! Our own [`Quota`](super::Quota)s only count the calls this host makes; the provider knows
//! better (other clients of the same account, a quota smaller than configured). A hint lets the
//! limiter stop sending when the provider says a window is spent, instead of sending calls that
//! can only come back as 429s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::RateKey;

/// One of the provider's windows, as its headers described it: how many calls are left in it
/// and how long until it starts over.
///
/// `resets_in` is clamped to [`RateWindow::MAX_RESET`] (24 h) when built, so a wrong or
/// misread reset (milliseconds taken for seconds, a date far off) can block a connection for a
/// day at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateWindow {
    limit: Option<u64>,
    remaining: u64,
    resets_in: Duration,
}

impl RateWindow {
    /// The longest reset a window may announce; longer ones are cut to it. A day covers every
    /// hourly and daily quota a provider documents, and bounds the harm of a bad header.
    pub const MAX_RESET: Duration = Duration::from_secs(24 * 60 * 60);

    /// A window with `remaining` calls left that starts over in `resets_in` (clamped to
    /// [`Self::MAX_RESET`]).
    pub fn new(remaining: u64, resets_in: Duration) -> Self {
        RateWindow {
            limit: None,
            remaining,
            resets_in: resets_in.min(Self::MAX_RESET),
        }
    }

    /// The same window, with the provider's total for it (informational; the limiter acts on
    /// `remaining`).
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The window's total, when the provider said it.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Calls left in the window.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Time until the window starts over, at most [`Self::MAX_RESET`].
    pub fn resets_in(&self) -> Duration {
        self.resets_in
    }

    /// Whether the window is spent: no call left, and not yet reset.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == 0 && !self.resets_in.is_zero()
    }
}

/// What one response's rate-limit headers said: one or more [`RateWindow`]s (a provider may
/// count an hourly quota and a short burst at once). Built by a connector in
/// [`Connector::rate_hint`](crate::Connector::rate_hint), usually from
/// [`toolkit::rate_limit_window`](crate::toolkit::rate_limit_window).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateHint {
    windows: Vec<RateWindow>,
}

impl RateHint {
    /// A hint of these windows, or `None` when there are none (no header could be read), which
    /// is what [`Connector::rate_hint`](crate::Connector::rate_hint) returns then:
    ///
    /// ```
    /// # use std::time::Duration;
    /// use switchboard::rate_limit::{RateHint, RateWindow};
    /// let hourly = Some(RateWindow::new(0, Duration::from_secs(600)));
    /// let burst: Option<RateWindow> = None; // its headers were missing
    /// let hint = RateHint::from_windows([hourly, burst].into_iter().flatten());
    /// assert_eq!(hint.map(|h| h.windows().len()), Some(1));
    /// ```
    pub fn from_windows(windows: impl IntoIterator<Item = RateWindow>) -> Option<Self> {
        let windows: Vec<RateWindow> = windows.into_iter().collect();
        (!windows.is_empty()).then_some(RateHint { windows })
    }

    /// A hint of one window.
    pub fn single(window: RateWindow) -> Self {
        RateHint {
            windows: vec![window],
        }
    }

    /// The windows, as the connector listed them.
    pub fn windows(&self) -> &[RateWindow] {
        &self.windows
    }

    /// How long the provider will refuse calls: the latest reset among the spent windows, or
    /// `None` when no window is spent.
    pub fn exhausted_for(&self) -> Option<Duration> {
        self.windows
            .iter()
            .filter(|w| w.is_exhausted())
            .map(|w| w.resets_in)
            .max()
    }
}

/// Keys the provider said are spent, each until its window resets: the in-process limiter's
/// memory of hints. Entries expire (at most [`RateWindow::MAX_RESET`] after they were set) and
/// are dropped when read after expiry or on a sweep, so memory stays bounded by the keys
/// blocked within the last day.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    until: Mutex<HashMap<RateKey, Instant>>,
    /// Entries in `until`, read without the lock so that a limiter with no block (the usual
    /// state) never takes it on the hot path.
    len: AtomicUsize,
    /// The size at which an insert sweeps expired entries; doubles with the live size, so a
    /// sweep costs amortized O(1) per insert.
    sweep_at: AtomicUsize,
}

/// The least `sweep_at`: below it, expired entries are dropped only when read or swept.
const MIN_SWEEP: usize = 64;

impl Blocks {
    /// How long `key` is still blocked, if it is.
    pub(crate) fn remaining(&self, key: &RateKey) -> Option<Duration> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut map = self.lock();
        let until = *map.get(key)?;
        let now = Instant::now();
        if until > now {
            return Some(until - now);
        }
        map.remove(key);
        self.len.store(map.len(), Ordering::Release);
        None
    }

    /// Blocks `key` for `wait` from now, unless it is already blocked for longer.
    pub(crate) fn block(&self, key: &RateKey, wait: Duration) {
        let now = Instant::now();
        let until = now + wait.min(RateWindow::MAX_RESET);
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(t) => *t = (*t).max(until),
            None => {
                if map.len() >= self.sweep_at.load(Ordering::Relaxed).max(MIN_SWEEP) {
                    map.retain(|_, t| *t > now);
                    self.sweep_at.store(map.len() * 2, Ordering::Relaxed);
                }
                map.insert(key.clone(), until);
            }
        }
        self.len.store(map.len(), Ordering::Release);
    }

    /// Drops every expired entry.
    pub(crate) fn sweep(&self) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, t| *t > now);
        self.len.store(map.len(), Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RateKey, Instant>> {
        // A panic while holding the lock cannot leave the map half-updated (every update is
        // one map operation), so a poisoned lock is still a valid map.
        self.until.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectionId, TenantId};

    fn key(tenant: &str) -> RateKey {
        RateKey::new(
            TenantId::new(tenant),
            ConnectionId::new("c"),
            "x",
            "default",
        )
    }

    #[test]
    fn resets_are_clamped_to_a_day() {
        let w = RateWindow::new(0, Duration::from_secs(10 * 365 * 24 * 3600)).with_limit(5);
        assert_eq!(w.resets_in(), RateWindow::MAX_RESET);
        assert_eq!(w.limit(), Some(5));
        assert!(w.is_exhausted());
    }

    #[test]
    fn only_spent_windows_that_have_not_reset_block() {
        let hourly = RateWindow::new(0, Duration::from_secs(600));
        let burst = RateWindow::new(3, Duration::from_secs(30));
        let done = RateWindow::new(0, Duration::ZERO);
        assert_eq!(
            RateHint::from_windows([burst, hourly]).and_then(|h| h.exhausted_for()),
            Some(Duration::from_secs(600))
        );
        assert_eq!(RateHint::single(burst).exhausted_for(), None);
        assert_eq!(RateHint::single(done).exhausted_for(), None);
        assert!(RateHint::from_windows([]).is_none());
        let both = RateHint::from_windows([
            RateWindow::new(0, Duration::from_secs(5)),
            RateWindow::new(0, Duration::from_secs(50)),
        ]);
        assert_eq!(
            both.and_then(|h| h.exhausted_for()),
            Some(Duration::from_secs(50))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn blocks_expire_extend_only_and_keep_keys_apart() {
        let blocks = Blocks::default();
        assert_eq!(blocks.remaining(&key("a")), None);
        blocks.block(&key("a"), Duration::from_secs(60));
        blocks.block(&key("a"), Duration::from_secs(10));
        assert_eq!(blocks.remaining(&key("a")), Some(Duration::from_secs(60)));
        assert_eq!(blocks.remaining(&key("b")), None);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(blocks.remaining(&key("a")), None);
        assert_eq!(blocks.len.load(Ordering::Relaxed), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_swept_so_memory_stays_bounded() {
        let blocks = Blocks::default();
        for i in 0..1000 {
            blocks.block(&key(&format!("t{i}")), Duration::from_secs(1));
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        // Entries older than one second were dropped by the sweeps on insert.
        assert!(
            blocks.len.load(Ordering::Relaxed) <= 2 * MIN_SWEEP + 100,
            "{}",
            blocks.len.load(Ordering::Relaxed)
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        blocks.sweep();
        assert_eq!(blocks.len.load(Ordering::Relaxed), 0);
    }
}
