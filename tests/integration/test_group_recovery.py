"""Issue 9 item 6: a consumer group that never hands out an assignment.

A persist replica SIGKILLed twice while the group is still forming, and
started again each time (as make run's supervisor does), must not leave the
group without partitions: writes acknowledged afterwards reach PostgreSQL
within a bound, and between them the live replicas hold every partition.
Whatever the cause (librdkafka 2.0.2's mock coordinator elects the oldest
member as leader even when it is dead, and hands partitions to dead members
until their session times out), a replica notices an assignment that does not
come, says so in its log and metrics, and joins the group again:

    sluice_persist_assigned_partitions    gauge, partitions this replica holds
    sluice_persist_unassigned_seconds     gauge, time in the group without one
    sluice_persist_group_rejoins_total    counter
    SLUICE_ASSIGN_TIMEOUT_MS              how long it waits before joining again
    log: "no partitions assigned; joining the consumer group again"
"""
import time

from harness import StackCase

PARTITIONS = 32 * 4  # the harness's devkafka --partitions, times the four persisted topics
WRITES = 20
# session.timeout.ms (6 s) for each dead member, a rebalance, the watchdog's
# own timeout, and room for a sanitizer build.
BOUND_S = 45
REJOIN_LOG = "no partitions assigned; joining the consumer group again"


class GroupRecoveryCase(StackCase):
    def count_rows(self, run):
        return int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'run' = '{run}'"))

    def wait_stored(self, run, what):
        state = {}

        def stored():
            state["n"] = self.count_rows(run)
            return state["n"] == WRITES

        t0 = time.monotonic()
        try:
            self.wait(stored, BOUND_S, lambda: f"{WRITES} acknowledged writes in PostgreSQL")
        except AssertionError:
            assigned = {i: sum("partitions assigned" in line for line in self.stack.log_lines(f"persist-{i}"))
                        for i in range(len(self.stack.persist))}
            self.fail(f"acknowledged writes never reached PostgreSQL {what}\n"
                      f"  expected: all {WRITES} rows within {BOUND_S}s\n"
                      f"  got:      {state.get('n')} rows; 'partitions assigned' log lines per replica: {assigned}\n"
                      f"  look at:  {self.stack.where()}")
        print(f"\n  {WRITES} writes stored {time.monotonic() - t0:.1f}s after the last ack", end=" ", flush=True)

    def post_run(self, run):
        return [self.post_event({"type": "group", "run": run, "seq": n}) for n in range(WRITES)]

    def assigned(self, i):
        m = self.stack.persist_metrics(i)
        if "sluice_persist_assigned_partitions" not in m:
            self.fail(f"persist-{i} /metrics\n  expected: sluice_persist_assigned_partitions and "
                      f"sluice_persist_unassigned_seconds gauges\n  got:      {sorted(m)}\n"
                      f"  look at:  {self.stack.where()}")
        return int(m["sluice_persist_assigned_partitions"])


class GroupRecovery(GroupRecoveryCase):
    stack_options = {"persist": 2}  # SLUICE_ASSIGN_TIMEOUT_MS at its default

    def test_writes_reach_postgres_after_two_kills_during_formation(self):
        # Stack.start() returned as soon as replica 1 answered /healthz (it
        # has subscribed): the group is still forming. Kill it twice in that
        # window, starting it again each time.
        for _ in range(2):
            self.stack.kill_persist(1)
            self.stack.start_persist(1)
        run = f"group-{self.token}"
        self.post_run(run)
        self.wait_stored(run, "after two SIGKILLs of a replica during group formation")
        state = {}

        def whole():
            state["held"] = {i: self.assigned(i) for i in range(2)}
            return sum(state["held"].values()) == PARTITIONS

        self.wait(whole, BOUND_S, lambda: f"the two replicas to hold all {PARTITIONS} partitions "
                                          f"(sluice_persist_assigned_partitions: {state.get('held')})")


class AssignmentWatchdog(GroupRecoveryCase):
    """A replica whose assignment does not come (the broker frozen while it
    joins) says so and joins again, then applies writes once it can."""
    stack_options = {"persist": 0, "persist_env": {"SLUICE_ASSIGN_TIMEOUT_MS": "6000"}}

    def test_an_assignment_that_does_not_come_is_noticed_and_joined_again(self):
        self.stack.freeze_devkafka()
        try:
            i = self.stack.add_persist()  # /healthz answers once it has subscribed
            line = self.stack.wait_log(f"persist-{i}", REJOIN_LOG, 30)
            self.expect(isinstance(line, dict) and line.get("level") == "warn" and "waited_ms" in line,
                        "the watchdog's log line", "a JSON warn line with waited_ms", line)
            m = self.stack.persist_metrics(i)
            self.expect(m.get("sluice_persist_group_rejoins_total", 0) >= 1,
                        "sluice_persist_group_rejoins_total while no assignment came", ">= 1", m)
            self.expect(m.get("sluice_persist_unassigned_seconds", 0) > 0,
                        "sluice_persist_unassigned_seconds while no assignment came", "> 0", m)
        finally:
            self.stack.thaw_devkafka()
        run = f"watchdog-{self.token}"
        self.post_run(run)
        self.wait_stored(run, "once the broker answered again")
        state = {}

        def settled():
            state["m"] = m = self.stack.persist_metrics(i)
            return (m.get("sluice_persist_assigned_partitions") == PARTITIONS
                    and m.get("sluice_persist_unassigned_seconds") == 0.0)

        self.wait(settled, BOUND_S, lambda: f"persist-{i} to hold all {PARTITIONS} partitions with "
                                            f"sluice_persist_unassigned_seconds 0 (metrics: {state.get('m')})")
