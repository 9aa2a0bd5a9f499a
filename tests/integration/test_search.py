"""contains= off the write path (docs/search.md, schema/012_search.sql):
the same answers whatever the indexer has done (before it ran, after, for
changed records), per tenant, with `%`, `_` and SQL-looking text taken
literally; imports report indexed after done; and the index ends up exactly
the events' text after persist is killed mid-backlog and after PostgreSQL
went away while the indexer ran.

The indexer is held back by taking its advisory lock from a psql session
(event_search_index then answers -1 and the indexer waits)."""
import json
import os
import subprocess
import urllib.parse

from harness import Http, StackCase, wait_until

LOCK = "hashtext('sluice.event_search')"
# Every event either has its current text in event_search or waits in the
# backlog: what the query relies on. 0 rows break it.
BROKEN = ("SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM event_search s "
          "WHERE s.id = e.id AND s.doc = e.body::text) AND e.id NOT IN "
          "(SELECT unnest(ids) FROM event_search_backlog)")
# Events whose indexed text is not (yet) their body: 0 once indexed.
STALE = ("SELECT count(*) FROM events e LEFT JOIN event_search s ON s.id = e.id "
         "WHERE s.doc IS DISTINCT FROM e.body::text")


class HeldIndexer:
    """Holds the indexer's lock in a psql session until release()."""

    def __init__(self, stack):
        self.proc = subprocess.Popen(
            ["psql", stack.pg_url, "-XqAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.proc.stdin.write(f"SELECT 'held', pg_advisory_lock({LOCK});\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.startswith("held"):
            raise RuntimeError(f"psql did not take the indexer's lock: {line!r} {self.proc.stderr.read()}")

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)


class SearchCase(StackCase):
    def contains(self, text, key=None, extra=None):
        q = urllib.parse.urlencode({"contains": text, **(extra or {})})
        if key is None:
            items = self.query(f"/v1/events?{q}")["items"]
        else:
            r = self.http.request("GET", f"/v1/events?{q}", None, {"Authorization": f"Bearer {key}"})
            self.expect_status(r, 200, f"GET /v1/events?{q} as another tenant")
            items = r.json()["items"]
        return sorted(i["id"] for i in items)

    def backlog_has(self, eid):
        return self.stack.sql_value(
            f"SELECT count(*) FROM event_search_backlog WHERE '{eid}'::uuid = ANY (ids)") != "0"

    def wait_indexed(self, timeout=120):
        self.wait(lambda: self.stack.sql_value(STALE) == "0", timeout,
                  lambda: f"every event's text in event_search ({self.stack.sql_value(STALE)} not yet)")

    def expect_invariant(self, when):
        self.expect_eq(self.stack.sql_value(BROKEN), "0", f"{when}: events neither indexed as they are nor in the backlog")


class Semantics(SearchCase):
    stack_options = {"persist": 1}

    def test_same_answers_before_and_after_indexing(self):
        t = self.token
        other = self.stack.create_key("other-tenant", tenant=f"tenant-{t}")
        other_http = Http("127.0.0.1", self.stack.ingest_port)
        held = HeldIndexer(self.stack)
        try:
            a = self.post_event({"type": "s", "note": f"Needle-{t} in the hay"})
            pct = self.post_event({"type": "s", "note": f"50%_off-{t}"})
            near = self.post_event({"type": "s", "note": f"50xyoff-{t}"})
            sqlish = self.post_event({"type": "s", "note": f"'; DROP TABLE events; -- {t}\\ back"})
            r = other_http.request("POST", "/v1/events", {"type": "s", "note": f"Needle-{t} elsewhere"},
                                   {"Authorization": f"Bearer {other}"})
            self.expect_status(r, 202, "POST /v1/events as another tenant")
            theirs = r.json()["id"]
            self.stack.wait_persisted([a, pct, near, sqlish])
            self.get_event(a)
            wait_until(lambda: self.stack.sql_value(f"SELECT count(*) FROM events WHERE id = '{theirs}'") == "1",
                       60, "the other tenant's event persisted")
            self.expect(all(self.backlog_has(e) for e in (a, pct, near, sqlish, theirs)),
                        "events written while the indexer is held", "all in the backlog", "some missing")
            phases = [("before the indexer ran", None), ("after the indexer ran", held.release)]
            for when, step in phases:
                if step:
                    step()
                    self.wait_indexed()
                    self.expect(not self.backlog_has(a), f"{when}: backlog", "without the event", "still there")
                self.expect_invariant(when)
                self.expect_eq(self.contains(f"needle-{t}"), [a], f"{when}: contains, case-insensitive, own tenant only")
                self.expect_eq(self.contains(f"needle-{t}", key=other), [theirs], f"{when}: the other tenant's contains")
                self.expect_eq(self.contains(f"50%_off-{t}"), [pct], f"{when}: % and _ match themselves")
                self.expect_eq(self.contains(f"%_off-{t}"), [pct], f"{when}: a leading % is text")
                self.expect_eq(self.contains(f"50_off-{t}"), [], f"{when}: _ is no wildcard")
                self.expect_eq(self.contains(f"50%off-{t}"), [], f"{when}: % is no wildcard")
                self.expect_eq(self.contains(f"'; DROP TABLE events; -- {t}\\"), [sqlish],
                               f"{when}: SQL-looking text and a backslash are text")
                self.expect_eq(self.contains(f"needle-{t}", extra={"type": "nope"}), [], f"{when}: with type= too")
                self.expect_eq(self.contains(f"nothing-like-{t}"), [], f"{when}: no match")
        finally:
            held.release()
            other_http.close()

    def test_changed_record_found_by_its_new_text_only(self):
        t, ext = self.token, f"rec-{self.token}"
        first = self.post_event({"id": ext, "note": f"oldword-{t}"})
        self.stack.wait_persisted([first])
        self.wait_indexed()
        self.expect_eq(self.contains(f"oldword-{t}"), [first], "the first version by its text, indexed")
        held = HeldIndexer(self.stack)
        try:
            self.post_event({"id": ext, "note": f"newword-{t}"})
            wait_until(lambda: self.stack.sql_value(f"SELECT body->>'note' FROM events WHERE id = '{first}'")
                       == f"newword-{t}", 60, "version 2 stored")
            # The index still holds the old text: the backlog entry makes the
            # query recheck the body.
            self.expect_eq(self.stack.sql_value(f"SELECT doc LIKE '%oldword-{t}%' FROM event_search WHERE id = '{first}'"),
                           "t", "event_search still has the old text while the indexer is held")
            self.expect_invariant("after the change, before indexing")
            self.expect_eq(self.contains(f"oldword-{t}"), [], "the old text no longer matches (stale index)")
            self.expect_eq(self.contains(f"newword-{t}"), [first], "the new text matches before indexing")
        finally:
            held.release()
        self.wait_indexed()
        self.expect_eq(self.contains(f"oldword-{t}"), [], "the old text, after indexing")
        self.expect_eq(self.contains(f"newword-{t}"), [first], "the new text, after indexing")

    def test_pages_across_indexed_and_backlog_rows(self):
        # Some matches indexed, some not: the keyset pages still list each
        # once, in order.
        t = self.token
        ids = [self.post_event({"type": "page", "occurred_at": f"2019-01-01T00:00:{i:02d}Z", "w": f"pg-{t}"})
               for i in range(0, 10)]
        self.stack.wait_persisted(ids)
        self.wait_indexed()
        held = HeldIndexer(self.stack)
        try:
            more = [self.post_event({"type": "page", "occurred_at": f"2019-01-01T00:00:{i:02d}Z", "w": f"pg-{t}"})
                    for i in range(10, 20)]
            self.stack.wait_persisted(more)
            got, path = [], f"/v1/events?{urllib.parse.urlencode({'contains': f'pg-{t}', 'limit': 3})}"
            while path:
                page = self.query(path)
                got += [i["id"] for i in page["items"]]
                nxt = page.get("next_cursor") or page.get("next")
                path = (f"/v1/events?{urllib.parse.urlencode({'contains': f'pg-{t}', 'limit': 3, 'cursor': nxt})}"
                        if nxt else None)
            self.expect_eq(got, ids + more, "pages of 3 over 10 indexed and 10 backlog matches, in order")
        finally:
            held.release()

    def test_import_reports_indexed_after_done(self):
        t = self.token
        held = HeldIndexer(self.stack)
        try:
            body = b"\n".join(json.dumps({"id": f"imp-{t}-{i}", "tag": f"imp-{t}"}).encode() for i in range(50))
            r = self.http.request("POST", "/v1/bulk", body, {"Content-Type": "application/x-ndjson"})
            self.expect_status(r, 202, "POST /v1/bulk")
            imp = r.json()["import_id"]
            state = {}

            def done():
                state["r"] = self.http.get(f"/v1/imports/{imp}").json()
                return state["r"]["status"] == "done"

            self.wait(done, 120, lambda: f"import done (last {state.get('r')})")
            self.expect_eq(state["r"]["indexed"], False, "indexed while the indexer is held")
            self.expect_eq(len(self.contains(f"imp-{t}")), 50, "contains finds the import before it is indexed")
        finally:
            held.release()
        self.wait(lambda: self.http.get(f"/v1/imports/{imp}").json()["indexed"] is True, 120, "import indexed")
        self.expect_eq(len(self.contains(f"imp-{t}")), 50, "contains finds the import once indexed")

    def test_metrics_report_the_backlog(self):
        m = self.stack.persist_metrics(0)
        for name in ("sluice_persist_search_backlog_ids", "sluice_persist_search_lag_seconds",
                     "sluice_persist_search_indexed_total", "sluice_persist_search_connected"):
            self.expect(name in m, f"persist /metrics has {name}", "present", sorted(k for k in m if "search" in k))
        held = HeldIndexer(self.stack)
        try:
            eid = self.post_event({"type": "metric", "w": self.token})
            self.stack.wait_persisted([eid])
            self.wait(lambda: self.stack.persist_metrics(0)["sluice_persist_search_backlog_ids"] >= 1, 30,
                      "the backlog gauge to show the held event")
        finally:
            held.release()
        self.wait(lambda: self.stack.persist_metrics(0)["sluice_persist_search_backlog_ids"] == 0, 60,
                  "the backlog gauge back to 0")


def fill_backlog(stack, tag, statements, per):
    """`statements` INSERTs of `per` events each, straight into events, so the
    backlog has that many rows."""
    stack.sql(f"""DO $$ BEGIN FOR s IN 1..{statements} LOOP
        INSERT INTO events (id, type, occurred_at, received_at, body)
        SELECT gen_random_uuid(), 'bulk', now(), now(),
               jsonb_build_object('tag', '{tag}', 's', s, 'i', i, 'pad', md5(i::text) || md5(s::text))
        FROM generate_series(1, {per}) AS i;
    END LOOP; END $$""")


class Failures(SearchCase):
    # Small batches, so that a backlog takes a while and a kill lands mid-way.
    stack_options = {"persist": 1, "persist_env": {"SLUICE_SEARCH_BATCH": "500", "SLUICE_SEARCH_POLL_MS": "50"}}

    def progress(self):
        return int(self.stack.sql_value("SELECT coalesce(sum(n), 0) FROM event_search_backlog"))

    def backlog_being_indexed(self, tag):
        """30,000 rows of tag in the backlog (60 statements of 500, written
        while the indexer is held), then the indexer under way on them."""
        held = HeldIndexer(self.stack)
        try:
            fill_backlog(self.stack, tag, 60, 500)
        finally:
            held.release()
        total = self.progress()
        self.wait(lambda: self.progress() < total - 1000, 60, "the indexer to start on the backlog")

    def test_persist_killed_mid_backlog(self):
        tag = f"kill-{self.token}"
        self.backlog_being_indexed(tag)
        self.stack.kill_persist(0)
        left = self.progress()
        self.expect(left > 0, "backlog when persist was killed", "not drained yet", left)
        self.expect_invariant("persist killed mid-backlog")
        self.stack.start_persist(0)
        self.wait_indexed(180)
        self.expect_invariant("after the restart")
        self.expect_eq(self.stack.sql_value("SELECT count(*) FROM event_search_backlog"), "0", "backlog drained")
        self.expect_eq(int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'tag' = '{tag}'")), 30000,
                       "rows")
        got = self.query(f"/v1/events?{urllib.parse.urlencode({'contains': tag, 'limit': 1000})}")
        self.expect_eq(len(got["items"]), 1000, "contains over the reindexed rows (a full page)")

    def test_pg_stopped_while_indexing(self):
        tag = f"pgdown-{self.token}"
        self.backlog_being_indexed(tag)
        self.stack.pg_stop()
        try:
            wait_until(lambda: self.stack.persist_metrics(0).get("sluice_persist_search_errors_total", 0) >= 1, 60,
                       "the indexer to see PostgreSQL gone")
            self.expect(self.stack.persist[0].alive(), "persist while PostgreSQL is down", "running", "exited")
        finally:
            self.stack.pg_start()
        self.wait_indexed(180)
        self.expect_invariant("after PostgreSQL came back")
        self.expect_eq(self.stack.sql_value("SELECT count(*) FROM event_search_backlog"), "0", "backlog drained")
        self.wait(lambda: self.stack.persist_metrics(0).get("sluice_persist_search_connected") == 1, 60,
                  "the indexer connected again")
        path = f"/v1/events?{urllib.parse.urlencode({'contains': tag, 'limit': 10})}"
        # ingest's pooled read connections died with the server: the first
        # read on each may answer 503 before it reconnects.
        self.wait(lambda: self.http.get(path).status == 200, 60, "ingest's reads back")
        self.expect_eq(len(self.query(path)["items"]), 10, "contains after the outage")


if __name__ == "__main__":
    os.sys.exit("run through tests/integration/run.py")
