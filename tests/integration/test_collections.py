"""The seeds' collections end to end: hello birthdays, epochs (with and without
a trusted proxy), recipes (CRUD, ETag/If-Match, merge patches applied in
order, search) and read-your-writes with Prefer: wait."""
import datetime
import http.client
import json
import threading
import time

import harness
from harness import Http, StackCase, wait_until

RECIPE = {
    "title": "Pesto",
    "description": "A green sauce",
    "servings": 4,
    "ingredients": [{"name": "Olive oil", "quantity": 50, "unit": "g"},
                    {"name": "basil", "quantity": 1, "unit": "bunch"}],
    "steps": ["Chop the basil.", "Mix with the oil."],
    "tags": ["Italian", "quick"],
}
WAIT = {"Prefer": "wait=20"}  # answers as soon as the worker wrote; 20 s is only the bound


def days_until(month, day, today):
    def on(year):
        d = 28 if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 or year % 400 == 0)) else day
        return datetime.date(year, month, d)
    nxt = on(today.year)
    if nxt < today:
        nxt = on(today.year + 1)
    return (nxt - today).days


class Collections(StackCase):
    # 127.0.0.1 is a trusted proxy; clients bound to 127.0.0.2 are not.
    stack_options = {"persist": 1, "ingest_env": {"SLUICE_TRUSTED_PROXIES": "127.0.0.1/32"}}

    # -- hello

    def put_hello(self, name, body, headers=None):
        return self.http.request("PUT", f"/hello/{name}", json.dumps(body) if isinstance(body, dict) else body,
                                 {"Content-Type": "application/json", **WAIT, **(headers or {})})

    def test_hello_round_trip_and_messages(self):
        today = datetime.datetime.now(datetime.timezone.utc).date()
        name = "Ann" + "".join(chr(ord("a") + int(c, 16) % 26) for c in self.token)
        r = self.put_hello(name, {"dateOfBirth": "2000-02-29"})
        self.expect_status(r, 204, "PUT /hello with a leap-day birthday")
        self.expect_eq(r.body, b"", "204 has no body")
        n = days_until(2, 29, today)
        want = "Hello, %s! Happy birthday!" % name if n == 0 else f"Hello, {name}! Your birthday is in {n} day(s)"
        r = self.http.get(f"/hello/{name}")
        self.expect_status(r, 200, "GET /hello after PUT")
        self.expect_eq(r.json(), {"message": want}, "hello message for 29 February")

        r = self.put_hello(name, {"dateOfBirth": f"1990-{today:%m-%d}"} if (today.month, today.day) != (2, 29)
                           else {"dateOfBirth": "1992-02-29"})
        self.expect_status(r, 204, "PUT /hello born on this day")
        self.expect_eq(self.http.get(f"/hello/{name}").json(), {"message": f"Hello, {name}! Happy birthday!"},
                       "message on the birthday")
        self.expect_eq(self.stack.sql_value(f"SELECT version FROM users WHERE username = '{name}'"), "2",
                       "a second PUT replaced the date (version 2)")

    def test_hello_bad_input_is_400(self):
        today = datetime.datetime.now(datetime.timezone.utc).date()
        tomorrow = today + datetime.timedelta(days=1)
        for name, body, what in [
            ("Bob", {"dateOfBirth": f"{today:%Y-%m-%d}"}, "today"),
            ("Bob", {"dateOfBirth": f"{tomorrow:%Y-%m-%d}"}, "tomorrow"),
            ("Bob", {"dateOfBirth": "2000-13-01"}, "month 13"),
            ("Bob", {"dateOfBirth": "2001-02-29"}, "29 February of a common year"),
            ("Bob", {"dateOfBirth": "01/02/2000"}, "not ISO"),
            ("Bob", {"dateOfBirth": 20000101}, "a number"),
            ("Bob", {}, "no dateOfBirth"),
            ("Bob", "not json", "not JSON"),
            ("Bob1", {"dateOfBirth": "2000-01-01"}, "digits in the name"),
            ("B%C3%B6b", {"dateOfBirth": "2000-01-01"}, "a non-ASCII letter"),
            ("x" * 101, {"dateOfBirth": "2000-01-01"}, "a 101-letter name"),
        ]:
            r = self.put_hello(name, body)
            self.expect_problem(r, 400, f"PUT /hello/{name[:20]} with {what}")
        self.expect_problem(self.http.get("/hello/Bob1"), 400, "GET /hello with digits")
        self.expect_problem(self.http.get(f"/hello/Nobody{self.token.translate(str.maketrans('0123456789', 'abcdefghij'))}"),
                            404, "GET /hello of an unknown user")

    # -- epoch

    def test_epoch_post_and_get(self):
        before = time.time()
        r = self.http.request("POST", "/epoch")
        self.expect_status(r, 201, "POST /epoch")
        e = r.json()
        self.expect_eq(sorted(e), ["epoch", "ip", "key"], "epoch members")
        self.expect(before - 1 <= e["epoch"] <= time.time() + 1, "epoch is now", f"~{before}", e["epoch"])
        self.expect_eq(round(e["epoch"] * 1000) % 1 == 0, True, "milliseconds")
        self.expect_eq(e["ip"], "127.0.0.1", "ip of a direct client")
        g = self.http.get(f"/epoch/{e['key']}")
        self.expect_status(g, 200, "GET /epoch/{key}")
        self.expect_eq(g.json(), e, "stored epoch")
        self.expect_problem(self.http.get("/epoch/3b0c1c4e-8a7d-5f2e-9a41-5c1d1ce0b7a1"), 404, "unknown key")
        self.expect_problem(self.http.get("/epoch/not-a-uuid"), 404, "key that is not a UUID")

    def test_epoch_behind_trusted_proxy(self):
        r = self.http.request("POST", "/epoch", headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.7"})
        self.expect_status(r, 201, "POST /epoch through a trusted proxy")
        self.expect_eq(r.json()["ip"], "198.51.100.7", "right-most untrusted X-Forwarded-For address")

    def test_epoch_header_from_untrusted_peer_ignored(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.stack.ingest_port, timeout=30,
                                          source_address=("127.0.0.2", 0))
        conn.request("POST", "/epoch", headers={"X-Forwarded-For": "198.51.100.7", **harness.auth_header()})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        self.expect_eq(resp.status, 201, "POST /epoch from 127.0.0.2")
        self.expect_eq(body["ip"], "127.0.0.2", "an untrusted peer's X-Forwarded-For is not believed")

    # -- recipes

    def create_recipe(self, recipe=None, headers=None):
        r = self.http.post_json("/v1/recipes", recipe or RECIPE, {**WAIT, **(headers or {})})
        self.expect_status(r, 201, "POST /v1/recipes with Prefer: wait")
        self.expect_eq(r.header("Preference-Applied"), "wait", "Preference-Applied")
        self.expect_eq(r.header("ETag"), '"1"', "ETag of a new recipe")
        return r.json()

    def test_recipe_crud(self):
        rec = self.create_recipe()
        for k, v in RECIPE.items():
            self.expect_eq(rec[k], v, f"created recipe member {k}")
        self.expect_eq(rec["version"], 1, "version")
        g = self.http.get(f"/v1/recipes/{rec['id']}")
        self.expect_status(g, 200, "GET recipe")
        self.expect_eq(g.json(), rec, "GET returns what POST did")

        put = dict(RECIPE, title="Pesto alla genovese")
        r = self.http.request("PUT", f"/v1/recipes/{rec['id']}", put, {"If-Match": '"1"', **WAIT})
        self.expect_status(r, 200, "PUT with the current ETag")
        self.expect_eq((r.json()["title"], r.header("ETag")), ("Pesto alla genovese", '"2"'), "replaced")
        r = self.http.request("PUT", f"/v1/recipes/{rec['id']}", RECIPE, {"If-Match": '"1"'})
        self.expect_problem(r, 412, "PUT with a stale If-Match")
        r = self.http.request("PATCH", f"/v1/recipes/{rec['id']}", '{"servings": 2}',
                              {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'})
        self.expect_problem(r, 412, "PATCH with a stale If-Match")
        r = self.http.request("PATCH", f"/v1/recipes/{rec['id']}", '{"title": null}',
                              {"Content-Type": "application/merge-patch+json"})
        self.expect_problem(r, 422, "PATCH whose result has no title", pointer="/title")
        r = self.http.request("PATCH", f"/v1/recipes/{rec['id']}", '{"servings": 2}',
                              {"Content-Type": "text/plain"})
        self.expect_problem(r, 415, "PATCH with the wrong media type")
        r = self.http.request("DELETE", f"/v1/recipes/{rec['id']}", headers={"If-Match": '"2"', **WAIT})
        self.expect_status(r, 204, "DELETE with Prefer: wait")
        self.expect_problem(self.http.get(f"/v1/recipes/{rec['id']}"), 404, "GET after DELETE")
        for method in ("PUT", "PATCH", "DELETE"):
            r = self.http.request(method, f"/v1/recipes/{rec['id']}", RECIPE if method == "PUT" else '{}',
                                  {"Content-Type": "application/merge-patch+json"} if method == "PATCH" else None)
            self.expect_problem(r, 404, f"{method} of a deleted recipe")

    def test_recipe_validation_pointers(self):
        bad = dict(RECIPE, title="", servings=0, steps=[],
                   ingredients=[{"name": "salt", "quantity": 0, "unit": "g"}])
        r = self.http.post_json("/v1/recipes", bad)
        p = self.expect_problem(r, 422, "invalid recipe", pointer="/title")
        pointers = sorted(e["pointer"] for e in p["errors"])
        self.expect_eq(pointers, ["/ingredients/0/quantity", "/servings", "/steps", "/title"],
                       "one error per bad field")

    def test_concurrent_patches_all_apply_in_order(self):
        rec = self.create_recipe()
        rid, n = rec["id"], 10
        for i in range(n):  # one client, in order: each answers 202 at once
            r = self.http.request("PATCH", f"/v1/recipes/{rid}", json.dumps({"description": f"step {i}"}),
                                  {"Content-Type": "application/merge-patch+json"})
            self.expect_status(r, 202, f"PATCH {i}")
        clients = [self.stack.http() for _ in range(5)]
        results = []

        def patch(c, i):
            results.append(c.request("PATCH", f"/v1/recipes/{rid}", json.dumps({f"tags": ["t", f"c{i}"]}),
                                     {"Content-Type": "application/merge-patch+json"}).status)
        threads = [threading.Thread(target=patch, args=(c, i)) for i, c in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in clients:
            c.close()
        self.expect_eq(sorted(results), [202] * 5, "concurrent PATCHes accepted")
        final = wait_until(lambda: (lambda g: g if g["version"] == 1 + n + 5 else None)(
            self.http.get(f"/v1/recipes/{rid}").json()), 60,
            lambda: f"recipe version {1 + n + 5}; {self.stack.where()}")
        self.expect_eq(final["description"], f"step {n - 1}", "sequential patches applied in order")

    def test_recipe_search(self):
        tag = "t" + self.token
        mine = [self.create_recipe(dict(RECIPE, title=f"Soup {self.token} {i}", tags=[tag],
                                        ingredients=[{"name": f"leek{i % 2}", "quantity": 1, "unit": "pc"}]))
                for i in range(5)]
        items = self.query(f"/v1/recipes?tag={tag.upper()}")["items"]
        self.expect_eq(sorted(r["id"] for r in items), sorted(r["id"] for r in mine), "tag search (case-insensitive)")
        items = self.query(f"/v1/recipes?tag={tag}&ingredient=LEEK1")["items"]
        self.expect_eq(len(items), 2, "tag and ingredient")
        self.expect_status(self.http.get("/v1/recipes?tag=" + "t" * 500), 200, "a 500-byte tag")
        self.expect_problem(self.http.get("/v1/recipes?tag=" + "t" * 501), 400, "a 501-byte tag")
        items = self.query(f"/v1/recipes?q=soup%20{self.token}")["items"]
        self.expect_eq(len(items), 5, "text in the title")
        page = self.query(f"/v1/recipes?tag={tag}&limit=2")
        seen = [r["id"] for r in page["items"]]
        while page["next_cursor"]:
            page = self.query(f"/v1/recipes?tag={tag}&limit=2&cursor={page['next_cursor']}")
            seen += [r["id"] for r in page["items"]]
        self.expect_eq(sorted(seen), sorted(r["id"] for r in mine), "pages cover the set once")
        self.expect_problem(self.http.get("/v1/recipes?limit=0"), 400, "limit=0", pointer="#/query/limit")

    def test_recipe_idempotency_key(self):
        key = {"Idempotency-Key": f"r-{self.token}"}
        first = self.create_recipe(headers=key)
        again = self.http.post_json("/v1/recipes", RECIPE, {**WAIT, **key})
        self.expect_status(again, 200, "retry of a created recipe")
        self.expect_eq(again.json()["id"], first["id"], "same id on retry")

    def produced(self):
        text = self.http.get("/metrics").body.decode()
        return int(next(l.split()[1] for l in text.splitlines()
                        if l.startswith("sluice_ingest_produced_total ")))

    def test_worker_rejections_reach_a_waiting_client(self):
        """Writes ingest let through but the worker must refuse (the recipe moved on
        in between): a waiting client gets the worker's status."""
        rec = self.create_recipe()
        rid = rec["id"]
        self.stack.kill_persist(0)  # writes queue up in Kafka; ingest still checks against the table
        r = self.http.request("PUT", f"/v1/recipes/{rid}", dict(RECIPE, title="First"), {"If-Match": '"1"'})
        self.expect_status(r, 202, "PUT If-Match 1 while the worker is away")
        results = {}

        def stale_put():
            c = self.stack.http(timeout=60)
            results["put"] = c.request("PUT", f"/v1/recipes/{rid}", dict(RECIPE, title="Second"),
                                       {"If-Match": '"1"', "Prefer": "wait=30"})
            c.close()

        produced = self.produced()
        t = threading.Thread(target=stale_put)
        t.start()
        # Only once Kafka holds the second PUT may the worker run: then ingest
        # has checked it against version 1, and the worker must refuse it.
        wait_until(lambda: self.produced() > produced, 30, "the second PUT acknowledged by Kafka")
        self.stack.start_persist(0)
        t.join(60)
        r = results.get("put")
        self.expect_problem(r, 412, "second PUT with the same If-Match, decided by the worker")
        self.expect_eq(r.header("Preference-Applied"), "wait", "Preference-Applied on the worker's answer")
        final = self.http.get(f"/v1/recipes/{rid}").json()
        self.expect_eq((final["title"], final["version"]), ("First", 2), "only the first PUT applied")

    # -- Prefer: wait on events

    def test_event_prefer_wait_201(self):
        r = self.http.post_json("/v1/events", {"type": "waited", "tag": self.token}, WAIT)
        self.expect_status(r, 201, "POST /v1/events with Prefer: wait")
        self.expect_eq(r.header("Preference-Applied"), "wait", "Preference-Applied")
        body = r.json()
        self.expect_eq(body["body"], {"type": "waited", "tag": self.token}, "the stored event")
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM events WHERE id = '{body['id']}'"), "1",
                       "row exists when 201 is answered")


class WaitTimeout(StackCase):
    """No worker runs: a waiting write answers 202 when its time runs out."""
    stack_options = {"persist": 0}

    def test_timeouts_answer_202(self):
        start = time.monotonic()
        r = self.http.post_json("/v1/events", {"n": 1}, {"Prefer": "wait=1"})
        self.expect_status(r, 202, "event with Prefer: wait=1 and no worker")
        self.expect(0.9 <= time.monotonic() - start < 5, "waited about a second", "1 s", time.monotonic() - start)
        r = self.http.request("PUT", "/hello/Nobody", '{"dateOfBirth":"2000-01-01"}', {"Prefer": "wait=1"})
        self.expect_status(r, 202, "hello with no worker")
        r = self.http.request("POST", "/epoch", headers={"Prefer": "wait=1"})
        self.expect_status(r, 202, "epoch with no worker")
        self.expect_eq(r.json()["status"], "accepted", "epoch 202 says accepted")
