"""The broker gone: ingest answers 503 with Retry-After within its ack
timeout (plus a margin), and never a 2xx for a write Kafka did not take."""
import threading

from harness import StackCase

ACK_TIMEOUT_MS = 2000
MARGIN_S = 3.0  # scheduling slack on a loaded 2-core machine with sanitizers


class BrokerGone(StackCase):
    stack_options = {"persist": 1, "ingest_env": {"SLUICE_ACK_TIMEOUT_MS": str(ACK_TIMEOUT_MS)}}

    def test_1_writes_answer_503_when_the_broker_is_gone(self):
        before = self.post_event({"type": "before", "tag": self.token})
        self.stack.wait_persisted([before])
        self.stack.kill_devkafka()

        results, clients = [], [self.stack.http() for _ in range(4)]

        def post(client, n):
            for i in range(n):
                results.append(client.post_json("/v1/events", {"type": "after", "tag": self.token, "i": i},
                                                 {"X-Request-ID": f"gone-{self.token}-{i}"}))

        threads = [threading.Thread(target=post, args=(c, 3)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for c in clients:
            c.close()
        self.expect_eq(len(results), 12, "answers to 12 writes")
        for r in results:
            self.expect_problem(r, 503, "POST /v1/events with the broker gone")
            self.expect(r.header("Retry-After") is not None, "503 carries Retry-After", "a Retry-After header", r)
        slow = [r for r in results if r.elapsed > ACK_TIMEOUT_MS / 1000 + MARGIN_S]
        self.expect(not slow, "every 503 within the ack timeout (+ margin)", f"<= {ACK_TIMEOUT_MS / 1000 + MARGIN_S}s",
                    f"answer times {[round(r.elapsed, 2) for r in results]}; slowest: {max(results, key=lambda r: r.elapsed)}")
        # Keyed writes too: never a 2xx.
        r = self.http.post_json("/v1/events", {"type": "keyed"}, {"Idempotency-Key": f"gone-{self.token}"})
        self.expect_problem(r, 503, "keyed POST with the broker gone")

    def test_2_readyz_names_kafka_when_the_broker_is_gone(self):
        self.stack.kill_devkafka()
        state = {}

        def not_ready():
            state["r"] = self.http.get("/readyz")
            return state["r"].status == 503

        self.wait(not_ready, 30, lambda: f"GET /readyz to answer 503 (last: {state.get('r')})")
        self.expect(b"kafka" in state["r"].body.lower(), "/readyz names what is down", "mentions Kafka", state["r"])
        self.expect_status(self.http.get("/healthz"), 200, "GET /healthz: the process is alive")
