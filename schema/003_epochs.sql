-- Epoch: a timestamp and the caller's address, stored under a UUID key.
CREATE TABLE epochs (
    key        uuid PRIMARY KEY,
    epoch_ms   bigint NOT NULL CHECK (epoch_ms >= 0),
    ip         inet NOT NULL,
    created_at timestamptz NOT NULL
);
