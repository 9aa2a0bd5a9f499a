-- contains= off the write path (docs/search.md). The trigram GIN on the whole
-- JSON text made every write of events ~5x dearer; the text index now lives
-- in event_search, which sluice-persist's indexer (persist/persist_search.c)
-- fills in bulk from a backlog that the writes of events fill themselves.
--
-- The invariant the event query relies on (ingest/events.c): at every
-- committed snapshot, each event either has its current body::text as its
-- event_search.doc, or its id is in event_search_backlog. The backlog is
-- written by statement triggers, in the transaction that writes the rows, so
-- whoever writes events (persist, an import, a migration, psql) enqueues
-- without knowing it; the indexer takes backlog rows and reads the bodies in
-- one statement, so one snapshot.
DROP INDEX IF EXISTS events_body_trgm;

CREATE TABLE event_search (
    id  uuid PRIMARY KEY,
    doc text NOT NULL -- events.body::text as the indexer read it
);
CREATE INDEX event_search_doc ON event_search USING gin (doc gin_trgm_ops);

-- One row per statement that wrote events: an append-only log whose rows
-- cost one small insert per statement, not one per event (per-row backlog
-- rows with an index on the id cost a COPY ~15% more). seq orders the log;
-- the same id may be in several rows.
CREATE SEQUENCE event_search_seq;
CREATE TABLE event_search_backlog (
    seq         bigint PRIMARY KEY,
    n           int NOT NULL,
    ids         uuid[] NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION event_search_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_search_backlog (seq, n, ids)
    SELECT nextval('event_search_seq'), count(*), array_agg(id) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END $$;
-- A trigger with transition tables takes one event each.
CREATE TRIGGER events_search_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_search_enqueue();
CREATE TRIGGER events_search_update AFTER UPDATE ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION event_search_enqueue();

-- Reads join events, so a leftover row would only cost space.
CREATE FUNCTION event_search_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_search WHERE id IN (SELECT id FROM old_rows);
    RETURN NULL;
END $$;
CREATE TRIGGER events_search_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION event_search_forget();
CREATE FUNCTION event_search_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_search, event_search_backlog;
    RETURN NULL;
END $$;
CREATE TRIGGER events_search_truncate AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION event_search_truncate();

-- The rows that exist already are the backlog's first entries (seq <= 0),
-- 10,000 ids to a row: the indexer builds their index after the migration
-- instead of the migration holding every replica's start.
INSERT INTO event_search_backlog (seq, n, ids)
SELECT -g, count(*), array_agg(id)
FROM (SELECT id, row_number() OVER () / 10000 AS g FROM events) AS numbered
GROUP BY g;

-- Indexes up to `batch` ids from the head of the backlog and removes their
-- rows; returns how many ids it indexed, or -1 when another session (another
-- persist replica) is indexing: one at a time, since two writing the same id
-- from snapshots taken in the other order would leave the older body.
CREATE FUNCTION event_search_index(batch int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    bound bigint;
    indexed bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('sluice.event_search')) THEN
        RETURN -1;
    END IF;
    SELECT seq INTO bound FROM (
        SELECT seq, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS upto
        FROM event_search_backlog) AS running
    WHERE upto >= batch ORDER BY seq LIMIT 1;
    IF bound IS NULL THEN
        SELECT max(seq) INTO bound FROM event_search_backlog;
        IF bound IS NULL THEN
            RETURN 0;
        END IF;
    END IF;
    -- One statement: the rows it deletes and the bodies it reads are of the
    -- same snapshot. A backlog row committed after it stays for the next
    -- call, and so does its event's newer body.
    WITH taken AS (
        DELETE FROM event_search_backlog WHERE seq <= bound RETURNING ids
    ), ids AS (
        SELECT DISTINCT unnest(ids) AS id FROM taken
    ), written AS (
        INSERT INTO event_search (id, doc)
        SELECT e.id, e.body::text FROM events e JOIN ids ON ids.id = e.id
        ON CONFLICT (id) DO UPDATE SET doc = excluded.doc
            WHERE event_search.doc IS DISTINCT FROM excluded.doc
    )
    SELECT count(*) INTO indexed FROM ids;
    RETURN indexed;
END $$;

-- An import is indexed once no backlog row is older than its last write:
-- persist counts an import's records (persist_batch.c count_imports) after
-- writing them in the same transaction, so the sequence's last value then
-- is at least the seq of every backlog row of that import. It may be a later
-- one (another session's): indexed then waits a little longer, never less.
ALTER TABLE imports ADD COLUMN search_seq bigint NOT NULL DEFAULT 0;
CREATE FUNCTION imports_search_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_seq := greatest(OLD.search_seq,
                               coalesce(pg_sequence_last_value('event_search_seq'::regclass), 0));
    RETURN NEW;
END $$;
CREATE TRIGGER imports_search_mark BEFORE UPDATE OF persisted, dropped ON imports
    FOR EACH ROW EXECUTE FUNCTION imports_search_mark();
