"""Round trip: POST /v1/events, then GET by id and by query; the query
filters (after, before, contains, type), keyset pagination, seed routes and
the operations endpoints."""
import json
import urllib.parse
import uuid
from datetime import datetime

from harness import StackCase


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def q(**params):
    return urllib.parse.urlencode(params)


class RoundTrip(StackCase):
    stack_options = {"persist": 1}

    def post_all(self, bodies):
        """Posts bodies and waits until all are persisted; returns their ids."""
        ids = [self.post_event(b) for b in bodies]
        self.stack.wait_persisted(ids)
        return ids

    def ids_of(self, path):
        return [item["id"] for item in self.query(path)["items"]]

    def test_post_then_get_and_query(self):
        body = {"type": f"greeting-{self.token}", "occurred_at": "2024-05-01T12:00:00Z",
                "text": f"hello {self.token}", "nested": {"n": [1, 2.5, None, True], "s": "é✓"}}
        r = self.http.post_json("/v1/events", body, {"X-Request-ID": f"req-{self.token}"})
        self.expect_status(r, 202, "POST /v1/events")
        self.expect_eq(r.header("X-Request-ID"), f"req-{self.token}", "X-Request-ID echoes the client's")
        eid = r.json()["id"]
        self.expect_eq(r.header("Location"), f"/v1/events/{eid}", "Location header")

        ev = self.get_event(eid)
        self.expect_eq(set(ev), {"id", "external_id", "type", "occurred_at", "received_at", "body"},
                       "GET /v1/events/{id} members")
        self.expect_eq((ev["id"], ev["external_id"], ev["type"]), (eid, None, body["type"]), "id, external_id, type")
        self.expect_eq(ts(ev["occurred_at"]), ts("2024-05-01T12:00:00Z"), "occurred_at")
        ts(ev["received_at"])
        self.expect_eq(ev["body"], body, "stored body")

        page = self.query(f"/v1/events?{q(contains=self.token, type=body['type'])}")
        self.expect_eq(page["items"], [ev], "query by contains+type returns exactly the event, same object as GET")
        self.expect_eq(page["next_cursor"], None, "next_cursor on the only page")

    def test_sighup_leaves_persist_working(self):
        """An operator reloading every process's routing (or a closing terminal)
        sends persist a SIGHUP too: it has nothing to reload and keeps applying."""
        import signal
        proc = self.stack.persist[0]
        proc.popen.send_signal(signal.SIGHUP)
        self.post_all([{"type": "after-sighup", "tag": self.token}])
        self.expect(proc.alive(), "persist still running after SIGHUP", "alive", proc.popen.poll())

    def test_body_with_its_own_spacing(self):
        """A pretty-printed body (newlines, tabs, CRLF, spaces around every
        token), as curl -d @file.json sends one, is spliced into the envelope
        as received and stored as the same JSON: its line breaks must not
        break the COPY row persist writes (nor the Kafka message)."""
        tok = self.token
        text = ('{\r\n\t"tag" : "%s",\n\t"lines" : [ 1 ,\n 2 ],\t"s" : "a\\tb\\nc" ,'
                '\n  "nested" : { "k" :\r\n null } }\n' % tok)
        r = self.http.request("POST", "/v1/events", text, {"Content-Type": "application/json"}, retry=True)
        self.expect_status(r, 202, "POST of a pretty-printed body")
        ev = self.get_event(r.json()["id"])
        self.expect_eq(ev["body"], json.loads(text), "the stored body")

    def test_default_occurred_at_is_receipt_time(self):
        eid = self.post_event({"note": f"no-time-{self.token}"})
        ev = self.get_event(eid)
        delta = abs((ts(ev["occurred_at"]) - ts(ev["received_at"])).total_seconds())
        self.expect(delta < 5, "occurred_at defaults to the time of receipt", "within 5s of received_at", ev)

    def test_external_id(self):
        ext = f"order-{self.token}"
        eid = self.post_event({"id": ext, "type": "order"})
        ev = self.get_event(ext)
        self.expect_eq((ev["id"], ev["external_id"]), (eid, ext), "GET by external id")
        num = int(uuid.uuid4().int % 10**12)
        nid = self.post_event({"id": num, "type": "order"})
        ev = self.get_event(str(num))
        self.expect_eq((ev["id"], ev["external_id"]), (nid, str(num)), "integer body id becomes external_id")

    def test_unknown_event_is_404(self):
        for ref in (str(uuid.uuid4()), f"missing-{self.token}"):
            self.expect_problem(self.http.get(f"/v1/events/{ref}"), 404, f"GET /v1/events/{ref}")
            self.expect_problem(self.http.get(f"/v1/{ref}"), 404, f"GET /v1/{ref}")

    def test_after_before(self):
        t = f"range-{self.token}"
        times = ["2023-12-31T23:59:59Z", "2024-01-01T00:00:00Z", "2024-01-15T10:00:00Z",
                 "2024-01-20", "2024-01-31T23:59:59.999Z", "2024-02-01T00:00:00Z"]
        ids = self.post_all([{"type": t, "occurred_at": x, "i": i} for i, x in enumerate(times)])
        cases = [  # (params, indexes of times expected)
            ({}, [0, 1, 2, 3, 4, 5]),
            ({"after": "2024-01-01"}, [1, 2, 3, 4, 5]),
            ({"before": "2024-02-01"}, [0, 1, 2, 3, 4]),
            ({"after": "2024-01-01", "before": "2024-02-01"}, [1, 2, 3, 4]),
            ({"after": "2024-01-15T10:00:00Z", "before": "2024-01-20"}, [2]),
            ({"after": "2024-01-15T11:00:00+01:00", "before": "2024-01-20T00:00:00.000001Z"}, [2, 3]),
            ({"after": "2024-01-15T10:00:00.000001Z"}, [3, 4, 5]),
            ({"after": "2024-03-01"}, []),
        ]
        for params, want in cases:
            path = f"/v1/events?{q(type=t, **params)}"
            self.expect_eq(self.ids_of(path), [ids[i] for i in want],
                           f"GET {path} (after inclusive, before exclusive, ascending occurred_at)")

    def test_contains(self):
        t = f"contains-{self.token}"
        notes = [f"Zebra-{self.token}-stripes", f"zebra-{self.token}", f"horse-{self.token}",
                 f"{self.token}a_c", f"{self.token}abc", f"{self.token}100%"]
        ids = self.post_all([{"type": t, "note": n, "occurred_at": f"2024-06-0{i + 1}"} for i, n in enumerate(notes)])
        cases = [  # (contains, indexes expected)
            (f"ZEBRA-{self.token}", [0, 1]),          # case-insensitive
            (f"zebra-{self.token}-STRIPES", [0]),
            (f"{self.token}a_c", [3]),                # _ is not a wildcard
            (f"{self.token}10%", []),                 # % is not a wildcard
            (f"{self.token}100%", [5]),
            (self.token, [0, 1, 2, 3, 4, 5]),
            (f"nothing-{self.token}", []),
        ]
        for contains, want in cases:
            path = f"/v1/events?{q(contains=contains)}"
            self.expect_eq(self.ids_of(path), [ids[i] for i in want], f"GET {path}")

    def test_type(self):
        a, b = f"typeA-{self.token}", f"typeB-{self.token}"
        ids = self.post_all([{"type": a, "occurred_at": "2024-07-01"}, {"type": b, "occurred_at": "2024-07-02"},
                             {"type": a, "occurred_at": "2024-07-03"}, {"note": f"untyped {a}"}])
        self.expect_eq(self.ids_of(f"/v1/events?{q(type=a)}"), [ids[0], ids[2]], f"GET /v1/events?type={a}")
        self.expect_eq(self.ids_of(f"/v1/events?{q(type=b)}"), [ids[1]], f"GET /v1/events?type={b}")
        items = self.query(f"/v1/events?{q(type=a)}")["items"]
        self.expect_eq([i["type"] for i in items], [a, a], "type members of the items")

    def test_pagination(self):
        t = f"page-{self.token}"
        times = ["2024-08-01T00:00:00Z"] * 3 + ["2024-08-02", "2024-08-03", "2024-07-31", "2024-08-02T12:00:00Z"]
        self.post_all([{"type": t, "occurred_at": x, "i": i} for i, x in enumerate(times)])
        everything = self.query(f"/v1/events?{q(type=t, limit=1000)}")["items"]
        expected = sorted(everything, key=lambda e: (ts(e["occurred_at"]), e["id"]))
        self.expect_eq([e["id"] for e in everything], [e["id"] for e in expected],
                       "items ordered by (occurred_at, id)")
        self.expect_eq(len(everything), 7, "all 7 events of the type")

        pages, cursor = [], None
        while True:
            params = {"type": t, "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = self.query(f"/v1/events?{q(**params)}")
            pages.append([e["id"] for e in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None or len(pages) > 5:
                break
        self.expect_eq([len(p) for p in pages], [3, 3, 1], "page sizes with limit=3 (last page has next_cursor null)")
        self.expect_eq(sum(pages, []), [e["id"] for e in expected], "pages concatenated = the full ordered set")

        # A cursor combines with the other filters.
        first = self.query(f"/v1/events?{q(type=t, limit=2, after='2024-08-01')}")
        rest = self.query(f"/v1/events?{q(type=t, limit=1000, after='2024-08-01', cursor=first['next_cursor'])}")
        want = [e["id"] for e in expected if ts(e["occurred_at"]) >= ts("2024-08-01T00:00:00Z")]
        self.expect_eq([e["id"] for e in first["items"] + rest["items"]], want, "cursor + after filter")

    def test_bad_query_parameters(self):
        for params, name in [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"limit": "abc"}, "limit"),
                             ({"limit": -5}, "limit"), ({"limit": ""}, "limit"), ({"after": "yesterday"}, "after"),
                             ({"before": "2024-13-01"}, "before"), ({"cursor": "not-a-cursor"}, "cursor")]:
            path = f"/v1/events?{q(**params)}"
            p = self.expect_problem(self.http.get(path), 400, f"GET {path}")
            self.expect(any(name in e.get("pointer", "") for e in p.get("errors") or []),
                        f"GET {path}: errors name the parameter", f"a pointer mentioning {name}", p)
        self.expect_eq(len(self.query("/v1/events?limit=1000")["items"]) <= 1000, True, "limit=1000 is allowed")

    def test_seed_routes(self):
        t = f"seed-{self.token}"
        ids = self.post_all([{"type": t, "note": f"seed {self.token}", "occurred_at": f"2024-09-0{i + 1}",
                              **({"id": f"seed-ext-{self.token}"} if i == 0 else {})} for i in range(4)])
        for params in ({"contains": f"seed {self.token}"},
                       {"contains": f"seed {self.token}", "after": "2024-09-02", "before": "2024-09-04"},
                       {"before": "2024-09-03", "after": "2024-09-01", "contains": self.token}):
            seed, new = f"/v1/?{q(**params)}", f"/v1/events?{q(**params)}"
            self.expect_eq(self.query(seed), self.query(new), f"GET {seed} equals GET {new}")
        self.expect_eq(len(self.query(f"/v1/?{q(contains=f'seed {self.token}')}")["items"]), 4, "seed query finds all 4")
        for ref in (ids[1], f"seed-ext-{self.token}"):
            self.expect_eq(self.query(f"/v1/{ref}"), self.query(f"/v1/events/{ref}"), f"GET /v1/{ref}")

    def test_operations_endpoints(self):
        for path in ("/healthz", "/readyz"):
            self.expect_status(self.http.get(path), 200, f"GET {path}")
        r = self.http.get("/metrics")
        self.expect_status(r, 200, "GET /metrics")
        self.expect((r.header("Content-Type") or "").startswith("text/plain") and b"# TYPE" in r.body,
                    "GET /metrics is Prometheus text", "text/plain with # TYPE lines", r)
        r = self.http.get("/openapi.json")
        self.expect_status(r, 200, "GET /openapi.json")
        doc = r.json()
        self.expect(str(doc.get("openapi", "")).startswith("3.1") and "/v1/events" in doc.get("paths", {}),
                    "OpenAPI document", "openapi 3.1.x with /v1/events", r)
        r1, r2 = self.http.get("/healthz"), self.http.get("/healthz")
        self.expect(r1.header("X-Request-ID") != r2.header("X-Request-ID"), "generated X-Request-ID",
                    "a new id per request", (r1.header("X-Request-ID"), r2.header("X-Request-ID")))

    def test_persist_admin_endpoints(self):
        admin = self.stack.admin(0)
        try:
            for path in ("/healthz", "/readyz"):
                self.expect_status_plain(admin.get(path), 200, f"persist admin GET {path}")
            r = admin.get("/metrics")
            self.expect_status_plain(r, 200, "persist admin GET /metrics")
            self.expect(b"# TYPE" in r.body, "persist /metrics is Prometheus text", "# TYPE lines", r)
        finally:
            admin.close()

    def expect_status_plain(self, r, status, what):
        self.expect(r.status == status, what, f"HTTP {status}", r)


if __name__ == "__main__":
    import unittest
    unittest.main()
