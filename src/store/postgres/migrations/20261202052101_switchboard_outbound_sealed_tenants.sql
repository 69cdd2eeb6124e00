-- switchboard: outbound endpoints belong to a tenant (two tenants may use one endpoint id) and
-- their signing secrets are sealed with the vault (BYTEA bound to tenant and endpoint id).
-- Secrets stored in clear by an older build move to `legacy_secrets`; connecting seals them
-- into `secrets` and clears the clear copy.

ALTER TABLE switchboard_outbound_endpoints ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE switchboard_outbound_endpoints RENAME COLUMN secrets TO legacy_secrets;
ALTER TABLE switchboard_outbound_endpoints ALTER COLUMN legacy_secrets DROP NOT NULL;
ALTER TABLE switchboard_outbound_endpoints ADD COLUMN secrets BYTEA;
ALTER TABLE switchboard_outbound_endpoints DROP CONSTRAINT switchboard_outbound_endpoints_pkey;
ALTER TABLE switchboard_outbound_endpoints ADD PRIMARY KEY (tenant, id);

ALTER TABLE switchboard_outbound_messages ADD COLUMN endpoint_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE switchboard_outbound_attempts ADD COLUMN endpoint_tenant TEXT NOT NULL DEFAULT '';

DROP INDEX switchboard_outbound_attempts_endpoint;
CREATE INDEX switchboard_outbound_attempts_endpoint
    ON switchboard_outbound_attempts (endpoint_tenant, endpoint_id, at_ms);
