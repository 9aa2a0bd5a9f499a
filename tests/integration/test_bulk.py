"""Bulk import: a JSON array, NDJSON and gzip streamed record by record, broken
records counted with their index and reason, progress to done with persisted
exact even when a worker is killed mid-import, and a second import of the
same file adding nothing."""
import gzip
import json

from harness import StackCase, wait_until

BROKEN = {10: {"occurred_at": "not a date"}, 5000: 42, 50000: None}  # None: malformed JSON


def records(tag, n, broken=None):
    out = []
    for i in range(n):
        if broken and i in broken:
            out.append(b'{"id": "x", "oops":}' if broken[i] is None else json.dumps(
                dict(broken[i], id=f"{tag}-{i}") if isinstance(broken[i], dict) else broken[i]).encode())
        else:
            out.append(json.dumps({"id": f"{tag}-{i}", "type": "bulk", "tag": tag, "n": i,
                                   "occurred_at": "2015-06-01T00:00:00Z"}).encode())
    return out


class Bulk(StackCase):
    stack_options = {"persist": 2}

    def upload(self, body, ctype, query="", encoding=None):
        headers = {"Content-Type": ctype}
        if encoding:
            headers["Content-Encoding"] = encoding
        return self.http.request("POST", f"/v1/bulk{query}", body, headers)

    def until_done(self, import_id, timeout=300):
        state = {}

        def done():
            state["r"] = self.http.get(f"/v1/imports/{import_id}").json()
            return state["r"]["status"] == "done"

        wait_until(done, timeout, lambda: f"import {import_id} done (last: {state.get('r')}); {self.stack.where()}")
        return state["r"]

    def count(self, tag):
        return int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'tag' = '{tag}'"))

    def test_array_of_100k_with_broken_records_and_a_killed_worker(self):
        tag = f"arr{self.token}"
        body = b"[" + b",\n".join(records(tag, 100_000, BROKEN)) + b"]"
        r = self.upload(body, "application/json")
        self.expect_status(r, 202, "POST /v1/bulk with a 100,000-record array")
        j = r.json()
        self.expect_eq((j["accepted"], j["rejected"]), (99_997, 3), "accepted and rejected counts")
        self.stack.kill_persist(0)  # mid-import: the rows are still being written
        self.stack.start_persist(0)
        imp = self.until_done(j["import_id"])
        self.expect_eq((imp["received"], imp["accepted"], imp["persisted"]), (100_000, 99_997, 99_997),
                       "received, accepted, persisted (exact despite the killed worker)")
        self.expect_eq(sorted(e["index"] for e in imp["errors"]), [10, 5000, 50000], "rejected indexes")
        self.expect_eq(self.count(tag), 99_997, "rows of the import")
        self.expect_eq(imp["collection"], "events", "collection")

    def test_ndjson_gzip_and_reimport(self):
        tag = f"nd{self.token}"
        lines = b"\n".join(records(tag, 100_000)) + b"\n"
        r = self.upload(lines, "application/x-ndjson", "?collection=events")
        self.expect_status(r, 202, "NDJSON import")
        first = self.until_done(r.json()["import_id"])
        self.expect_eq((first["accepted"], first["rejected"], first["persisted"]), (100_000, 0, 100_000), "NDJSON counts")
        r = self.upload(gzip.compress(lines), "application/x-ndjson", encoding="gzip")
        self.expect_status(r, 202, "the same records again, gzip")
        again = self.until_done(r.json()["import_id"])
        self.expect_eq(again["persisted"], 100_000, "second import persisted (as no-ops)")
        self.expect_eq(self.count(tag), 100_000, "importing the same file twice adds no rows")

    def test_refusals(self):
        self.expect_problem(self.upload(b"[]", "application/json", "?collection=planets"), 400, "unknown collection")
        self.expect_problem(self.upload(b"[]", "text/csv"), 415, "CSV")
        self.expect_problem(self.upload(b"[]", "application/json", encoding="br"), 415, "brotli")
        r = self.upload(b"\x1f\x8b\x08\x00garbage", "application/json", encoding="gzip")
        self.expect_status(r, 202, "a corrupt gzip body is an import with a rejection")
        self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (0, 1), "corrupt gzip counts")
        r = self.upload(b'[{"a": 1}', "application/json")
        self.expect_status(r, 202, "an unterminated array")
        self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (1, 1), "record before the break kept")

    def test_recipes_import(self):
        recipe = {"title": "Soup", "ingredients": [{"name": "leek", "quantity": 2, "unit": "pc"}],
                  "steps": ["Boil."], "tags": [f"b{self.token}"]}
        body = json.dumps([dict(recipe, id=f"soup-{self.token}"), dict(recipe, title=""),
                           dict(recipe, id=f"stew-{self.token}", title="Stew")])
        for attempt in (1, 2):
            r = self.upload(body, "application/json", "?collection=recipes")
            self.expect_status(r, 202, f"recipes import {attempt}")
            self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (2, 1), f"recipe counts {attempt}")
            self.until_done(r.json()["import_id"])
        items = self.query(f"/v1/recipes?tag=b{self.token}")["items"]
        self.expect_eq(sorted(i["title"] for i in items), ["Soup", "Stew"], "imported twice, stored once")
