-- Webhook event ids claimed or processed, for de-duplication (switchboard::webhook::dedup,
-- PostgresDedupStore). `scope` names the connector, tenant and connection (the router builds
-- it), so two tenants sharing a connection id and an event id have two rows. `state` is
-- 'in_flight' (claimed by the worker holding `token` until `expires_at_ms`) or 'done'
-- (processed; remembered until `expires_at_ms`). Times are Unix epoch milliseconds.
CREATE TABLE IF NOT EXISTS switchboard_webhook_dedup (
    scope         TEXT   NOT NULL,
    event_id      TEXT   NOT NULL,
    state         TEXT   NOT NULL CHECK (state IN ('in_flight', 'done')),
    token         TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, event_id)
);

CREATE INDEX IF NOT EXISTS switchboard_webhook_dedup_expiry
    ON switchboard_webhook_dedup (expires_at_ms);
