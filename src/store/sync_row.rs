//! The sync store's rows as both SQL backends write and read them
//! (`SqliteSyncStore`, `PostgresSyncStore`): one encoding, one set of checks. A stored value
//! this build cannot read (an unknown status, counts or a record that is not JSON, a fence
//! below 1, half a cursor mark) is an [`ErrorKind::Store`](crate::ErrorKind::Store) error
//! naming the table and column, never a panic or a silent default.
//!
//! Encoding: times as Unix microseconds (rounded toward the past, so a cursor read back never
//! sorts after the one saved), statuses and triggers by their stored names, run counts and
//! conflict records as JSON text, versions as the `u64`'s bit pattern in a signed 64-bit
//! column (every `u64` round-trips; versions above `i64::MAX` read as negative in SQL, and
//! nothing compares them there).

use std::collections::HashMap;

use crate::error::Error;
use crate::store::row::StoredRow;
use crate::store::time::to_micros;
use crate::sync::{
    Conflict, Fence, JobKey, Link, Mark, RunLog, RunStatus, SyncCursor, SyncRecord, Trigger,
    Version,
};

pub(crate) const JOBS: &str = "switchboard_sync_jobs";
pub(crate) const RUNS: &str = "switchboard_sync_runs";
pub(crate) const CONFLICTS: &str = "switchboard_sync_conflicts";

/// The columns `begin` returns and `cursor` reads, in this order.
pub(crate) const JOB_COLUMNS: &str =
    "fence, has_cursor, source_at_us, source_key, sink_at_us, sink_key";
/// The columns `runs` reads, in this order.
pub(crate) const RUN_COLUMNS: &str =
    "id, triggered_by, started_at_us, finished_at_us, status, counts, error";
/// The columns `conflicts` and `take_conflict` read, in this order.
pub(crate) const CONFLICT_COLUMNS: &str = "record_key, source_record, sink_record, detected_at_us";

/// A fence as a save compares it with the stored one; `None` when no stored fence can equal
/// it (stored fences fit in an `i64`), so the save is fenced out.
pub(crate) fn fence_column(fence: Fence) -> Option<i64> {
    i64::try_from(fence.0).ok()
}

/// A version's column value: the `u64`'s bit pattern.
pub(crate) fn version_column(v: Option<Version>) -> Option<i64> {
    v.map(|v| v.0.cast_signed())
}

fn version_of(v: Option<i64>) -> Option<Version> {
    v.map(|v| Version(v.cast_unsigned()))
}

/// How many run log entries a query asks for, as SQL's `LIMIT` takes it.
pub(crate) fn limit_column(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The links to write, the last one given for each key (a batch may name a key twice; the
/// later word wins, as in the in-memory store, and a single upsert may not touch a row twice).
pub(crate) struct LinkColumns {
    pub(crate) keys: Vec<String>,
    pub(crate) sources: Vec<Option<i64>>,
    pub(crate) sinks: Vec<Option<i64>>,
}

impl LinkColumns {
    pub(crate) fn new(links: &[(String, Link)]) -> Self {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(links.len());
        for (i, (k, _)) in links.iter().enumerate() {
            last.insert(k.as_str(), i);
        }
        let mut cols = LinkColumns {
            keys: Vec::with_capacity(last.len()),
            sources: Vec::with_capacity(last.len()),
            sinks: Vec::with_capacity(last.len()),
        };
        for (i, (k, l)) in links.iter().enumerate() {
            if last.get(k.as_str()) == Some(&i) {
                cols.keys.push(k.clone());
                cols.sources.push(version_column(l.source));
                cols.sinks.push(version_column(l.sink));
            }
        }
        cols
    }
}

/// A cursor's columns, ready to bind.
pub(crate) struct CursorColumns<'a> {
    pub(crate) source_at_us: Option<i64>,
    pub(crate) source_key: Option<&'a str>,
    pub(crate) sink_at_us: Option<i64>,
    pub(crate) sink_key: Option<&'a str>,
}

impl<'a> CursorColumns<'a> {
    pub(crate) fn new(c: &'a SyncCursor) -> Result<Self, Error> {
        let at = |m: &Option<Mark>, field| m.as_ref().map(|m| to_micros(m.at, field)).transpose();
        Ok(CursorColumns {
            source_at_us: at(&c.source, "cursor.source.at")?,
            source_key: c.source.as_ref().map(|m| m.key.as_str()),
            sink_at_us: at(&c.sink, "cursor.sink.at")?,
            sink_key: c.sink.as_ref().map(|m| m.key.as_str()),
        })
    }
}

/// A job's row as read.
#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    fence: i64,
    has_cursor: bool,
    source_at_us: Option<i64>,
    source_key: Option<String>,
    sink_at_us: Option<i64>,
    sink_key: Option<String>,
}

impl JobRow {
    /// The fence, which is always at least 1.
    pub(crate) fn fence(&self, job: &JobKey) -> Result<Fence, Error> {
        let id = job_id(job);
        let row = StoredRow::tenant(JOBS, "sync job", job.tenant.as_str(), &id);
        u64::try_from(self.fence)
            .ok()
            .filter(|f| *f > 0)
            .map(Fence)
            .ok_or_else(|| row.corrupt("fence"))
    }

    /// The saved cursor; `None` when the job never saved one.
    pub(crate) fn cursor(self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        if !self.has_cursor {
            return Ok(None);
        }
        let id = job_id(job);
        let row = StoredRow::tenant(JOBS, "sync job", job.tenant.as_str(), &id);
        Ok(Some(SyncCursor {
            source: mark(&row, "source", self.source_at_us, self.source_key)?,
            sink: mark(&row, "sink", self.sink_at_us, self.sink_key)?,
        }))
    }
}

fn mark(
    row: &StoredRow<'_>,
    side: &str,
    at_us: Option<i64>,
    key: Option<String>,
) -> Result<Option<Mark>, Error> {
    match (at_us, key) {
        (None, None) => Ok(None),
        (Some(us), Some(key)) => Ok(Some(Mark {
            at: row.time_us(&format!("{side}_at_us"), us)?,
            key,
        })),
        // Half a mark: which half is missing is the column to name.
        (None, Some(_)) => Err(row.corrupt(&format!("{side}_at_us"))),
        (Some(_), None) => Err(row.corrupt(&format!("{side}_key"))),
    }
}

/// A run log entry's columns, ready to bind.
pub(crate) struct RunColumns<'a> {
    pub(crate) id: &'a str,
    pub(crate) trigger: &'static str,
    pub(crate) started_at_us: i64,
    pub(crate) finished_at_us: Option<i64>,
    pub(crate) status: &'static str,
    pub(crate) counts: String,
    pub(crate) error: Option<&'a str>,
}

impl<'a> RunColumns<'a> {
    pub(crate) fn new(run: &'a RunLog) -> Result<Self, Error> {
        let counts = serde_json::to_string(&run.counts).map_err(|e| {
            Error::store(format!("cannot encode the counts of sync run `{}`", run.id))
                .with_source(e)
        })?;
        Ok(RunColumns {
            id: &run.id,
            trigger: run.trigger.as_str(),
            started_at_us: to_micros(run.started_at, "run.started_at")?,
            finished_at_us: run
                .finished_at
                .map(|t| to_micros(t, "run.finished_at"))
                .transpose()?,
            status: run.status.as_str(),
            counts,
            error: run.error.as_deref(),
        })
    }
}

/// A run log entry as read.
#[derive(sqlx::FromRow)]
pub(crate) struct RunRow {
    id: String,
    triggered_by: String,
    started_at_us: i64,
    finished_at_us: Option<i64>,
    status: String,
    counts: String,
    error: Option<String>,
}

impl RunRow {
    pub(crate) fn into_log(self, job: &JobKey) -> Result<RunLog, Error> {
        let id = format!("{}/{}", job_id(job), self.id);
        let row = StoredRow::tenant(RUNS, "sync run", job.tenant.as_str(), &id);
        Ok(RunLog {
            trigger: Trigger::parse(&self.triggered_by)
                .ok_or_else(|| row.corrupt("triggered_by"))?,
            started_at: row.time_us("started_at_us", self.started_at_us)?,
            finished_at: self
                .finished_at_us
                .map(|us| row.time_us("finished_at_us", us))
                .transpose()?,
            status: RunStatus::parse(&self.status).ok_or_else(|| row.corrupt("status"))?,
            counts: serde_json::from_str(&self.counts)
                .map_err(|e| row.corrupt_because("counts", e))?,
            error: self.error,
            id: self.id,
        })
    }
}

/// A conflict's columns, ready to bind.
pub(crate) struct ConflictColumns<'a> {
    pub(crate) key: &'a str,
    pub(crate) source: String,
    pub(crate) sink: String,
    pub(crate) detected_at_us: i64,
}

impl<'a> ConflictColumns<'a> {
    pub(crate) fn new(c: &'a Conflict) -> Result<Self, Error> {
        let encode = |r: &SyncRecord, side: &str| {
            serde_json::to_string(r).map_err(|e| {
                Error::store(format!(
                    "cannot encode the {side} record of the conflict on key `{}`",
                    c.key
                ))
                .with_source(e)
            })
        };
        Ok(ConflictColumns {
            key: &c.key,
            source: encode(&c.source, "source")?,
            sink: encode(&c.sink, "sink")?,
            detected_at_us: to_micros(c.detected_at, "conflict.detected_at")?,
        })
    }
}

/// A parked conflict as read.
#[derive(sqlx::FromRow)]
pub(crate) struct ConflictRow {
    record_key: String,
    source_record: String,
    sink_record: String,
    detected_at_us: i64,
}

impl ConflictRow {
    pub(crate) fn into_conflict(self, job: &JobKey) -> Result<Conflict, Error> {
        let id = format!("{}/{}", job_id(job), self.record_key);
        let row = StoredRow::tenant(CONFLICTS, "sync conflict", job.tenant.as_str(), &id);
        Ok(Conflict {
            source: serde_json::from_str(&self.source_record)
                .map_err(|e| row.corrupt_because("source_record", e))?,
            sink: serde_json::from_str(&self.sink_record)
                .map_err(|e| row.corrupt_because("sink_record", e))?,
            detected_at: row.time_us("detected_at_us", self.detected_at_us)?,
            key: self.record_key,
        })
    }
}

/// A link as read.
#[derive(sqlx::FromRow)]
pub(crate) struct LinkRow {
    record_key: String,
    source_version: Option<i64>,
    sink_version: Option<i64>,
}

impl LinkRow {
    pub(crate) fn into_pair(self) -> (String, Link) {
        (
            self.record_key,
            Link {
                source: version_of(self.source_version),
                sink: version_of(self.sink_version),
            },
        )
    }
}

/// How errors name a job's rows: `connection/job` (the tenant is named beside it).
fn job_id(job: &JobKey) -> String {
    format!("{}/{}", job.connection, job.job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn job() -> JobKey {
        JobKey::new("t1", "mls", "listings")
    }

    #[test]
    fn versions_keep_every_u64_and_fences_above_i64_never_match() {
        for v in [0, 1, i64::MAX.cast_unsigned(), 1 << 63, u64::MAX] {
            assert_eq!(
                version_of(version_column(Some(Version(v)))),
                Some(Version(v))
            );
        }
        assert_eq!(version_of(version_column(None)), None);
        assert_eq!(fence_column(Fence(7)), Some(7));
        assert_eq!(fence_column(Fence(u64::MAX)), None);
        assert_eq!(limit_column(usize::MAX), i64::MAX);
    }

    #[test]
    fn a_batch_naming_a_key_twice_keeps_the_last_link() {
        let l = |v| Link {
            source: Some(Version(v)),
            sink: None,
        };
        let cols = LinkColumns::new(&[("a".into(), l(1)), ("b".into(), l(2)), ("a".into(), l(3))]);
        assert_eq!(cols.keys, ["b", "a"]);
        assert_eq!(cols.sources, [Some(2), Some(3)]);
    }

    #[test]
    fn corrupt_job_and_run_rows_name_table_and_column() {
        let bad_fence = JobRow {
            fence: 0,
            has_cursor: false,
            source_at_us: None,
            source_key: None,
            sink_at_us: None,
            sink_key: None,
        };
        let e = bad_fence.fence(&job()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Store);
        assert_eq!(
            e.to_string(),
            "stored sync job `mls/listings` of tenant `t1` has an invalid \
             `switchboard_sync_jobs.fence`"
        );
        let half = JobRow {
            fence: 1,
            has_cursor: true,
            source_at_us: Some(5),
            source_key: None,
            sink_at_us: None,
            sink_key: None,
        };
        let e = half.cursor(&job()).unwrap_err();
        assert!(
            e.to_string().contains("`switchboard_sync_jobs.source_key`"),
            "{e}"
        );

        let run = || RunRow {
            id: "r1".into(),
            triggered_by: "manual".into(),
            started_at_us: 1,
            finished_at_us: None,
            status: "running".into(),
            counts: serde_json::to_string(&crate::sync::RunCounts::default()).unwrap(),
            error: None,
        };
        assert!(run().into_log(&job()).is_ok());
        let mut r = run();
        r.status = "zombie".into();
        let e = r.into_log(&job()).unwrap_err();
        assert!(
            e.to_string().contains("`switchboard_sync_runs.status`"),
            "{e}"
        );
        let mut r = run();
        r.counts = "{nope".into();
        let e = r.into_log(&job()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Store);
        assert!(
            e.to_string().contains("`switchboard_sync_runs.counts`"),
            "{e}"
        );
        let mut r = run();
        r.triggered_by = "cron".into();
        assert!(r.into_log(&job()).is_err());
    }
}
