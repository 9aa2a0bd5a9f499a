"""The peer a user would otherwise pick: a FastAPI app producing each event to
Kafka with confluent-kafka (ingest's producer settings: acks=all, idempotence,
linger.ms=1, uncompressed, TCP_NODELAY to the brokers) and answering 202 only after the
delivery report, like sluice-ingest. Keyless, as the naive C front: the
sticky partitioner fills one batch at a time instead of spreading the
writes over every partition. Each uvicorn worker has
its own producer and a poll thread that resolves the request's asyncio future
with loop.call_soon_threadsafe. Run with Debian's interpreter:

    SLUICE_KAFKA_BROKERS=host:port,... /usr/bin/python3 -m uvicorn fastapi_peer:app \\
        --app-dir bench --workers 2 --host 127.0.0.1 --port 8090 --no-access-log

POST /v1/events -> 202 {"id", "status": "accepted"}; 503 + Retry-After when
Kafka refuses or does not ack within 5 s (message.timeout.ms).
"""
import asyncio
import os
import socket
import threading
import uuid

from confluent_kafka import KafkaException, Producer
from fastapi import FastAPI, Request, Response


def _nodelay_on_connect(protocol_class):
    """Debian 12's uvicorn 0.17.6, with --workers, binds the listening socket as
    socket.socket(AF_INET) (proto 0), and asyncio sets TCP_NODELAY only on
    sockets whose proto is IPPROTO_TCP: every kept-alive response then waits
    ~40 ms for a delayed ACK (Nagle), a handicap a user on a current uvicorn
    or uvloop does not have. Set it on each accepted connection."""
    made = protocol_class.connection_made

    def connection_made(self, transport):
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        made(self, transport)

    protocol_class.connection_made = connection_made


for _module, _name in (("uvicorn.protocols.http.h11_impl", "H11Protocol"),
                       ("uvicorn.protocols.http.httptools_impl", "HttpToolsProtocol")):
    try:
        _nodelay_on_connect(getattr(__import__(_module, fromlist=[_name]), _name))
    except ImportError:
        pass

TOPIC = os.environ.get("SLUICE_TOPIC_PREFIX", "sluice.") + "events"
state = {}


def _poll(producer, stop):
    while not stop.is_set():
        producer.poll(0.1)


app = FastAPI()


# on_event, not lifespan=: Debian 12's FastAPI 0.92 ignores a lifespan argument.
@app.on_event("startup")
def on_startup():
    producer = Producer({
        "bootstrap.servers": os.environ["SLUICE_KAFKA_BROKERS"],
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 1,
        "message.timeout.ms": 5000,
        "compression.type": "none",
        "socket.nagle.disable": True,
        "queue.buffering.max.messages": 200000,
    })
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(producer, stop), daemon=True)
    poller.start()
    state.update(producer=producer, stop=stop, poller=poller)


@app.on_event("shutdown")
def on_shutdown():
    state["producer"].flush(5)
    state["stop"].set()
    state["poller"].join()


def _unavailable():
    return Response(status_code=503, headers={"Retry-After": "1"})


@app.post("/v1/events", status_code=202)
async def post_event(request: Request):
    body = await request.body()
    loop = asyncio.get_running_loop()
    delivered = loop.create_future()
    event_id = str(uuid.uuid4())

    def on_delivery(err, _msg):
        # Runs on the poll thread: hand the outcome to the event loop.
        loop.call_soon_threadsafe(lambda: delivered.done() or delivered.set_result(err))

    try:
        state["producer"].produce(TOPIC, value=body, on_delivery=on_delivery)
    except (BufferError, KafkaException):
        return _unavailable()
    if await delivered is not None:
        return _unavailable()
    return {"id": event_id, "status": "accepted"}
