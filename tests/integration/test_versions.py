"""A record's id is its identity, and an Idempotency-Key names one request.

Written against the worker's side, with envelopes produced straight to the
topic where ingest could not be the judge: a changed record with a known id
becomes a new version and an identical one changes nothing, also when both
versions travel in one batch; and a key that two ingest replicas accepted
with different bodies (neither could see the other's) keeps the first body,
while the second goes to the dead-letter topic saying why."""
import json
import subprocess
import uuid

from harness import StackCase, wait_until


def envelope(eid, body, fingerprint, key=None, external_id=None, received="2024-05-01T12:00:00.000000Z"):
    data = {"external_id": external_id, "type": "version-test", "occurred_at": "2024-05-01T12:00:00.000000Z",
            "body": body}
    if key:
        data["idempotency_key"] = key
    return json.dumps({"v": 1, "id": eid, "operation": "create", "collection": "events", "received_at": received,
                       "principal": "anonymous", "fingerprint": fingerprint, "data": data})


class RecordVersions(StackCase):
    stack_options = {"persist": 1}

    def event_row(self, eid):
        rows = self.stack.sql(f"SELECT version, body->>'n', updated_at IS NOT NULL FROM events WHERE id = '{eid}'")
        return rows[0] if rows else None

    def test_changed_record_is_a_new_version_identical_changes_nothing(self):
        ext = f"rec-{self.token}"
        first = self.post_event({"id": ext, "n": 1})
        self.stack.wait_persisted([first])
        self.expect_eq(self.event_row(first), ["1", "1", "f"], "the first post: version 1")

        again = self.post_event({"id": ext, "n": 1})
        self.expect_eq(again, first, "the same record posted again keeps its id")
        changed = self.post_event({"id": ext, "n": 2})
        self.expect_eq(changed, first, "a changed record keeps its id")
        wait_until(lambda: self.event_row(first) == ["2", "2", "t"], 60,
                   lambda: f"version 2 with n=2 (row: {self.event_row(first)}); {self.stack.where()}")
        same = self.post_event({"id": ext, "n": 2})
        marker = self.post_event({"id": f"marker-{self.token}"})
        self.stack.wait_persisted([same, marker])
        self.expect_eq(self.event_row(first), ["2", "2", "t"], "an identical record changes nothing")
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM events WHERE external_id = '{ext}'"), "1",
                       "one row for the record")

    def test_two_versions_in_one_batch(self):
        eid = str(uuid.uuid4())
        self.stack.kcat_produce(self.stack.topic, [
            (eid, envelope(eid, {"n": 1}, "f1")),
            (eid, envelope(eid, {"n": 2}, "f2")),
            (eid, envelope(eid, {"n": 3}, "f3")),
        ])
        wait_until(lambda: self.event_row(eid) is not None and self.event_row(eid)[1] == "3", 60,
                   lambda: f"the last version (n=3) stored (row: {self.event_row(eid)}); {self.stack.where()}")

    def test_a_key_reused_with_another_body_keeps_the_first(self):
        key = f"key-{self.token}"
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        self.stack.kcat_produce(self.stack.topic, [(first, envelope(first, {"n": 1}, "fp-one", key=key))])
        self.stack.wait_persisted([first])
        self.stack.kcat_produce(self.stack.topic, [(second, envelope(second, {"n": 2}, "fp-two", key=key))])

        def dead_letter():
            return [m for m in self.stack.kcat_consume(self.stack.dlq) if m.get("key") == second]

        letters = wait_until(dead_letter, 60, f"the second body under {key} on {self.stack.dlq}")
        error = letters[0]["headers"].get("x-error", "")
        self.expect("Idempotency-Key" in error, "the dead letter says why", "an x-error naming the key", error)
        self.expect_eq(self.stack.sql_value(f"SELECT count(*) FROM events WHERE id = '{second}'"), "0",
                       "the second body is not stored")
        self.expect_eq(self.stack.sql(f"SELECT fingerprint, record_id::text FROM idempotency_keys WHERE key = '{key}'"),
                       [["fp-one", first]], "the key keeps the first request")
        # The same request again (same fingerprint) is a retry, not a reuse.
        self.stack.kcat_produce(self.stack.topic, [(first, envelope(first, {"n": 1}, "fp-one", key=key))])
        marker = self.post_event({"id": f"after-{self.token}"})
        self.stack.wait_persisted([marker])
        self.expect_eq(len(dead_letter()), 1, "a retry of the first request is not a dead letter")

    def test_id_stored_by_another_writer_during_the_copy(self):
        """A batch of ids the database does not hold goes straight into
        events through COPY. One that another writer (a second replica, an
        operator's psql) stores after persist looked, but before its COPY
        reaches it, fails that COPY: the batch then goes through the upsert
        in the same transaction and the record becomes a new version, with
        nothing dead-lettered and nothing lost. Made deterministic here by a
        transaction that holds the id uncommitted until persist's COPY waits
        for it."""
        tok = self.token
        raced, other = str(uuid.uuid4()), str(uuid.uuid4())
        psql = subprocess.Popen(["psql", self.stack.pg_url, "-XqAt", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            psql.stdin.write("BEGIN;\n"
                             "INSERT INTO events (id, type, occurred_at, received_at, body) VALUES "
                             f"('{raced}', 'version-test', now(), now(), '{{\"n\": 0, \"tag\": \"{tok}\"}}');\n")
            psql.stdin.flush()
            wait_until(lambda: self.stack.sql_value(
                f"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'INSERT INTO events (id, type%{tok}%'") == "1",
                30, "the other writer's insert")
            self.stack.kcat_produce(self.stack.topic, [(raced, envelope(raced, {"n": 1, "tag": tok}, "f1")),
                                                       (other, envelope(other, {"n": 1, "tag": tok}, "f1"))],
                                    partition=0)
            wait_until(lambda: self.stack.sql_value(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY events %'")
                == "1", 60, f"persist's COPY waiting for the uncommitted id; {self.stack.where()}")
            psql.stdin.write("COMMIT;\n")
            psql.stdin.close()
            psql.wait(timeout=30)
        finally:
            if psql.poll() is None:
                psql.kill()
                psql.wait()
        wait_until(lambda: self.event_row(raced) == ["2", "1", "t"], 60,
                   lambda: f"the raced id as version 2 (row: {self.event_row(raced)}); {self.stack.where()}")
        self.expect_eq(self.event_row(other), ["1", "1", "f"], "the other event of the batch")
        marker = self.post_event({"id": f"after-{tok}"})
        self.stack.wait_persisted([marker])
        self.expect_eq([m for m in self.stack.kcat_consume(self.stack.dlq) if m.get("key") in (raced, other)], [],
                       "nothing dead-lettered")
