//! What a sync engine tells its subscribers: runs starting and ending, progress for a
//! progress bar, each change applied, conflicts and purges held for review.
//!
//! Events go out on a `tokio::sync::broadcast` channel: a subscriber that falls behind loses
//! the oldest ones (it sees `RecvError::Lagged`). Reactions a host must not lose belong in
//! [`SyncSink::apply`](super::SyncSink::apply), in the same transaction as the data.

use serde::{Deserialize, Serialize};

use super::record::{ChangeKind, FieldChange};
use super::store::{JobKey, RunLog, Trigger};

/// One event of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncEvent {
    /// The job.
    pub job: JobKey,
    /// What happened.
    pub kind: SyncEventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum SyncEventKind {
    /// A run began.
    Started {
        /// The run's id.
        run: String,
        /// What started it.
        trigger: Trigger,
    },
    /// A page was applied.
    Progress {
        /// The run's id.
        run: String,
        /// Records read so far.
        records: u64,
        /// Pages read so far.
        pages: u64,
        /// How many records the source says the run holds, when it knows.
        estimated_total: Option<u64>,
    },
    /// A record changed the sink (or, in the outbound direction, the source).
    Changed {
        /// The record's key.
        key: String,
        /// How it changed.
        change: ChangeKind,
        /// The watched field's change, if any.
        watched: Option<FieldChange>,
    },
    /// Both sides changed a key since it was last synced.
    Conflict {
        /// The key.
        key: String,
        /// Whether it was parked for the host to resolve (otherwise the job's policy resolved
        /// it).
        parked: bool,
    },
    /// The purge pass found more deletions than the job allows in one pass and deleted
    /// nothing.
    PurgeHeld {
        /// How many keys the source no longer lists.
        missing: u64,
        /// How many the sink holds.
        held: u64,
    },
    /// A run ended (its log entry, with counts and error).
    Finished {
        /// The run.
        run: RunLog,
    },
}
