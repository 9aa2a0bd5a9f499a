"""Issue 12 item 5: zero-downtime restarts.

sluice-ingest replaced under load: clients keep posting events (on kept-alive
connections, on a new connection each, and kept-alive with Prefer: wait)
while a second ingest starts on the same port (SO_REUSEPORT), logs that it
listens, the port answers /readyz, and the first one gets SIGTERM; twice, and
then a replacement called off (the newer one stopped, the older one goes
on). No request fails: each gets a whole 201 or 202 (a reset, a refused
connection or one closed under a request counts as a failure), and every
acknowledged write is one row in PostgreSQL with the acknowledged id. Each
stopped ingest exits 0; its log's "stopped listening" line says how many
queued connections it accepted itself after it stopped listening.

An idle kept-alive connection still gets its next request answered after
SIGTERM (with Connection: close), and the process exits as soon as that
connection closes, not at the end of SLUICE_SHUTDOWN_GRACE_MS.

A sluice-persist replica SIGTERMed under load exits 0 and loses nothing, and
the other replica holds all partitions (its
sluice_persist_assigned_partitions) within 5 s of the signal.
"""
import http.client
import itertools
import os
import threading
import time

import harness
from harness import Http, Proc, StackCase, check_exactly_once

PARTITIONS = 32 * 4  # the harness's devkafka --partitions, times the four persisted topics
HANDOVER_S = 5
REPLACEMENTS = 2


class Posters:
    """Client threads posting events until stop(): `keepalive` on one
    kept-alive connection each, `fresh` on a new connection per request,
    `waiting` kept-alive with Prefer: wait=5 (201 once persisted). One
    attempt per event, never retried. acked: seq -> id of every 201/202;
    failures: (seq, kind, what) of everything else."""

    def __init__(self, port, run, keepalive=3, fresh=3, waiting=2):
        self.port, self.run = port, run
        self.lock = threading.Lock()
        self.seqs = itertools.count()
        self.acked, self.failures, self.statuses = {}, [], {}
        self.slowest = 0.0
        self.stopping = threading.Event()
        kinds = ["keepalive"] * keepalive + ["fresh"] * fresh + ["waiting"] * waiting
        self.threads = [threading.Thread(target=self._post, args=(k,), daemon=True) for k in kinds]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked)

    def _post(self, kind):
        client = Http("127.0.0.1", self.port, timeout=30)
        headers = {"fresh": {"Connection": "close"}, "waiting": {"Prefer": "wait=5"}}.get(kind, {})
        try:
            while not self.stopping.is_set():
                seq = next(self.seqs)
                body = {"type": "replace", "run": self.run, "seq": seq, "client": kind}
                start = time.monotonic()
                try:
                    r = client.post_json("/v1/events", body, headers, retry=False)
                except (http.client.HTTPException, OSError) as exc:
                    with self.lock:
                        self.failures.append((seq, kind, repr(exc)))
                    continue
                with self.lock:
                    self.slowest = max(self.slowest, time.monotonic() - start)
                    key = f"{kind} {r.status}"
                    self.statuses[key] = self.statuses.get(key, 0) + 1
                    if r.status in (201, 202):
                        self.acked[seq] = r.json()["id"]
                    else:
                        self.failures.append((seq, kind, repr(r)))
        finally:
            client.close()

    def stop(self, timeout):
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        stuck = sum(t.is_alive() for t in self.threads)
        if stuck:
            raise AssertionError(f"{stuck} client threads still in a request {timeout}s after being told to stop")

    def summary(self):
        with self.lock:
            return (f"{len(self.acked)} acknowledged, statuses {self.statuses}, "
                    f"{len(self.failures)} failures (first: {self.failures[:4]}), slowest answer {self.slowest:.2f}s")


class Replace(StackCase):
    # The dev broker (librdkafka's mock coordinator) hands a leaving member's
    # partitions on only session.timeout.ms - 1 s after it left, where Kafka
    # does once the other members have joined again: 6 s, Kafka's smallest by
    # default, would make that 5 s by itself.
    stack_options = {"persist": 2, "persist_env": {"SLUICE_KAFKA_SESSION_TIMEOUT_MS": "3000"}}

    def held(self):
        """{replica: sluice_persist_assigned_partitions} of the running replicas."""
        return {i: int(self.stack.persist_metrics(i).get("sluice_persist_assigned_partitions", -1))
                for i, proc in enumerate(self.stack.persist) if proc.alive()}

    def wait_group(self):
        """Until the running replicas share every partition, each holding some."""
        state = {}

        def formed():
            state["held"] = self.held()
            return sum(state["held"].values()) == PARTITIONS and all(v > 0 for v in state["held"].values())

        self.wait(formed, 90, lambda: f"the persist replicas to share all {PARTITIONS} partitions, each "
                                      f"holding some (sluice_persist_assigned_partitions: {state.get('held')})")

    def wait_acks(self, posters, more, what):
        goal = posters.count() + more
        self.wait(lambda: posters.count() >= goal, 60, lambda: f"{more} more acknowledged writes {what} ({posters.summary()})")

    def start_ingest_beside(self, name):
        """Another sluice-ingest on the port of the running one; returns once
        it says it listens and the port answers /readyz."""
        s = self.stack
        env = s.env(SLUICE_LISTEN=f"127.0.0.1:{s.ingest_port}", **s.ingest_env)
        proc = Proc(name, [os.path.join(harness.BIN, "sluice-ingest")], env, s.log(name)).start()
        # The port's /readyz may be answered by either process: the log line
        # is what says this one has joined the port (it listens only once its
        # database pool and producer are up).
        s.wait_log(proc, '"msg":"listening"', 90)
        harness.launch.wait_http(f"http://127.0.0.1:{s.ingest_port}/readyz", 30, name, proc.log, proc.popen)
        return proc

    def stop_beside(self, proc, other, what):
        """SIGTERM proc while other serves the port; returns its "stopped
        listening" log line."""
        since = self.stack.log_offset(proc)
        t0 = time.monotonic()
        problem = proc.stop(timeout=60)
        self.expect(problem is None, f"{proc.name}'s exit after SIGTERM with {other.name} on its port ({what})",
                    "exit 0 within 60s", problem)
        line = self.stack.wait_log(proc, "stopped listening", 1, since=since)
        print(f"\n  {what}: {proc.name} exited {time.monotonic() - t0:.1f}s after SIGTERM, having taken "
              f"{line.get('taken_from_queue')} queued connections itself", end=" ", flush=True)
        return line

    def test_ingest_replaced_under_load(self):
        s = self.stack
        self.wait_group()  # so that Prefer: wait is answered 201, not 202 for want of a worker
        run = f"replace-{self.token}"
        posters = Posters(s.ingest_port, run).start()
        try:
            self.wait_acks(posters, 200, "before any replacement")
            for n in range(1, REPLACEMENTS + 1):
                old = s.ingest
                new = self.start_ingest_beside(f"ingest-{n}")
                self.wait_acks(posters, 300, f"with {new.name} beside {old.name}")
                s.ingest = new  # Stack.stop judges the last one's exit
                self.stop_beside(old, new, f"{old.name} replaced by {new.name}")
                self.wait_acks(posters, 300, f"from {new.name} alone")
            # A replacement called off: the newer one stops, the older one
            # goes on (the newer listener is not the first of the port's).
            kept = s.ingest
            newer = self.start_ingest_beside(f"ingest-{REPLACEMENTS + 1}")
            self.wait_acks(posters, 300, f"with {newer.name} beside {kept.name}")
            self.stop_beside(newer, kept, f"replacement of {kept.name} called off")
            self.wait_acks(posters, 300, f"from {kept.name} alone again")
        finally:
            posters.stop(60)
        print(f"\n  {posters.summary()}", end=" ", flush=True)
        self.expect(not posters.failures, "answers to every POST while ingest was replaced "
                    f"{REPLACEMENTS} times and a replacement was called off",
                    "a whole 201 or 202 each, no connection reset or closed under a request",
                    posters.summary())
        problem = check_exactly_once(s, posters, run)
        self.expect(problem is None, "every acknowledged write in PostgreSQL once, with its id",
                    "none missing, doubled or changed", problem)

    def test_kept_alive_connection_gets_an_answer_after_sigterm(self):
        """An idle kept-alive connection still gets its next request
        answered, with Connection: close, after SIGTERM: the connection is
        not cut under it, and the process exits as soon as it closes rather
        than after SLUICE_SHUTDOWN_GRACE_MS."""
        s = self.stack
        port = harness.free_port()
        env = s.env(SLUICE_LISTEN=f"127.0.0.1:{port}", SLUICE_SHUTDOWN_GRACE_MS="60000", **s.ingest_env)
        proc = Proc("ingest-idle", [os.path.join(harness.BIN, "sluice-ingest")], env, s.log("ingest-idle")).start()
        harness.launch.wait_http(f"http://127.0.0.1:{port}/readyz", 90, proc.name, proc.log, proc.popen)
        client = Http("127.0.0.1", port)
        try:
            r = client.get("/healthz")
            self.expect(r.status == 200 and not r.headers.get("Connection"), "GET /healthz before SIGTERM",
                        "200 on a connection kept alive", r)
            result = {}
            stopper = threading.Thread(target=lambda: result.update(problem=proc.stop(timeout=30)), daemon=True)
            stopper.start()
            s.wait_log(proc, "stopped listening", 30)
            t0 = time.monotonic()
            r = client.post_json("/v1/events", {"type": "replace", "run": f"idle-{self.token}"})
            self.expect(r.status == 202 and (r.header("Connection") or "").lower() == "close",
                        "POST /v1/events on the kept-alive connection after SIGTERM",
                        "202 with Connection: close", r)
            stopper.join(20)
            self.expect(not stopper.is_alive() and result.get("problem") is None,
                        f"{proc.name}'s exit once its last connection closed", "exit 0 within 20s (not the 60s grace)",
                        result.get("problem", "still running"))
            print(f"\n  exited {time.monotonic() - t0:.1f}s after answering the last connection", end=" ", flush=True)
        finally:
            client.close()
            if proc.alive():
                proc.kill()
            harness.launch.release_ports([port])
        self.stack.wait_persisted([r.json()["id"]])

    def test_persist_sigterm_under_load_hands_over(self):
        s = self.stack
        self.wait_group()
        run = f"persist-{self.token}"
        posters = Posters(s.ingest_port, run, keepalive=3, fresh=1, waiting=1).start()
        stopper = None
        try:
            self.wait_acks(posters, 300, "before persist-0's SIGTERM")
            result = {}
            stopper = threading.Thread(target=lambda: result.update(problem=s.persist[0].stop(timeout=30)),
                                       daemon=True)
            t0 = time.monotonic()
            stopper.start()
            state = {}

            def handed_over():
                state["held"] = int(s.persist_metrics(1).get("sluice_persist_assigned_partitions", -1))
                state["persist-0"] = "running" if s.persist[0].alive() else "exited"
                return state["held"] == PARTITIONS

            self.wait(handed_over, HANDOVER_S - (time.monotonic() - t0),
                      lambda: f"persist-1 to hold all {PARTITIONS} partitions within {HANDOVER_S}s of persist-0's "
                              f"SIGTERM (its sluice_persist_assigned_partitions: {state.get('held')}; persist-0 "
                              f"{state.get('persist-0')})")
            took = time.monotonic() - t0
            stopper.join(35)
            self.expect(not stopper.is_alive() and result.get("problem") is None,
                        "persist-0's exit after SIGTERM under load", "exit 0 within 30s",
                        result.get("problem", "still running"))
            self.wait_acks(posters, 300, "with persist-1 alone")
            s.start_persist(0)
            self.wait_acks(posters, 300, "with persist-0 started again")
        finally:
            posters.stop(60)
            if stopper:
                stopper.join(35)
                if not stopper.is_alive() and not s.persist[0].alive():
                    s.start_persist(0)  # a failure above: Stack.stop then stops a running one
        print(f"\n  persist-1 held all {PARTITIONS} partitions {took:.1f}s after persist-0's SIGTERM; "
              f"{posters.summary()}", end=" ", flush=True)
        self.expect(not posters.failures, "answers to every POST while a persist replica stopped",
                    "a whole 201 or 202 each", posters.summary())
        problem = check_exactly_once(s, posters, run)
        self.expect(problem is None, "every acknowledged write in PostgreSQL once, with its id, after "
                    "persist-0's SIGTERM under load", "none missing, doubled or changed", problem)
        self.wait_group()
