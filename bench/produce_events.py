"""Input of the persist benchmark: produces N events to <prefix>events exactly as
sluice-ingest would have (docs/design.md, envelope v1): key = the event id
(a time-ordered UUIDv7, distinct for every event), value = the JSON envelope
around a ~300-byte event body with its SHA-256 fingerprint, header
x-request-id, lz4-compressed batches like ingest's producer.

    /usr/bin/python3 bench/produce_events.py BROKERS N [BODIES.ndjson]

With BODIES, also writes the N event bodies (the request bodies ingest would
have received) there, one per line: the input of the bulk import benchmark,
so that it stores the same rows. Exits non-zero unless all N messages were acknowledged (acks=all)."""
import datetime
import hashlib
import json
import os
import sys
import time

from confluent_kafka import Producer


def uuid7_factory():
    """UUIDv7 strings: 48-bit Unix ms, then a 74-bit counter seeded at random
    (RFC 9562 method 2), so ids are distinct and ordered like ingest's."""
    state = {"ms": 0, "seq": 0}

    def make():
        ms = time.time_ns() // 1_000_000
        if ms > state["ms"]:
            state["ms"] = ms
            state["seq"] = int.from_bytes(os.urandom(10), "big") >> 7  # 73 bits: room to count
        else:
            state["seq"] += 1
        r = state["seq"] & ((1 << 74) - 1)
        v = (state["ms"] << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
        h = "%032x" % v
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    return make


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: produce_events.py BROKERS N [BODIES.ndjson]")
    brokers, n = sys.argv[1], int(sys.argv[2])
    bodies = open(sys.argv[3], "w", buffering=1 << 20) if len(sys.argv) == 4 else None
    topic = os.environ.get("SLUICE_TOPIC_PREFIX", "sluice.") + "events"
    p = Producer({"bootstrap.servers": brokers, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 20, "batch.num.messages": 10000, "compression.type": "lz4",
                  "queue.buffering.max.messages": 500000, "message.timeout.ms": 120000,
                  "socket.nagle.disable": True})
    failed = []

    def on_delivery(err, _msg):
        if err is not None and len(failed) < 10:
            failed.append(str(err))

    new_id = uuid7_factory()
    dumps = json.dumps
    start = time.time()
    for i in range(n):
        eid = new_id()
        now = datetime.datetime.now(datetime.timezone.utc)
        body = dumps({"type": "page.viewed", "occurred_at": "2026-11-22T10:00:00Z",
                      "user": {"id": f"u-{i % 100000}", "plan": "pro", "country": "FR"},
                      "page": "/pricing/enterprise", "referrer": "https://example.com/blog/post-about-things",
                      "session": eid, "tags": ["alpha", "beta", "gamma"], "n": i, "source": "web"},
                     separators=(",", ":"))
        if bodies:
            bodies.write(body + "\n")
        env = ('{"v":1,"id":"%s","operation":"create","collection":"events","received_at":"%s",'
               '"principal":"anonymous","tenant":"default","fingerprint":"%s","data":{"external_id":null,'
               '"type":"page.viewed","occurred_at":"2026-11-22T10:00:00.000000Z","body":%s}}'
               % (eid, now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                  hashlib.sha256(body.encode()).hexdigest(), body))
        while True:
            try:
                p.produce(topic, key=eid, value=env, headers={"x-request-id": eid},
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    if bodies:
        bodies.close()
    left = p.flush(180)
    if left or failed:
        sys.exit(f"produce_events: {left} messages not delivered, errors: {failed}")
    print(f"produce_events: {n} events acknowledged in {time.time() - start:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
