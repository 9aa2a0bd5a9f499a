"""A sluice-persist replica SIGKILLed in the middle of a few thousand writes:
every write that got a 2xx is in PostgreSQL exactly once, with its id."""
from harness import Load, StackCase, check_exactly_once

TOTAL = 3000


class PersistKill(StackCase):
    stack_options = {"persist": 3}

    def test_sigkill_replicas_under_load(self):
        run = f"kill-{self.token}"
        load = Load(self.stack, TOTAL, 4, lambda seq: {"type": "load", "run": run, "seq": seq, "pad": "x" * 200}).start()
        self.wait(lambda: len(load.acked) >= TOTAL // 3, 120, lambda: f"{TOTAL // 3} acks ({load.summary()})")
        self.stack.kill_persist(0)
        print(f"\n  SIGKILLed persist-0 after {len(load.acked)} acks", end=" ", flush=True)
        self.wait(lambda: len(load.acked) >= 2 * TOTAL // 3, 120, lambda: f"{2 * TOTAL // 3} acks ({load.summary()})")
        self.stack.start_persist(0)
        self.stack.kill_persist(1)
        print(f"restarted persist-0 and SIGKILLed persist-1 after {len(load.acked)} acks", end=" ", flush=True)
        load.join(300)

        self.expect_eq(len(load.acked), TOTAL, f"every write acknowledged (ingest does not depend on persist): {load.summary()}")
        problem = check_exactly_once(self.stack, load, run, timeout=180)
        self.expect(problem is None, "each acknowledged write exactly once in events", "no missing, doubled or changed rows", problem)
        self.stack.wait_drained()
        self.expect_eq(int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'run' = '{run}'")), TOTAL,
                       "rows of the run after persist drained the topic")
        self.expect_eq(self.stack.kcat_consume(self.stack.dlq), [], f"{self.stack.dlq} is empty")
