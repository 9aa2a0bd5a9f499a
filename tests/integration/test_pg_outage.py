"""PostgreSQL stopped for a few seconds mid-load and started again (same
port): every acknowledged write arrives exactly once and the DLQ stays empty."""
import time

from harness import Load, StackCase, check_exactly_once

TOTAL = 2000
OUTAGE_S = 4


class PgOutage(StackCase):
    stack_options = {"persist": 2}

    def test_pg_down_mid_load(self):
        run = f"pg-{self.token}"
        load = Load(self.stack, TOTAL, 4, lambda seq: {"type": "load", "run": run, "seq": seq}).start()
        self.wait(lambda: len(load.acked) >= TOTAL // 4, 120, lambda: f"{TOTAL // 4} acks ({load.summary()})")
        self.stack.pg_stop()
        down_at, acks_at_stop = time.monotonic(), len(load.acked)
        print(f"\n  PostgreSQL stopped after {acks_at_stop} acks", end=" ", flush=True)
        try:
            # Down for OUTAGE_S seconds, and long enough that writes kept coming.
            self.wait(lambda: time.monotonic() - down_at >= OUTAGE_S and (
                len(load.acked) >= acks_at_stop + TOTAL // 4 or load.done() >= TOTAL), 120,
                lambda: f"writes to continue while PostgreSQL is down ({load.summary()})")
            admin = self.stack.admin(0)
            r = admin.get("/readyz")
            admin.close()
            self.expect(r.status == 503, "persist /readyz while PostgreSQL is down", "HTTP 503", r)
        finally:
            self.stack.pg_start()
        print(f"and started again after {time.monotonic() - down_at:.1f}s, {len(load.acked)} acks", end=" ", flush=True)
        load.join(300)

        self.expect_eq(len(load.acked), TOTAL, f"every write acknowledged (ingest does not need PostgreSQL to take writes): {load.summary()}")
        problem = check_exactly_once(self.stack, load, run, timeout=180)
        self.expect(problem is None, "each acknowledged write exactly once in events", "no missing, doubled or changed rows", problem)
        self.stack.wait_drained()
        self.expect_eq(self.stack.kcat_consume(self.stack.dlq), [], f"{self.stack.dlq} stays empty (an outage is not poison)")
        for i in range(2):
            self.expect(self.stack.persist[i].alive(), f"persist-{i} survived the outage", "running", self.stack.persist[i].popen.poll())
