//! The writes that invalidate a connection's cached answers, kept as a short log per
//! connection and checked when an entry is read.
//!
//! A write used to drop its entries by one pass over the whole store: ~13 ns per entry of any
//! tenant, under each shard's write lock (319 µs against 52.5 µs for a POST beside 20,000
//! entries of another tenant, `cache_write` in benches/pipeline.rs), so one tenant's entries
//! slowed another's writes and stalled its hits. Now a write appends to its own connection's
//! log, and an entry read after a write of its connection is checked against that log once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many writes a connection remembers. An entry fetched before the oldest of them is
/// treated as invalidated: never served stale, at worst fetched again. Kept small because
/// every connection that ever wrote keeps its log (about 2 KiB at 32 paths of ~40 bytes).
const REMEMBERED: usize = 32;

/// One connection's writes: one log per tenant and connection id, shared by every
/// [`crate::Connection`] made for them from one switchboard.
#[derive(Debug, Default)]
pub(crate) struct WriteLog {
    /// How many writes were recorded; an entry keeps the count as of its fetch.
    count: AtomicU64,
    /// The last writes: the path prefix each invalidated, and its number (1, 2, ...).
    recent: Mutex<VecDeque<(String, u64)>>,
}

impl WriteLog {
    /// The number of writes so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Records a successful write that invalidates every entry under `prefix`.
    pub(crate) fn record(&self, prefix: &str) {
        // Nothing is left half-done by a panic elsewhere (a push and a store), so a poisoned
        // lock is still safe to use.
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let n = self.count.load(Ordering::Relaxed) + 1;
        if recent.len() == REMEMBERED {
            recent.pop_front();
        }
        recent.push_back((prefix.to_owned(), n));
        // After the push: a reader that sees `n` finds its record.
        self.count.store(n, Ordering::Release);
    }

    /// Whether a write after the first `since` invalidated `path`, or may have (the log no
    /// longer reaches back that far).
    pub(crate) fn covers(&self, path: &str, since: u64) -> bool {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        match recent.front() {
            None => false,
            Some(&(_, oldest)) if oldest > since + 1 => true,
            Some(_) => recent
                .iter()
                .any(|(prefix, n)| *n > since && path.starts_with(prefix.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_covers_the_paths_under_it_and_only_entries_fetched_before_it() {
        let log = WriteLog::default();
        assert!(!log.covers("/items/1", 0));
        log.record("/items/1");
        assert_eq!(log.count(), 1);
        assert!(log.covers("/items/1", 0));
        assert!(log.covers("/items/1/notes", 0));
        assert!(!log.covers("/items/2", 0));
        assert!(!log.covers("/items/1", 1), "fetched after the write");
    }

    #[test]
    fn a_log_that_no_longer_reaches_back_covers_everything_older() {
        let log = WriteLog::default();
        for i in 0..REMEMBERED + 1 {
            log.record(&format!("/other/{i}"));
        }
        assert!(log.covers("/items/1", 0), "the first write is forgotten");
        assert!(
            !log.covers("/items/1", 1),
            "every later write is remembered"
        );
    }
}
