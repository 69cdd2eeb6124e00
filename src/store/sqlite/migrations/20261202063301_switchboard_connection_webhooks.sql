-- switchboard: each connection's webhook token (in its webhook URL) and webhook routing key
-- (for payload-routed providers). Both nullable, so rows stored before this migration still
-- load; `Connections::webhook_path` gives such a row a token on first use. The unique indexes
-- make a token name one connection, and a routing key one connection per template.

ALTER TABLE switchboard_connections ADD COLUMN webhook_token TEXT;
ALTER TABLE switchboard_connections ADD COLUMN webhook_routing_key TEXT;

CREATE UNIQUE INDEX switchboard_connections_webhook_token
    ON switchboard_connections (webhook_token);
CREATE UNIQUE INDEX switchboard_connections_webhook_routing_key
    ON switchboard_connections (template, webhook_routing_key);
