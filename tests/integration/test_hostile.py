"""Hostile input: each bad request is the right 4xx problem (never a 5xx or a
crash), SQL-looking strings are stored verbatim, and the server stays up."""
import json
import urllib.parse

from harness import StackCase

JSON = {"Content-Type": "application/json"}


class Hostile(StackCase):
    stack_options = {"persist": 1}

    def tearDown(self):
        # After every case: ingest is alive and answers.
        self.expect(self.stack.ingest.alive(), "sluice-ingest still running after the hostile request",
                    "alive", f"exited with {self.stack.ingest.popen.poll()}")
        self.expect_status(self.stack.http().get("/healthz"), 200, "GET /healthz after the hostile request")

    def post_raw(self, body, headers=JSON):
        return self.http.request("POST", "/v1/events", body, headers, retry=True)

    def test_malformed_bodies_are_400(self):
        cases = {
            "malformed JSON": b'{"type": "x", ',
            "trailing garbage": b'{"type": "x"} {}',
            "empty body": b"",
            "JSON array": b'[{"type": "x"}]',
            "JSON string": b'"hello"',
            "JSON number": b"42",
            "JSON null": b"null",
            "invalid UTF-8 in a string": b'{"type": "x", "s": "\xff\xfe\xc3"}',
            "overlong UTF-8": b'{"s": "\xc0\xaf"}',
            "UTF-16 surrogate bytes": b'{"s": "\xed\xa0\x80"}',
            "10,000-deep nesting in a member": b'{"a": ' + b"[" * 10000 + b"]" * 10000 + b"}",
            "10,000-deep objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
            "10,000-deep array at the top": b"[" * 10000 + b"]" * 10000,
            "unterminated 10,000-deep nesting": b'{"a": ' + b"[" * 10000,
        }
        for what, body in cases.items():
            self.expect_problem(self.post_raw(body), 400, f"POST /v1/events with {what}")

    def test_nesting_within_the_limit_is_accepted(self):
        body = b'{"deep": ' + b"[" * 100 + b"]" * 100 + f', "tag": "{self.token}"}}'.encode()
        r = self.post_raw(body)
        self.expect_status(r, 202, "POST with 100-deep nesting (within the 2048 limit)")

    def test_body_over_limit_is_413(self):
        body = b'{"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        head = (f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-ID: big-{self.token}\r\n\r\n").encode()
        r = self.http.raw(head, body, "POST", "/v1/events")
        self.expect_problem(r, 413, "POST /v1/events with a 2 MiB body (Content-Length)")
        head = (f"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\n\r\n").encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                           for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
        r = self.http.raw(head, chunked, "POST", "/v1/events")
        self.expect_problem(r, 413, "POST /v1/events with a 2 MiB chunked body")

    def test_wrong_content_type_is_415(self):
        body = json.dumps({"type": "x"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx", None):
            r = self.post_raw(body, {"Content-Type": ctype} if ctype else {})
            self.expect_problem(r, 415, f"POST /v1/events with Content-Type {ctype}")
        r = self.post_raw(json.dumps({"tag": self.token}).encode(), {"Content-Type": "application/json; charset=utf-8"})
        self.expect_status(r, 202, "POST with Content-Type application/json; charset=utf-8")

    def test_unknown_route_is_404(self):
        for method, path in (("GET", "/nope"), ("GET", "/v1/events/a/b"), ("POST", "/v2/events"),
                             ("GET", "/v1/events/%ff%fe"), ("GET", "/" + "a" * 5000)):
            r = self.http.request(method, path, b"{}" if method == "POST" else None, JSON, retry=True)
            self.expect(r.status in (404, 414) if len(path) > 4000 else r.status == 404,
                        f"{method} {path[:60]}", "HTTP 404", r)
            if r.status == 404:
                self.expect_problem(r, 404, f"{method} {path[:60]}")

    def test_wrong_method_is_405_with_allow(self):
        for method, path, allowed in (("DELETE", "/v1/events", {"GET", "POST"}), ("PUT", "/v1/events", {"GET", "POST"}),
                                      ("POST", "/healthz", {"GET"}), ("DELETE", "/v1/events/x", {"GET"})):
            r = self.http.request(method, path, b"{}", JSON, retry=True)
            self.expect_problem(r, 405, f"{method} {path}")
            allow = {m.strip() for m in (r.header("Allow") or "").split(",") if m.strip()}
            self.expect(allowed <= allow, f"{method} {path}: Allow header", f"lists {sorted(allowed)}", r.header("Allow"))

    def test_invalid_fields_are_422_with_pointers(self):
        cases = [
            ({"type": 5}, ["/type"]),
            ({"type": ["a"]}, ["/type"]),
            ({"occurred_at": "yesterday"}, ["/occurred_at"]),
            ({"occurred_at": "2024-02-30"}, ["/occurred_at"]),
            ({"occurred_at": "2024-05-01T25:00:00Z"}, ["/occurred_at"]),
            ({"occurred_at": 1714560000}, ["/occurred_at"]),
            ({"id": {"nested": 1}}, ["/id"]),
            ({"id": 1.5}, ["/id"]),
            ({"type": False, "occurred_at": "soon"}, ["/type", "/occurred_at"]),
        ]
        for body, pointers in cases:
            r = self.http.post_json("/v1/events", body, retry=True)
            for pointer in pointers:
                self.expect_problem(r, 422, f"POST /v1/events {json.dumps(body)}", pointer)
            if len(pointers) > 1:
                self.expect_eq(len(r.json()["errors"]), len(pointers), f"one error per bad field for {body}")

    def test_valid_dates_are_accepted(self):
        for when in ("2024-05-01", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123456+02:00", "2024-02-29"):
            self.post_event({"occurred_at": when, "tag": self.token})

    def test_bad_request_id_and_query_bytes(self):
        r = self.http.get("/v1/events?contains=%ff%fe")
        self.expect_problem(r, 400, "GET /v1/events?contains=<invalid UTF-8>")
        r = self.http.get("/v1/events?" + urllib.parse.urlencode({"contains": "x" * 3000}))
        self.expect(r.status < 500, "GET /v1/events with a 3,000-char contains", "a non-5xx answer", r)

    def test_sql_looking_strings_are_stored_verbatim(self):
        nasty = ["'; DROP TABLE events; --", "Robert'); DROP TABLE students;--", "' OR '1'='1",
                 "\\x00\\'\"; SELECT pg_sleep(10); --", "$1 $$ $tag$ ::uuid", "%_\\%\\_", "é✓\U0001F600 \u2028"]
        body = {"type": "' OR 1=1 --", "tag": self.token, "nasty": nasty, "'; DELETE FROM events; --": "key"}
        eid = self.post_event(body, {"Idempotency-Key": "';DROP_TABLE_events;--" + self.token})
        ev = self.get_event(eid)
        self.expect_eq(ev["body"], body, "stored body equals the posted one, byte for byte")
        self.expect_eq(ev["type"], "' OR 1=1 --", "type stored verbatim")
        stored = json.loads(self.stack.sql_value(f"SELECT body FROM events WHERE id = '{eid}'"))
        self.expect_eq(stored, body, "body in PostgreSQL")
        for s in nasty[:3]:
            got = [e["id"] for e in self.query("/v1/events?" + urllib.parse.urlencode({"contains": s}))["items"]]
            self.expect_eq(got, [eid], f"contains={s!r} finds exactly the event")
        got = [e["id"] for e in self.query("/v1/events?" + urllib.parse.urlencode({"type": "' OR 1=1 --"}))["items"]]
        self.expect_eq(got, [eid], "type=' OR 1=1 -- finds exactly the event")
        r = self.http.get("/v1/events/" + urllib.parse.quote("' OR '1'='1"))
        self.expect_problem(r, 404, "GET /v1/events/' OR '1'='1")
        self.expect_eq(self.stack.sql_value("SELECT to_regclass('events') IS NOT NULL"), "t", "events table exists")

    def test_nul_escape_is_rejected_or_stored(self):
        # PostgreSQL jsonb cannot hold \u0000: ingest must refuse it (4xx) or
        # store it some other way; a 202 for a write that can never be
        # persisted breaks the durable-acknowledgement promise.
        body = {"tag": self.token, "s": "a\u0000b"}
        r = self.http.post_json("/v1/events", body, retry=True)
        if r.status == 202:
            self.get_event(r.json()["id"], timeout=20)
        else:
            self.expect(400 <= r.status < 500, "POST with \\u0000 in a string", "a 4xx problem or a 202 that persists", r)
            self.expect_problem(r, r.status, "POST with \\u0000 in a string")
