-- Assistance requests and their deliveries. sluice-notify records a request
-- and one pending delivery per (request, channel) idempotently, then drives
-- every send from these rows: a replica claims due deliveries with
-- FOR UPDATE SKIP LOCKED and a lease, so replicas share the work, a restart
-- resumes, and a delivery recorded as delivered is never sent again.
CREATE TABLE assistance_requests (
    id          uuid PRIMARY KEY,
    topic       text NOT NULL,
    description text NOT NULL,
    request_id  text,
    -- The topic's fallback channel when the request was routed (NULL: none).
    fallback    text,
    -- The Kafka message value, kept so a failed delivery can send the very
    -- request to the dead-letter topic.
    envelope    text NOT NULL,
    received_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE assistance_deliveries (
    request_id      uuid NOT NULL REFERENCES assistance_requests (id),
    channel         text NOT NULL,
    type            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    -- When the next attempt is due; a claim moves it one lease ahead, so a
    -- replica that dies mid-send leaves a delivery someone retries later.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    fallback        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, channel)
);

-- Each replica claims per channel (so no channel takes the whole pool).
CREATE INDEX assistance_deliveries_channel_due ON assistance_deliveries (channel, next_attempt_at)
    WHERE status = 'pending';
