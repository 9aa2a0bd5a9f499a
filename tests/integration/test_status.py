"""GET /v1/status as an operator reads it: each collection's messages, dead
letters and each persist group's lag per partition (exact even while the
workers are down), the consumer groups with their members, and for
assistance, which notify consumes, the lag of notify's group from the offsets
it committed in Kafka."""
import os

from harness import StackCase


def routing(stack):
    return {"channels": {"status-log": {"type": "log", "path": os.path.join(stack.dir, "status-log.jsonl")}},
            "topics": {"sales": {"channels": ["status-log"]}}}


class Status(StackCase):
    stack_options = {"persist": 1, "notify": 1, "routing": routing}

    def status(self):
        r = self.http.get("/v1/status")
        self.expect_status(r, 200, "GET /v1/status")
        return r.json()

    def events(self, doc):
        return next(c for c in doc["collections"] if c["name"] == "events")

    def test_lag_and_groups(self):
        ids = [self.post_event({"type": "status", "tag": self.token, "i": i}) for i in range(20)]
        self.stack.wait_persisted(ids)
        self.stack.wait_drained()
        doc = self.status()
        self.expect_eq(sorted(c["name"] for c in doc["collections"]),
                       ["assistance", "epochs", "events", "recipes", "users"], "every collection")
        ev = self.events(doc)
        self.expect_eq(ev["topic"], self.stack.topic, "the events topic")
        self.expect(ev["messages"] >= 20, "messages on the events topic", ">= 20", ev)
        groups = {g["group"]: g for g in ev["persisted_by"]}
        self.expect_eq(groups["sluice-persist"]["lag"], 0, "no lag once drained")
        self.expect_eq(next(c for c in doc["collections"] if c["name"] == "assistance")["persisted_by"], None,
                       "assistance is not persist's")
        self.expect(all("consumed_by" not in c and "consumed_by_error" not in c
                        for c in doc["collections"] if c["persisted_by"] is not None),
                    "no consumed_by beside persisted_by", "persist's collections without it", doc["collections"])
        if "groups" in doc:
            members = {g["group"]: len(g["members"]) for g in doc["groups"]}
            self.expect(members.get("sluice-persist", 0) >= 1, "the persist group and its member",
                        ">= 1 member", doc["groups"])
        else:
            self.expect(bool(doc.get("groups_error")), "why the groups are not listed", "a reason", doc)

        # With the worker gone, the lag is what was written since.
        for proc in self.stack.persist:
            proc.kill()
        more = [self.post_event({"type": "status-later", "tag": self.token, "i": i}) for i in range(7)]
        self.expect_eq(len(more), 7, "writes accepted with persist down")
        lag = self.events(self.status())["persisted_by"]
        self.expect_eq({g["group"]: g["lag"] for g in lag}.get("sluice-persist"), 7,
                       "lag counts the writes no worker applied")
        parts = [p for g in lag for p in g["partitions"] if p["lag"]]
        self.expect_eq(sum(p["lag"] for p in parts), 7, "the partitions' lags add up")
        self.expect(all(p["end"] - p["applied"] == p["lag"] for p in parts), "lag = end - applied",
                    "each partition", parts)

    def test_notify_lag(self):
        rids = [self.post_assistance("sales", f"status {self.token} #{i}") for i in range(3)]
        for rid in rids:
            self.wait_delivery(rid, "status-log", "delivered", timeout=60)
        state = {}

        def caught_up():
            a = next(c for c in self.status()["collections"] if c["name"] == "assistance")
            state["a"] = a
            if "consumed_by_error" in a:
                return a  # an answer that will not change: checked below
            g = {x["group"]: x for x in a["consumed_by"]}.get("sluice-notify")
            # notify commits after recording a batch: wait for its commit.
            return a if g and g["lag"] == 0 and a["messages"] >= 3 else None
        a = self.wait(caught_up, 30, lambda: "GET /v1/status to show group sluice-notify at lag 0 on "
                      f"assistance; last: {state.get('a')}")
        self.expect("consumed_by_error" not in a, "the committed offsets of sluice-notify",
                    "read from Kafka", a)
        self.expect_eq(a["persisted_by"], None, "assistance is not persist's")
        g = next(x for x in a["consumed_by"] if x["group"] == "sluice-notify")
        self.expect_eq(g["committed"], a["messages"], "notify committed every message of the topic")
        self.expect(g["partitions"] and all(p["end"] - p["committed"] == p["lag"] == 0 for p in g["partitions"]),
                    "each partition: lag = end - committed = 0", "every partition", g["partitions"])
        self.expect_eq(sum(p["end"] for p in g["partitions"]), a["messages"], "the partitions' ends add up")
