"""Issue 9 item 15: SIGTERM with requests parked in a wait (Prefer: wait,
PUT /hello, POST /epoch) and writes still waiting for Kafka. Every client gets
a whole HTTP answer (202 once Kafka has the write, 503 when it never took it),
ingest exits 0, and the sanitizers report nothing (on main the waiters were
freed while HTTP threads still used them)."""
import http.client
import json
import os
import signal
import threading

import harness
from harness import StackCase, parse_metrics

PER_KIND = 12
ACK_TIMEOUT_MS = 2000


class Client(threading.Thread):
    """One request on its own connection; keeps the whole answer or the error."""

    def __init__(self, port, method, path, body, headers):
        super().__init__(daemon=True)
        self.port, self.method, self.path, self.body, self.headers = port, method, path, body, headers
        self.status = self.data = self.error = None

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            conn.request(self.method, self.path, body=self.body, headers={**harness.auth_header(), **self.headers})
            r = conn.getresponse()
            self.data = r.read()  # raises IncompleteRead on a cut body
            self.status = r.status
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = repr(exc)
        finally:
            conn.close()

    def __repr__(self):
        got = self.error or f"{self.status} {self.data[:120]!r}"
        return f"{self.method} {self.path}: {got}"


class Shutdown(StackCase):
    # No persist replica: nothing is ever reported persisted, so every wait parks.
    stack_options = {"persist": 0, "ingest_env": {"SLUICE_ACK_TIMEOUT_MS": str(ACK_TIMEOUT_MS)}}

    def metric(self, name):
        samples = parse_metrics(self.http.get("/metrics").body.decode())
        return sum(v for n, _, v in samples if n == name)

    def clients(self, tag):
        wait = {"Content-Type": "application/json", "Prefer": "wait=30", "Connection": "close"}
        out = []
        for n in range(PER_KIND):
            out.append(Client(self.stack.ingest_port, "POST", "/v1/events",
                              json.dumps({"type": "shutdown", "run": tag, "seq": n}), wait))
            name = f"Shutdown{tag.capitalize()}{'abcdefghijklmnop'[n]}"  # letters only
            out.append(Client(self.stack.ingest_port, "PUT", f"/hello/{name}",
                              json.dumps({"dateOfBirth": "2000-01-02"}), wait))
            out.append(Client(self.stack.ingest_port, "POST", "/epoch", None,
                              {"Prefer": "wait=30", "Connection": "close"}))
        for c in out:
            c.start()
        return out

    def wait_suspended(self, n, acked, what):
        """Until n requests are suspended and `acked` writes were acknowledged
        by Kafka (sluice_ingest_inflight counts both the parked and those
        still waiting for their delivery report)."""
        state = {}

        def reached():
            state["inflight"] = self.metric("sluice_ingest_inflight")
            state["acked"] = self.metric("sluice_ingest_produced_total")
            return state["inflight"] >= n and state["acked"] >= acked

        self.wait(reached, 60, lambda: f"{n} requests suspended, {acked} acknowledged ({what}); got {state}")

    def test_sigterm_with_parked_and_unacknowledged_requests(self):
        # Acknowledged by Kafka, parked until the worker reports (it never will).
        base = self.metric("sluice_ingest_produced_total")
        parked = self.clients("parked")
        self.wait_suspended(len(parked), base + len(parked), "parked in a wait after Kafka's ack")
        # The broker frozen: these wait for a delivery report when SIGTERM comes.
        os.kill(self.stack.devkafka.pid, signal.SIGSTOP)
        ingest = self.stack.ingest
        try:
            unacked = self.clients("unacked")
            self.wait_suspended(len(parked) + len(unacked), base + len(parked),
                                "waiting for Kafka's delivery report")
            self.http.close()
            problem = ingest.stop(timeout=60)
            self.stack.ingest = None  # its exit is judged here, not again by Stack.stop
        finally:
            os.kill(self.stack.devkafka.pid, signal.SIGCONT)
        for c in parked + unacked:
            c.join(30)
        self.expect(problem is None, "sluice-ingest's exit after SIGTERM", "exit status 0", problem)
        reports = [r for r in self.stack.sanitizer_reports() if r[0].endswith("ingest.log")]
        self.expect(not reports, "sanitizer reports in ingest.log", "none",
                    "\n".join(text for _, text in reports)[:3000])
        bad_parked = [c for c in parked if c.status != 202]
        self.expect(not bad_parked, f"answers to the {len(parked)} parked requests",
                    "202 each (the wait ran out at shutdown)", bad_parked[:6])
        bad_unacked = [c for c in unacked if c.status not in (202, 503)]
        self.expect(not bad_unacked, f"answers to the {len(unacked)} requests waiting for Kafka",
                    "a whole 202 or 503 each", bad_unacked[:6])
        for c in parked + unacked:
            json.loads(c.data)  # a whole JSON body, not a cut one
