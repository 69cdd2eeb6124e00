//! [`PostgresSyncStore`]: sync jobs' cursors, fences, run log, links and parked conflicts in
//! PostgreSQL, shared by every replica.
//!
//! Each fenced step is one transaction that locks the job's row first, so a replica beginning
//! the job waits for a save or park in flight and then fences it out: `begin` bumps the fence
//! with `INSERT ... ON CONFLICT DO UPDATE SET fence = fence + 1 RETURNING ...`, then
//! interrupts the job's running runs, logs the new one and trims the log; `save` updates the
//! cursor `WHERE fence = $n` and writes the links (one `UNNEST` upsert) only if that updated
//! a row; `park` locks the row `WHERE fence = $n` (`FOR UPDATE`) before replacing the
//! conflict. The tables come from the one PostgreSQL migration set
//! (`<version>_switchboard_sync.sql`); the encoding is `store::sync_row`'s.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::postgres::PgPool;

use crate::error::Error;
use crate::store::row::backend_error;
use crate::store::sync_row::{
    fence_column, limit_column, ConflictColumns, ConflictRow, CursorColumns, JobRow, LinkColumns,
    LinkRow, RunColumns, RunRow, CONFLICT_COLUMNS, JOB_COLUMNS, RUN_COLUMNS,
};
use crate::sync::store::{fenced_out, RUN_LOG_KEEP};
use crate::sync::{Begun, Conflict, Fence, JobKey, Link, RunLog, SyncCursor, SyncStore};

/// Names this component in errors.
const COMPONENT: &str = "postgres sync";

fn db_error(op: &str, e: sqlx::Error) -> Error {
    backend_error(COMPONENT, op, e)
}

/// A [`SyncStore`] in PostgreSQL, from
/// [`PostgresBackend::sync_store`](super::PostgresBackend::sync_store). Cheap to clone: clones
/// share the backend's pool.
#[derive(Clone)]
pub struct PostgresSyncStore {
    pool: PgPool,
    schema: Option<Arc<str>>,
}

impl fmt::Debug for PostgresSyncStore {
    // The URL may hold a password, so only the schema is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresSyncStore")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresSyncStore {
    pub(crate) fn from_backend(pool: PgPool, schema: Option<Arc<str>>) -> Self {
        PostgresSyncStore { pool, schema }
    }
}

#[async_trait]
impl SyncStore for PostgresSyncStore {
    async fn begin(&self, job: &JobKey, run: &RunLog) -> Result<Begun, Error> {
        let cols = RunColumns::new(run)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("begin a transaction", e))?;
        let row: JobRow = sqlx::query_as(&format!(
            "INSERT INTO switchboard_sync_jobs (tenant, connection, job, fence, has_cursor) \
             VALUES ($1, $2, $3, 1, FALSE) \
             ON CONFLICT (tenant, connection, job) \
             DO UPDATE SET fence = switchboard_sync_jobs.fence + 1 \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| db_error("take a sync job's fence", e))?;
        let fence = row.fence(job)?;
        let cursor = row.cursor(job)?.unwrap_or_default();
        sqlx::query(
            "UPDATE switchboard_sync_runs SET status = 'interrupted' \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND status = 'running'",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("mark a sync job's unfinished runs interrupted", e))?;
        sqlx::query(
            "INSERT INTO switchboard_sync_runs (tenant, connection, job, id, triggered_by, \
             started_at_us, finished_at_us, status, counts, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(cols.id)
        .bind(cols.trigger)
        .bind(cols.started_at_us)
        .bind(cols.finished_at_us)
        .bind(cols.status)
        .bind(&cols.counts)
        .bind(cols.error)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("log a sync run", e))?;
        sqlx::query(
            "DELETE FROM switchboard_sync_runs \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND seq <= ( \
               SELECT seq FROM switchboard_sync_runs \
               WHERE tenant = $1 AND connection = $2 AND job = $3 \
               ORDER BY seq DESC LIMIT 1 OFFSET $4)",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(limit_column(RUN_LOG_KEEP))
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("trim a sync job's run log", e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("commit a sync run's start", e))?;
        Ok(Begun { fence, cursor })
    }

    async fn save(
        &self,
        job: &JobKey,
        fence: Fence,
        cursor: &SyncCursor,
        links: &[(String, Link)],
    ) -> Result<(), Error> {
        let Some(fence) = fence_column(fence) else {
            return Err(fenced_out(job));
        };
        let c = CursorColumns::new(cursor)?;
        let links = LinkColumns::new(links);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("begin a transaction", e))?;
        let saved = sqlx::query(
            "UPDATE switchboard_sync_jobs SET has_cursor = TRUE, source_at_us = $5, \
             source_key = $6, sink_at_us = $7, sink_key = $8 \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND fence = $4",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(fence)
        .bind(c.source_at_us)
        .bind(c.source_key)
        .bind(c.sink_at_us)
        .bind(c.sink_key)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("save a sync cursor", e))?
        .rows_affected();
        if saved == 0 {
            // Dropping the transaction rolls it back: nothing was written.
            return Err(fenced_out(job));
        }
        if !links.keys.is_empty() {
            sqlx::query(
                "INSERT INTO switchboard_sync_links \
                 (tenant, connection, job, record_key, source_version, sink_version) \
                 SELECT $1, $2, $3, l.record_key, l.source_version, l.sink_version \
                 FROM UNNEST($4::text[], $5::bigint[], $6::bigint[]) \
                   AS l(record_key, source_version, sink_version) \
                 ON CONFLICT (tenant, connection, job, record_key) DO UPDATE SET \
                 source_version = excluded.source_version, sink_version = excluded.sink_version",
            )
            .bind(job.tenant.as_str())
            .bind(job.connection.as_str())
            .bind(&job.job)
            .bind(&links.keys)
            .bind(&links.sources)
            .bind(&links.sinks)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("save sync links", e))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_error("commit a sync cursor", e))
    }

    async fn finish(&self, job: &JobKey, run: &RunLog) -> Result<(), Error> {
        let cols = RunColumns::new(run)?;
        sqlx::query(
            "INSERT INTO switchboard_sync_runs (tenant, connection, job, id, triggered_by, \
             started_at_us, finished_at_us, status, counts, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant, connection, job, id) DO UPDATE SET \
             triggered_by = excluded.triggered_by, started_at_us = excluded.started_at_us, \
             finished_at_us = excluded.finished_at_us, status = excluded.status, \
             counts = excluded.counts, error = excluded.error",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(cols.id)
        .bind(cols.trigger)
        .bind(cols.started_at_us)
        .bind(cols.finished_at_us)
        .bind(cols.status)
        .bind(&cols.counts)
        .bind(cols.error)
        .execute(&self.pool)
        .await
        .map_err(|e| db_error("record how a sync run ended", e))?;
        Ok(())
    }

    async fn cursor(&self, job: &JobKey) -> Result<Option<SyncCursor>, Error> {
        let row: Option<JobRow> = sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM switchboard_sync_jobs \
             WHERE tenant = $1 AND connection = $2 AND job = $3"
        ))
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| db_error("read a sync cursor", e))?;
        Ok(row.map(|r| r.cursor(job)).transpose()?.flatten())
    }

    async fn runs(&self, job: &JobKey, limit: usize) -> Result<Vec<RunLog>, Error> {
        let rows: Vec<RunRow> = sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM switchboard_sync_runs \
             WHERE tenant = $1 AND connection = $2 AND job = $3 ORDER BY seq DESC LIMIT $4"
        ))
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(limit_column(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read a sync job's run log", e))?;
        rows.into_iter().map(|r| r.into_log(job)).collect()
    }

    async fn links(&self, job: &JobKey, keys: &[String]) -> Result<HashMap<String, Link>, Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<LinkRow> = sqlx::query_as(
            "SELECT record_key, source_version, sink_version FROM switchboard_sync_links \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND record_key = ANY($4)",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(keys)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read sync links", e))?;
        Ok(rows.into_iter().map(LinkRow::into_pair).collect())
    }

    async fn park(&self, job: &JobKey, fence: Fence, conflict: &Conflict) -> Result<(), Error> {
        let Some(fence) = fence_column(fence) else {
            return Err(fenced_out(job));
        };
        let c = ConflictColumns::new(conflict)?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("begin a transaction", e))?;
        let ours: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM switchboard_sync_jobs \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND fence = $4 FOR UPDATE",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(fence)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("check a sync job's fence", e))?;
        if ours.is_none() {
            return Err(fenced_out(job));
        }
        // Delete and insert rather than update: a replaced conflict is the newest one.
        sqlx::query(
            "DELETE FROM switchboard_sync_conflicts \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND record_key = $4",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(c.key)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("replace a parked sync conflict", e))?;
        sqlx::query(
            "INSERT INTO switchboard_sync_conflicts (tenant, connection, job, record_key, \
             source_record, sink_record, detected_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(c.key)
        .bind(&c.source)
        .bind(&c.sink)
        .bind(c.detected_at_us)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("park a sync conflict", e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("commit a parked sync conflict", e))
    }

    async fn conflicts(&self, job: &JobKey) -> Result<Vec<Conflict>, Error> {
        let rows: Vec<ConflictRow> = sqlx::query_as(&format!(
            "SELECT {CONFLICT_COLUMNS} FROM switchboard_sync_conflicts \
             WHERE tenant = $1 AND connection = $2 AND job = $3 ORDER BY seq"
        ))
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db_error("read parked sync conflicts", e))?;
        rows.into_iter().map(|r| r.into_conflict(job)).collect()
    }

    async fn take_conflict(&self, job: &JobKey, key: &str) -> Result<Option<Conflict>, Error> {
        // In a transaction, so a row this build cannot read stays parked instead of vanishing
        // with the error.
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db_error("begin a transaction", e))?;
        let row: Option<ConflictRow> = sqlx::query_as(&format!(
            "DELETE FROM switchboard_sync_conflicts \
             WHERE tenant = $1 AND connection = $2 AND job = $3 AND record_key = $4 \
             RETURNING {CONFLICT_COLUMNS}"
        ))
        .bind(job.tenant.as_str())
        .bind(job.connection.as_str())
        .bind(&job.job)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| db_error("take a parked sync conflict", e))?;
        let taken = row.map(|r| r.into_conflict(job)).transpose()?;
        tx.commit()
            .await
            .map_err(|e| db_error("commit a taken sync conflict", e))?;
        Ok(taken)
    }
}
