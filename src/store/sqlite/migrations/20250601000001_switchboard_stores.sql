-- switchboard: sealed credentials and connection records (see src/store/sqlite/mod.rs).
-- Every write is a compare-and-swap on `version`, which starts at 1.
-- Times are milliseconds since the Unix epoch; `config` is JSON text.

CREATE TABLE switchboard_credentials (
    tenant     TEXT    NOT NULL,
    connection TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version > 0),
    sealed     BLOB    NOT NULL,
    PRIMARY KEY (tenant, connection, kind)
) STRICT;

CREATE TABLE switchboard_connections (
    tenant               TEXT    NOT NULL,
    id                   TEXT    NOT NULL,
    template             TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    status               TEXT    NOT NULL,
    config               TEXT    NOT NULL,
    last_check_ms        INTEGER,
    last_success_ms      INTEGER,
    last_sync_ms         INTEGER,
    last_event_ms        INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL,
    version              INTEGER NOT NULL CHECK (version > 0),
    PRIMARY KEY (tenant, id)
) STRICT;
