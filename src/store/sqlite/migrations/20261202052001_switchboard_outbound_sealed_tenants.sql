-- switchboard: outbound endpoints belong to a tenant (two tenants may use one endpoint id) and
-- their signing secrets are sealed with the vault (a BLOB bound to tenant and endpoint id).
-- Secrets stored in clear by an older build move to `legacy_secrets`; SqliteQueue::open seals
-- them into `secrets` and clears the clear copy. SQLite cannot change a primary key in place,
-- so the endpoints table is rebuilt.

CREATE TABLE switchboard_outbound_endpoints_v2 (
    tenant           TEXT    NOT NULL DEFAULT '',
    id               TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    secrets          BLOB,
    legacy_secrets   TEXT,
    enabled          INTEGER NOT NULL,
    disabled_reason  TEXT,
    failing_since_ms INTEGER,
    PRIMARY KEY (tenant, id)
) STRICT;

INSERT INTO switchboard_outbound_endpoints_v2
    (tenant, id, url, secrets, legacy_secrets, enabled, disabled_reason, failing_since_ms)
SELECT '', id, url, NULL, secrets, enabled, disabled_reason, failing_since_ms
FROM switchboard_outbound_endpoints;

DROP TABLE switchboard_outbound_endpoints;
ALTER TABLE switchboard_outbound_endpoints_v2 RENAME TO switchboard_outbound_endpoints;

ALTER TABLE switchboard_outbound_messages ADD COLUMN endpoint_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE switchboard_outbound_attempts ADD COLUMN endpoint_tenant TEXT NOT NULL DEFAULT '';

DROP INDEX switchboard_outbound_attempts_endpoint;
CREATE INDEX switchboard_outbound_attempts_endpoint
    ON switchboard_outbound_attempts (endpoint_tenant, endpoint_id, at_ms);
