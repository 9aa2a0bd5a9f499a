"""Two sluice-notify replicas share the deliveries: each request reaches the
Slack stand-in exactly once, both replicas send, and when one is stopped
(SIGTERM, mid-load) the other finishes the rest, still once each."""
import os
import sys

from harness import ROOT, StackCase

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from sink import Sink  # noqa: E402

REQUESTS = 40
DELAY_MS = 150


class Replicas(StackCase):
    sink = None

    @classmethod
    def setUpClass(cls):
        cls.sink = Sink(name="slack", delay_ms=DELAY_MS).start()
        cls.addClassCleanup(cls.sink.stop)  # after the stack stops, or when it failed to start
        cls.stack_options = {
            "persist": 0,
            "notify": 2,
            "routing": {"channels": {"s": {"type": "slack", "webhook_url": cls.sink.url("/hook"),
                                           "timeout_ms": 2000}},
                        "topics": {"sales": {"channels": ["s"]}}},
            # Few senders each, so the work has to be shared to finish.
            "notify_env": {"SLUICE_NOTIFY_CONCURRENCY": "4", "SLUICE_NOTIFY_LEASE_MS": "5000",
                           "SLUICE_NOTIFY_POLL_MS": "50"},
        }
        super().setUpClass()

    def delivered_by(self, i):
        value = self.stack.metric("sluice_notify_deliveries_total", i, channel="s", status="delivered")
        return int(value or 0)

    def test_replicas_share_and_take_over(self):
        rids = [self.post_assistance("sales", f"Shared {n} {self.token}") for n in range(REQUESTS)]
        # Stop one replica once both have sent something: the other finishes.
        self.wait(lambda: self.delivered_by(0) > 0 and self.delivered_by(1) > 0, 30,
                  "both replicas to deliver (sluice_notify_deliveries_total on each admin port)")
        self.stack.stop_notify(1)  # a bad exit fails the module
        self.expect_eq(self.stack.notify[1].exits[-1], ("SIGTERM", 0), "notify-1's exit on SIGTERM")
        for rid in rids:
            self.wait_delivery(rid, "s", "delivered", timeout=60)
        counts = {rid: self.sink.count(lambda r, rid=rid: rid in r.text()) for rid in rids}
        twice = {rid: c for rid, c in counts.items() if c != 1}
        self.expect_eq(twice, {}, f"requests the stand-in did not get exactly once (of {REQUESTS})")
        attempts = self.stack.sql_value(
            "SELECT count(*) FROM assistance_deliveries WHERE channel = 's' AND attempts <> 1")
        self.expect_eq(attempts, "0", "deliveries that took more than one attempt")
        self.stack.start_notify(1)  # the stack stops what it started
