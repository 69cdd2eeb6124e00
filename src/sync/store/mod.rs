//! Where a sync job keeps its state: the cursor, a fence that shuts out a runner whose lock
//! expired, the bidirectional link table, parked conflicts and the run log.
//!
//! [`InMemorySyncStore`] is here; `store::sqlite::SqliteBackend::sync_store` (a
//! `SqliteSyncStore`, feature `sqlite`) and `store::postgres::PostgresBackend::sync_store` (a
//! `PostgresSyncStore`, feature `postgres`) keep the same state in tables of the backend's one
//! migration set, over its pool. Every store passes one contract,
//! `test_util::sync_store::sync_store_contract` (feature `test-util`); a host's own store can
//! run it too.

mod memory;

pub use memory::InMemorySyncStore;

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::record::{Mark, SyncRecord, Version};
use crate::error::Error;
use crate::ids::{ConnectionId, TenantId};

/// One sync job of one connection: the tenant, the connection and the job's name ("contacts",
/// "listings", "photos"). Every piece of stored state is keyed by all three, so two tenants
/// sharing a connection id never share a cursor.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobKey {
    /// The tenant.
    pub tenant: TenantId,
    /// The connection.
    pub connection: ConnectionId,
    /// The job's name within the connection.
    pub job: String,
}

impl JobKey {
    /// A job key.
    pub fn new(
        tenant: impl Into<TenantId>,
        connection: impl Into<ConnectionId>,
        job: impl Into<String>,
    ) -> Self {
        JobKey {
            tenant: tenant.into(),
            connection: connection.into(),
            job: job.into(),
        }
    }

    /// The name of the job's run lock: `switchboard:sync:` then each of the tenant, the
    /// connection and the job as `{byte length}:{value}:`, so no two keys share a name
    /// whatever their parts hold (a `:` inside a tenant id cannot shift a boundary).
    pub fn lock_name(&self) -> String {
        let (t, c, j) = (self.tenant.as_str(), self.connection.as_str(), &self.job);
        format!(
            "switchboard:sync:{}:{t}:{}:{c}:{}:{j}:",
            t.len(),
            c.len(),
            j.len()
        )
    }
}

impl Debug for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JobKey({}/{}/{})",
            self.tenant, self.connection, self.job
        )
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.tenant, self.connection, self.job)
    }
}

/// Where a job has got to, on each side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    /// The largest source mark whose record the sink confirmed.
    pub source: Option<Mark>,
    /// The largest sink mark whose record the source confirmed (outbound and bidirectional
    /// jobs).
    pub sink: Option<Mark>,
}

/// A number that grows each time a runner takes a job. A save carrying an older fence is
/// refused, so a runner paused past its lock's lifetime cannot move the cursor of the runner
/// that took over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fence(pub u64);

/// What the sides held for a key when the engine last synced it (bidirectional jobs): a side
/// whose version still equals its link has not changed since, so the engine's own write-back
/// is not read as a new change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The source's version.
    pub source: Option<Version>,
    /// The sink's version.
    pub sink: Option<Version>,
}

/// Both sides changed one key since it was last synced, and the job's policy is to park it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The key.
    pub key: String,
    /// The source's record.
    pub source: SyncRecord,
    /// The sink's record.
    pub sink: SyncRecord,
    /// When the engine found it.
    pub detected_at: SystemTime,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still running (or its process died; the next run of the job marks it interrupted).
    Running,
    /// Every page was read and applied.
    Succeeded,
    /// It stopped on an error; the cursor holds what the sink confirmed.
    Failed,
    /// Its runner vanished (a crash, or a lock lost to another runner) before it ended.
    Interrupted,
}

impl RunStatus {
    /// The status's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => return None,
        })
    }
}

/// What a run did, by class. Stored as JSON; a count added later reads as 0 from older rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunCounts {
    /// Records read from either side.
    pub fetched: u64,
    /// Pages read.
    pub pages: u64,
    /// Records created in the sink.
    pub created: u64,
    /// Records updated in the sink.
    pub updated: u64,
    /// Records deleted in the sink (announced deletions and purged keys).
    pub deleted: u64,
    /// Records whose watched field changed.
    pub watched_changed: u64,
    /// Records the sink already held (replays, overlap re-reads).
    pub unchanged: u64,
    /// Records older than what the sink held, dropped.
    pub stale: u64,
    /// Records written to the source (outbound and bidirectional jobs).
    pub written: u64,
    /// Conflicts found (resolved by policy or parked).
    pub conflicts: u64,
    /// Deletions the purge pass found but held for review (too large a share).
    pub purge_held: u64,
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The job's interval.
    Schedule,
    /// The host asked.
    Manual,
    /// A verified webhook asked.
    Webhook,
}

impl Trigger {
    /// The trigger's stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Webhook => "webhook",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "schedule" => Trigger::Schedule,
            "manual" => Trigger::Manual,
            "webhook" => Trigger::Webhook,
            _ => return None,
        })
    }
}

/// One entry of a job's run log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLog {
    /// The run's id (unique per job).
    pub id: String,
    /// What started it.
    pub trigger: Trigger,
    /// When it started.
    pub started_at: SystemTime,
    /// When it ended; `None` while running (or if its process died).
    pub finished_at: Option<SystemTime>,
    /// How it ended.
    pub status: RunStatus,
    /// What it did.
    pub counts: RunCounts,
    /// The redacted error that ended it, if any.
    pub error: Option<String>,
}

impl RunLog {
    /// A run starting now.
    pub fn start(trigger: Trigger) -> Self {
        RunLog {
            id: uuid::Uuid::new_v4().to_string(),
            trigger,
            started_at: SystemTime::now(),
            finished_at: None,
            status: RunStatus::Running,
            counts: RunCounts::default(),
            error: None,
        }
    }
}

/// What [`SyncStore::begin`] hands the runner.
#[derive(Debug, Clone, PartialEq)]
pub struct Begun {
    /// The fence every save of this run carries.
    pub fence: Fence,
    /// The saved cursor (default when the job never ran).
    pub cursor: SyncCursor,
}

/// How many run log entries a store keeps per job; older ones are removed when a run begins.
pub const RUN_LOG_KEEP: usize = 100;

/// Storage for sync jobs. Every method is keyed by [`JobKey`]; a write carrying a [`Fence`]
/// is refused with [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) once a newer runner has
/// begun the job.
#[async_trait]
pub trait SyncStore: Send + Sync + Debug {
    /// Begins a run: takes a new fence (larger than any before), marks runs of the job still
    /// `Running` as `Interrupted`, records `run`, keeps the newest [`RUN_LOG_KEEP`] entries, and
    /// returns the fence with the saved cursor. One atomic step.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn begin(&self, job: &JobKey, run: &RunLog) -> Result<Begun, Error>;

    /// Saves the cursor and the given links, in one atomic step, if `fence` is still the
    /// job's newest.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when a newer runner has begun the
    /// job (nothing is written); [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend
    /// failed.
    async fn save(
        &self,
        job: &JobKey,
        fence: Fence,
        cursor: &SyncCursor,
        links: &[(String, Link)],
    ) -> Result<(), Error>;

    /// Records how a run ended (its entry is replaced by `run.id`). Not fenced: a runner that
    /// lost its job still records that its run was interrupted.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn finish(&self, job: &JobKey, run: &RunLog) -> Result<(), Error>;

    /// The saved cursor, if the job ever saved one.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error>;

    /// The newest `limit` run log entries, newest first.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error>;

    /// The links of these keys; keys never synced are absent.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn links(&self, job: &JobKey, keys: &[String]) -> Result<HashMap<String, Link>, Error>;

    /// Parks a conflict (replacing one parked for the same key), if `fence` is still the
    /// job's newest.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`](crate::ErrorKind::Conflict) when a newer runner has begun the
    /// job; [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn park(&self, job: &JobKey, fence: Fence, conflict: &Conflict) -> Result<(), Error>;

    /// The parked conflicts, oldest first.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn conflicts(&self, job: &JobKey) -> Result<Vec<Conflict>, Error>;

    /// Removes and returns the conflict parked for `key`.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the backend failed.
    async fn take_conflict(&self, job: &JobKey, key: &str) -> Result<Option<Conflict>, Error>;
}

/// The error of a fenced write refused because a newer runner has begun the job.
pub(crate) fn fenced_out(job: &JobKey) -> Error {
    Error::conflict(format!(
        "sync job {job} was taken over by a newer run; this run may not save its cursor"
    ))
}
