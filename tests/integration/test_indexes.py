"""Indexes serve the queries: with 60k rows of ~260-byte bodies (inserted
with SQL, not through the API), EXPLAIN of the API's queries uses the
indexes (the trigram index event_search_doc of the search table for
contains, once the indexer has drained the backlog; the btrees for type,
ranges and keyset order), and a real GET /v1/events?contains= scans the
trigram index. (At 20k such rows a sequential scan is genuinely cheaper and the
planner rightly picks it, so the table must be bigger than that.)"""
import json

from harness import StackCase

ROWS = 60000
# The query ingest runs (ingest/events.c: EVENT_COLUMNS and events_query).
COLUMNS = ("id::text, external_id, type, "
           "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
           "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), body::text, "
           "(extract(epoch FROM occurred_at) * 1000000)::bigint")


def index_names(plan):
    names = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            names.add(plan["Index Name"])
        for v in plan.values():
            names |= index_names(v)
    elif isinstance(plan, list):
        for v in plan:
            names |= index_names(v)
    return names


class Indexes(StackCase):
    stack_options = {"persist": 0}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack.sql(f"""
            INSERT INTO events (id, external_id, type, occurred_at, received_at, body, fingerprint)
            SELECT gen_random_uuid(), NULL, 'bulk-' || (i % 50), timestamptz '2020-01-01' + i * interval '1 minute', now(),
                   jsonb_build_object('n', i, 'text', md5(i::text) || ' ' || md5((i * 7)::text),
                                      'more', md5((i * 3)::text) || md5((i * 5)::text) || md5((i * 11)::text),
                                      'user', jsonb_build_object('name', 'user ' || (i % 977), 'email', 'u' || i || '@example.com')),
                   NULL
            FROM generate_series(1, {ROWS}) AS i;
            INSERT INTO events (id, type, occurred_at, received_at, body)
            VALUES (gen_random_uuid(), 'needle', '2021-06-01', now(), '{{"text": "NeedleInHaystack-trgm"}}');
            ANALYZE events;""")
        # What persist's indexer does (docs/search.md), here at once: the
        # rows inserted above are in the backlog until it runs.
        cls.stack.sql("""
            DO $$ BEGIN WHILE event_search_index(100000) > 0 LOOP END LOOP; END $$;
            ANALYZE event_search;""")

    def explain(self, where):
        sql = f"EXPLAIN (FORMAT JSON) SELECT {COLUMNS} FROM events {where} ORDER BY occurred_at, id LIMIT 101"
        plan = json.loads(self.stack.sql_value(sql))
        return index_names(plan), json.dumps(plan)

    def test_contains_uses_trigram_index(self):
        sql = "EXPLAIN (FORMAT JSON) SELECT id FROM event_search WHERE doc ILIKE '%needleinhaystack%'"
        plan = json.loads(self.stack.sql_value(sql))
        names = index_names(plan)
        self.expect("event_search_doc" in names, f"EXPLAIN of contains on {ROWS} rows", "uses event_search_doc",
                    json.dumps(plan)[:1500])

    def test_api_contains_scans_trigram_index(self):
        scans = lambda: int(self.stack.sql_value(  # noqa: E731
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'event_search_doc'"))
        before = scans()
        items = self.query("/v1/events?contains=needleINhaystack")["items"]
        self.expect_eq([i["type"] for i in items], ["needle"], "GET /v1/events?contains=needleINhaystack")
        self.wait(lambda: scans() > before, 30,
                   f"pg_stat_user_indexes.idx_scan of event_search_doc to grow after the API query (was {before})")

    def test_type_and_range_use_btrees(self):
        names, plan = self.explain("WHERE type = 'bulk-7'")
        self.expect("events_type_occurred_at_id" in names, "EXPLAIN of type=", "uses events_type_occurred_at_id", plan[:1500])
        names, plan = self.explain("WHERE occurred_at >= '2020-01-05' AND occurred_at < '2020-01-06'")
        self.expect("events_occurred_at_id" in names, "EXPLAIN of after/before", "uses events_occurred_at_id", plan[:1500])

    def test_pages_are_read_in_index_order(self):
        # A page of the listing (with or without a cursor) must come from the
        # (occurred_at, id) btree in order, not from sorting the whole table.
        for where in ("", "WHERE (occurred_at, id) > ('2020-01-20'::timestamptz, '00000000-0000-0000-0000-000000000000'::uuid)"):
            names, plan = self.explain(where)
            full_sort = '"Node Type": "Sort"' in plan  # an Incremental Sort on presorted occurred_at is fine
            self.expect("events_occurred_at_id" in names and not full_sort,
                        f"EXPLAIN of a listing page {where or '(no filter)'}",
                        "an Index Scan on events_occurred_at_id and no full Sort node", plan[:1500])
