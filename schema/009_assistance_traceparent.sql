-- The W3C traceparent an assistance request arrived with (the Kafka
-- header ingest set: the client's trace, or one ingest started), so every
-- delivery attempt's log line names the trace the request belongs to.
-- NULL for requests recorded before, or whose message carried none.
ALTER TABLE assistance_requests ADD COLUMN traceparent text;
