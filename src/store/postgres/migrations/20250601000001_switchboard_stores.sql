-- switchboard: sealed credentials and connection records (see src/store/postgres/mod.rs).
-- Every write is a compare-and-swap on `version`, which starts at 1.
-- Times are milliseconds since the Unix epoch.

CREATE TABLE switchboard_credentials (
    tenant     TEXT   NOT NULL,
    connection TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    version    BIGINT NOT NULL CHECK (version > 0),
    sealed     BYTEA  NOT NULL,
    PRIMARY KEY (tenant, connection, kind)
);

CREATE TABLE switchboard_connections (
    tenant               TEXT   NOT NULL,
    id                   TEXT   NOT NULL,
    template             TEXT   NOT NULL,
    name                 TEXT   NOT NULL,
    status               TEXT   NOT NULL,
    config               JSONB  NOT NULL,
    last_check_ms        BIGINT,
    last_success_ms      BIGINT,
    last_sync_ms         BIGINT,
    last_event_ms        BIGINT,
    last_error           TEXT,
    consecutive_failures BIGINT NOT NULL,
    version              BIGINT NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant, id)
);
