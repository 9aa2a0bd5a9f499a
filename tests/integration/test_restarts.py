"""Restarts on the same database with a fresh broker, as `make run` does: the
PostgreSQL cluster survives a stop, the embedded Kafka does not. Offsets kept
in PostgreSQL belong to the old broker's log; none of them may make persist
skip a message of the new one. Every round writes the moment ingest is
ready, before persist has its partitions: the new log may grow past the old
offsets (round 2), stay short of them (round 3) and meet a database that is
down while persist is being assigned (round 3). Every acknowledged write of
every round must be one row."""
import uuid

from harness import Load, StackCase, check_exactly_once, wait_until


class RestartsOnTheSameDatabase(StackCase):
    stack_options = {"persist": 2}

    def restart(self, before_persist=None, after_persist=None):
        """Stops ingest and persist, replaces the broker with an empty one,
        starts ingest, runs before_persist() (the writes), then starts
        persist and runs after_persist()."""
        s = self.stack
        for proc in [s.ingest] + s.persist:
            problem = proc.stop()
            self.expect(problem is None, f"{proc.name} stops cleanly", "exit 0", problem)
        s.kill_devkafka()
        s.start_devkafka()
        s.start_ingest()
        self.http.close()
        type(self).http = s.http()
        result = before_persist() if before_persist else None
        for i in range(len(s.persist)):
            s.start_persist(i)
        if after_persist:
            after_persist()
        return result

    def load(self, run, total):
        return Load(self.stack, total, 4, lambda seq: {"type": "restart", "run": run, "seq": seq}).start()

    def test_three_restarts_with_a_fresh_broker_lose_nothing(self):
        s = self.stack
        runs = []
        # Round 1: an ordinary first run.
        run = f"r1-{uuid.uuid4().hex[:8]}"
        load = self.load(run, 600)
        load.join(180)
        runs.append((run, load))
        problem = check_exactly_once(s, load, run)
        self.expect(problem is None, "round 1: every acknowledged write stored once", "none missing", problem)

        # Round 2: the new log grows well past round 1's offsets before any
        # persist replica is assigned.
        run = f"r2-{uuid.uuid4().hex[:8]}"

        def write_more():
            load = self.load(run, 1500)
            load.join(240)
            return load

        load = self.restart(write_more)
        runs.append((run, load))
        # The dev broker keeps its log in memory: what persist has not read
        # when it stops is gone, so each round is checked before the next.
        problem = check_exactly_once(s, load, run, timeout=180)
        self.expect(problem is None, "round 2: every acknowledged write stored once", "none missing", problem)

        # Round 3: a shorter log, and PostgreSQL down while persist joins.
        run = f"r3-{uuid.uuid4().hex[:8]}"

        def write_less():
            load = self.load(run, 300)
            load.join(180)
            return load

        def stop_pg_while_persist_joins():
            s.pg_stop()

            def waits_or_assigned():
                return any("partitions wait for it" in line or "partitions assigned" in line
                           for i in range(len(s.persist)) for line in s.log_lines(f"persist-{i}"))

            wait_until(waits_or_assigned, 60, f"persist to be assigned or to wait for PostgreSQL; {s.where()}")
            s.pg_start()

        load = self.restart(write_less, stop_pg_while_persist_joins)
        runs.append((run, load))

        for run, load in runs:
            self.expect(len(load.acked) == load.total, f"{run}: every write acknowledged", load.total,
                        load.summary())
            problem = check_exactly_once(s, load, run, timeout=180)
            self.expect(problem is None, f"{run}: every acknowledged write stored exactly once",
                        "none missing or doubled", problem)
