"""Which writes are keyed in Kafka (issue 13): a record that names itself (an
event with a body id, an imported record with one, a recipe) is keyed by its
id, so its versions stay in order on one partition; any other write (a fresh
event, one under an Idempotency-Key, an imported record named by its content)
goes unkeyed, to the sticky partitioner. Read back from the topic with kcat."""
import json

from harness import StackCase


class MessageKeys(StackCase):
    stack_options = {"persist": 0}

    def keys_by_id(self, topic):
        """{envelope id: [message keys]} of every message of topic."""
        keys = {}
        for m in self.stack.kcat_consume(topic):
            env = json.loads(m["payload"])
            keys.setdefault(env["id"], []).append(m.get("key"))
        return keys

    def wait_keys(self, topic, ids):
        found = {}

        def all_there():
            found.update(self.keys_by_id(topic))
            return all(i in found for i in ids)
        self.wait(all_there, 30, f"messages of {ids} on {topic}")
        return found

    def test_events(self):
        topic = self.stack.prefix + "events"
        fresh = self.post_event({"type": "k", "tag": self.token})
        named = self.post_event({"id": f"order-{self.token}", "type": "k"})
        keyed = self.post_event({"type": "k", "tag": self.token}, {"Idempotency-Key": f"ik-{self.token}"})
        again = self.post_event({"id": f"order-{self.token}", "type": "k", "rev": 2})
        self.expect_eq(again, named, "a new version of a named record: the same id")
        keys = self.wait_keys(topic, [fresh, named, keyed])
        self.expect_eq(keys[fresh], [None], "a fresh event's message key")
        self.expect_eq(keys[keyed], [None], "an Idempotency-Key write's message key")
        self.expect_eq(keys[named], [named, named], "both versions of a named record keyed by its id")

    def test_imported_records(self):
        topic = self.stack.prefix + "events"
        body = "\n".join(json.dumps(r) for r in (
            {"type": "imp", "tag": self.token, "n": 1},
            {"id": f"imp-{self.token}", "type": "imp"})) + "\n"
        r = self.http.request("POST", "/v1/bulk?collection=events", body.encode(),
                              {"Content-Type": "application/x-ndjson"})
        self.expect_status(r, 202, "POST /v1/bulk")
        imp = r.json()["import_id"]
        self.wait(lambda: self.http.get(f"/v1/imports/{imp}").json().get("accepted") == 2, 30,
                  "the import's 2 records acknowledged by Kafka")
        found = {}
        for m in self.stack.kcat_consume(topic):
            if m["headers"].get("x-import-id") == imp:
                env = json.loads(m["payload"])
                found[env["data"]["external_id"]] = m.get("key")
        self.expect_eq(sorted(found, key=str), sorted([None, f"imp-{self.token}"], key=str),
                       "the import's two records on the topic")
        self.expect_eq(found[None], None, "a record named by its content: unkeyed")
        self.expect(found[f"imp-{self.token}"] not in (None, ""), "a record with its own id: keyed",
                    "its id as the key", found)
