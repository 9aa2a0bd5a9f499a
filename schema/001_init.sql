-- Events: the webhook ingestion collection.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    external_id text,
    type        text,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    body        jsonb NOT NULL,
    -- SHA-256 of the request body: lets ingest tell a retried request from a
    -- different body sent under the same Idempotency-Key.
    fingerprint text
);

-- Date range queries and keyset pagination: ORDER BY occurred_at, id.
CREATE INDEX events_occurred_at_id ON events (occurred_at, id);
CREATE INDEX events_type_occurred_at_id ON events (type, occurred_at, id);
CREATE INDEX events_external_id ON events (external_id) WHERE external_id IS NOT NULL;
-- contains=: case-insensitive substring of the stored JSON text.
CREATE INDEX events_body_trgm ON events USING gin ((body::text) gin_trgm_ops);

-- How far each partition has been applied, written in the same transaction as
-- the rows: PostgreSQL, not Kafka, is the source of truth for progress.
CREATE TABLE kafka_offsets (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL,
    next_offset    bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);
