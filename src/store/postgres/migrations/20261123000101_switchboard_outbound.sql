-- switchboard: outbound webhook endpoints, messages and attempts (see src/outbound/queue/postgres.rs).
-- Times are milliseconds since the Unix epoch; latency is microseconds; secrets are JSON text.

CREATE TABLE switchboard_outbound_endpoints (
    id               TEXT    NOT NULL PRIMARY KEY,
    url              TEXT    NOT NULL,
    secrets          TEXT    NOT NULL,
    enabled          BOOLEAN NOT NULL,
    disabled_reason  TEXT,
    failing_since_ms BIGINT
);

CREATE TABLE switchboard_outbound_messages (
    id              TEXT   NOT NULL PRIMARY KEY,
    endpoint_id     TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    payload         BYTEA  NOT NULL,
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_expiry_ms BIGINT,
    dead_reason     TEXT,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);

CREATE INDEX switchboard_outbound_messages_due
    ON switchboard_outbound_messages (status, next_attempt_ms);
CREATE INDEX switchboard_outbound_messages_lease
    ON switchboard_outbound_messages (status, lease_expiry_ms);

CREATE TABLE switchboard_outbound_attempts (
    seq         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  TEXT    NOT NULL,
    endpoint_id TEXT    NOT NULL,
    attempt     BIGINT  NOT NULL,
    at_ms       BIGINT  NOT NULL,
    status      BIGINT,
    latency_us  BIGINT  NOT NULL,
    success     BOOLEAN NOT NULL,
    error       TEXT
);

CREATE INDEX switchboard_outbound_attempts_endpoint
    ON switchboard_outbound_attempts (endpoint_id, at_ms);
CREATE INDEX switchboard_outbound_attempts_message
    ON switchboard_outbound_attempts (message_id);
