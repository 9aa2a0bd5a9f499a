"""The peer a user would otherwise pick: FastAPI producing each event to Kafka
with confluent-kafka (acks=all, idempotence, linger.ms=1) and answering 202 only
after the delivery report, like sluice-ingest. Run with Debian's interpreter:

    SLUICE_KAFKA_BROKERS=... /usr/bin/python3 -m uvicorn fastapi_peer:app \\
        --app-dir bench --workers 2 --port 8090 --no-access-log
"""
import asyncio
import os
import threading
import uuid

from confluent_kafka import Producer
from fastapi import FastAPI, Request, Response

app = FastAPI()
producer = None


def _poll_forever(p):
    while True:
        p.poll(0.1)


@app.on_event("startup")
async def start():
    global producer
    producer = Producer({
        "bootstrap.servers": os.environ["SLUICE_KAFKA_BROKERS"],
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 1,
        "message.timeout.ms": 5000,
    })
    threading.Thread(target=_poll_forever, args=(producer,), daemon=True).start()


@app.post("/v1/events", status_code=202)
async def post_event(request: Request):
    body = await request.body()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    event_id = str(uuid.uuid4())

    def report(err, msg):
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(err))

    producer.produce("sluice.events", key=event_id, value=body, on_delivery=report)
    err = await done
    if err is not None:
        return Response(status_code=503, headers={"Retry-After": "1"})
    return {"id": event_id, "status": "accepted"}
