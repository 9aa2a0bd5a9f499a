"""Database work off the event threads (issue 9 item 17): with PostgreSQL
frozen (SIGSTOP: no refused connection, no answer) and a dozen reads hanging,
GET /healthz still answers within 100 ms and unkeyed writes are still 202;
a full database queue is a 503 + Retry-After at once; once PostgreSQL runs
again, every hanging read ends in a 200 or a clean 503 problem."""
import http.client
import json
import os
import signal
import threading
import time

import harness
from harness import StackCase, parse_metrics, wait_until

HANGING = 12
THREADS, QUEUE = 4, 16  # 20 reads may be running or waiting; more get 503


class OffThread(StackCase):
    stack_options = {"persist": 1,
                     "ingest_env": {"SLUICE_DB_THREADS": str(THREADS), "SLUICE_DB_QUEUE": str(QUEUE),
                                    "SLUICE_DB_TIMEOUT_MS": "3000", "SLUICE_PG_POOL": str(THREADS)}}

    def pg_pids(self):
        """The postmaster and every process it forked (backends, workers)."""
        with open(os.path.join(os.path.realpath(self.stack.pg_dir), "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        children = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == postmaster:
                children.append(int(entry))
        return [postmaster] + children

    def signal_all(self, pids, sig):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def inflight(self):
        r = self.stack.http().get("/metrics")
        return sum(v for name, _, v in parse_metrics(r.body.decode()) if name == "sluice_ingest_inflight")

    def read_in_thread(self, path, out, i):
        def run():
            conn = http.client.HTTPConnection("127.0.0.1", self.stack.ingest_port, timeout=60)
            started = time.monotonic()
            try:
                conn.request("GET", path, headers=harness.auth_header())
                resp = conn.getresponse()
                out[i] = (resp.status, resp.getheader("Content-Type"), resp.getheader("Retry-After"),
                          resp.read(), time.monotonic() - started)
            except (OSError, http.client.HTTPException) as exc:
                out[i] = ("error", repr(exc), None, b"", time.monotonic() - started)
            finally:
                conn.close()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def test_frozen_database_holds_no_event_thread(self):
        letters = "".join(chr(ord("a") + int(c, 16)) for c in self.token)  # a username
        self.expect_status(self.http.get(f"/v1/events?contains={self.token}"), 200, "a read before the freeze")
        pids = self.pg_pids()
        self.signal_all(pids, signal.SIGSTOP)
        self.addCleanup(self.signal_all, pids, signal.SIGCONT)
        results, threads = {}, []
        paths = [f"/v1/events?contains={self.token}-{i}" for i in range(HANGING - 4)] + [
            "/v1/events/00000000-0000-0000-0000-000000000001", f"/hello/Frozen{letters}x",
            "/v1/recipes?q=frozen", "/epoch/00000000-0000-0000-0000-000000000002"]
        for i, path in enumerate(paths):
            threads.append(self.read_in_thread(path, results, i))
        self.wait(lambda: self.inflight() >= HANGING, 10, f"{HANGING} reads parked on the database pool")

        # The event threads are free: health answers at once, on new
        # connections (spread over the HTTP threads) and a kept-alive one.
        for attempt in range(6):
            client = self.stack.http(timeout=5)
            r = client.get("/healthz")
            client.close()
            self.expect_status(r, 200, f"GET /healthz #{attempt} with PostgreSQL frozen")
            self.expect(r.elapsed < 0.1, f"GET /healthz #{attempt} with PostgreSQL frozen: time",
                        "under 100 ms", f"{r.elapsed * 1000:.0f} ms")
        # Unkeyed writes need Kafka only.
        r = self.http.post_json("/v1/events", {"type": "frozen", "tag": self.token})
        self.expect_status(r, 202, "unkeyed POST /v1/events with PostgreSQL frozen")
        self.expect(r.elapsed < 2, "unkeyed POST /v1/events with PostgreSQL frozen: time", "under 2 s",
                    f"{r.elapsed:.2f} s")
        # PUT /hello waits for the worker, never for the database here.
        r = self.http.request("PUT", f"/hello/Frozen{letters}y", {"dateOfBirth": "1990-01-02"},
                              {"Prefer": "wait=1"}, retry=False)
        self.expect_status(r, 202, "PUT /hello with Prefer: wait=1 while PostgreSQL is frozen")

        # Past running + queued reads, the pool refuses at once.
        extra = {}
        extra_threads = [self.read_in_thread(f"/v1/events?contains={self.token}-x{i}", extra, i)
                         for i in range(THREADS + QUEUE)]
        refused = wait_until(lambda: [v for v in extra.values() if v[0] == 503] or None, 10,
                             "a 503 from the full database queue")
        status, ctype, retry_after, body, elapsed = refused[0]
        self.expect(ctype.startswith("application/problem+json") and retry_after == "1",
                    "the full-queue 503", "problem+json with Retry-After: 1", refused[0])
        self.expect(elapsed < 1, "the full-queue 503 comes at once", "under 1 s", f"{elapsed:.2f} s")
        refused_total = sum(v for name, _, v in parse_metrics(self.stack.http().get("/metrics").body.decode())
                            if name == "sluice_ingest_db_refused_total")
        self.expect(refused_total >= 1, "sluice_ingest_db_refused_total counts the refusal", ">= 1", refused_total)

        # Thawed, every hanging read ends: 200, 404 or a clean 503 problem.
        self.signal_all(pids, signal.SIGCONT)
        for t in threads + extra_threads:
            t.join(60)
        for what, res in (("hanging", results), ("extra", extra)):
            for i, (status, ctype, _, body, elapsed) in sorted(res.items()):
                ok = status in (200, 404) or (status == 503 and ctype.startswith("application/problem+json"))
                self.expect(ok, f"{what} read #{i} after the thaw", "200, 404 or a 503 problem",
                            (status, ctype, body[:200], f"{elapsed:.1f} s"))
        self.expect_eq(len(results), len(paths), "every hanging read answered")
        # And the database serves reads again.
        self.wait(lambda: self.http.get(f"/v1/events?contains={self.token}").status == 200, 30,
                  "a read answered 200 after the thaw")
        self.wait(lambda: self.http.get("/readyz").status == 200, 30, "GET /readyz 200 after the thaw")
        self.expect_eq(json.loads(self.http.get("/healthz").body)["status"], "ok", "GET /healthz after the thaw")

    def test_shutdown_with_reads_parked(self):
        """SIGTERM while reads wait for a frozen database: ingest answers them
        and exits 0 in bounded time (the sanitizers watch the frees)."""
        pids = self.pg_pids()
        self.signal_all(pids, signal.SIGSTOP)
        self.addCleanup(self.signal_all, pids, signal.SIGCONT)
        results = {}
        threads = [self.read_in_thread(f"/v1/events?contains={self.token}-s{i}", results, i)
                   for i in range(HANGING)]
        self.wait(lambda: self.inflight() >= HANGING, 10, f"{HANGING} reads parked on the database pool")
        proc = self.stack.ingest
        problem = proc.stop(timeout=45)
        self.signal_all(pids, signal.SIGCONT)
        for t in threads:
            t.join(30)
        self.stack.start_ingest()  # for whatever runs next
        self.expect(problem is None, "sluice-ingest stopped by SIGTERM with reads parked", "exit 0 within 45 s",
                    problem)
        for i, (status, ctype, _, body, elapsed) in sorted(results.items()):
            ok = status == 503 and ctype.startswith("application/problem+json") or status == "error"
            self.expect(ok, f"parked read #{i} at shutdown", "a 503 problem (or the connection closed)",
                        (status, ctype, body[:200], f"{elapsed:.1f} s"))
