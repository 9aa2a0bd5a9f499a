"""Dead letters as an operator sees them: GET /v1/dlq/{collection} lists a
letter with its reason and source; POST .../replay sends it back once the
cause is fixed, exactly once however often it is called; refusals for bad
input."""
import json
import os
import subprocess
import uuid

from harness import BIN, StackCase

RECIPE = {"title": "Replayed", "description": "Sent again after the fix", "servings": 2,
          "ingredients": [{"name": "leek", "quantity": 1, "unit": "pc"}], "steps": ["Cook."],
          "tags": ["dlq"]}


def replace_envelope(recipe_id, doc):
    """A recipe replace as ingest would produce it (docs/design.md's envelope)."""
    return json.dumps({"v": 1, "id": str(uuid.uuid4()), "operation": "replace", "collection": "recipes",
                       "received_at": "2024-03-01T10:00:01.000000Z", "principal": "anonymous",
                       "fingerprint": None,
                       "data": {"recipe_id": recipe_id, "if_version": None, "doc": doc}})


class DeadLetters(StackCase):
    def letters(self, collection="recipes", **query):
        q = "&".join(f"{k}={v}" for k, v in query.items())
        r = self.http.get(f"/v1/dlq/{collection}" + (f"?{q}" if q else ""))
        self.expect_status(r, 200, f"GET /v1/dlq/{collection}")
        return r.json()

    def replay(self, body=None, collection="recipes"):
        data = json.dumps(body).encode() if body is not None else None
        r = self.http.request("POST", f"/v1/dlq/{collection}/replay", data,
                              {"Content-Type": "application/json"} if data else None)
        self.expect_status(r, 200, f"replay {body}")
        return r.json()

    def sluicectl(self, *args):
        env = dict(self.stack.env(), SLUICE_API_URL=f"http://127.0.0.1:{self.stack.ingest_port}")
        p = subprocess.run([os.path.join(BIN, "sluicectl"), *args], env=env, capture_output=True, text=True,
                           timeout=60, cwd=self.stack.dir)
        return p.returncode, p.stdout, p.stderr

    def test_letter_listed_replayed_once_after_the_fix(self):
        rid = str(uuid.uuid4())
        topic = self.stack.prefix + "recipes"
        # A replace of a recipe that does not exist yet: the worker rejects it (404) to the DLQ.
        self.stack.kcat_produce(topic, [(rid, replace_envelope(rid, RECIPE))])
        mine = lambda doc: [t for t in doc["letters"] if t.get("key") == rid]  # noqa: E731
        found = self.wait(lambda: mine(self.letters()), 60, f"the rejected replace of {rid} on the DLQ")
        letter = found[0]
        self.expect("no recipe has this id" in (letter.get("error") or ""), "the letter's reason",
                    "the worker's rejection", letter)
        self.expect_eq((letter["source"]["topic"], letter["replayed"]), (topic, False), "source and state")
        self.expect_eq(json.loads(letter["value"])["data"]["recipe_id"], rid, "the letter's value as it was")

        dry = self.replay({"dry_run": True, "error": "no recipe has this id"})
        self.expect_eq((dry["dry_run"], dry["replayed"]), (True, 0), "a dry run sends nothing")
        self.expect(dry["would_replay"] >= 1, "dry run counts the letter", ">= 1", dry)
        self.expect_status(self.http.get(f"/v1/recipes/{rid}"), 404, "nothing applied by the dry run")

        # The fix: the recipe now exists (imported under its id).
        r = self.http.request("POST", "/v1/bulk?collection=recipes",
                              json.dumps([dict(RECIPE, id=rid, title="Original")]).encode(),
                              {"Content-Type": "application/json"})
        self.expect_status(r, 202, "import the missing recipe")
        self.wait(lambda: self.http.get(f"/v1/recipes/{rid}").status == 200, 60, f"recipe {rid} stored")

        first = self.replay({"error": "no recipe has this id"})
        self.expect(first["replayed"] >= 1 and first["failed"] == 0, "the letter replayed", ">= 1, none failed",
                    first)
        self.wait(lambda: self.http.get(f"/v1/recipes/{rid}").json().get("title") == "Replayed", 60,
                  "the replayed replace applied")
        again = self.replay({"error": "no recipe has this id"})
        self.expect_eq(again["replayed"], 0, "a second replay sends nothing again")
        self.expect(again["already_replayed"] >= 1, "the second replay counts it as done", ">= 1", again)
        self.expect_eq(mine(self.letters())[0]["replayed"], True, "the letter shows as replayed")
        # The same through sluicectl, as an operator types it.
        rc, out, err = self.sluicectl("dlq", "list", "recipes", "--json", "--error", "no recipe has this id")
        self.expect_eq(rc, 0, f"sluicectl dlq list exit status ({err})")
        listed = [json.loads(line) for line in out.splitlines()]
        self.expect_eq([t["replayed"] for t in listed if t.get("key") == rid], [True], "sluicectl lists it replayed")
        rc, out, err = self.sluicectl("dlq", "replay", "recipes", "--dry-run", "--error", "no recipe has this id")
        self.expect_eq((rc, "0 would be replayed" in out), (0, True), f"sluicectl dry run: {out!r} {err!r}")
        # --since: the letter is from the last hour, not from the future.
        rc, out, err = self.sluicectl("dlq", "list", "recipes", "--json", "--since", "1h")
        self.expect(rc == 0 and any(json.loads(line).get("key") == rid for line in out.splitlines()),
                    "sluicectl dlq list --since 1h", "the letter", (rc, out[:300], err))
        later = self.http.get("/v1/dlq/recipes?since=2999-01-01").json()
        self.expect_eq(later["letters"], [], "no letter since 2999")
        nothing = self.replay({"since": "2999-01-01T00:00:00Z", "dry_run": True})
        self.expect_eq(nothing["matched"], 0, "a replay since 2999 matches nothing")
        rc, _, err = self.sluicectl("dlq", "list", "planets")
        self.expect_eq(rc, 1, f"sluicectl on an unknown collection ({err})")
        version = self.http.get(f"/v1/recipes/{rid}").json().get("version")
        # Everything on the recipes topic applied: a second send of the letter would show now.
        self.stack.wait_drained(timeout=60, topic=topic)
        self.expect_eq(self.http.get(f"/v1/recipes/{rid}").json().get("version"), version,
                       "nothing applied twice")

    def test_refusals(self):
        self.expect_problem(self.http.get("/v1/dlq/planets"), 404, "unknown collection")
        self.expect_problem(self.http.get("/v1/dlq/events?limit=0"), 400, "limit 0", "#/query/limit")
        self.expect_problem(self.http.get("/v1/dlq/events?limit=abc"), 400, "limit not a number")
        self.expect_problem(self.http.get("/v1/dlq/events?since=yesterday"), 400, "since not a time",
                            "#/query/since")
        r = self.http.request("POST", "/v1/dlq/events/replay", b'{"since": 5}', {"Content-Type": "application/json"})
        self.expect_problem(r, 422, "since not a time", "/since")
        r = self.http.request("POST", "/v1/dlq/events/replay", b'{"dry_run": "yes"}',
                              {"Content-Type": "application/json"})
        self.expect_problem(r, 422, "dry_run not a boolean", "/dry_run")
        r = self.http.request("POST", "/v1/dlq/events/replay", b"{", {"Content-Type": "application/json"})
        self.expect_problem(r, 400, "a broken body")
        r = self.http.request("POST", "/v1/dlq/events/replay", b"dry_run=1", {"Content-Type": "text/plain"})
        self.expect_problem(r, 415, "a body that is not JSON")
        empty = self.letters("epochs")
        self.expect_eq((empty["letters"], empty["truncated"]), ([], False), "an empty dead-letter topic")
