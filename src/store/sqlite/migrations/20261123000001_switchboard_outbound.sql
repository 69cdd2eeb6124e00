-- switchboard: outbound webhook endpoints, messages and attempts (see src/outbound/queue/sqlite.rs).
-- Times are milliseconds since the Unix epoch; latency is microseconds; secrets are JSON text.

CREATE TABLE switchboard_outbound_endpoints (
    id               TEXT    NOT NULL PRIMARY KEY,
    url              TEXT    NOT NULL,
    secrets          TEXT    NOT NULL,
    enabled          INTEGER NOT NULL,
    disabled_reason  TEXT,
    failing_since_ms INTEGER
) STRICT;

CREATE TABLE switchboard_outbound_messages (
    id              TEXT    NOT NULL PRIMARY KEY,
    endpoint_id     TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_expiry_ms INTEGER,
    dead_reason     TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
) STRICT;

CREATE INDEX switchboard_outbound_messages_due
    ON switchboard_outbound_messages (status, next_attempt_ms);
CREATE INDEX switchboard_outbound_messages_lease
    ON switchboard_outbound_messages (status, lease_expiry_ms);

CREATE TABLE switchboard_outbound_attempts (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT    NOT NULL,
    endpoint_id TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    status      INTEGER,
    latency_us  INTEGER NOT NULL,
    success     INTEGER NOT NULL,
    error       TEXT
) STRICT;

CREATE INDEX switchboard_outbound_attempts_endpoint
    ON switchboard_outbound_attempts (endpoint_id, at_ms);
CREATE INDEX switchboard_outbound_attempts_message
    ON switchboard_outbound_attempts (message_id);
