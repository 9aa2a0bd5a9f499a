"""No duplicates on retry: Idempotency-Key, webhook-id and a body id make the
event id deterministic; a retried write is one row; a different body under a
key is a 422 and is never stored, whether the first write is persisted, still
on its way (no worker running), racing on other connections, or known only to
PostgreSQL (a restarted ingest). With Prefer: wait, the answer says whether
the write created, updated or left unchanged the record its id names."""
import json
import os
import threading

import harness
from harness import Http, Proc, StackCase

WAIT = {"Prefer": "wait=20"}


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

    # -- issue 9 item 3: a reused key while the first write is in flight

    def test_reused_key_while_the_first_is_in_flight(self):
        """No worker runs, so the first write is only in Kafka: the index of
        the keys ingest accepted refuses the second body at once."""
        headers = {"Idempotency-Key": f"inflight-{self.token}"}
        first = {"type": "payment", "tag": self.token, "amount": 1}
        self.stack.kill_persist(0)
        try:
            eid = self.post_event(first, headers)
            r = self.http.post_json("/v1/events", {**first, "amount": 2}, headers)
            p = self.expect_problem(r, 422, "a different body under a key whose first write is in flight")
            self.expect(p["type"].endswith("idempotency-key-reused"), "problem type", "…/idempotency-key-reused", p)
            self.expect_eq(self.post_event(first, headers), eid, "the first body again: 202 with the same id")
            # A body with an id: the record id comes from the id, the key still names the request.
            keyed = {"Idempotency-Key": f"inflight-id-{self.token}"}
            rec = {"id": f"rec-{self.token}", "tag": self.token, "v": 1}
            rid = self.post_event(rec, keyed)
            self.expect_problem(self.http.post_json("/v1/events", {**rec, "v": 2}, keyed), 422,
                                "same key, same record id, another body")
            self.expect_eq(self.post_event(rec, keyed), rid, "the same keyed body: same id")
        finally:
            self.stack.start_persist(0)
        self.stack.wait_persisted([eid, rid])
        self.stack.wait_drained()
        stored = self.stack.sql_value(f"SELECT body FROM events WHERE id = '{eid}'")
        self.expect_eq(json.loads(stored), first, "the stored body is the first one")
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}' AND type = 'payment'"), 1, "rows for the key")
        self.expect_eq(json.loads(self.stack.sql_value(f"SELECT body FROM events WHERE id = '{rid}'"))["v"], 1,
                       "the keyed record keeps its first body")

    def test_concurrent_different_bodies_one_key(self):
        """Six connections race one key with two bodies: exactly one body
        wins (all its posts 202, one id); every post of the other is a 422."""
        headers = {"Idempotency-Key": f"race2-{self.token}"}
        bodies = [{"type": "race2", "tag": self.token, "side": i % 2} for i in range(6)]
        results, clients = [None] * 6, [self.stack.http() for _ in range(6)]
        go = threading.Barrier(6)

        def post(i):
            go.wait(10)
            results[i] = clients[i].post_json("/v1/events", bodies[i], headers)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for c in clients:
            c.close()
        by_side = {0: set(), 1: set()}
        for i, r in enumerate(results):
            by_side[i % 2].add(r.status)
        self.expect(sorted(map(tuple, by_side.values())) == [(202,), (422,)],
                    "one body's posts all 202, the other's all 422", "{202} and {422}", results)
        ids = {r.json()["id"] for r in results if r.status == 202}
        self.expect_eq(len(ids), 1, "the winning posts answer one id")
        self.stack.wait_persisted(ids)
        self.stack.wait_drained()
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}'"), 1, "rows for the key")

    def test_key_known_only_to_postgresql(self):
        """Needs the persist side (idempotency_keys written by the worker):
        after an ingest restart the replica's index is empty, and the key is
        found in PostgreSQL."""
        headers = {"Idempotency-Key": f"pg-{self.token}"}
        first = {"type": "payment", "tag": self.token, "amount": 1}
        eid = self.post_event(first, headers)
        self.stack.wait_persisted([eid])
        self.wait(lambda: self.stack.sql_value(
            f"SELECT record_id FROM idempotency_keys WHERE key = 'pg-{self.token}'") == eid, 30,
            "persist records the key in idempotency_keys")
        self.stack.ingest.stop()
        self.stack.start_ingest()
        self.http.close()  # its kept-alive connection was to the old process
        http = self.stack.http()
        try:
            self.expect_problem(http.post_json("/v1/events", {**first, "amount": 2}, headers), 422,
                                "a different body under a key known only to PostgreSQL")
            self.expect_eq(self.post_event(first, headers, http=http), eid, "the first body: 202, same id")
        finally:
            http.close()

    # -- issue 9 item 2: outcomes of a waited write (needs the persist side)

    def test_waited_outcomes_created_updated_unchanged(self):
        rec = {"id": f"ver-{self.token}", "type": "doc", "tag": self.token, "rev": 1}
        r = self.http.post_json("/v1/events", rec, WAIT)
        self.expect_status(r, 201, "a new record with Prefer: wait")
        self.expect_eq(r.json().get("outcome"), "created", "outcome of the first write")
        r = self.http.post_json("/v1/events", rec, WAIT)
        self.expect_status(r, 200, "the same record again")
        self.expect_eq(r.json().get("outcome"), "unchanged", "outcome of the identical write")
        r = self.http.post_json("/v1/events", {**rec, "rev": 2}, WAIT)
        self.expect_status(r, 200, "a changed record with the same id")
        self.expect_eq((r.json().get("outcome"), r.json()["body"]["rev"]), ("updated", 2),
                       "outcome and body of the changed write")
        self.expect_eq(self.stack.sql(f"SELECT version, body->>'rev' FROM events WHERE external_id = 'ver-{self.token}'"),
                       [["2", "2"]], "one row, version 2, the new body")


def ingest_checks(client):
    """{path: count} of sluice_ingest_idempotency_checks_total and whether
    the filter is whole, from one ingest's GET /metrics."""
    r = client.get("/metrics")
    if r.status != 200:
        raise RuntimeError(f"GET /metrics answered {r}")
    paths, ready = {}, None
    for name, labels, value in harness.parse_metrics(r.body.decode()):
        if name == "sluice_ingest_idempotency_checks_total":
            paths[labels["path"]] = value
        elif name == "sluice_ingest_idempotency_filter_ready":
            ready = value
    return paths, ready


class KeyFilter(StackCase):
    """Issue 13: a key never seen costs no database round trip (the replica's
    filter of stored keys says so), yet every key PostgreSQL holds, stored
    before this replica started, by another replica, or across a PostgreSQL
    restart, is still looked up and a different body under it is a 422."""
    stack_options = {"persist": 1}

    def wait_filter_ready(self, client, what):
        self.wait(lambda: ingest_checks(client)[1] == 1, 30, f"the key filter of {what} whole")

    def persisted_key(self, key, body):
        eid = self.post_event(body, {"Idempotency-Key": key})
        self.wait(lambda: self.stack.sql_value(
            f"SELECT record_id FROM idempotency_keys WHERE key = '{key}'") == eid, 30,
            f"persist records the key {key}")
        return eid

    def test_fresh_keys_skip_the_database(self):
        self.wait_filter_ready(self.http, "ingest")
        before, _ = ingest_checks(self.http)
        ids = [self.post_event({"type": "fresh", "tag": self.token, "n": i},
                               {"Idempotency-Key": f"fresh-{self.token}-{i}"}) for i in range(20)]
        after, _ = ingest_checks(self.http)
        self.expect_eq(after.get("filter", 0) - before.get("filter", 0), 20,
                       "20 fresh keys checked by the filter")
        self.expect_eq(after.get("database", 0) - before.get("database", 0), 0,
                       "fresh keys looked up in PostgreSQL")
        self.stack.wait_persisted(ids)
        # Known now (persisted, and claimed here): a retry is answered as the first time.
        self.expect_eq(self.post_event({"type": "fresh", "tag": self.token, "n": 3},
                                       {"Idempotency-Key": f"fresh-{self.token}-3"}), ids[3],
                       "a retry of a filtered key: the same id")
        r = self.http.post_json("/v1/events", {"type": "fresh", "tag": self.token, "n": 99},
                                {"Idempotency-Key": f"fresh-{self.token}-4"})
        self.expect_problem(r, 422, "another body under a filtered key")
        self.stack.wait_drained()
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}'"), 20, "rows for the 20 keys")

    def count(self, where):
        return int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE {where}"))

    def test_key_stored_by_another_replica_is_looked_up(self):
        key = f"other-{self.token}"
        first = {"type": "payment", "tag": self.token, "amount": 1}
        port = harness.free_port()
        env = self.stack.env(SLUICE_LISTEN=f"127.0.0.1:{port}", **self.stack.ingest_env)
        other = Proc("sluice-ingest-b", [os.path.join(harness.BIN, "sluice-ingest")], env,
                     self.stack.log("ingest-b")).start()
        replica = None
        try:
            harness.launch.wait_http(f"http://127.0.0.1:{port}/readyz", 90, other.name, other.log,
                                     other.popen)
            replica = Http("127.0.0.1", port, key=self.http.default_key)
            self.wait_filter_ready(replica, "replica B")
            # Stored through replica A after B loaded its filter: B hears of
            # it from the notification persist's commit sends.
            eid = self.persisted_key(key, first)
            before, _ = ingest_checks(replica)
            self.wait(lambda: replica.post_json("/v1/events", {**first, "amount": 2},
                                                {"Idempotency-Key": key}).status == 422, 5,
                      "replica B refuses another body under a key stored through replica A")
            after, _ = ingest_checks(replica)
            self.expect(after.get("database", 0) > before.get("database", 0),
                        "replica B asked PostgreSQL about the key", "a database check", (before, after))
            self.expect_eq(self.post_event(first, {"Idempotency-Key": key}, http=replica), eid,
                           "the first body through replica B: the same id")
        finally:
            if replica:
                replica.close()
            problem = other.stop()
            self.assertIsNone(problem, problem)
        self.stack.wait_drained()
        self.expect_eq(self.count(f"body->>'tag' = '{self.token}'"), 1, "rows for the key")

    def test_postgresql_restart_reloads_the_filter(self):
        before_key = f"pgb-{self.token}"
        first = {"type": "payment", "tag": self.token, "amount": 1}
        self.wait_filter_ready(self.http, "ingest")
        eid = self.persisted_key(before_key, first)
        self.stack.pg_stop()
        self.stack.pg_start()
        self.wait_filter_ready(self.http, "ingest after PostgreSQL came back")
        after_key = f"pga-{self.token}"
        eid2 = self.persisted_key(after_key, {**first, "n": 2})
        for key, body, stored in ((before_key, first, eid), (after_key, {**first, "n": 2}, eid2)):
            r = self.http.post_json("/v1/events", {**body, "amount": 3}, {"Idempotency-Key": key})
            self.expect_problem(r, 422, f"another body under {key} after PostgreSQL restarted")
            self.expect_eq(self.post_event(body, {"Idempotency-Key": key}), stored,
                           f"the first body under {key}: the same id")
