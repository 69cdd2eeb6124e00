//! A sync job's definition: its two sides, direction, paging, lookback and policies.

use std::fmt::{self, Debug};
use std::sync::Arc;
use std::time::Duration;

use super::side::{SyncSink, SyncSource};
use super::store::JobKey;
use crate::error::Error;

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Source to sink (an MLS feed into the host's listings).
    Inbound,
    /// Sink to source (the host's bookings out to a calendar).
    Outbound,
    /// Both ways, with the job's [`ConflictPolicy`] when both sides changed a key.
    Bidirectional,
}

/// What a bidirectional job does when both sides changed one key since it was last synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConflictPolicy {
    /// The record with the later `updated_at` wins; on a tie (or when either lacks one) the
    /// source wins, so the result never depends on which side was read first.
    #[default]
    NewerWins,
    /// The source's record wins.
    SourceWins,
    /// The sink's record wins.
    SinkWins,
    /// Neither side is written: the pair is parked in the job's conflict list, a
    /// [`SyncEventKind::Conflict`](super::SyncEventKind::Conflict) is raised, and the host
    /// resolves it with [`SyncEngine::resolve`](super::SyncEngine::resolve).
    Park,
}

/// How the purge pass treats keys the source no longer lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PurgePolicy {
    /// The largest share of the sink's keys one pass may delete (0.0 to 1.0); a larger drop is
    /// held for review (a feed that came back half empty is more likely than half the market
    /// selling in fifteen minutes). 0.05 by default.
    pub max_share: f64,
}

impl Default for PurgePolicy {
    fn default() -> Self {
        PurgePolicy { max_share: 0.05 }
    }
}

/// One sync job: a key, two sides and how to run it. Cheap to clone.
#[derive(Clone)]
pub struct SyncJob {
    pub(crate) key: JobKey,
    pub(crate) source: Arc<dyn SyncSource>,
    pub(crate) sink: Arc<dyn SyncSink>,
    pub(crate) direction: Direction,
    pub(crate) page_size: usize,
    pub(crate) overlap: Duration,
    pub(crate) safety_lag: Duration,
    pub(crate) watch: Option<Arc<str>>,
    pub(crate) conflicts: ConflictPolicy,
    pub(crate) purge: PurgePolicy,
}

impl Debug for SyncJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncJob")
            .field("key", &self.key)
            .field("direction", &self.direction)
            .field("page_size", &self.page_size)
            .field("overlap", &self.overlap)
            .field("safety_lag", &self.safety_lag)
            .field("watch", &self.watch)
            .field("conflicts", &self.conflicts)
            .finish_non_exhaustive()
    }
}

impl SyncJob {
    /// An inbound job from `source` into `sink`, 100 records a page, a 5-minute overlap and a
    /// 30-second safety lag.
    pub fn new(key: JobKey, source: Arc<dyn SyncSource>, sink: Arc<dyn SyncSink>) -> Self {
        SyncJob {
            key,
            source,
            sink,
            direction: Direction::Inbound,
            page_size: 100,
            overlap: Duration::from_secs(300),
            safety_lag: Duration::from_secs(30),
            watch: None,
            conflicts: ConflictPolicy::default(),
            purge: PurgePolicy::default(),
        }
    }

    /// The job's key.
    pub fn key(&self) -> &JobKey {
        &self.key
    }

    /// Which way records flow.
    #[must_use]
    pub fn direction(mut self, direction: Direction) -> Self {
        self.direction = direction;
        self
    }

    /// The page size asked of each side (at least 1).
    #[must_use]
    pub fn page_size(mut self, records: usize) -> Self {
        self.page_size = records.max(1);
        self
    }

    /// How far back each run re-reads from the saved cursor, so records committed late with
    /// a timestamp below it still arrive. What is re-read and already held is dropped.
    #[must_use]
    pub fn overlap(mut self, overlap: Duration) -> Self {
        self.overlap = overlap;
        self
    }

    /// How far behind "now" a run stops reading, so a write the source is still committing
    /// is read on the next run rather than skipped by a cursor already past it.
    #[must_use]
    pub fn safety_lag(mut self, lag: Duration) -> Self {
        self.safety_lag = lag;
        self
    }

    /// A field whose change raises its own [`FieldChange`](super::FieldChange) (a listing's
    /// status).
    #[must_use]
    pub fn watch(mut self, field: &str) -> Self {
        self.watch = Some(Arc::from(field));
        self
    }

    /// The conflict policy of a bidirectional job.
    #[must_use]
    pub fn conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.conflicts = policy;
        self
    }

    /// How the purge pass treats keys the source no longer lists.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) (`sync.purge.max_share`) when the share
    /// is not between 0 and 1.
    pub fn purge_policy(mut self, policy: PurgePolicy) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&policy.max_share) {
            return Err(Error::config(
                "sync.purge.max_share",
                format!("must be between 0 and 1, got {}", policy.max_share),
            ));
        }
        self.purge = policy;
        Ok(self)
    }
}
