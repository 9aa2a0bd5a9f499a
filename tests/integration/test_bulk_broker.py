"""Bulk import against a broker that stops answering: a full producer queue
parks uploads instead of blocking an HTTP thread (GET /healthz keeps
answering), and a broker killed mid-import makes the import's counts claim no
more acknowledged records than the broker took, with a 503 as the answer."""
import http.client
import json
import re
import signal
import socket
import threading
import time

import harness
from harness import StackCase, wait_until

BULK_ACK_TIMEOUT_MS = 4000
UPLOADS, PER_UPLOAD = 16, 20_500  # 16 x 20,500: each of the 2 HTTP threads meets a full 200,000-message queue


def records(tag, n, start=0):
    return [json.dumps({"id": f"{tag}-{i}", "tag": tag, "occurred_at": "2015-06-01"}).encode()
            for i in range(start, start + n)]


class BulkUploads(StackCase):
    """What the tests of a broker that stops answering share (no tests of its own)."""
    # No worker: nothing here reads the rows, and the CPU is better spent on ingest.
    stack_options = {"persist": 0}

    def healthz_time(self):
        """Seconds GET /healthz took (its 5 s timeout counts as 5 s)."""
        client = self.stack.http(timeout=5)
        start = time.monotonic()
        try:
            r = client.get("/healthz")
            self.expect_status(r, 200, "GET /healthz")
        except (http.client.HTTPException, OSError):
            pass
        finally:
            client.close()
        return time.monotonic() - start

    def start_uploads(self, bodies):
        """One thread per body, each POSTing it to /v1/bulk: (threads, the
        responses by index (None until answered), transport errors)."""
        results, errors = [None] * len(bodies), []

        def upload(i):
            client = self.stack.http(timeout=180)
            try:
                results[i] = client.request("POST", "/v1/bulk", bodies[i], {"Content-Type": "application/json"})
            except (http.client.HTTPException, OSError) as exc:
                errors.append((i, repr(exc)))
            finally:
                client.close()

        threads = [threading.Thread(target=upload, args=(i,), daemon=True) for i in range(len(bodies))]
        for t in threads:
            t.start()
        return threads, results, errors


class BulkQueueFull(BulkUploads):
    def test_full_queue_parks_uploads_and_healthz_answers(self):
        """The broker frozen (SIGSTOP): each upload stops at its own
        back-pressure mark until together they fill the producer queue; the
        next records must wait without holding an HTTP thread."""
        tag = f"full{self.token}"
        bodies = [b"[" + b",".join(records(f"{tag}-{u}", PER_UPLOAD)) + b"]" for u in range(UPLOADS)]
        since = self.stack.log_offset("ingest")
        self.stack.devkafka.popen.send_signal(signal.SIGSTOP)
        try:
            threads, results, errors = self.start_uploads(bodies)
            # /healthz is probed all along, until ingest says the queue is full
            # (then a few more times): an HTTP thread held by a blocked
            # upload shows as a slow probe.
            slow = []

            def queue_full():
                slow.append(self.healthz_time())
                return any("bulk producer queue full" in line
                           for line in self.stack.log_lines("ingest", since))

            self.wait(queue_full, 120, lambda: f"ingest to log 'bulk producer queue full' (healthz times {slow[-5:]})")
            slow += [self.healthz_time() for _ in range(10)]
            self.expect(max(slow) < 1.0, "GET /healthz while uploads wait on a full queue", "< 1 s each",
                        [round(t, 3) for t in slow])
        finally:
            self.stack.devkafka.popen.send_signal(signal.SIGCONT)
        for t in threads:
            t.join(240)
        self.expect_eq(errors, [], "no upload failed in transport")
        for i, r in enumerate(results):
            self.expect_status(r, 202, f"upload {i} once the broker is back")
            self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (PER_UPLOAD, 0), f"upload {i} counts")


class BulkBrokerKilled(StackCase):
    stack_options = {"persist": 1, "ingest_env": {"SLUICE_BULK_ACK_TIMEOUT_MS": str(BULK_ACK_TIMEOUT_MS)}}

    def test_broker_killed_during_an_import(self):
        tag = f"kill{self.token}"
        head_n, tail_n = 1000, 2000
        part1 = b"[" + b",".join(records(tag, head_n)) + b","
        part2 = b",".join(records(tag, tail_n, head_n)) + b"]"
        base = sum(self.stack.end_offsets(self.stack.topic).values())
        sock = socket.create_connection(("127.0.0.1", self.stack.ingest_port), timeout=120)
        try:
            sock.sendall(b"POST /v1/bulk HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + "".join(f"{k}: {v}\r\n" for k, v in harness.auth_header().items()).encode()
                         + b"Content-Length: " + str(len(part1) + len(part2)).encode() + b"\r\n\r\n" + part1)
            state = {}

            def taken():
                state["n"] = sum(self.stack.end_offsets(self.stack.topic).values()) - base
                return state["n"] >= head_n

            wait_until(taken, 60, lambda: f"the broker to hold the first {head_n} records (holds {state.get('n')})")
            took = state["n"]
            self.stack.kill_devkafka()
            sock.sendall(part2)
            r = http.client.HTTPResponse(sock, method="POST")
            r.begin()
            body = r.read()
        finally:
            sock.close()
        self.expect(r.status == 503, "the answer to an import Kafka did not fully acknowledge", "503",
                    f"{r.status} {body[:300]!r}")
        self.expect(r.getheader("Retry-After") is not None, "503 carries Retry-After", "Retry-After", r.getheaders())
        m = re.search(r"Import ([0-9a-f-]{36})", json.loads(body)["detail"])
        self.expect(m is not None, "the 503 names the import", "Import <id>", body)
        imp = self.http.get(f"/v1/imports/{m.group(1)}").json()
        self.expect(imp["accepted"] <= took, "acknowledged records claimed by the import",
                    f"<= {took} (what the broker held when it was killed)", imp)
        self.expect_eq((imp["received"], imp["accepted"] + imp["rejected"]), (head_n + tail_n, head_n + tail_n),
                       "every record counted once: accepted + rejected = received")
        self.expect(imp["rejected"] >= tail_n, "records after the kill are rejected", f">= {tail_n}", imp)


class BulkShutdown(BulkUploads):
    """SIGTERM with uploads parked on a full queue (the broker frozen): each
    is resumed and answered, and ingest exits cleanly. It used to abort in
    MHD_stop_daemon ("called while we have suspended connections")."""

    def test_sigterm_with_parked_uploads(self):
        tag = f"stop{self.token}"
        bodies = [b"[" + b",".join(records(f"{tag}-{u}", PER_UPLOAD)) + b"]" for u in range(UPLOADS)]
        since = self.stack.log_offset("ingest")
        self.stack.freeze_devkafka()
        try:
            threads, results, errors = self.start_uploads(bodies)
            self.wait(lambda: any("bulk producer queue full" in line for line in self.stack.log_lines("ingest", since)),
                      120, "ingest to log 'bulk producer queue full'")
            problem = self.stack.ingest.stop(timeout=60)
        finally:
            self.stack.thaw_devkafka()
        for t in threads:
            t.join(120)
        self.expect(problem is None, "ingest stops cleanly with uploads parked", "exit 0, no sanitizer report",
                    problem)
        answered = [r for r in results if r is not None]
        for r in answered:
            self.expect(r.status in (202, 503), "an upload cut by the stop is answered", "202 or 503", r)
            if r.status == 503:
                self.expect_problem(r, 503, "an upload cut by the stop")
        self.expect(len(answered) + len(errors) == UPLOADS, "every upload ended", UPLOADS,
                    f"{len(answered)} answered, {len(errors)} transport errors")
        self.expect(len(answered) >= UPLOADS // 2, "most uploads read their answer", f">= {UPLOADS // 2}",
                    f"{len(answered)} answered; transport errors {errors[:3]}")
        self.stack.start_ingest()
