-- switchboard: sync jobs' state (see src/store/postgres/sync.rs and switchboard::sync::SyncStore).
-- Every row is keyed by tenant, connection and job, so two tenants sharing a connection id and
-- a job name share nothing. Times are Unix microseconds (rounded toward the past); versions
-- are the u64's bit pattern (a version above i64::MAX reads negative here); run counts and
-- conflict records are JSON as TEXT, not JSONB (JSONB refuses a "\u0000" a provider's record
-- may hold, and nothing queries inside them). `seq` orders runs and conflicts by insertion.

-- One row per job: the fence (taken by each run's begin; a save carrying an older one writes
-- nothing) and the cursor (`has_cursor` false until the first save; a mark is both columns or
-- neither).
CREATE TABLE IF NOT EXISTS switchboard_sync_jobs (
    tenant       TEXT    NOT NULL,
    connection   TEXT    NOT NULL,
    job          TEXT    NOT NULL,
    fence        BIGINT  NOT NULL,
    has_cursor   BOOLEAN NOT NULL,
    source_at_us BIGINT,
    source_key   TEXT,
    sink_at_us   BIGINT,
    sink_key     TEXT,
    PRIMARY KEY (tenant, connection, job)
);

-- The run log: the newest RUN_LOG_KEEP (switchboard::sync::store) runs per job; older ones are
-- removed when a run begins.
CREATE TABLE IF NOT EXISTS switchboard_sync_runs (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant         TEXT   NOT NULL,
    connection     TEXT   NOT NULL,
    job            TEXT   NOT NULL,
    id             TEXT   NOT NULL,
    triggered_by   TEXT   NOT NULL,
    started_at_us  BIGINT NOT NULL,
    finished_at_us BIGINT,
    status         TEXT   NOT NULL,
    counts         TEXT   NOT NULL,
    error          TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS switchboard_sync_runs_id
    ON switchboard_sync_runs (tenant, connection, job, id);
CREATE INDEX IF NOT EXISTS switchboard_sync_runs_newest
    ON switchboard_sync_runs (tenant, connection, job, seq);

-- What each side held when a key was last synced (bidirectional jobs).
CREATE TABLE IF NOT EXISTS switchboard_sync_links (
    tenant         TEXT   NOT NULL,
    connection     TEXT   NOT NULL,
    job            TEXT   NOT NULL,
    record_key     TEXT   NOT NULL,
    source_version BIGINT,
    sink_version   BIGINT,
    PRIMARY KEY (tenant, connection, job, record_key)
);

-- Conflicts parked for the host, at most one per key.
CREATE TABLE IF NOT EXISTS switchboard_sync_conflicts (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant         TEXT   NOT NULL,
    connection     TEXT   NOT NULL,
    job            TEXT   NOT NULL,
    record_key     TEXT   NOT NULL,
    source_record  TEXT   NOT NULL,
    sink_record    TEXT   NOT NULL,
    detected_at_us BIGINT NOT NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS switchboard_sync_conflicts_key
    ON switchboard_sync_conflicts (tenant, connection, job, record_key);
CREATE INDEX IF NOT EXISTS switchboard_sync_conflicts_oldest
    ON switchboard_sync_conflicts (tenant, connection, job, seq);
