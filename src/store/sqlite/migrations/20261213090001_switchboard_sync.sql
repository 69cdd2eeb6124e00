-- switchboard: sync jobs' state (see src/store/sqlite/sync.rs and switchboard::sync::SyncStore).
-- Every row is keyed by tenant, connection and job, so two tenants sharing a connection id and
-- a job name share nothing. Times are Unix microseconds (rounded toward the past); versions
-- are the u64's bit pattern (a version above i64::MAX reads negative here); run counts and
-- conflict records are JSON text. `seq` orders runs and conflicts by insertion.

-- One row per job: the fence (taken by each run's begin; a save carrying an older one writes
-- nothing) and the cursor (`has_cursor` = 0 until the first save; a mark is both columns or
-- neither).
CREATE TABLE switchboard_sync_jobs (
    tenant       TEXT    NOT NULL,
    connection   TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    fence        INTEGER NOT NULL,
    has_cursor   INTEGER NOT NULL,
    source_at_us INTEGER,
    source_key   TEXT,
    sink_at_us   INTEGER,
    sink_key     TEXT,
    PRIMARY KEY (tenant, connection, job)
) STRICT;

-- The run log: the newest RUN_LOG_KEEP (switchboard::sync::store) runs per job; older ones are
-- removed when a run begins.
CREATE TABLE switchboard_sync_runs (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    tenant         TEXT    NOT NULL,
    connection     TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    triggered_by   TEXT    NOT NULL,
    started_at_us  INTEGER NOT NULL,
    finished_at_us INTEGER,
    status         TEXT    NOT NULL,
    counts         TEXT    NOT NULL,
    error          TEXT
) STRICT;

CREATE UNIQUE INDEX switchboard_sync_runs_id
    ON switchboard_sync_runs (tenant, connection, job, id);
CREATE INDEX switchboard_sync_runs_newest
    ON switchboard_sync_runs (tenant, connection, job, seq);

-- What each side held when a key was last synced (bidirectional jobs).
CREATE TABLE switchboard_sync_links (
    tenant         TEXT    NOT NULL,
    connection     TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    record_key     TEXT    NOT NULL,
    source_version INTEGER,
    sink_version   INTEGER,
    PRIMARY KEY (tenant, connection, job, record_key)
) STRICT;

-- Conflicts parked for the host, at most one per key.
CREATE TABLE switchboard_sync_conflicts (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    tenant         TEXT    NOT NULL,
    connection     TEXT    NOT NULL,
    job            TEXT    NOT NULL,
    record_key     TEXT    NOT NULL,
    source_record  TEXT    NOT NULL,
    sink_record    TEXT    NOT NULL,
    detected_at_us INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX switchboard_sync_conflicts_key
    ON switchboard_sync_conflicts (tenant, connection, job, record_key);
CREATE INDEX switchboard_sync_conflicts_oldest
    ON switchboard_sync_conflicts (tenant, connection, job, seq);
