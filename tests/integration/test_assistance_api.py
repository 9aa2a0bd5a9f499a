"""POST and GET /v1/assistance against the routing file: every validation rule
of the request (topic known case-insensitively, an unknown one listing the
known ones; description 1 to 4000 code points), hostile input (SQL-looking
text stored verbatim, invalid UTF-8, deep nesting, a huge body), and
Idempotency-Key making a retried request one request and one delivery per
channel. Notify runs with log channels only, so GET has something to show."""
import hashlib
import json
import os
import uuid
from datetime import datetime

from harness import StackCase, strings

JSON = {"Content-Type": "application/json"}
TOPICS = ("pricing", "sales", "support")


def routing(stack):
    logs = {name: os.path.join(stack.dir, f"{name}.jsonl") for name in ("sales-log", "pricing-log")}
    return {
        "channels": {name: {"type": "log", "path": path} for name, path in logs.items()},
        # "Support" in the file: topics match case-insensitively and are known lower-cased.
        "topics": {"sales": {"channels": ["sales-log"]},
                   "pricing": {"channels": ["pricing-log"]},
                   "Support": {"channels": ["sales-log", "pricing-log"]}},
    }


def rfc3339(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class AssistanceApi(StackCase):
    stack_options = {"persist": 1, "notify": 1, "routing": routing}

    def tearDown(self):
        self.expect(self.stack.ingest.alive(), "sluice-ingest still running after the test", "alive",
                    f"exited with {self.stack.ingest.popen.poll()}")

    def post(self, body, headers=JSON):
        """POST /v1/assistance with body as given (dict/list: JSON; bytes: raw)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        return self.http.request("POST", "/v1/assistance", body, headers, retry=True)

    def log_lines(self, channel, rid):
        path = os.path.join(self.stack.dir, f"{channel}.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8", errors="replace") as f:
            return [line for line in f if rid in line]

    # -- accepted requests

    def test_accepted_request_reads_back(self):
        desc = f"Need help with an invoice {self.token}"
        r = self.post({"topic": "sales", "description": desc}, {**JSON, "X-Request-ID": f"it-api-{self.token}"})
        self.expect_status(r, 202, "POST /v1/assistance (sales)")
        body = r.json()
        self.expect_eq(body.get("status"), "accepted", f"status member of the 202 body {body}")
        rid = body["id"]
        uuid.UUID(rid)
        self.expect_eq(r.header("Location"), f"/v1/assistance/{rid}", "Location of the 202")
        self.wait_delivery(rid, "sales-log", "delivered")
        doc = self.get_assistance(rid)
        self.expect_eq({k: doc.get(k) for k in ("id", "topic", "description")},
                       {"id": rid, "topic": "sales", "description": desc}, "GET /v1/assistance/{id}")
        self.expect(bool(doc.get("received_at")) and rfc3339(doc["received_at"]).tzinfo is not None,
                    "received_at of GET", "an RFC 3339 time with offset", doc.get("received_at"))
        self.expect_eq(doc.get("request_id"), r.header("X-Request-ID"), "request_id of GET: the POST's X-Request-ID")
        self.expect_eq(len(doc.get("deliveries") or []), 1, f"one delivery (sales has one channel): {doc}")
        d = doc["deliveries"][0]
        self.expect_eq({k: d.get(k) for k in ("channel", "type", "status", "attempts", "fallback")},
                       {"channel": "sales-log", "type": "log", "status": "delivered", "attempts": 1, "fallback": False},
                       f"the delivery {d}")
        self.expect(bool(d.get("delivered_at")), "delivered_at of the delivery", "a time", d)
        self.expect("next_attempt_at" in d and d["next_attempt_at"] is None, "no next attempt once delivered",
                    "next_attempt_at null", d)
        self.expect_eq(len(self.log_lines("sales-log", rid)), 1, "lines of sales-log's file naming the request")

    def test_topic_is_case_insensitive(self):
        for given, known in (("SALES", "sales"), ("Sales", "sales"), ("sUpPoRt", "support"), ("support", "support")):
            rid = self.post_assistance(given, f"case {given} {self.token}")
            doc = self.get_assistance(rid)
            self.expect_eq(doc.get("topic"), known, f"topic of a request posted with topic {given!r}")

    def test_description_length_counts_code_points(self):
        cases = [  # (what, description) accepted
            ("1 character", "x"),
            ("4000 x 3-byte characters", "\u20ac" * 4000),
            ("4000 characters mixing 1- to 4-byte UTF-8", ("a\u00e9\u20ac\U0001F600" * 1000)),
        ]
        for what, desc in cases:
            for escaped in (False, True):  # raw UTF-8, and \\u escapes (surrogate pairs for U+1F600)
                body = json.dumps({"topic": "sales", "description": desc}, ensure_ascii=escaped).encode()
                r = self.post(body)
                label = f"POST with a description of {what} ({'escaped' if escaped else 'raw UTF-8'})"
                self.expect_status(r, 202, label)
                rid = r.json()["id"]
                doc = self.get_assistance(rid)
                self.expect(doc.get("description") == desc, f"{label}: description read back verbatim",
                            f"{len(desc)} code points as sent", f"{len(doc.get('description') or '')} code points: "
                            f"{(doc.get('description') or '')[:40]!r}...")
                n = self.stack.sql_value(f"SELECT char_length(description) FROM assistance_requests WHERE id = '{rid}'")
                self.expect_eq(int(n), len(desc), f"{label}: char_length(description) in assistance_requests")
        too_long = [("4001 x 'a'", "a" * 4001), ("4001 x 3-byte characters", "\u20ac" * 4001),
                    ("4001 characters, 4-byte last", "a" * 4000 + "\U0001F600"), ("empty", "")]
        for what, desc in too_long:
            for escaped in (False, True):
                body = json.dumps({"topic": "sales", "description": desc}, ensure_ascii=escaped).encode()
                self.expect_problem(self.post(body), 422, f"POST with a description of {what}", "/description")

    # -- refused requests

    def test_unknown_topic_is_422_listing_known_topics(self):
        r = self.post({"topic": f"nope-{self.token}", "description": "x"})
        p = self.expect_problem(r, 422, "POST with an unknown topic", "/topic")
        msg = next(e["message"] for e in p["errors"] if e["pointer"] == "/topic")
        for t in TOPICS:
            self.expect(t in msg.lower(), f"the /topic error message names the known topic {t!r}",
                        f"a message listing {', '.join(TOPICS)}", msg)
        for topic in ("", " sales", "sales ", "sale", "sales-log", "s\u00e1les"):
            self.expect_problem(self.post({"topic": topic, "description": "x"}), 422,
                                f"POST with topic {topic!r}", "/topic")

    def test_missing_fields_and_wrong_types_are_422(self):
        cases = [  # (what, body, pointers every one of which must be named)
            ("an empty object", {}, ["/topic", "/description"]),
            ("no description", {"topic": "sales"}, ["/description"]),
            ("no topic", {"description": "x"}, ["/topic"]),
            ("both of the wrong type", {"topic": 1, "description": 2}, ["/topic", "/description"]),
        ]
        for bad in (42, 1.5, None, True, [], ["sales"], {}, {"name": "sales"}):
            cases.append((f"topic {json.dumps(bad)}", {"topic": bad, "description": "x"}, ["/topic"]))
        for bad in (42, None, False, [], ["x"], {}, {"text": "x"}, json.loads("[" * 100 + "]" * 100)):
            cases.append((f"description {json.dumps(bad)[:30]}", {"topic": "sales", "description": bad}, ["/description"]))
        for what, body, pointers in cases:
            r = self.post(body)
            for ptr in pointers:
                self.expect_problem(r, 422, f"POST with {what}", ptr)

    def test_malformed_bodies_are_400(self):
        cases = {
            "malformed JSON": b'{"topic": "sales", ',
            "trailing garbage": b'{"topic": "sales", "description": "x"} {}',
            "empty body": b"",
            "a JSON array": b'[{"topic": "sales", "description": "x"}]',
            "a JSON string": b'"sales"',
            "a JSON number": b"42",
            "JSON null": b"null",
            "invalid UTF-8 in the description": b'{"topic": "sales", "description": "\xff\xfe\xc3"}',
            "overlong UTF-8 in the description": b'{"topic": "sales", "description": "\xc0\xaf"}',
            "UTF-16 surrogate bytes in the description": b'{"topic": "sales", "description": "\xed\xa0\x80"}',
            "invalid UTF-8 in the topic": b'{"topic": "sal\xffes", "description": "x"}',
            "10,000-deep nesting in the description": (b'{"topic": "sales", "description": ' + b"[" * 10000 +
                                                       b"]" * 10000 + b"}"),
            "10,000-deep objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
            "unterminated nesting": b'{"topic": "sales", "description": ' + b"[" * 10000,
        }
        for what, body in cases.items():
            self.expect_problem(self.post(body), 400, f"POST /v1/assistance with {what}")

    def test_body_over_limit_is_413(self):
        body = json.dumps({"topic": "sales", "description": "x" * (2 * 1024 * 1024)}).encode()
        head = (f"POST /v1/assistance HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        r = self.http.raw(head, body, "POST", "/v1/assistance")
        self.expect_problem(r, 413, "POST /v1/assistance with a 2 MiB body")
        self.expect_status(self.stack.http().get("/healthz"), 200, "GET /healthz after the 2 MiB body")

    def test_nul_in_description_is_refused(self):
        # JSON allows \u0000 but PostgreSQL text cannot hold it: accepting it
        # (202) would lose the request later in notify; a 4xx tells the client.
        r = self.post(b'{"topic": "sales", "description": "a\\u0000b"}')
        self.expect(r.status in (400, 422), "POST with \\u0000 in the description",
                    "a 400 or 422 problem (never 202, never 5xx)", r)
        self.expect_problem(r, r.status, "POST with \\u0000 in the description")

    # -- stored as given

    def test_sql_looking_description_is_stored_verbatim(self):
        desc = (f"'); DROP TABLE assistance_requests; -- {self.token} \\ $1 %s %n {{}} \" ` "
                "<script>alert(1)</script> \u202e\u200b\ttab\r\nnew line")
        rid = self.post_assistance("sales", desc)
        doc = self.get_assistance(rid)
        self.expect_eq(doc.get("description"), desc, "description read back by GET")
        # md5 in SQL: psql's text output through subprocess would turn \r\n into \n.
        stored = self.stack.sql_value(f"SELECT md5(description) FROM assistance_requests WHERE id = '{rid}'")
        self.expect_eq(stored, hashlib.md5(desc.encode()).hexdigest(), "md5 of the description in assistance_requests")
        self.wait_delivery(rid, "sales-log", "delivered")
        lines = self.log_lines("sales-log", rid)
        self.expect_eq(len(lines), 1, "lines of the sales-log file naming the request")
        self.expect(any(desc in v for v in strings(json.loads(lines[0]))), "the log line",
                    "one JSON object holding the description verbatim", lines[0][:300])

    def test_get_unknown_or_malformed_id_is_404(self):
        for ref in (str(uuid.uuid4()), "not-a-uuid", "00000000-0000-0000-0000-00000000000g", "1", "..%2f..%2fetc",
                    str(uuid.uuid4()) + "0"):
            r = self.http.get(f"/v1/assistance/{ref}")
            self.expect_problem(r, 404, f"GET /v1/assistance/{ref}")

    # -- Idempotency-Key

    def test_idempotency_key_retry_is_one_request(self):
        desc = f"Please call me back {self.token}"
        headers = {"Idempotency-Key": f"assist-{self.token}"}
        ids = [self.post_assistance("support", desc, headers) for _ in range(3)]
        self.expect_eq(len(set(ids)), 1, f"3 POSTs with one Idempotency-Key and body answer one id ({ids})")
        rid = ids[0]
        for ch in ("sales-log", "pricing-log"):
            self.wait_delivery(rid, ch, "delivered")
        self.expect_eq(self.post_assistance("support", desc, headers), rid, "a 4th POST after delivery: the same id")
        r = self.http.post_json("/v1/assistance", {"topic": "support", "description": desc + " (changed)"},
                                headers, retry=True)
        p = self.expect_problem(r, 422, "the recorded key reused with another description")
        self.expect(p.get("type", "").endswith("idempotency-key-reused"), "problem type", "idempotency-key-reused", r)
        other = self.post_assistance("support", desc, {"Idempotency-Key": f"other-{self.token}"})
        self.expect(other != rid, "a POST with another Idempotency-Key", "another id", other)
        self.expect(self.post_assistance("support", desc) not in (rid, other), "a POST without Idempotency-Key",
                    "a new id", "one of the keyed ids")
        # Every copy on the topic has been consumed once a barrier after it on its partition is through.
        copies = [m for m in self.stack.kcat_consume(self.stack.assistance_topic) if rid in (m.get("payload") or "")]
        self.expect(len(copies) >= 1, f"messages of {rid} on {self.stack.assistance_topic}", ">= 1", copies)
        for part in sorted({m["partition"] for m in copies}):
            self.stack.dlq_barrier(self.stack.assistance_topic, part, self.stack.assistance_dlq)
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM assistance_requests WHERE id = '{rid}'"), "1",
                       "rows of assistance_requests for the id")
        rows = sorted(tuple(r) for r in self.stack.sql(
            f"SELECT channel, status, attempts FROM assistance_deliveries WHERE request_id = '{rid}'"))
        self.expect_eq(rows, [("pricing-log", "delivered", "1"), ("sales-log", "delivered", "1")],
                       "assistance_deliveries of the request: one per channel, sent once")
        for ch in ("sales-log", "pricing-log"):
            self.expect_eq(len(self.log_lines(ch, rid)), 1, f"lines of the {ch} file naming the request (sent once)")
        doc = self.get_assistance(rid)
        self.expect_eq(sorted((d["channel"], d["attempts"]) for d in doc["deliveries"]),
                       [("pricing-log", 1), ("sales-log", 1)], "deliveries of GET")
