-- Applied offsets name the log they belong to. A restarted dev broker or a
-- recreated topic starts its partitions at offset 0 again, so an offset alone
-- does not say which message it follows: persist keeps the cluster id and a
-- digest of the last message it applied (the anchor) and, on assignment,
-- resumes only when the message at next_offset - 1 is that very message.
-- Rows written before this migration have neither (NULL) and keep the old rule.
ALTER TABLE kafka_offsets
    ADD COLUMN cluster_id text,
    ADD COLUMN anchor     text;

-- A record's own id is its identity: a changed record replaces the stored one
-- as a new version; an identical one changes nothing.
ALTER TABLE events
    ADD COLUMN version    int NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz;

-- What an import's records did: created + updated + unchanged = persisted.
-- dropped counts records the worker refused (poison, in the dead-letter
-- topic): never persisted, but handled, so the import still reaches done.
ALTER TABLE imports
    ADD COLUMN created   bigint NOT NULL DEFAULT 0,
    ADD COLUMN updated   bigint NOT NULL DEFAULT 0,
    ADD COLUMN unchanged bigint NOT NULL DEFAULT 0,
    ADD COLUMN dropped   bigint NOT NULL DEFAULT 0;

-- An Idempotency-Key names a request: its body's fingerprint and the record
-- it made. Written by persist in the batch that applies the request, so a key
-- reused with another body is refused even when two ingest replicas accepted
-- both before either reached PostgreSQL.
CREATE TABLE idempotency_keys (
    principal   text NOT NULL,
    collection  text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    record_id   uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, collection, key)
);
