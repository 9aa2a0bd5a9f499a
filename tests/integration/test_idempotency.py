"""No duplicates on retry: Idempotency-Key, webhook-id and a body id make the
event id deterministic; a retried write is one row; a different body under a
key already persisted is a 422 and is never stored."""
import json
import threading

from harness import StackCase


class Idempotency(StackCase):
    stack_options = {"persist": 1}

    def count(self, where):
        return int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE {where}"))

    def same_key_three_times(self, header):
        body = {"type": "payment", "tag": self.token, "amount": 42}
        headers = {header: f"key-{self.token}"}
        ids = [self.post_event(body, headers) for _ in range(3)]
        self.expect_eq(len(set(ids)), 1, f"3 POSTs with the same {header} answer the same id (ids {ids})")
        self.stack.wait_persisted(ids[:1])
        self.expect_eq(self.post_event(body, headers), ids[0], f"a 4th POST after the write persisted: same id")
        self.stack.wait_drained()  # a wrongly produced duplicate would be in by now
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}' AND type = 'payment'"), 1,
                       f"rows for the key ({header}) in events")
        self.expect_eq(self.count(f"id = '{ids[0]}'"), 1, "rows with the id")
        return ids[0]

    def test_idempotency_key_three_times_one_row(self):
        self.same_key_three_times("Idempotency-Key")

    def test_webhook_id_three_times_one_row(self):
        self.same_key_three_times("webhook-id")

    def test_concurrent_same_key(self):
        body, headers = {"type": "race", "tag": self.token}, {"Idempotency-Key": f"race-{self.token}"}
        results, clients = [], [self.stack.http() for _ in range(3)]

        def post(client):
            results.append(client.post_json("/v1/events", body, headers))

        threads = [threading.Thread(target=post, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in clients:
            c.close()
        self.expect_eq(sorted(r.status for r in results), [202, 202, 202], f"3 concurrent POSTs: {results}")
        ids = {r.json()["id"] for r in results}
        self.expect_eq(len(ids), 1, "3 concurrent POSTs with one key answer one id")
        self.stack.wait_persisted(ids)
        self.stack.wait_drained()
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}'"), 1, "rows for the key")

    def test_different_body_same_key_is_422(self):
        headers = {"Idempotency-Key": f"conflict-{self.token}"}
        first = {"type": "payment", "tag": self.token, "amount": 1}
        eid = self.post_event(first, headers)
        self.stack.wait_persisted([eid])
        r = self.http.post_json("/v1/events", {**first, "amount": 2}, headers)
        self.expect_problem(r, 422, "a different body under a key already persisted")
        self.stack.wait_drained()
        stored = self.stack.sql_value(f"SELECT body FROM events WHERE id = '{eid}'")
        self.expect_eq(json.loads(stored), first, "the stored body is still the first one")
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}'"), 1, "rows for the key")
        self.expect_eq(self.post_event(first, headers), eid, "the first body again: 202 with the same id")

    def test_different_keys_different_ids(self):
        body = {"type": "payment", "tag": self.token}
        a = self.post_event(body, {"Idempotency-Key": f"a-{self.token}"})
        b = self.post_event(body, {"Idempotency-Key": f"b-{self.token}"})
        c = self.post_event(body)
        self.expect(len({a, b, c}) == 3, "different keys (and no key) give different ids", "3 ids", [a, b, c])
        self.stack.wait_persisted([a, b, c])

    def test_body_id_is_deterministic(self):
        for ext in (f"order-{self.token}", int(self.token[:8], 16)):
            body = {"id": ext, "type": "order", "tag": self.token}
            ids = [self.post_event(body) for _ in range(2)]
            self.expect_eq(len(set(ids)), 1, f"body id {ext!r} posted twice: same id")
            self.stack.wait_persisted(ids[:1])
            self.stack.wait_drained()
            self.expect_eq(self.count(f"external_id = '{ext}'"), 1, f"rows with external_id {ext!r}")
            self.expect_eq(self.get_event(str(ext))["id"], ids[0], f"GET /v1/events/{ext}")
