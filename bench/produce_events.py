"""Produces N Sluice event envelopes (~300-byte bodies, distinct ids) to
sluice.events as fast as the broker takes them: the input of the persist
benchmark. Usage: produce_events.py BROKERS N"""
import json
import sys
import time
import uuid

from confluent_kafka import Producer

brokers, n = sys.argv[1], int(sys.argv[2])
p = Producer({"bootstrap.servers": brokers, "acks": "all", "linger.ms": 20,
              "batch.num.messages": 10000, "queue.buffering.max.messages": 500000,
              "compression.type": "lz4"})
start = time.time()
for i in range(n):
    eid = str(uuid.uuid4())
    env = {"v": 1, "id": eid, "operation": "create", "collection": "events",
           "received_at": "2026-11-22T10:00:00.000000Z", "principal": "bench", "fingerprint": None,
           "data": {"external_id": None, "type": "page.viewed", "occurred_at": "2024-05-01T12:00:00.000000Z",
                    "body": {"type": "page.viewed", "user": {"id": f"u-{i}", "plan": "pro", "country": "FR"},
                             "page": "/pricing/enterprise", "referrer": "https://example.com/blog/post-about-things",
                             "session": eid, "n": i}}}
    while True:
        try:
            p.produce("sluice.events", key=eid, value=json.dumps(env))
            break
        except BufferError:
            p.poll(0.05)
    if i % 20000 == 0:
        p.poll(0)
left = p.flush(120)
if left:
    sys.exit(f"produce_events: {left} messages not delivered")
print(f"produced {n} events in {time.time() - start:.1f}s", file=sys.stderr)
