"""Spans for OpenTelemetry users: with OTEL_EXPORTER_OTLP_ENDPOINT set,
ingest, persist and notify post OTLP/HTTP JSON to a collector, here a small
receiver on a loopback port that records what it got.

A write that arrives with a traceparent gives ingest's SERVER span (a child
of the client's span) and PRODUCER span, persist's CONSUMER span (a child of
the producer, whose id the Kafka message's traceparent names) and, for an
assistance request, notify's CLIENT span of the delivery; all in the
client's trace, under each process's service.name, with the headers of
OTEL_EXPORTER_OTLP_HEADERS. With OTEL_TRACES_SAMPLER=always_off, ingest
sends nothing at all (not even at shutdown, when it flushes), and tells the
workers so in the sampled flag it passes on."""
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness
from harness import StackCase

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


class Receiver:
    """An OTLP/HTTP collector stand-in: records every POST (path, headers,
    parsed JSON body) and answers 200 {}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as libcurl uses it

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    doc = json.loads(body)
                except ValueError as exc:
                    doc = {"unparsed": repr(exc), "body": body[:200].decode(errors="replace")}
                with receiver.lock:
                    receiver.posts.append({"path": self.path, "headers": dict(self.headers.items()), "body": doc})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def all_posts(self):
        with self.lock:
            return list(self.posts)

    def spans(self, trace=None):
        """Every span received (of `trace`, when given), each with the
        service.name of its resource as "service"."""
        out = []
        for post in self.all_posts():
            for rs in post["body"].get("resourceSpans") or []:
                attrs = {a["key"]: a["value"] for a in rs.get("resource", {}).get("attributes", [])}
                service = attrs.get("service.name", {}).get("stringValue")
                for ss in rs.get("scopeSpans") or []:
                    for span in ss.get("spans") or []:
                        if trace is None or span.get("traceId") == trace:
                            out.append({**span, "service": service})
        return out


def attributes(span):
    """A span's attributes as {key: python value} (intValue as int)."""
    out = {}
    for a in span.get("attributes") or []:
        v = a["value"]
        out[a["key"]] = int(v["intValue"]) if "intValue" in v else v.get("stringValue")
    return out


def new_traceparent():
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace, parent, f"00-{trace}-{parent}-01"


def routing(stack):
    path = os.path.join(stack.dir, "deliveries.log")
    return {"channels": {"ops-log": {"type": "log", "path": path}},
            "topics": {"sales": {"channels": ["ops-log"]}}}


class ReceiverCase(StackCase):
    """A StackCase whose processes export to a Receiver started before them;
    otel() gives the stack options for the receiver's URL."""

    @classmethod
    def otel(cls, url):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.stack_options = cls.otel(cls.receiver.url)
        try:
            super().setUpClass()
        except BaseException:
            cls.receiver.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.receiver.close()

    def wait_spans(self, trace, wanted, what, timeout=60):
        """Waits until the spans of `trace` include one per (service, kind)
        of `wanted`; returns {(service, kind): span}."""
        def found():
            got = {}
            for s in self.receiver.spans(trace):
                got.setdefault((s["service"], s["kind"]), s)
            return got if all(w in got for w in wanted) else None
        return self.wait(found, timeout, lambda: f"{what}: spans {wanted} of trace {trace}; received "
                                                 f"{[(s['service'], s['kind'], s['name']) for s in self.receiver.spans(trace)]}")

    def check_times(self, span, what):
        start, end = int(span["startTimeUnixNano"]), int(span["endTimeUnixNano"])
        now = time.time_ns()
        self.expect(now - 120 * 10**9 < start <= end <= now + 10**9, f"{what}: start and end",
                    "unix nanoseconds, start <= end, within the last two minutes", (start, end))


class Exported(ReceiverCase):
    @classmethod
    def otel(cls, url):
        # A short schedule so the test waits for batches, not the 5 s default.
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-token=s3cret%20value"}
        return {"persist": 1, "notify": 1, "routing": routing, "env": otel,
                "notify_env": {"OTEL_SERVICE_NAME": "notify-under-test"}}

    def test_event_spans_follow_the_client_trace(self):
        trace, parent, tp = new_traceparent()
        eid = self.post_event({"type": "spanned", "tag": self.token}, {"traceparent": tp})
        got = self.wait_spans(trace, [("sluice-ingest", SERVER), ("sluice-ingest", PRODUCER),
                                      ("sluice-persist", CONSUMER)], "an event's spans")
        server, producer = got[("sluice-ingest", SERVER)], got[("sluice-ingest", PRODUCER)]
        consumer = got[("sluice-persist", CONSUMER)]

        self.expect_eq((server.get("parentSpanId"), server["name"]), (parent, "POST /v1/events"),
                       "the SERVER span: a child of the client's span, named by its route")
        a = attributes(server)
        self.expect_eq((a.get("http.request.method"), a.get("http.route"), a.get("http.response.status_code"),
                        a.get("sluice.record_id")), ("POST", "/v1/events", 202, eid), "the SERVER span's attributes")
        self.expect_eq(server["status"].get("code", 0), 0, "the SERVER span's status (a 202)")

        self.expect_eq(producer.get("parentSpanId"), server["spanId"], "the PRODUCER span's parent")
        a = attributes(producer)
        self.expect_eq((producer["name"], a.get("messaging.system"), a.get("messaging.destination.name")),
                       (f"send {self.stack.topic}", "kafka", self.stack.topic), "the PRODUCER span")

        # The message names the producer as its parent, and persist follows it.
        msg = self.stack.messages_of(self.stack.topic, eid)
        self.expect_eq(msg[0]["headers"].get("traceparent") if msg else None,
                       f"00-{trace}-{producer['spanId']}-01", "the Kafka message's traceparent")
        self.expect_eq(consumer.get("parentSpanId"), producer["spanId"], "the CONSUMER span's parent")
        a = attributes(consumer)
        self.expect_eq((consumer["name"], a.get("messaging.destination.name"), a.get("sluice.outcome")),
                       (f"process {self.stack.topic}", self.stack.topic, "committed"), "the CONSUMER span")
        self.expect(isinstance(a.get("messaging.batch.message_count"), int) and a["messaging.batch.message_count"] >= 1
                    and a.get("messaging.destination.partition.id", "").isdigit(),
                    "the CONSUMER span's records and partition", "a count >= 1 and a partition number", a)
        for name, span in (("SERVER", server), ("PRODUCER", producer), ("CONSUMER", consumer)):
            self.check_times(span, name)
            self.expect(len(span["spanId"]) == 16 and span["spanId"] not in (parent,), f"the {name} span's id",
                        "16 hex digits of its own", span["spanId"])

        posts = self.receiver.all_posts()
        self.expect_eq({p["path"] for p in posts}, {"/v1/traces"}, "paths posted to")
        self.expect(all((p["headers"].get("Content-Type") or "").startswith("application/json") for p in posts),
                    "Content-Type of every post", "application/json", {p["headers"].get("Content-Type") for p in posts})
        self.expect_eq({p["headers"].get("x-collector-token") for p in posts}, {"s3cret value"},
                       "OTEL_EXPORTER_OTLP_HEADERS on every post")

        r = self.http.get("/metrics")
        exported = [v for n, labels, v in harness.parse_metrics(r.body.decode())
                    if n == "sluice_otlp_spans_total" and labels.get("outcome") == "exported"]
        self.expect(exported and exported[0] >= 2, "ingest's sluice_otlp_spans_total{outcome=exported}",
                    ">= 2", exported)

    def test_delivery_span(self):
        trace, parent, tp = new_traceparent()
        aid = self.post_assistance("sales", f"Quote {self.token}", {"traceparent": tp})
        self.wait_delivery(aid, "ops-log", "delivered", timeout=60)
        got = self.wait_spans(trace, [("sluice-ingest", SERVER), ("sluice-ingest", PRODUCER),
                                      ("notify-under-test", CLIENT)], "an assistance request's spans")
        producer, client = got[("sluice-ingest", PRODUCER)], got[("notify-under-test", CLIENT)]
        self.expect_eq(got[("sluice-ingest", SERVER)].get("parentSpanId"), parent, "the SERVER span's parent")
        self.expect_eq(client.get("parentSpanId"), producer["spanId"],
                       "the delivery span: a child of the traceparent stored with the request")
        a = attributes(client)
        self.expect_eq((client["name"], a.get("sluice.channel"), a.get("sluice.outcome"), a.get("sluice.attempt"),
                        a.get("sluice.assistance_id"), client["status"].get("code", 0)),
                       ("deliver ops-log", "ops-log", "delivered", 1, aid, 0), "the delivery span")
        self.check_times(client, "CLIENT")

    def test_unrouted_request_span(self):
        trace, parent, tp = new_traceparent()
        r = self.http.get(f"/nosuch/{self.token}", {"traceparent": tp})
        self.expect(400 <= r.status < 500, "GET of an unknown path", "a 4xx", r)
        server = self.wait_spans(trace, [("sluice-ingest", SERVER)], "an unrouted request's span")[("sluice-ingest", SERVER)]
        a = attributes(server)
        # No route: the method alone names it (a path would make every 404 a name).
        self.expect_eq((server["name"], "http.route" in a, a.get("http.response.status_code"),
                        server["status"].get("code", 0), server.get("parentSpanId")),
                       ("GET", False, r.status, 0, parent), "the span of a 4xx with no route")


class AlwaysOff(ReceiverCase):
    @classmethod
    def otel(cls, url):
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        # persist samples everything, whatever the flag: it shows the
        # receiver works in this stack, and the flag ingest passed on.
        return {"persist": 1, "env": otel, "ingest_env": {"OTEL_TRACES_SAMPLER": "always_off"},
                "persist_env": {"OTEL_TRACES_SAMPLER": "always_on"}}

    def test_always_off_sends_nothing(self):
        trace, parent, tp = new_traceparent()
        eid = self.post_event({"type": "unsampled", "tag": self.token}, {"traceparent": tp})
        got = self.wait_spans(trace, [("sluice-persist", CONSUMER)], "persist's span (always_on there)")
        msg = self.stack.messages_of(self.stack.topic, eid)
        sent = msg[0]["headers"].get("traceparent", "") if msg else ""
        self.expect(sent.startswith(f"00-{trace}-") and sent.endswith("-00") and parent not in sent,
                    "the traceparent ingest passed on", f"00-{trace}-<ingest's span>-00 (not sampled)", sent)
        self.expect_eq(got[("sluice-persist", CONSUMER)].get("parentSpanId"), sent.split("-")[2],
                       "persist's span: a child of the message's traceparent")
        # ingest flushes its queue when it stops: anything it had would come now.
        problem = self.stack.ingest.stop()
        self.expect(problem is None, "ingest stopping on SIGTERM", "exit 0", problem)
        self.stack.start_ingest()
        services = {s["service"] for s in self.receiver.spans()}
        self.expect_eq(services, {"sluice-persist"}, "services that sent spans (ingest's sampler is always_off)")
