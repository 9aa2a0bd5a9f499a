-- Every ingest replica keeps a filter of the Idempotency-Keys stored here
-- (ingest/keyfilter.c), so that a key never seen costs no database round
-- trip on the request path. It loads the filter with sluice_idem_hash and
-- hears of every key stored afterwards, by whichever persist replica, from
-- this trigger's notifications, sent when the inserting transaction commits:
-- no key stored after the load is missed, whatever the order of commits.
-- C computes the same hash (keyfilter_hash): the first 8 bytes of SHA-256
-- over principal, collection and key joined by newlines, in hex.
CREATE FUNCTION sluice_idem_hash(principal text, collection text, key text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT encode(substr(sha256(convert_to(principal || E'\n' || collection || E'\n' || key,
                                                 'UTF8')), 1, 8), 'hex') $$;

-- 400 hashes of 17 bytes per notification: under the 8000-byte payload limit.
CREATE FUNCTION idempotency_keys_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    chunk text;
BEGIN
    FOR chunk IN
        SELECT string_agg(sluice_idem_hash(principal, collection, key), ' ')
        FROM (SELECT principal, collection, key, (row_number() OVER () - 1) / 400 AS part
              FROM new_rows) AS r
        GROUP BY part
    LOOP
        PERFORM pg_notify('sluice_idempotency_keys', chunk);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER idempotency_keys_notify
    AFTER INSERT ON idempotency_keys
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION idempotency_keys_notify();
