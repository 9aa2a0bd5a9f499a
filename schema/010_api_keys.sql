-- API keys (ingest/keystore.c, ingest/keys.c). The key itself is never
-- stored: only its HMAC-SHA256 under the server's pepper (SHA-256 when no
-- pepper is set), found by the public lookup id the key carries.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    hash         bytea NOT NULL,
    tenant       text NOT NULL,
    scopes       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    -- Written in batches by each ingest replica (at most every few
    -- seconds), not once per request.
    last_used_at timestamptz,
    revoked_at   timestamptz,
    -- The key that replaced this one (POST /v1/keys/{id}/roll).
    rolled_to    text REFERENCES api_keys (id)
);

-- Every ingest replica keeps the valid keys in memory and LISTENs here: a
-- key created, rolled or revoked anywhere (an API call on another replica,
-- `sluice-ingest create-key`, an operator's UPDATE) reaches all of them at
-- once. The payload is the key's id; a replica then reloads the table, which
-- holds keys, not traffic, and stays small.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sluice_keys', COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_added AFTER INSERT OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify();
-- Not on last_used_at: the replicas' own batched writes would wake them all.
CREATE TRIGGER api_keys_changed
    AFTER UPDATE OF name, hash, tenant, scopes, expires_at, revoked_at ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify();
