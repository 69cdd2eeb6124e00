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
/// every connection in use keeps its log (about 2 KiB at 32 paths of ~40 bytes).
const REMEMBERED: usize = 32;

/// Every write of the process is numbered from one sequence, not per log: a log no
/// connection holds any more is dropped (`ResponseCache::write_log`), and the one made when
/// the connection is built again must still number its writes after every entry fetched
/// before it. Per-log counts would start again at 1, below what those entries saw.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// The number of the last write of any log dropped so far. A log made again for a
/// connection whose log was dropped cannot know that log's writes, so it treats every entry
/// fetched before this number as possibly invalidated (fetched again, never served stale).
/// Process-wide, as [`SEQUENCE`] is: a log dropped by another switchboard only costs a
/// refetch here.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The number of the last write recorded anywhere so far: an entry fetched from now on
/// reflects every write up to it.
pub(crate) fn now() -> u64 {
    SEQUENCE.load(Ordering::Acquire)
}

/// One connection's writes: one log per tenant and connection id, shared by every
/// [`crate::Connection`] made for them from one switchboard.
#[derive(Debug)]
pub(crate) struct WriteLog {
    /// The number of this log's last write (the floor it was made with before the first).
    last: AtomicU64,
    recent: Mutex<Recent>,
}

#[derive(Debug)]
struct Recent {
    /// The last writes: the path prefix each invalidated, and its number.
    writes: VecDeque<(String, u64)>,
    /// The number of the newest write no longer remembered (0 if none was forgotten).
    forgotten: u64,
}

impl WriteLog {
    /// An empty log that still covers what a dropped log may have invalidated: its writes
    /// are taken to have happened up to [`DROPPED`], forgotten.
    pub(crate) fn new() -> Self {
        let floor = DROPPED.load(Ordering::Acquire);
        WriteLog {
            last: AtomicU64::new(floor),
            recent: Mutex::new(Recent {
                writes: VecDeque::new(),
                forgotten: floor,
            }),
        }
    }

    /// The number of this log's last write (or the floor it was made with).
    pub(crate) fn last(&self) -> u64 {
        self.last.load(Ordering::Acquire)
    }

    /// Records a successful write that invalidates every entry under `prefix`.
    pub(crate) fn record(&self, prefix: &str) {
        // Nothing is left half-done by a panic elsewhere (a push and a store), so a poisoned
        // lock is still safe to use.
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        // Numbered under the lock, so this log's writes are in order.
        let n = SEQUENCE.fetch_add(1, Ordering::AcqRel) + 1;
        if recent.writes.len() == REMEMBERED {
            if let Some((_, old)) = recent.writes.pop_front() {
                recent.forgotten = old;
            }
        }
        recent.writes.push_back((prefix.to_owned(), n));
        // After the push: a reader that sees `n` finds its record.
        self.last.store(n, Ordering::Release);
    }

    /// Whether a write numbered after `since` invalidated `path`, or may have (the log no
    /// longer reaches back that far).
    pub(crate) fn covers(&self, path: &str, since: u64) -> bool {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.forgotten > since
            || recent
                .writes
                .iter()
                .any(|(prefix, n)| *n > since && path.starts_with(prefix.as_str()))
    }
}

impl Drop for WriteLog {
    /// Raises the floor of the logs made from now on to this log's last write: the entries
    /// it would have invalidated outlive it in the cache.
    fn drop(&mut self) {
        DROPPED.fetch_max(*self.last.get_mut(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_covers_the_paths_under_it_and_only_entries_fetched_before_it() {
        let log = WriteLog::new();
        let before = now();
        assert!(!log.covers("/items/1", before));
        log.record("/items/1");
        assert!(log.last() > before);
        assert!(log.covers("/items/1", before));
        assert!(log.covers("/items/1/notes", before));
        assert!(!log.covers("/items/2", before));
        assert!(
            !log.covers("/items/1", log.last()),
            "fetched after the write"
        );
    }

    #[test]
    fn a_log_that_no_longer_reaches_back_covers_everything_older() {
        let log = WriteLog::new();
        let before = now();
        log.record("/other/0");
        let after_first = log.last();
        for i in 1..REMEMBERED + 1 {
            log.record(&format!("/other/{i}"));
        }
        assert!(
            log.covers("/items/1", before),
            "the first write is forgotten"
        );
        assert!(
            !log.covers("/items/1", after_first),
            "every later write is remembered"
        );
    }

    /// The log made when a dropped one is needed again numbers its writes after everything
    /// fetched before: with a count per log, its first write would be 1, below an entry that
    /// saw the old log's writes, and that entry would be served stale.
    #[test]
    fn a_new_log_numbers_its_writes_after_entries_fetched_under_an_older_one() {
        let old = WriteLog::new();
        old.record("/other/1");
        old.record("/other/2");
        let fetched = now();
        drop(old);
        let new = WriteLog::new();
        new.record("/items/1");
        assert!(new.last() > fetched);
        assert!(new.covers("/items/1", fetched));
    }

    /// Entries outlive their connection's log in the cache: a log made after one was dropped
    /// must not serve what the dropped log's writes invalidated.
    #[test]
    fn a_log_made_after_one_was_dropped_covers_what_that_one_recorded() {
        let fetched = now();
        let old = WriteLog::new();
        old.record("/items/1");
        let written = old.last();
        drop(old);
        let new = WriteLog::new();
        assert!(new.last() >= written);
        assert!(
            new.covers("/items/2", fetched),
            "fetched before a write the new log never saw"
        );
        assert!(!new.covers("/items/1", now()), "fetched after it");
    }
}
