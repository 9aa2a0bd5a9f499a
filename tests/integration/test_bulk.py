"""Bulk import: a JSON array, NDJSON and gzip streamed record by record, broken
records counted with their index and reason, progress to done with persisted
exact even when a worker is killed mid-import, a second import of the
same file adding nothing (with or without ids), a changed file counted as
updates, the record's time taken from the field the client names (or a
recognised one), and bodies that are not JSON refused with a 400."""
import gzip
import json
import os
from urllib.parse import urlencode

from harness import ROOT, StackCase, wait_until

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

    def test_jsonlines_is_ndjson(self):
        tag = f"jl{self.token}"
        r = self.upload(b"\n".join(records(tag, 3)) + b"\n", "application/jsonlines; charset=utf-8")
        self.expect_status(r, 202, "application/jsonlines, as NDJSON")
        self.expect_eq(self.until_done(r.json()["import_id"])["persisted"], 3, "JSON Lines records persisted")
        self.expect_problem(self.upload(b"{}\n", "application/jsonline"), 415, "a misspelt application/jsonline")

    def test_refusals(self):
        r = self.upload(b"[]", "application/json", "?collection=planets")
        self.expect_problem(r, 400, "unknown collection")
        self.expect_eq(r.json().get("detail"), "collection must be events or recipes.",
                       "the importable collections, named from the collection table")
        r = self.upload(b"[]", "application/json", "?collection=users")
        self.expect_problem(r, 400, "a collection that cannot be imported")
        self.expect_problem(self.upload(b"[]", "text/csv"), 415, "CSV")
        self.expect_problem(self.upload(b"[]", "application/json", encoding="br"), 415, "brotli")
        self.expect_problem(self.upload(b"\x1f\x8b\x08\x00garbage", "application/json", encoding="gzip"), 400,
                            "a corrupt gzip body: nothing in it is JSON")
        r = self.upload(b"[]", "application/json")
        self.expect_status(r, 202, "an empty array is an empty import")
        self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (0, 0), "empty array counts")
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

    # -- issue 9 item 10: bodies that are not JSON, and the README's sample file

    def test_not_json_is_400(self):
        imports_before = self.stack.sql_value("SELECT count(*) FROM imports")
        for body, ctype, what in [(b"", "application/json", "an empty body (curl -d @missing-file)"),
                                  (b" \r\n\t ", "application/json", "a blank body"),
                                  (b"hello, world", "application/json", "text"),
                                  (b"id,type\n1,x\n", "application/json", "CSV sent as JSON"),
                                  (b"42", "application/json", "a number at the top"),
                                  (b'"[{}]"', "application/json", "a string at the top"),
                                  (b"null", "application/json", "null at the top"),
                                  (b'42\n{"type": "x"}\n', "application/x-ndjson", "NDJSON starting with a scalar"),
                                  (b"{oops", "application/json", "a broken object"),
                                  (b"[oops, 1", "application/json", "a broken array"),
                                  (b"", "application/x-ndjson", "an empty NDJSON body")]:
            p = self.expect_problem(self.upload(body, ctype), 400, f"POST /v1/bulk with {what}")
            self.expect(len(p["detail"]) > 20, f"{what}: the detail says what is wrong", "a sentence", p)
        self.expect_eq(self.stack.sql_value("SELECT count(*) FROM imports"), imports_before,
                       "a refused body leaves no import behind")
        r = self.upload(gzip.compress(b""), "application/json", encoding="gzip")
        self.expect_problem(r, 400, "an empty body, gzipped")

    def test_readme_sample_file(self):
        path = os.path.join(ROOT, "examples", "data.json")
        self.expect(os.path.exists(path), "the README's sample file exists", path, "missing")
        with open(path, "rb") as f:
            raw = f.read()
        sample = json.loads(raw)
        self.expect(isinstance(sample, list) and len(sample) >= 10 and all("id" in e and "type" in e and "date" in e
                                                                            for e in sample),
                    "examples/data.json: an array of events with id, type, date", ">= 10 records", sample)
        # curl -d @file strips CR and LF, exactly as the README's line sends it.
        body = raw.replace(b"\r", b"").replace(b"\n", b"")
        for attempt in (1, 2):
            r = self.upload(body, "application/json")
            self.expect_status(r, 202, f"curl -d @examples/data.json, attempt {attempt}")
            self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (len(sample), 0), "sample counts")
            self.until_done(r.json()["import_id"])
        ids = [e["id"] for e in sample]
        quoted = ",".join(f"'{i}'" for i in ids)
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM events WHERE external_id IN ({quoted})"),
                       str(len(sample)), "the sample imported twice is stored once")
        got = sorted(i["external_id"] for i in self.query("/v1/?before=2020-01-01&after=2012-01-01&contains=evt-10")["items"])
        want = sorted(e["id"] for e in sample if "2012-01-01" <= e["date"][:10] < "2020-01-01")
        self.expect_eq(got, want, "the seed query on the sample (after inclusive, before exclusive)")

    # -- issue 9 item 5: records without an id

    def test_reimport_without_ids_adds_nothing(self):
        tag = f"noid{self.token}"
        recs = [{"type": "noid", "tag": tag, "n": i, "occurred_at": "2015-06-01T00:00:00Z"} for i in range(500)]
        recs.append(dict(recs[0]))  # an identical record inside the file collapses too
        array = json.dumps(recs).encode()
        # The same records written out differently (member order, spacing) are the same records.
        ndjson = b"\n".join(json.dumps(dict(reversed(list(r.items()))), indent=1).replace("\n", "").encode()
                            for r in recs)
        for body, ctype, what in [(array, "application/json", "array"), (array, "application/json", "array again"),
                                  (ndjson, "application/x-ndjson", "NDJSON, members reordered")]:
            r = self.upload(body, ctype)
            self.expect_status(r, 202, f"import without ids: {what}")
            self.expect_eq(r.json()["accepted"], 501, f"{what}: accepted")
            self.until_done(r.json()["import_id"])
            self.expect_eq(self.count(tag), 500, f"rows after the import ({what}): no record doubled")
        # A single POST without id and key is a new event every time.
        body = {"type": "noid", "tag": f"single{self.token}"}
        ids = {self.post_event(body) for _ in range(2)}
        self.expect_eq(len(ids), 2, "two POSTs without id or key: two events")

    # -- issue 9 item 7: the record's time

    def test_time_field_and_seed_query(self):
        tag = f"seed{self.token}"
        years = range(2010, 2023)
        recs = [{"id": f"{tag}-{y}", "tag": tag, "date": f"{y}-01-01"} for y in years]
        r = self.upload(json.dumps(recs), "application/json")
        self.expect_status(r, 202, "import of records with a date field")
        self.until_done(r.json()["import_id"])
        q = urlencode({"before": "2020-01-01", "after": "2012-01-01", "contains": tag})
        got = sorted(i["external_id"] for i in self.query(f"/v1/?{q}")["items"])
        self.expect_eq(got, [f"{tag}-{y}" for y in range(2012, 2020)],
                       "GET /v1/?before=2020-01-01&after=2012-01-01: the seed's query finds the records in range")

        # Named with time_field (nested, escaped); missing or unparsable: rejected with index and reason.
        tag2 = f"named{self.token}"
        recs = [{"id": f"{tag2}-0", "tag": tag2, "meta": {"at/utc": "2011-05-05"}, "date": "2019-01-01"},
                {"id": f"{tag2}-1", "tag": tag2, "date": "2019-01-01"},
                {"id": f"{tag2}-2", "tag": tag2, "meta": {"at/utc": "in May"}}]
        r = self.upload(json.dumps(recs), "application/json", "?" + urlencode({"time_field": "/meta/at~1utc"}))
        self.expect_status(r, 202, "import with ?time_field=/meta/at~1utc")
        self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (1, 2), "named time field counts")
        imp = self.until_done(r.json()["import_id"])
        errs = {e["index"]: e["message"] for e in imp["errors"]}
        self.expect(sorted(errs) == [1, 2] and all("/meta/at~1utc" in m for m in errs.values()),
                    "rejected records name the pointer", "indexes 1 and 2 naming /meta/at~1utc", imp["errors"])
        ev = self.get_event(f"{tag2}-0")
        self.expect_eq(ev["occurred_at"][:10], "2011-05-05", "occurred_at from the named field, not date")
        # A recognised name that does not parse is a rejection, never the time of receipt.
        r = self.upload(json.dumps([{"tag": tag2, "timestamp": "yesterday"}]), "application/json")
        self.expect_status(r, 202, "import with an unparsable timestamp")
        self.expect_eq((r.json()["accepted"], r.json()["rejected"]), (0, 1), "unparsable recognised time")

        for bad in ("date", "/a~2", ""):
            self.expect_problem(self.upload(b"[]", "application/json", "?" + urlencode({"time_field": bad})), 400,
                                f"POST /v1/bulk?time_field={bad!r}")
        # The same on a single write.
        r = self.http.post_json("/v1/events?time_field=/when", {"tag": tag2, "date": "2019-01-01"})
        self.expect_problem(r, 422, "POST /v1/events?time_field=/when without that member", pointer="/when")
        r = self.http.post_json("/v1/events?time_field=/when", {"tag": tag2, "when": "2013-03-03T03:03:03Z"})
        self.expect_status(r, 202, "POST /v1/events?time_field=/when")
        self.expect_eq(self.get_event(r.json()["id"])["occurred_at"], "2013-03-03T03:03:03.000000Z", "named time")
        r = self.http.post_json("/v1/events", {"tag": tag2, "created_at": "2014-04-04"})
        self.expect_eq(self.get_event(r.json()["id"])["occurred_at"][:10], "2014-04-04", "created_at recognised")
        self.expect_problem(self.http.post_json("/v1/events?time_field=when", {"when": "2014-04-04"}), 400,
                            "time_field that is not a JSON Pointer", pointer="#/query/time_field")

    # -- issue 9 item 2 (needs the persist side: created/updated/unchanged counts)

    def test_reimport_changed_records_counts_updates(self):
        tag = f"chg{self.token}"
        first = [{"id": f"{tag}-{i}", "tag": tag, "n": i, "date": "2016-01-01"} for i in range(1, 51)]
        changed = [dict(r, n=r["n"] + 1000) for r in first]
        r = self.upload(json.dumps(first), "application/json")
        imp = self.until_done(r.json()["import_id"])
        self.expect_eq({k: imp.get(k) for k in ("accepted", "persisted", "created", "updated", "unchanged", "dropped")},
                       {"accepted": 50, "persisted": 50, "created": 50, "updated": 0, "unchanged": 0, "dropped": 0},
                       "first import's counts")
        r = self.upload(json.dumps(changed), "application/json")
        imp = self.until_done(r.json()["import_id"])
        self.expect_eq({k: imp.get(k) for k in ("persisted", "created", "updated", "unchanged")},
                       {"persisted": 50, "created": 0, "updated": 50, "unchanged": 0}, "changed records' import counts")
        r = self.upload(json.dumps(changed), "application/json")
        imp = self.until_done(r.json()["import_id"])
        self.expect_eq({k: imp.get(k) for k in ("persisted", "created", "updated", "unchanged")},
                       {"persisted": 50, "created": 0, "updated": 0, "unchanged": 50}, "the same file again")
        rows = self.stack.sql(f"SELECT (body->>'n')::int, version FROM events WHERE body->>'tag' = '{tag}' ORDER BY 1")
        self.expect_eq(rows, [[str(i + 1000), "2"] for i in range(1, 51)], "rows hold the changed records, version 2")
