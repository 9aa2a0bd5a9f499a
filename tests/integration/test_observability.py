"""One request followed everywhere, and metrics as Prometheus reads them.

A write's X-Request-ID and W3C traceparent (the client's continued, or one
ingest starts when it sends none or an invalid one) reach the Kafka headers
and the JSON log lines of ingest, persist and (for an assistance request)
notify, including a dead letter's; every line of every process is a JSON
object; each /metrics parses with the Prometheus client library's own parser
(Debian's python3-prometheus-client) under Prometheus' naming rules, and its
counts move as expected after some writes; a partition whose messages wait
while its offset does not move is reported stuck, then no longer; with more
persist replicas than partitions, the one the group gives nothing says it is
idle until it takes over."""
import json
import os
import re
import subprocess
import uuid

import harness
from harness import Http, StackCase, wait_until

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # pragma: no cover - scripts/deps.sh installs it
    text_string_to_metric_families = None

STUCK_MS = 1500
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def new_traceparent(flags="01"):
    trace, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    return trace, parent, f"00-{trace}-{parent}-{flags}"


def routing(stack):
    path = os.path.join(stack.dir, "deliveries.log")
    return {"channels": {"ops-log": {"type": "log", "path": path}},
            "topics": {"sales": {"channels": ["ops-log"]}}}


class Observability(StackCase):
    stack_options = {"persist": 1, "notify": 1, "routing": routing,
                     "env": {"SLUICE_LOG_LEVEL": "debug"},
                     "persist_env": {"SLUICE_STUCK_PARTITION_MS": str(STUCK_MS)}}

    # -- logs

    def json_lines(self, which, since=0):
        """The process's log lines after byte `since`, parsed (harness markers left out)."""
        out = []
        for line in self.stack.log_lines(which, since):
            if line.startswith("==== harness:"):
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsed": line})
        return out

    def wait_line(self, which, what, timeout=60, since=0, **fields):
        """Waits for a JSON line of `which` whose fields include `fields`; returns it."""
        def found():
            for line in self.json_lines(which, since):
                if all(line.get(k) == v for k, v in fields.items()):
                    return line
            return None
        return self.wait(found, timeout, lambda: f"a line of {which} with {fields} ({what}); "
                                                 f"see {self.stack.proc(which).log}")

    # -- metrics

    def scrape(self, which, i=0):
        """(text, {(name, labels): value}) of a process's GET /metrics, parsed by
        prometheus_client and checked against Prometheus' conventions."""
        if text_string_to_metric_families is None:
            self.fail("python3-prometheus-client is missing: scripts/deps.sh installs it "
                      "(the test must run under /usr/bin/python3)")
        port = {"ingest": self.stack.ingest_port, "persist": self.stack.persist_ports[i],
                "notify": self.stack.notify_ports[i]}[which]
        client = Http("127.0.0.1", port)
        try:
            r = client.get("/metrics")
        finally:
            client.close()
        self.expect_eq(r.status, 200, f"GET /metrics of {which}")
        self.expect((r.header("Content-Type") or "").startswith("text/plain; version=0.0.4"),
                    f"{which} /metrics Content-Type", "text/plain; version=0.0.4", r.header("Content-Type"))
        text = r.body.decode()
        try:
            families = list(text_string_to_metric_families(text))
        except Exception as exc:  # the parser's own complaint names the line
            self.fail(f"{which} /metrics does not parse as Prometheus text: {exc!r}\n{text[:2000]}")
        return text, self.check_families(which, text, families)

    def check_families(self, which, text, families):
        samples, names = {}, set()
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        for name, typ in types.items():
            if typ == "counter":
                self.expect(name.endswith("_total"), f"{which}: counter {name}", "a name ending in _total", name)
            elif typ == "histogram":
                self.expect(re.search(r"_(seconds|bytes|messages)$", name) is not None,
                            f"{which}: histogram {name}", "a unit suffix (_seconds, _bytes, _messages)", name)
            else:
                self.expect(typ == "gauge", f"{which}: type of {name}", "counter, gauge or histogram", typ)
        for fam in families:
            self.expect(fam.type != "untyped", f"{which}: family {fam.name}",
                        "a sample under its own HELP and TYPE", [s.name for s in fam.samples][:3])
            self.expect(fam.name not in names, f"{which}: family {fam.name}", "HELP and TYPE once", "twice")
            names.add(fam.name)
            self.expect(bool(fam.documentation), f"{which}: HELP of {fam.name}", "a help text", fam.documentation)
            for s in fam.samples:
                key = (s.name, tuple(sorted(s.labels.items())))
                self.expect(key not in samples, f"{which}: series {key}", "once", "twice")
                samples[key] = s.value
            if fam.type == "histogram":
                self.check_histogram(which, fam)
        return samples

    def check_histogram(self, which, fam):
        series = {}
        for s in fam.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
            series.setdefault(labels, {"buckets": [], "count": None})
            if s.name.endswith("_bucket"):
                series[labels]["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                series[labels]["count"] = s.value
        for labels, h in series.items():
            les = [le for le, _ in h["buckets"]]
            counts = [c for _, c in h["buckets"]]
            what = f"{which}: histogram {fam.name}{dict(labels)}"
            self.expect(les == sorted(les) and les and les[-1] == float("inf"), f"{what}: le", "ascending to +Inf", les)
            self.expect(counts == sorted(counts), f"{what}: buckets", "cumulative", counts)
            self.expect(counts[-1] == h["count"], f"{what}: +Inf bucket", f"_count {h['count']}", counts[-1])

    @staticmethod
    def value(samples, name, **labels):
        """The sum of the samples called name whose labels include labels (None: none)."""
        found = None
        for (sname, slabels), v in samples.items():
            d = dict(slabels)
            if sname == name and all(d.get(k) == v2 for k, v2 in labels.items()):
                found = (found or 0.0) + v
        return found

    def wait_metric(self, which, name, at_least, timeout=60, **labels):
        state = {}

        def reached():
            state["v"] = self.value(self.scrape(which)[1], name, **labels)
            return state["v"] is not None and state["v"] >= at_least

        wait_until(reached, timeout, lambda: f"{which}'s {name}{labels} to reach {at_least} "
                                             f"(last {state.get('v')}); {self.stack.where()}", interval=0.25)
        return state["v"]

    # -- the tests

    def test_given_trace_followed_through_an_event(self):
        trace, parent, tp = new_traceparent()
        rid = f"obs-{self.token}"
        since = {w: self.stack.log_offset(w) for w in ("ingest", "persist-0")}
        eid = self.post_event({"type": "traced", "tag": self.token}, {"traceparent": tp, "X-Request-ID": rid})
        line = self.wait_line("ingest", "ingest's request line", since=since["ingest"], msg="request",
                              request_id=rid)
        self.expect_eq((line.get("trace_id"), line.get("id"), line.get("status"), line.get("route")),
                       (trace, eid, "202", "/v1/events"), "ingest's line: trace id, record id, status, route")
        line = self.wait_line("persist-0", "persist's record line", since=since["persist-0"], msg="record",
                              trace_id=trace)
        self.expect_eq((line.get("id"), line.get("request_id"), line.get("outcome"), line.get("topic")),
                       (eid, rid, "created", self.stack.topic), "persist's line for the record")
        msg = self.stack.messages_of(self.stack.topic, eid)
        self.expect_eq(len(msg), 1, f"messages of {eid} on {self.stack.topic}")
        h = msg[0]["headers"]
        self.expect_eq(h.get("x-request-id"), rid, "x-request-id header")
        sent = h.get("traceparent") or ""
        parts = sent.split("-")
        self.expect(len(parts) == 4 and parts[0] == "00" and parts[1] == trace and HEX16.match(parts[2])
                    and parts[2] != parent and parts[3] == "01", "traceparent header",
                    f"00-{trace}-<ingest's own span>-01", sent)

    def test_trace_started_when_absent_or_invalid(self):
        cases = [
            ({}, None),
            ({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}, None),
            ({"traceparent": "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
              "X-Request-ID": "has space"}, "has space"),
        ]
        seen = set()
        for headers, bad_rid in cases:
            since = {w: self.stack.log_offset(w) for w in ("ingest", "persist-0")}
            r = self.http.post_json("/v1/events", {"type": "untraced", "tag": self.token}, headers, retry=True)
            self.expect_status(r, 202, f"POST /v1/events with {headers}")
            rid, eid = r.header("X-Request-ID"), r.json()["id"]
            self.expect(rid != bad_rid, "X-Request-ID answered", "a new one, not the invalid one", rid)
            line = self.wait_line("ingest", "ingest's request line", since=since["ingest"], msg="request",
                                  request_id=rid)
            trace = line.get("trace_id") or ""
            self.expect(HEX32.match(trace) and trace != "0" * 32 and trace not in seen
                        and trace not in (headers.get("traceparent") or "").lower(),
                        f"trace id started for {headers}", "a new random 32-hex id", trace)
            seen.add(trace)
            line = self.wait_line("persist-0", "persist's record line", since=since["persist-0"], msg="record",
                                  trace_id=trace)
            self.expect_eq((line.get("id"), line.get("request_id")), (eid, rid), "persist's line for the record")

    def test_assistance_trace_reaches_notify(self):
        trace, _, tp = new_traceparent()
        rid = f"help-{self.token}"
        since = {w: self.stack.log_offset(w) for w in ("ingest", "notify-0")}
        aid = self.post_assistance("sales", f"Quote {self.token}", {"traceparent": tp, "X-Request-ID": rid})
        self.wait_delivery(aid, "ops-log", "delivered", timeout=60)
        self.wait_line("ingest", "ingest's request line", since=since["ingest"], msg="request",
                       request_id=rid, trace_id=trace)
        line = self.wait_line("notify-0", "notify's recording line", since=since["notify-0"],
                              msg="recording assistance request", trace_id=trace)
        self.expect_eq((line.get("id"), line.get("request_id")), (aid, rid), "notify's recording line")
        line = self.wait_line("notify-0", "notify's delivery line", since=since["notify-0"], msg="delivered",
                              trace_id=trace)
        self.expect_eq((line.get("request"), line.get("request_id"), line.get("channel"), line.get("level")),
                       (aid, rid, "ops-log", "info"), "notify's delivery line")

    def test_dead_letter_line_carries_trace(self):
        trace, _, tp = new_traceparent()
        rid, key = f"dlq-{self.token}", f"poison-{self.token}"
        since = self.stack.log_offset("persist-0")
        self.stack.kcat_produce(self.stack.topic, [(key, f"not an envelope {self.token}")],
                                headers={"traceparent": tp, "x-request-id": rid})
        line = self.wait_line("persist-0", "the dead-letter line", since=since,
                              msg="poison message sent to the dead-letter topic", trace_id=trace)
        self.expect_eq((line.get("request_id"), line.get("level"), line.get("topic")), (rid, "warn", self.stack.topic),
                       "the dead-letter line's request id, level, topic")
        dlq = self.wait(lambda: [m for m in self.stack.kcat_consume(self.stack.dlq) if m.get("key") == key], 30,
                        f"{key} on {self.stack.dlq}")
        h = dlq[0]["headers"]
        self.expect_eq((h.get("traceparent"), h.get("x-request-id")), (tp, rid),
                       "the dead letter keeps the request's traceparent and x-request-id")

    def test_every_log_line_is_json(self):
        # Lines of every kind: a request, a refusal, libmicrohttpd's own
        # complaint about a malformed request, a worker's record.
        self.post_event({"type": "lines", "tag": self.token})
        self.expect_status(self.http.post_json("/v1/events", [1, 2]), 400, "POST /v1/events with an array")
        since = self.stack.log_offset("ingest")
        self.http.raw(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
        self.wait_line("ingest", "libmicrohttpd's line through the JSON log", since=since, msg="libmicrohttpd")
        for which in ["ingest", "persist-0", "notify-0"]:
            lines = self.json_lines(which)
            bad = [x for x in lines if "unparsed" in x or not isinstance(x, dict)
                   or not {"ts", "level", "proc", "msg"} <= set(x)]
            self.expect(not bad and lines, f"{which}'s log lines",
                        "every line a JSON object with ts, level, proc, msg", bad[:5])

    def test_metrics_parse_and_move(self):
        before = {w: self.scrape(w)[1] for w in ("ingest", "persist", "notify")}
        for which, names in {
            "ingest": ["sluice_http_requests_total", "sluice_http_request_duration_seconds_count",
                       "sluice_http_responses_total", "sluice_ingest_produced_total",
                       "sluice_ingest_produce_failed_total", "sluice_ingest_produce_seconds_count",
                       "sluice_ingest_ack_seconds_count", "sluice_ingest_bulk_records_total",
                       "sluice_ingest_produced_bytes_total", "process_cpu_seconds_total",
                       "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"],
            "persist": ["sluice_persist_records_total", "sluice_persist_rows_total", "sluice_persist_dlq_total",
                        "sluice_persist_batch_messages_count", "sluice_persist_batch_seconds_count",
                        "sluice_persist_lag", "sluice_persist_partition_stuck", "sluice_persist_stuck_partitions",
                        "sluice_persist_idle", "sluice_persist_assigned_partitions",
                        "sluice_persist_import_records_total", "process_resident_memory_bytes"],
            "notify": ["sluice_notify_deliveries_total", "sluice_notify_requests_recorded_total",
                       "sluice_notify_send_seconds_count", "sluice_notify_dlq_total", "sluice_notify_lag",
                       "sluice_notify_stuck_partitions", "sluice_notify_assigned_partitions",
                       "sluice_notify_record_batch_messages_count", "process_resident_memory_bytes"],
        }.items():
            missing = [n for n in names if self.value(before[which], n) is None]
            self.expect(not missing, f"{which} /metrics families", "all present", f"missing {missing}")

        writes = 3
        self.stack.wait_persisted([self.post_event({"type": "counted", "tag": self.token, "i": i})
                                   for i in range(writes)])
        aid = self.post_assistance("sales", f"Counted {self.token}")
        self.wait_delivery(aid, "ops-log", "delivered", timeout=60)

        def at_least(which, name, more, **labels):
            return self.wait_metric(which, name, (self.value(before[which], name, **labels) or 0) + more, **labels)

        at_least("ingest", "sluice_http_requests_total", writes, method="POST", route="/v1/events", code="202")
        at_least("ingest", "sluice_http_request_duration_seconds_count", writes, method="POST",
                 route="/v1/events")
        at_least("ingest", "sluice_http_requests_total", 1, method="POST", route="/v1/assistance", code="202")
        at_least("ingest", "sluice_ingest_produced_total", writes + 1)
        at_least("ingest", "sluice_ingest_produce_seconds_count", writes + 1, producer="writes")
        at_least("ingest", "sluice_ingest_produced_bytes_total", 100 * writes, producer="writes")
        at_least("persist", "sluice_persist_records_total", writes, topic=self.stack.topic, outcome="created")
        at_least("persist", "sluice_persist_rows_total", writes)
        at_least("persist", "sluice_persist_batch_messages_count", 1)
        at_least("notify", "sluice_notify_requests_recorded_total", 1)
        at_least("notify", "sluice_notify_deliveries_total", 1, channel="ops-log", status="delivered")
        at_least("notify", "sluice_notify_send_seconds_count", 1)

        _, persist = self.scrape("persist")
        _, notify = self.scrape("notify")
        for name, samples, topic in (("sluice_persist", persist, self.stack.topic),
                                     ("sluice_notify", notify, self.stack.assistance_topic)):
            lags = [(dict(k[1]), v) for k, v in samples.items() if k[0] == f"{name}_lag"]
            self.expect(any(labels.get("topic") == topic for labels, _ in lags), f"{name}_lag series",
                        f"one per partition of {topic}", lags[:3])
            self.expect(all(v >= 0 for _, v in lags), f"{name}_lag values", ">= 0", lags[:3])
            self.expect((self.value(samples, f"{name}_assigned_partitions") or 0) > 0,
                        f"{name}_assigned_partitions", "> 0", self.value(samples, f"{name}_assigned_partitions"))
        self.expect_eq(self.value(persist, "sluice_persist_idle"), 0.0, "sluice_persist_idle of a replica with partitions")
        # Nothing failed: no produce failure, no dead letter of notify's.
        _, ingest = self.scrape("ingest")
        self.expect_eq(self.value(ingest, "sluice_ingest_produce_failed_total"),
                       self.value(before["ingest"], "sluice_ingest_produce_failed_total"),
                       "sluice_ingest_produce_failed_total unchanged")

    def test_stuck_partition_reported_and_cleared(self):
        # A session holds a lock every write to events waits for: persist is
        # alive, fetches the message, and cannot get it through.
        out = os.path.join(self.stack.dir, "lock-session.log")
        with open(out, "w") as log:
            lock = subprocess.Popen(["psql", self.stack.pg_url, "-XqAt", "-v", "ON_ERROR_STOP=1"],
                                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
        held = ("SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'events' AND l.mode = 'ShareLock' AND l.granted")
        try:
            lock.stdin.write("BEGIN;\nLOCK TABLE events IN SHARE MODE;\n")
            lock.stdin.flush()
            self.wait(lambda: self.stack.sql_value(held) == "1" or (lock.poll() is not None and "exited"), 30,
                      f"psql to hold a SHARE lock on events (its output: {out})")
            self.expect(lock.poll() is None, "the psql session holding the lock", "running", f"see {out}")
            eid = self.post_event({"type": "stuck", "tag": self.token})
            part = self.wait(lambda: [m["partition"] for m in self.stack.messages_of(self.stack.topic, eid)],
                             30, f"{eid} on {self.stack.topic}")[0]
            self.wait_metric("persist", "sluice_persist_stuck_partitions", 1, timeout=30)
            _, samples = self.scrape("persist")
            self.expect_eq(self.value(samples, "sluice_persist_partition_stuck", topic=self.stack.topic,
                                      partition=str(part)), 1.0,
                           f"sluice_persist_partition_stuck of {self.stack.topic}[{part}] while it waits")
            self.expect((self.value(samples, "sluice_persist_lag", topic=self.stack.topic,
                                    partition=str(part)) or 0) >= 1, "its lag while it waits", ">= 1",
                        self.value(samples, "sluice_persist_lag", topic=self.stack.topic, partition=str(part)))
        finally:
            if lock.poll() is None:
                lock.stdin.write("ROLLBACK;\n")
                lock.stdin.close()
                lock.wait(30)
        self.stack.wait_persisted([eid])

        def cleared():
            return self.value(self.scrape("persist")[1], "sluice_persist_stuck_partitions") == 0

        wait_until(cleared, 30, "sluice_persist_stuck_partitions back to 0 once the lock is gone", interval=0.25)


class OnePartitionStack(harness.Stack):
    """A stack whose broker makes one partition per topic: two persist
    replicas are more than the partitions of every topic."""

    def start_devkafka(self):
        boot = os.path.join(self.dir, "kafka.bootstrap")
        argv = harness.launch.devkafka_argv(harness.BIN, boot, partitions=1)
        self.devkafka = harness.Proc("sluice-devkafka", argv, self.env(), self.log("devkafka")).start()
        self.brokers = harness.launch.wait_devkafka(boot, 60, self.devkafka.popen, self.devkafka.log)


class IdleReplica(StackCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = OnePartitionStack("observability-idle", persist=2, ingest=False)
        try:
            cls.stack.start()
        except BaseException:
            cls.stack.stop()
            raise
        cls.http = None

    def gauges(self, i):
        return {k: self.stack.persist_metrics(i).get(k) for k in
                ("sluice_persist_idle", "sluice_persist_assigned_partitions", "sluice_persist_unassigned_seconds")}

    def test_idle_replica_until_it_takes_over(self):
        state = {}

        def one_idle():
            state["g"] = [self.gauges(i) for i in (0, 1)]
            idle = [g["sluice_persist_idle"] for g in state["g"]]
            held = [g["sluice_persist_assigned_partitions"] for g in state["g"]]
            return sorted(idle) == [0, 1] and sum(held) == 4 and 0 in held and state["g"]

        self.wait(one_idle, 60, lambda: f"one replica holding the 4 partitions, the other idle (last {state.get('g')})")
        idle = 0 if state["g"][0]["sluice_persist_idle"] == 1 else 1
        self.expect_eq(state["g"][idle]["sluice_persist_unassigned_seconds"], 0.0,
                       "the idle replica is in the group, not waiting for an assignment")
        self.stack.kill_persist(1 - idle)

        def took_over():
            state["g"] = self.gauges(idle)
            return state["g"]["sluice_persist_idle"] == 0 and state["g"]["sluice_persist_assigned_partitions"] == 4

        self.wait(took_over, 60, lambda: f"persist-{idle} to take the 4 partitions over (last {state.get('g')})")
