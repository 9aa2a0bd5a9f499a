-- Dead letters sent back to their source topic (POST /v1/dlq/{collection}/replay).
-- A letter is named by its place and a digest of its key and value: a new log
-- that reuses offsets holds new letters. A claim without replayed_at is a
-- replay in flight (or one whose ingest died: taken again after a minute).
CREATE TABLE dlq_replays (
    dlq_topic    text NOT NULL,
    partition    int NOT NULL,
    "offset"     bigint NOT NULL,
    digest       text NOT NULL,
    source_topic text NOT NULL,
    claimed_at   timestamptz NOT NULL,
    replayed_at  timestamptz,
    PRIMARY KEY (dlq_topic, partition, "offset", digest)
);
