//! The in-memory [`SyncStore`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{
    fenced_out, Begun, Conflict, Fence, JobKey, Link, RunLog, RunStatus, SyncCursor, SyncStore,
    RUN_LOG_KEEP,
};
use crate::error::Error;

/// A [`SyncStore`] in a mutex-guarded map; nothing survives a restart.
#[derive(Debug, Default)]
pub struct InMemorySyncStore {
    jobs: Mutex<HashMap<JobKey, JobState>>,
}

#[derive(Debug, Default)]
struct JobState {
    fence: u64,
    cursor: Option<SyncCursor>,
    links: HashMap<String, Link>,
    // Ordered by when they were parked.
    conflicts: BTreeMap<u64, Conflict>,
    next_conflict: u64,
    // Oldest first.
    runs: Vec<RunLog>,
}

impl InMemorySyncStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, job: &JobKey, f: impl FnOnce(&mut JobState) -> R) -> R {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        f(jobs.entry(job.clone()).or_default())
    }

    /// Reads a job's state without creating it (an unknown job reads as a new one).
    fn read<R>(&self, job: &JobKey, f: impl FnOnce(&JobState) -> R) -> R {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match jobs.get(job) {
            Some(s) => f(s),
            None => f(&JobState::default()),
        }
    }
}

#[async_trait]
impl SyncStore for InMemorySyncStore {
    async fn begin(&self, job: &JobKey, run: &RunLog) -> Result<Begun, Error> {
        Ok(self.with(job, |s| {
            s.fence += 1;
            for r in &mut s.runs {
                if r.status == RunStatus::Running {
                    r.status = RunStatus::Interrupted;
                }
            }
            s.runs.push(run.clone());
            let excess = s.runs.len().saturating_sub(RUN_LOG_KEEP);
            s.runs.drain(..excess);
            Begun {
                fence: Fence(s.fence),
                cursor: s.cursor.clone().unwrap_or_default(),
            }
        }))
    }

    async fn save(
        &self,
        job: &JobKey,
        fence: Fence,
        cursor: &SyncCursor,
        links: &[(String, Link)],
    ) -> Result<(), Error> {
        self.with(job, |s| {
            // Fence 0 is never handed out: a job that never began takes no write.
            if s.fence == 0 || s.fence != fence.0 {
                return Err(fenced_out(job));
            }
            s.cursor = Some(cursor.clone());
            for (k, l) in links {
                s.links.insert(k.clone(), *l);
            }
            Ok(())
        })
    }

    async fn finish(&self, job: &JobKey, run: &RunLog) -> Result<(), Error> {
        self.with(job, |s| {
            if let Some(r) = s.runs.iter_mut().find(|r| r.id == run.id) {
                *r = run.clone();
            } else {
                s.runs.push(run.clone());
            }
        });
        Ok(())
    }

    async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        Ok(self.read(job, |s| s.cursor.clone()))
    }

    async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error> {
        Ok(self.read(job, |s| s.runs.iter().rev().take(limit).cloned().collect()))
    }

    async fn links(&self, job: &JobKey, keys: &[String]) -> Result<HashMap<String, Link>, Error> {
        Ok(self.read(job, |s| {
            keys.iter()
                .filter_map(|k| s.links.get(k).map(|l| (k.clone(), *l)))
                .collect()
        }))
    }

    async fn park(&self, job: &JobKey, fence: Fence, conflict: &Conflict) -> Result<(), Error> {
        self.with(job, |s| {
            // Fence 0 is never handed out: a job that never began takes no write.
            if s.fence == 0 || s.fence != fence.0 {
                return Err(fenced_out(job));
            }
            s.conflicts.retain(|_, c| c.key != conflict.key);
            s.next_conflict += 1;
            s.conflicts.insert(s.next_conflict, conflict.clone());
            Ok(())
        })
    }

    async fn conflicts(&self, job: &JobKey) -> Result<Vec<Conflict>, Error> {
        Ok(self.read(job, |s| s.conflicts.values().cloned().collect()))
    }

    async fn take_conflict(&self, job: &JobKey, key: &str) -> Result<Option<Conflict>, Error> {
        Ok(self.with(job, |s| {
            let id = s
                .conflicts
                .iter()
                .find(|(_, c)| c.key == key)
                .map(|(id, _)| *id)?;
            s.conflicts.remove(&id)
        }))
    }
}
