-- switchboard: which sealed config a connection record uses. `Connections::update_config`
-- seals the new secrets under a new credential kind (`config.<generation>`) first, then names
-- that generation here in the record's compare-and-swap write, so a reader always pairs a
-- record with the secrets sealed for it. NULL (rows written before this migration, and new
-- connections) means the original kind, `config`.

ALTER TABLE switchboard_connections ADD COLUMN IF NOT EXISTS config_generation TEXT;
