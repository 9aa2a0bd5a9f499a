"""HTTP edges (issue 9 items 8, 9, 12, 13, 14): bodies near and over the
limit are 413s an ordinary client can read (never a 503, never a reset),
framing that could smuggle a request is refused, media the API does not take
is a 415, the library's own complaints reach the log as rate-limited JSON, and
well-formed JSON that is refused says exactly why."""
import http.client
import json
import time

import harness
from harness import StackCase, wait_until

JSON = {"Content-Type": "application/json"}
# ingest's default body limit (HTTP_MAX_BODY_DEFAULT): every body under it fits
# in one Kafka message (1,000,000 bytes) with its envelope.
LIMIT = 983040


def padded(size, token):
    """A JSON object of exactly `size` bytes."""
    head = f'{{"type": "edge", "tag": "{token}", "pad": "'.encode()
    tail = b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


class HttpEdges(StackCase):
    stack_options = {"persist": 1}

    def tearDown(self):
        self.expect(self.stack.ingest.alive(), "sluice-ingest still running", "alive",
                    f"exited with {self.stack.ingest.popen.poll()}")

    def raw(self, head, body=b""):
        return self.stack.http().raw(head.encode() if isinstance(head, str) else head, body, "POST",
                                     "/v1/events")

    def client(self):
        return http.client.HTTPConnection("127.0.0.1", self.stack.ingest_port, timeout=30)

    # ---- item 8: a body the broker would refuse is a 413, never a 503

    def test_body_kafka_would_refuse_is_413(self):
        # Between ~999,500 bytes and 1 MiB main answered 503 + Retry-After.
        for size in (999_600, 1_000_000, 1_048_576):
            r = self.http.request("POST", "/v1/events", padded(size, self.token), JSON, retry=True)
            p = self.expect_problem(r, 413, f"POST /v1/events with a {size}-byte body")
            self.expect(r.header("Retry-After") is None, f"{size}-byte body: no Retry-After on a 413",
                        "no Retry-After", r)
            self.expect("983040" in p["detail"], f"{size}-byte body: the limit is named", "983040", p)

    def test_body_at_the_limit_is_accepted(self):
        r = self.http.request("POST", "/v1/events", padded(LIMIT, self.token), JSON, retry=True)
        self.expect_status(r, 202, f"POST /v1/events with a body of exactly {LIMIT} bytes")

    def test_reals_stay_as_sent_in_the_envelope(self):
        # The envelope carries the body as received: 0.1 was once re-encoded
        # as 0.10000000000000001, and a 400 KB body of reals became a 2 MB
        # message Kafka refused (a 413). Now it is the body's size, stored.
        n = 100_000
        body = ('{"type": "reals", "tag": "%s", "r": [' % self.token + ",".join(["0.1"] * n) + "]}").encode()
        r = self.http.request("POST", "/v1/events", body, JSON, retry=True)
        self.expect_status(r, 202, f"POST /v1/events with {n} reals ({len(body)} bytes)")
        eid = r.json()["id"]
        msg = self.wait(lambda: self.stack.messages_of(self.stack.topic, eid), 30, f"{eid} on {self.stack.topic}")
        self.expect(len(msg[0]["payload"]) < len(body) + 1024, "the message's size", "the body's and ~500 bytes",
                    len(msg[0]["payload"]))
        self.stack.wait_persisted([eid])
        self.expect_eq(self.stack.sql_value(f"SELECT jsonb_array_length(body->'r') FROM events WHERE id = '{eid}'"),
                       str(n), "the stored body's reals")

    # ---- item 9: an oversized body sent whole is answered 413, not reset

    def test_oversized_body_sent_whole_reads_413(self):
        self.sent_whole_reads_413(2 * 1024 * 1024, "2 MiB")

    def test_body_at_the_edge_of_the_drain_reads_413(self):
        # Read and dropped up to 8 MiB beyond the limit (983,040 by default):
        # a body just inside that is still answered, whatever the framing.
        self.sent_whole_reads_413(983040 + 8 * 1024 * 1024 - 1, "limit + 8 MiB - 1")

    def sent_whole_reads_413(self, size, label):
        body = padded(size, self.token)
        for what, kwargs in (("Content-Length", {}), ("chunked", {"encode_chunked": True})):
            conn = self.client()
            try:
                # http.client sends all of it, then reads: the way most clients do.
                headers = {**JSON, **harness.auth_header()}
                if kwargs:
                    headers["Transfer-Encoding"] = "chunked"
                    conn.request("POST", "/v1/events", body=iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                                 headers=headers, **kwargs)
                else:
                    conn.request("POST", "/v1/events", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (BrokenPipeError, ConnectionResetError) as exc:
                self.fail(f"{label} body ({what}) sent whole by http.client: {exc!r} instead of a 413; "
                          f"look at {self.stack.where()}")
            finally:
                conn.close()
            self.expect_eq(resp.status, 413, f"{label} body ({what}) sent whole: status")
            self.expect(resp.getheader("Content-Type", "").startswith("application/problem+json"),
                        f"{label} body ({what}): Content-Type", "application/problem+json",
                        resp.getheader("Content-Type"))
            self.expect_eq(json.loads(data)["status"], 413, f"{label} body ({what}): problem status")

    def test_oversized_body_with_expect_is_413_at_once(self):
        # A client that waits for 100 Continue is answered before it sends anything.
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Expect: 100-continue\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n")
        r = self.raw(head)
        self.expect_problem(r, 413, "a 5 MiB Content-Length with Expect: 100-continue, no body sent")

    # ---- item 12: framing and media

    def test_two_content_lengths_are_400(self):
        body = b'{"type": "smuggle"}'
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nContent-Length: 5\r\n\r\n")
        self.expect_problem(self.raw(head, body), 400, "two different Content-Length headers")
        head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        self.expect_problem(self.raw(head, chunked), 400, "Content-Length and Transfer-Encoding together")

    def test_unknown_transfer_encoding_is_501(self):
        for te in ("gzip", "gzip, chunked", "identity"):
            head = (f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    f"Transfer-Encoding: {te}\r\n\r\n")
            started = time.monotonic()
            r = self.raw(head, b'{"type": "x"}')
            self.expect_problem(r, 501, f"Transfer-Encoding: {te}")
            self.expect(time.monotonic() - started < 5, f"Transfer-Encoding: {te} answered at once",
                        "under 5 s", f"{time.monotonic() - started:.1f} s")

    def test_charset_other_than_utf8_is_415(self):
        body = {"type": "charset", "tag": self.token}
        for ct in ("application/json; charset=iso-8859-1", "application/json;charset=\"UTF-16\"",
                   "application/json; charset=latin1"):
            r = self.http.request("POST", "/v1/events", json.dumps(body), {"Content-Type": ct}, retry=True)
            self.expect_problem(r, 415, f"POST /v1/events with Content-Type: {ct}")
            r = self.http.request("POST", "/v1/recipes", json.dumps(body), {"Content-Type": ct}, retry=True)
            self.expect_problem(r, 415, f"POST /v1/recipes with Content-Type: {ct}")
        for ct in ("application/json; charset=utf-8", "application/json; charset=\"UTF-8\"",
                   "application/json"):
            r = self.http.request("POST", "/v1/events", json.dumps(body), {"Content-Type": ct}, retry=True)
            self.expect_status(r, 202, f"POST /v1/events with Content-Type: {ct}")

    def test_content_encoding_where_not_taken_is_415(self):
        import gzip
        raw = gzip.compress(json.dumps({"type": "gz", "tag": self.token}).encode())
        for path in ("/v1/events", "/v1/recipes", "/v1/assistance", "/epoch"):
            r = self.http.request("POST", path, raw, {**JSON, "Content-Encoding": "gzip"}, retry=True)
            p = self.expect_problem(r, 415, f"POST {path} with Content-Encoding: gzip")
            self.expect("Content-Encoding" in p["detail"], f"POST {path}: the 415 names Content-Encoding",
                        "Content-Encoding in detail", p)
        r = self.http.request("PUT", "/hello/Edgy", raw, {**JSON, "Content-Encoding": "br"}, retry=True)
        self.expect_problem(r, 415, "PUT /hello with Content-Encoding: br")
        # Bulk import takes gzip.
        ndjson = gzip.compress(b'{"type": "gz-bulk"}\n')
        r = self.http.request("POST", "/v1/bulk?collection=events", ndjson,
                              {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, retry=True)
        self.expect_status(r, 202, "POST /v1/bulk with Content-Encoding: gzip")

    # ---- item 13: the library's messages are JSON log lines, rate-limited

    def test_library_messages_are_rate_limited_json(self):
        since = self.stack.log_offset("ingest")
        head = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 20000 + "\r\n\r\n"
        for _ in range(40):
            try:
                r = self.stack.http().raw(head.encode(), b"", "GET", "/healthz")
                self.expect_eq(r.status, 431, "a 20 KB header: status (the library's own answer)")
            except (ConnectionResetError, BrokenPipeError, http.client.HTTPException):
                pass  # the library may close before we finish sending
        # Keep causing lines until the one after a suppressed stretch says how many.
        def suppressed_line():
            try:
                self.stack.http().raw("GET / HTTP/9.9\r\nHost: x\r\n\r\n".encode(), b"", "GET", "/")
            except (ConnectionResetError, BrokenPipeError, http.client.HTTPException):
                pass
            for line in self.stack.log_lines("ingest", since):
                if '"libmicrohttpd"' in line and '"suppressed"' in line:
                    return line
            return None
        wait_until(suppressed_line, 15, "a libmicrohttpd log line with a suppressed count")
        lines = [l for l in self.stack.log_lines("ingest", since) if l.strip()]
        per_second = {}
        for line in lines:
            try:
                doc = json.loads(line)
            except ValueError:
                self.fail(f"ingest log line is not JSON: {line[:200]!r}; look at {self.stack.where()}")
            if doc.get("msg") == "libmicrohttpd":
                self.expect("<html>" not in doc.get("detail", ""), "library line without its HTML page",
                            "no <html>", doc)
                per_second[doc["ts"][:19]] = per_second.get(doc["ts"][:19], 0) + 1
        self.expect(per_second and max(per_second.values()) <= 10, "libmicrohttpd lines per second",
                    "at most 10", per_second)

    # ---- item 14: well-formed JSON refused says what and why, or is accepted

    def test_bom_is_accepted(self):
        body = b"\xef\xbb\xbf" + json.dumps({"type": "bom", "tag": self.token}).encode()
        r = self.http.request("POST", "/v1/events", body, JSON, retry=True)
        self.expect_status(r, 202, "POST /v1/events with a leading UTF-8 BOM")
        # Acknowledged is not enough: the envelope carries the body as sent,
        # and a BOM inside it would make the worker refuse the write.
        eid = r.json()["id"]
        self.stack.wait_persisted([eid])
        self.expect_eq(self.stack.sql_value(f"SELECT body->>'tag' FROM events WHERE id = '{eid}'"), self.token,
                       "the stored body of the BOM write")

    def test_duplicate_key_is_named(self):
        body = b'{"type": "dup", "amount": 1, "amount": 2}'
        r = self.http.request("POST", "/v1/events", body, JSON, retry=True)
        p = self.expect_problem(r, 400, "POST /v1/events with a duplicate key")
        self.expect("amount" in p["detail"] and "twice" in p["detail"], "the 400 names the duplicate key",
                    "'amount' ... twice", p)
        self.expect("not valid JSON" not in p["detail"], "a duplicate key is not called invalid JSON",
                    "no 'not valid JSON'", p)

    def test_big_integer_is_out_of_range(self):
        body = b'{"type": "big", "n": 123456789012345678901234567890}'
        r = self.http.request("POST", "/v1/events", body, JSON, retry=True)
        p = self.expect_problem(r, 400, "POST /v1/events with an integer beyond int64")
        self.expect("integer out of range" in p["detail"] and "column" in p["detail"],
                    "the 400 says integer out of range and where", "integer out of range, column", p)


class PathAndFraming(StackCase):
    """A %00 in the path or a query does not cut it short, and two
    Transfer-Encoding headers are refused (the first and the last could be
    read differently by a proxy)."""
    stack_options = {"persist": 1}

    def test_encoded_nul(self):
        for path in ("/v1/keys%00junk", "/v1/status%00.css", "/hello/Ann%00x", "/v1/events/evt%00zzz"):
            r = self.http.get(path)
            self.expect(r.status in (400, 404), f"GET {path}: the whole path, NUL included, names nothing",
                        "404 (400 where the segment is validated)", r)
        r = self.http.get("/v1/events?type=a%00b")
        self.expect_status(r, 400, "a query value with %00")

    def test_two_transfer_encodings(self):
        head = (b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n")
        r = self.http.raw(head, b"2\r\n{}\r\n0\r\n\r\n", "POST", "/v1/events")
        self.expect_status(r, 400, "two Transfer-Encoding headers")
