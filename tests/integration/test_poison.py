"""A poison message placed on the events topic directly (kcat) goes to the
DLQ with its error and source in headers, and the partition keeps flowing:
good messages after it, on the same partition, are persisted."""
import hashlib
import json
import uuid

from harness import StackCase


def envelope(eid, body, occurred_at="2024-03-01T10:00:00Z", **overrides):
    """An envelope v1 as docs/design.md describes it."""
    env = {"v": 1, "id": eid, "operation": "create", "collection": "events",
           "received_at": "2024-03-01T10:00:01.000000Z", "principal": "anonymous",
           "fingerprint": hashlib.sha256(json.dumps(body).encode()).hexdigest(),
           "data": {"external_id": None, "type": "direct", "occurred_at": occurred_at, "body": body}}
    env.update(overrides)
    return json.dumps(env)


def canonical(eid, body_text, occurred_at="2024-03-01T10:00:00.000000Z"):
    """An envelope in exactly the layout sluice-ingest writes (members in its
    order, no spaces, the body spliced in as received), which sluice-persist
    reads without a JSON parser and whose body it hands to PostgreSQL as it
    is (lib/envelope.c, envelope_scan_event)."""
    return ('{"v":1,"id":"%s","operation":"create","collection":"events",'
            '"received_at":"2024-03-01T10:00:01.000000Z","principal":"anonymous","tenant":"default",'
            '"fingerprint":null,"data":{"external_id":null,"type":"scanned","occurred_at":"%s",'
            '"body":%s}}' % (eid, occurred_at, body_text))


class Poison(StackCase):
    stack_options = {"persist": 2}

    def test_poison_goes_to_dlq_and_partition_keeps_flowing(self):
        tok = self.token
        good = [str(uuid.uuid4()) for _ in range(3)]
        poison = {  # key -> (value, why it can never be written)
            f"p-notjson-{tok}": "this is not JSON",
            f"p-empty-{tok}": "{}",
            f"p-version-{tok}": envelope(str(uuid.uuid4()), {"tag": tok}, v=99),
            f"p-badid-{tok}": envelope("not-a-uuid", {"tag": tok}),
            f"p-baddate-{tok}": envelope(str(uuid.uuid4()), {"tag": tok}, occurred_at="not-a-date"),
            f"p-nul-{tok}": envelope(str(uuid.uuid4()), {"tag": tok, "s": "a\u0000b"}),  # jsonb refuses \u0000
            # PostgreSQL refuses year 0: if the envelope parser lets it through, the
            # database refuses the batch and only this row may become poison.
            f"p-year0-{tok}": envelope(str(uuid.uuid4()), {"tag": tok}, occurred_at="0000-01-01T00:00:00Z"),
        }
        p = list(poison.items())
        messages = ([(good[0], envelope(good[0], {"tag": tok, "n": 0}))] + p[:3] +
                    [(good[1], envelope(good[1], {"tag": tok, "n": 1}))] + p[3:] +
                    [(good[2], envelope(good[2], {"tag": tok, "n": 2}))])
        self.stack.kcat_produce(self.stack.topic, messages, partition=0)
        http_ids = [self.post_event({"type": "after-poison", "tag": tok, "i": i}) for i in range(12)]

        self.stack.wait_persisted(good + http_ids, timeout=90)
        self.stack.wait_drained(timeout=90)
        source = {m["key"]: m for m in self.stack.kcat_consume(self.stack.topic) if m.get("key") in poison}
        dlq = self.wait(lambda: (lambda d: len(d) >= len(poison) and d)(self.stack.kcat_consume(self.stack.dlq)), 60,
                         f"{len(poison)} messages on {self.stack.dlq}")
        self.expect_eq(sorted(m.get("key") for m in dlq), sorted(poison), f"keys of the messages on {self.stack.dlq}")
        for m in dlq:
            key, h = m["key"], m["headers"]
            what = f"DLQ message for {key}"
            self.expect_eq(m.get("payload"), poison[key], f"{what}: value kept")
            self.expect(bool(h.get("x-error")), f"{what}: x-error header", "a non-empty error", h)
            self.expect_eq((h.get("x-source-topic"), h.get("x-source-partition"), h.get("x-source-offset")),
                           (self.stack.topic, "0", str(source[key]["offset"])), f"{what}: source headers")
        rows = self.stack.sql(f"SELECT id FROM events WHERE body->>'tag' = '{tok}' AND type = 'direct'")
        self.expect_eq(sorted(r[0] for r in rows), sorted(good), "rows from the direct messages: the good ones only")
        for i, proc in enumerate(self.stack.persist):
            self.expect(proc.alive(), f"persist-{i} still running", "alive", proc.popen.poll())

    def test_scanned_bodies_that_are_not_json_go_to_dlq(self):
        """In ingest's own layout a body is not parsed by persist, only found
        by its brackets: one that is not JSON (or that jsonb refuses) must
        still be dead-lettered alone, whether the batch was going straight
        into events (all new) or through the upsert (an id already stored,
        an id twice), and the good rows around it are written as sent."""
        tok = self.token
        stored = str(uuid.uuid4())
        self.stack.kcat_produce(self.stack.topic, [(stored, canonical(stored, json.dumps({"tag": tok, "v": 1})))],
                                partition=0)
        self.stack.wait_persisted([stored], timeout=60)
        good = [str(uuid.uuid4()) for _ in range(3)]
        poison = {
            f"s-literal-{tok}": '{"tag":"%s","x":tru}' % tok,
            f"s-comma-{tok}": '{"tag":"%s",}' % tok,
            f"s-nul-{tok}": '{"tag":"%s","s":"a\\u0000b"}' % tok,  # jsonb refuses \u0000
            f"s-brackets-{tok}": '{"tag":"%s","a":[1}' % tok,
        }
        poison = {k: canonical(str(uuid.uuid4()), v) for k, v in poison.items()}
        spaced = '{ "tag" : "%s",  "n" : 1 }' % tok  # spacing is the client's: stored as jsonb
        messages = [(good[0], canonical(good[0], json.dumps({"tag": tok, "n": 0})))]
        messages += list(poison.items())[:2]
        messages += [(good[1], canonical(good[1], spaced)),
                     (stored, canonical(stored, json.dumps({"tag": tok, "v": 2})))]  # a new version
        messages += list(poison.items())[2:]
        messages += [(good[2], canonical(good[2], json.dumps({"tag": tok, "n": 2}))),
                     (good[2], canonical(good[2], json.dumps({"tag": tok, "n": 2})))]  # twice, unchanged
        self.stack.kcat_produce(self.stack.topic, messages, partition=0)
        # A batch of new events only, behind them: straight into events.
        fresh = [str(uuid.uuid4()) for _ in range(20)]
        self.stack.kcat_produce(self.stack.topic, [(f, canonical(f, json.dumps({"tag": tok, "f": i})))
                                                   for i, f in enumerate(fresh)], partition=1)
        self.stack.wait_persisted(good + fresh, timeout=90)
        self.stack.wait_drained(timeout=90)
        dlq = self.wait(lambda: (lambda d: len(d) >= len(poison) and d)(
            [m for m in self.stack.kcat_consume(self.stack.dlq) if m.get("key") in poison]), 60,
            f"{len(poison)} messages on {self.stack.dlq}")
        self.expect_eq(sorted(m["key"] for m in dlq), sorted(poison), "dead-lettered: the bad bodies only")
        for m in dlq:
            self.expect_eq(m.get("payload"), poison[m["key"]], f"DLQ message for {m['key']}: value kept")
            self.expect(bool(m["headers"].get("x-error")), f"x-error on {m['key']}", "an error", m["headers"])
        rows = dict(self.stack.sql(f"SELECT id::text, body::text FROM events WHERE body->>'tag' = '{tok}' "
                                   "AND type = 'scanned'"))
        self.expect_eq(sorted(rows), sorted(good + fresh + [stored]), "rows: the good ones only")
        self.expect_eq(json.loads(rows[good[1]]), {"tag": tok, "n": 1}, "the spaced body, as jsonb")
        self.expect_eq(self.stack.sql(f"SELECT version, body->>'v' FROM events WHERE id = '{stored}'"),
                       [["2", "2"]], "the stored id's new version")
        self.expect_eq(self.stack.sql(f"SELECT version FROM events WHERE id = '{good[2]}'"), [["1"]],
                       "the id sent twice: one version")

    def test_refused_user_row_alone_goes_to_dlq(self):
        """A writer without a whole-batch statement (users) writes row by row
        without savepoints; a row PostgreSQL refuses aborts that attempt, and
        the batch is written again under savepoints: only that row is poison,
        the writes before and after it on the partition are applied."""
        tok = self.token.translate(str.maketrans("0123456789-_", "ghijklmnopqr"))  # usernames are letters
        topic, dlq = self.stack.prefix + "users", self.stack.prefix + "users.dlq"

        def user(name, born):
            return json.dumps({"v": 1, "id": str(uuid.uuid4()), "operation": "create", "collection": "users",
                               "received_at": "2024-03-01T10:00:01.000000Z", "principal": "anonymous",
                               "fingerprint": None, "data": {"username": name, "date_of_birth": born}})
        good = [f"a{tok}", f"b{tok}"]
        bad = f"c{tok}"
        # PostgreSQL has no year 0: the envelope's date is well-formed, the database refuses it.
        messages = [(good[0], user(good[0], "1990-01-02")), (bad, user(bad, "0000-01-01")),
                    (good[1], user(good[1], "1991-03-04"))]
        self.stack.kcat_produce(topic, messages, partition=0)
        self.wait(lambda: len(self.stack.sql(
            f"SELECT 1 FROM users WHERE username IN ('{good[0]}', '{good[1]}')")) == 2, 60,
            "both good users written")
        dead = self.wait(lambda: [m for m in self.stack.kcat_consume(dlq) if m.get("key") == bad], 60,
                         f"the refused user on {dlq}")
        self.expect(bool(dead[0]["headers"].get("x-error")), "x-error on the refused user", "non-empty",
                    dead[0]["headers"])
        self.expect_eq(self.stack.sql(f"SELECT date_of_birth::text FROM users WHERE username = '{good[1]}'"),
                       [["1991-03-04"]], "the write after the refused one")
        self.expect_eq(self.stack.sql(f"SELECT 1 FROM users WHERE username = '{bad}'"), [], "no refused user row")
