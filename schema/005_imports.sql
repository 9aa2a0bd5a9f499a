-- Bulk imports: ingest records what it received and published; the persist
-- worker adds to persisted in the same transaction that writes the rows, so a
-- replayed batch never counts twice.
CREATE TABLE imports (
    id          uuid PRIMARY KEY,
    collection  text NOT NULL,
    status      text NOT NULL,
    received    bigint NOT NULL DEFAULT 0,
    accepted    bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    persisted   bigint NOT NULL DEFAULT 0,
    errors      jsonb NOT NULL DEFAULT '[]',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
