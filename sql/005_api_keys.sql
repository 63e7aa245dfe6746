-- Several API keys, each with a budget of its own upstream.
-- rate_limit_state holds one row per stream and key. A key is named by a fingerprint (16 hex
-- digits of its SHA-256), never by the key. A row written before keys were told apart keeps ''
-- and is read by a key that has no row of its own yet.
ALTER TABLE rate_limit_state ADD COLUMN key_fingerprint text NOT NULL DEFAULT '';
ALTER TABLE rate_limit_state DROP CONSTRAINT rate_limit_state_pkey;
ALTER TABLE rate_limit_state ADD PRIMARY KEY (stream, key_fingerprint);
-- The position in UPSTREAM_API_KEYS of the key an attempt went out on; NULL before.
ALTER TABLE submissions ADD COLUMN key_position integer CHECK (key_position > 0);
