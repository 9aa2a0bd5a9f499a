"""sluice-notify end to end: assistance requests posted to ingest reach real
receivers (an HTTP stand-in for Slack and webhooks, tests/tools/sink.py; a
real SMTP server, tests/tools/smtp_sink.py), once each, through retries,
rate limits, failures with DLQ and fallback, slow channels, a SIGKILLed
worker, routing reloads and poison messages.

One stack for the module; every topic has its own channels and every channel
its own receiver, so tests do not see each other's traffic. Short retry
schedule, lease and timeouts keep it quick."""
import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid

from harness import ROOT, StackCase, strings

sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from sink import Sink, hang, respond  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402

PUBLIC_URL = "https://sluice.example.test"
KEY1, KEY2 = b"sluice-it-key-one-0123456789abcd", b"sluice-it-key-two-0123456789abcd"
SECRET1 = "whsec_" + base64.b64encode(KEY1).decode()
SECRET2 = "whsec_" + base64.b64encode(KEY2).decode()
SCHEDULE = "0,300ms,300ms"  # 3 attempts
ATTEMPTS = 3
TIMEOUT_MS = 2000  # per channel; the lease (3000) must exceed it
MAIL_FROM, MAIL_TO = "sluice@example.test", ["sales@example.test", "pricing@example.test"]

# sink name -> (channel name, channel type, topic); "fast" and "steady" share a
# topic with another channel; "fallback" is the fallback of "broken".
SINKS = {
    "sales": ("sales-slack", "slack", "sales"),
    "hooks": ("hooks-webhook", "webhook", "hooks"),
    "flaky": ("retry-flaky", "webhook", "retry"),
    "steady": ("retry-steady", "slack", "retry"),
    "ratelimit": ("ratelimit-slack", "slack", "ratelimit"),
    "broken": ("broken-hook", "webhook", "broken"),
    "fallback": ("broken-fallback", "slack", None),
    "rejected": ("rejected-slack", "slack", "rejected"),
    "slow": ("slow-slack", "slack", "slow"),
    "fast": ("fast-slack", "slack", "slow"),
    "kill": ("kill-slack", "slack", "kill"),
    "late": ("late-slack", "slack", None),  # only in the reloaded routing
}
# The SMTP sink serves the email channels of "pricing" and "mailretry".


def signature(key, msg_id, timestamp, body):
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def norm_newlines(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


class Notify(StackCase):
    sinks = {}
    smtp = None

    # -- the stack, its receivers and its routing file

    @classmethod
    def routing(cls, stack, extra=None):
        channels, topics = {}, {}
        for name, (channel, ctype, topic) in SINKS.items():
            sink = cls.sinks[name]
            if ctype == "slack":
                conf = {"type": "slack", "webhook_url": sink.url(f"/services/T0/B0/{name}")}
            else:
                conf = {"type": "webhook", "url": sink.url(f"/hooks/{name}"), "secret": "${IT_HOOK_SECRET} " + SECRET2}
            conf["timeout_ms"] = TIMEOUT_MS
            if name == "kill":
                conf["timeout_ms"] = 2500  # room for the kill to land while it holds requests
            if name == "late" and not extra:
                continue
            channels[channel] = conf
            if topic:
                topics.setdefault(topic, {"channels": []})["channels"].append(channel)
        topics["broken"]["fallback"] = "broken-fallback"
        email_conf = {"type": "email", "url": cls.smtp.url, "from": MAIL_FROM, "to": MAIL_TO, "timeout_ms": TIMEOUT_MS}
        channels["pricing-email"] = dict(email_conf)
        channels["mailretry-email"] = dict(email_conf)
        topics["pricing"] = {"channels": ["pricing-email"]}
        topics["mailretry"] = {"channels": ["mailretry-email"]}
        channels["audit-log"] = {"type": "log", "path": os.path.join(stack.dir, "audit.jsonl")}
        topics["audit"] = {"channels": ["audit-log"]}
        doc = {"channels": channels, "topics": topics}
        for key, value in (extra or {}).items():
            doc[key].update(value)
        return doc

    @classmethod
    def setUpClass(cls):
        cls.sinks = {name: Sink(name=name).start() for name in SINKS}
        cls.sinks["broken"].default(500)
        cls.sinks["rejected"].default(400)
        cls.smtp = SmtpSink(name="mail").start()
        cls.addClassCleanup(cls.stop_sinks)  # after the stack stops, or when it failed to start
        cls.stack_options = {
            "persist": 0,
            "notify": 1,
            "routing": cls.routing,
            "notify_env": {
                "SLUICE_NOTIFY_RETRY_SCHEDULE": SCHEDULE,
                "SLUICE_NOTIFY_BREAKER_FAILURES": "3",
                "SLUICE_NOTIFY_BREAKER_COOLDOWN_MS": "4000",
                "SLUICE_NOTIFY_LEASE_MS": "3000",
                "SLUICE_NOTIFY_POLL_MS": "100",
                "SLUICE_PUBLIC_URL": PUBLIC_URL,
                "IT_HOOK_SECRET": SECRET1,  # notify only: ingest needs no channel secret
            },
        }
        super().setUpClass()

    @classmethod
    def stop_sinks(cls):
        for sink in cls.sinks.values():
            sink.stop()
        if cls.smtp:
            cls.smtp.stop()

    def tearDown(self):
        for name, proc in [("ingest", self.stack.ingest)] + [(f"notify-{i}", p) for i, p in enumerate(self.stack.notify)]:
            self.expect(proc.alive(), f"sluice-{name} still running after the test", "alive",
                        f"exited with {proc.popen.poll()}; see {proc.log}")

    # -- helpers

    def of(self, rid):
        """A sink predicate: the request names the assistance request rid."""
        return lambda r: rid in r.text()

    def received(self, name, rid, count=1, timeout=15):
        return self.sinks[name].wait_for(count, self.of(rid), timeout, what=f"requests naming {rid}")

    def delivery(self, rid, channel, status="delivered", timeout=20, **kw):
        d, doc = self.wait_delivery(rid, channel, status, timeout, **kw)
        return d, doc

    def dlq_messages(self, rid):
        return [m for m in self.stack.kcat_consume(self.stack.assistance_dlq) if m.get("key") == rid]

    def barrier(self, *rids):
        """After it, notify has consumed every copy of the rids' messages on the topic."""
        msgs = self.stack.kcat_consume(self.stack.assistance_topic)
        parts = set()
        for rid in rids:
            mine = {m["partition"] for m in msgs if rid in (m.get("payload") or "")}
            self.expect(bool(mine), f"messages of {rid} on {self.stack.assistance_topic}", "at least one", mine)
            parts |= mine
        for p in sorted(parts):
            self.stack.dlq_barrier(self.stack.assistance_topic, p, self.stack.assistance_dlq)

    def check_signed(self, req, what):
        """The Standard Webhooks headers of one sink request verify with both secrets."""
        msg_id, ts, sigs = (req.header(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
        self.expect(bool(msg_id) and bool(ts) and bool(sigs), f"{what}: webhook-id, webhook-timestamp, "
                    "webhook-signature headers", "all three", req.headers)
        self.expect(re.fullmatch(r"\d+", ts) is not None and abs(int(ts) - time.time()) < 300,
                    f"{what}: webhook-timestamp", "integer seconds within 5 minutes of now", ts)
        got = sigs.split(" ")
        want = [signature(KEY1, msg_id, ts, req.body), signature(KEY2, msg_id, ts, req.body)]
        self.expect_eq(sorted(got), sorted(want), f"{what}: webhook-signature (one v1 per secret, "
                                                  f"HMAC-SHA256 over id.timestamp.body)")
        return msg_id

    # -- one request, one channel

    def test_sales_reaches_slack_exactly_once(self):
        desc = f'Need a quote for 50 seats, "soon" - \u00fcn\u00efc\u00f8d\u00e9 \u2713 {self.token}'
        r = self.http.post_json("/v1/assistance", {"topic": "sales", "description": desc},
                                {"X-Request-ID": f"it-sales-{self.token}"}, retry=True)
        self.expect_status(r, 202, "POST /v1/assistance (sales)")
        rid = r.json()["id"]
        req = self.received("sales", rid)[0]
        d, doc = self.delivery(rid, "sales-slack")
        self.expect_eq({k: d.get(k) for k in ("channel", "type", "status", "attempts", "fallback", "last_error")},
                       {"channel": "sales-slack", "type": "slack", "status": "delivered", "attempts": 1,
                        "fallback": False, "last_error": None}, "the Slack delivery in GET")
        self.expect(bool(d.get("delivered_at")), "delivered_at", "a time", d)
        self.expect_eq(len(doc["deliveries"]), 1, f"deliveries of a sales request: {doc}")
        self.expect_eq((doc.get("id"), doc.get("topic"), doc.get("description")), (rid, "sales", desc), "GET document")
        self.expect_eq(doc.get("request_id"), r.header("X-Request-ID"), "request_id: the X-Request-ID of the POST")
        self.expect_eq((req.method, req.path), ("POST", "/services/T0/B0/sales"), "the Slack request line")
        self.expect((req.header("content-type") or "").startswith("application/json"), "Slack Content-Type",
                    "application/json", req.headers)
        texts = list(strings(req.json()))
        for what, value in (("topic", "sales"), ("description", desc), ("request id", rid)):
            self.expect(any(value in t for t in texts), f"the Slack message shows the {what}",
                        repr(value), req.text()[:500])
        self.barrier(rid)
        self.expect_eq(self.sinks["sales"].count(self.of(rid)), 1, "requests to the Slack stand-in for the request")

    def test_pricing_email_is_well_formed(self):
        tok = self.token
        desc = f"Price check {tok}: \u00fcn\u00efc\u00f8d\u00e9 \u20ac \U0001F600\r\nBcc: evil@example.com\r\nSubject: hi"
        rid = self.post_assistance("pricing", desc)
        m = self.smtp.wait_for(1, lambda m: tok in m.text(), timeout=15, what=f"a message with {tok} in its body")[0]
        self.delivery(rid, "pricing-email")
        msg = m.parsed()
        self.expect_eq(m.mail_from, MAIL_FROM, "SMTP envelope sender (MAIL FROM)")
        self.expect_eq(sorted(m.rcpt_tos), sorted(MAIL_TO), "SMTP envelope recipients (RCPT TO): no injected Bcc")
        self.expect(m.raw.isascii(), "the raw message", "7-bit ASCII (encoded headers, base64 body)",
                    [line for line in m.raw.split(b"\n") if not line.isascii()][:3])
        self.expect(all(len(line) <= 998 for line in m.raw.split(b"\r\n")), "line lengths", "<= 998 octets", "longer")
        for h in ("From", "To", "Subject", "Date", "Message-ID"):
            self.expect(len(msg.get_all(h) or []) == 1, f"the {h} header", "exactly one", msg.get_all(h))
        self.expect(MAIL_FROM in str(msg["From"]), "From header", MAIL_FROM, msg["From"])
        self.expect(all(a in str(msg["To"]) for a in MAIL_TO), "To header", MAIL_TO, msg["To"])
        self.expect(msg.get_all("Bcc") is None and msg.get_all("Cc") is None, "Bcc/Cc headers", "none", msg.items())
        self.expect(email.utils.parsedate_to_datetime(str(msg["Date"])) is not None, "Date header", "RFC 5322 date",
                    msg["Date"])
        self.expect(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["Message-ID"]).strip()) is not None,
                    "Message-ID header", "<local@domain>", msg["Message-ID"])
        for name, value in msg.items():
            self.expect(tok not in str(value) and "evil@" not in str(value), f"header {name}",
                        "no part of the description in any header", value)
        part = msg.get_body(preferencelist=("plain",))
        self.expect(part is not None and part.get_content_type() == "text/plain", "the body", "text/plain",
                    msg.get_content_type())
        self.expect_eq((part.get_content_charset() or "").lower(), "utf-8", "charset of the text/plain body")
        self.expect_eq((part["Content-Transfer-Encoding"] or "").strip().lower(), "base64",
                       "Content-Transfer-Encoding of the body")
        self.expect(norm_newlines(desc) in norm_newlines(part.get_content()), "the decoded body",
                    "the description intact", part.get_content()[:500])
        self.expect_eq(len(self.smtp.messages(lambda m: tok in m.text())), 1, "e-mails for the request")

    def test_email_4xx_is_retried_with_the_same_message_id(self):
        tok = self.token
        self.smtp.script(["451 4.3.0 try again later"])
        rid = self.post_assistance("mailretry", f"Retry my mail {tok}")
        d, _ = self.delivery(rid, "mailretry-email")
        self.expect_eq(d.get("attempts"), 2, f"attempts after an SMTP 451 then 250: {d}")
        refused = [m for m in self.smtp.refused if tok in m.text()]
        accepted = self.smtp.messages(lambda m: tok in m.text())
        self.expect_eq((len(refused), len(accepted)), (1, 1), "mails refused (451) and accepted for the request")
        self.expect_eq(str(accepted[0].parsed()["Message-ID"]), str(refused[0].parsed()["Message-ID"]),
                       "Message-ID of the retried mail: the same as the first attempt's")

    def test_webhook_is_signed_and_documented(self):
        desc = f"Order webhook {self.token} \u00e9 \"quoted\" <b>&amp;"
        r = self.http.post_json("/v1/assistance", {"topic": "Hooks", "description": desc},
                                {"X-Request-ID": f"it-hooks-{self.token}"}, retry=True)
        self.expect_status(r, 202, "POST /v1/assistance (Hooks)")
        rid = r.json()["id"]
        req = self.sinks["hooks"].wait_for(1, lambda q: q.json()["data"]["id"] == rid, 15, what=f"a webhook for {rid}")[0]
        self.expect_eq((req.method, req.path), ("POST", "/hooks/hooks"), "the webhook request line")
        self.expect((req.header("content-type") or "").startswith("application/json"), "webhook Content-Type",
                    "application/json", req.headers)
        self.check_signed(req, "the webhook")
        body = req.json()
        self.expect_eq(body.get("type"), "assistance.requested", "type of the webhook body")
        self.expect(isinstance(body.get("timestamp"), str) and bool(body["timestamp"]), "timestamp of the webhook body",
                    "a time", body)
        _, doc = self.delivery(rid, "hooks-webhook")
        data = body.get("data") or {}
        want = {"id": rid, "topic": "hooks", "description": desc, "received_at": doc["received_at"],
                "request_id": r.header("X-Request-ID"), "link": f"{PUBLIC_URL}/v1/assistance/{rid}"}
        self.expect_eq({k: data.get(k) for k in want}, want, "data of the webhook body")
        self.barrier(rid)
        self.expect_eq(self.sinks["hooks"].count(self.of(rid)), 1, "webhooks sent for the request")

    def test_log_channel_appends_one_json_line(self):
        desc = f"Audit me {self.token}"
        rid = self.post_assistance("audit", desc)
        self.delivery(rid, "audit-log")
        path = os.path.join(self.stack.dir, "audit.jsonl")
        with open(path, encoding="utf-8") as f:
            lines = [line for line in f if rid in line]
        self.expect_eq(len(lines), 1, f"lines of {path} naming the request")
        entry = json.loads(lines[0])
        self.expect(any(desc in s for s in strings(entry)), "the log line", "a JSON object with the description", entry)

    # -- retries

    def test_retry_goes_only_to_the_failed_channel(self):
        self.sinks["flaky"].script([500])
        rid = self.post_assistance("retry", f"Flaky receiver {self.token}")
        flaky, doc = self.delivery(rid, "retry-flaky")
        self.expect_eq(flaky.get("attempts"), 2, f"attempts of the channel that answered 500 then 200: {flaky}")
        steady = next(d for d in doc["deliveries"] if d["channel"] == "retry-steady")
        self.expect_eq((steady.get("status"), steady.get("attempts")), ("delivered", 1),
                       f"the channel that took it the first time: {steady}")
        first, second = self.sinks["flaky"].wait_for(2, self.of(rid), 5, what=f"2 attempts for {rid}")[:2]
        self.expect_eq((first.status, second.status), (500, 200), "what the flaky receiver answered")
        gap = second.received - first.received
        self.expect(0.29 <= gap < 3, "time between the two attempts", f">= 300 ms (schedule {SCHEDULE}), < 3 s",
                    f"{gap:.3f}s")
        id1, id2 = self.check_signed(first, "attempt 1"), self.check_signed(second, "attempt 2")
        self.expect_eq(id1, id2, "webhook-id of the two attempts of one delivery")
        self.barrier(rid)
        self.expect_eq(self.sinks["steady"].count(self.of(rid)), 1,
                       "requests to the channel that succeeded first time (the retry goes only to the failed one)")
        self.expect_eq(self.sinks["flaky"].count(self.of(rid)), 2, "requests to the flaky channel")
        retries = self.stack.metric("sluice_notify_deliveries_total", channel="retry-flaky", status="retry")
        self.expect(retries is not None and retries >= 1,
                    'sluice_notify_deliveries_total{channel="retry-flaky",status="retry"}', ">= 1", retries)

    def test_429_retry_after_is_honoured(self):
        self.sinks["ratelimit"].script([respond(429, retry_after=1)])
        rid = self.post_assistance("ratelimit", f"Rate limited {self.token}")
        d, _ = self.delivery(rid, "ratelimit-slack")
        self.expect_eq(d.get("attempts"), 2, f"attempts after 429 then 200: {d}")
        first, second = self.received("ratelimit", rid, 2)[:2]
        gap = second.received - first.received
        self.expect(1.0 <= gap < 3.5, "time between the 429 and the next attempt", ">= 1 s (Retry-After: 1), < 3.5 s",
                    f"{gap:.3f}s")

    def test_permanent_4xx_fails_without_retry(self):
        rid = self.post_assistance("rejected", f"Rejected {self.token}")
        d, doc = self.delivery(rid, "rejected-slack", "failed")
        self.expect_eq(d.get("attempts"), 1, f"attempts of a delivery answered 400 (permanent): {d}")
        self.expect(bool(d.get("last_error")), "last_error", "the reason", d)
        self.expect_eq(len(doc["deliveries"]), 1, f"deliveries (the topic has no fallback): {doc['deliveries']}")
        dlq = self.wait(lambda: self.dlq_messages(rid), 20, f"{rid} on {self.stack.assistance_dlq}")
        self.expect_eq(dlq[0]["headers"].get("x-channel"), "rejected-slack", "x-channel of the DLQ message")
        self.barrier(rid)
        self.expect_eq(self.sinks["rejected"].count(self.of(rid)), 1, "requests to the receiver answering 400")

    def test_failing_channel_ends_failed_dlq_breaker_and_fallback(self):
        rid = self.post_assistance("broken", f"Nobody home {self.token}")
        d, _ = self.delivery(rid, "broken-hook", "failed", fallback=False)
        self.expect_eq(d.get("attempts"), ATTEMPTS, f"attempts of a channel that always answers 500 ({SCHEDULE}): {d}")
        self.expect(bool(d.get("last_error")), "last_error of the failed delivery", "the reason", d)
        self.expect_eq(self.sinks["broken"].count(self.of(rid)), ATTEMPTS, "requests to the failing receiver")
        self.wait(lambda: self.stack.metric("sluice_notify_breaker_open", channel="broken-hook") == 1, 5,
                  f'sluice_notify_breaker_open{{channel="broken-hook"}} 1 after {ATTEMPTS} failures '
                  "(SLUICE_NOTIFY_BREAKER_FAILURES=3)")
        closed = self.stack.metric("sluice_notify_breaker_open", channel="broken-fallback")
        self.expect_eq(closed, 0.0, 'sluice_notify_breaker_open{channel="broken-fallback"}')
        dlq = self.wait(lambda: self.dlq_messages(rid), 20, f"{rid} (key) on {self.stack.assistance_dlq}")
        h = dlq[0]["headers"]
        self.expect(bool(h.get("x-error")), "x-error of the DLQ message", "the reason", h)
        self.expect_eq(h.get("x-channel"), "broken-hook", "x-channel of the DLQ message")
        fb, doc = self.delivery(rid, "broken-fallback", "delivered", fallback=True)
        self.expect_eq(fb.get("attempts"), 1, f"attempts of the fallback delivery: {fb}")
        self.expect_eq(sorted((x["channel"], x["status"], x["fallback"]) for x in doc["deliveries"]),
                       [("broken-fallback", "delivered", True), ("broken-hook", "failed", False)], "deliveries of GET")
        self.expect_eq(len(self.received("fallback", rid)), 1, "requests to the fallback receiver")
        failed = self.stack.metric("sluice_notify_deliveries_total", channel="broken-hook", status="failed")
        self.expect(failed is not None and failed >= 1,
                    'sluice_notify_deliveries_total{channel="broken-hook",status="failed"}', ">= 1", failed)

    def test_open_breaker_spares_the_receiver_and_keeps_the_schedule(self):
        """While the breaker is open, due attempts are used up unsent: every
        request still fails over on schedule, and the dead receiver sees far
        fewer calls than requests x attempts."""
        rids = [self.post_assistance("broken", f"Breaker {i} {self.token}") for i in range(6)]
        for rid in rids:
            d, _ = self.delivery(rid, "broken-hook", "failed", timeout=30, fallback=False)
            self.expect_eq(d.get("attempts"), ATTEMPTS, f"attempts of {rid} on the dead channel: {d}")
            self.delivery(rid, "broken-fallback", "delivered", timeout=30, fallback=True)
        calls = sum(self.sinks["broken"].count(self.of(rid)) for rid in rids)
        self.expect(calls < len(rids) * ATTEMPTS, "calls the dead receiver got for 6 requests x 3 attempts",
                    f"fewer than {len(rids) * ATTEMPTS} (breaker after 3 failures, 4 s cooldown)", calls)
        unsent = self.stack.sql_value(
            "SELECT count(*) FROM assistance_deliveries WHERE channel = 'broken-hook' "
            "AND last_error LIKE 'not sent: the channel''s circuit breaker is open%'")
        self.expect(int(unsent) >= 1, "deliveries whose last attempt was not sent (breaker open)", ">= 1", unsent)

    # -- independence and crashes

    def test_slow_channel_does_not_delay_another(self):
        slow, fast = self.sinks["slow"], self.sinks["fast"]
        slow.default(hang(1.8))  # under the channel's 2 s timeout: the slow channel succeeds, late
        try:
            rid = self.post_assistance("slow", f"One slow one fast {self.token}")
            slow.wait_for(1, self.of(rid), 15, what=f"the slow channel's request for {rid}", in_flight=True)
            fast.wait_for(1, self.of(rid), 15, what=f"the fast channel's request for {rid}")
            d, doc = self.delivery(rid, "fast-slack", timeout=5)
            held = slow.in_flight(self.of(rid))
            self.expect(bool(held), "the slow receiver when the fast channel's delivery was recorded",
                        "still holding the request", slow.requests(self.of(rid)))
            s = next(x for x in doc["deliveries"] if x["channel"] == "slow-slack")
            self.expect_eq(s.get("status"), "pending", "the slow channel's delivery while its receiver holds it")
            self.expect(bool(s.get("next_attempt_at")), "a pending delivery says when it is tried next",
                        "next_attempt_at a time", s)
            slow.release()
            d, _ = self.delivery(rid, "slow-slack")
            self.expect_eq(d.get("attempts"), 1, f"attempts of the slow channel: {d}")
        finally:
            slow.reset()

    def test_database_outage_delays_but_loses_nothing(self):
        """PostgreSQL stopped while requests arrive: ingest still accepts them
        (Kafka holds them), notify retries recording, and once the database is
        back each is delivered exactly once."""
        self.stack.pg_stop()
        try:
            rids = [self.post_assistance("sales", f"During the outage {i} {self.token}") for i in range(3)]
        finally:
            self.stack.pg_start()
        # Reads answer 503 until ingest's pooled connections are back.
        self.wait(lambda: self.http.get("/readyz").status == 200, 30, "ingest /readyz 200 after the restart")
        for rid in rids:
            self.delivery(rid, "sales-slack", "delivered", timeout=60, fallback=False)
        self.barrier(rids[-1])
        for rid in rids:
            self.expect_eq(self.sinks["sales"].count(self.of(rid)), 1, f"Slack requests naming {rid}")

    def test_notify_killed_mid_send_resumes(self):
        sink, tok = self.sinks["kill"], self.token
        sink.script([hang(30)] * 5)  # the first five sends are held; later ones answer 200
        try:
            ids = [self.post_assistance("kill", f"Kill drill {tok} #{n}") for n in range(10)]
            sink.wait_for(5, in_flight=True, timeout=15, what="requests held by the receiver")
            held = {i for i in ids if sink.in_flight(self.of(i))}
            for i in set(ids) - held:
                self.delivery(i, "kill-slack", timeout=15)
            self.stack.kill_notify(0)
            killed_at = time.monotonic()
        finally:
            sink.release()
        in_flight = {i for i in ids if any(r.received < killed_at and (r.answered is None or r.answered >= killed_at)
                                           for r in sink.requests(self.of(i)))}
        print(f"\n  SIGKILLed notify with {len(in_flight)} sends in flight", end=" ", flush=True)
        self.expect(len(in_flight) >= 1, "sends in flight at the SIGKILL", ">= 1 (else the drill tested nothing)",
                    in_flight)
        ids += [self.post_assistance("kill", f"Kill drill {tok} while down #{n}") for n in range(5)]
        self.stack.start_notify(0)
        state = {}

        def all_delivered():
            state["left"] = [i for i in ids if not any(
                d["channel"] == "kill-slack" and d["status"] == "delivered"
                for d in (lambda r: r.json().get("deliveries", []) if r.status == 200 else [])(
                    self.http.get(f"/v1/assistance/{i}")))]
            return not state["left"]

        self.wait(all_delivered, 60, lambda: f"all {len(ids)} kill-drill requests delivered after the restart "
                                             f"(not yet: {state.get('left')})")
        self.barrier(*ids)
        counts = {i: sink.count(self.of(i)) for i in ids}
        twice_ok = {i: n for i, n in counts.items() if i in in_flight and not 1 <= n <= 2}
        once = {i: n for i, n in counts.items() if i not in in_flight and n != 1}
        self.expect(not twice_ok, "sends of requests in flight at the kill", "1 or 2 each", twice_ok)
        self.expect(not once, "sends of every request not in flight at the kill", "exactly 1 each", once)

    # -- routing reloads

    def reload_both(self):
        """SIGHUP ingest and notify; returns their log offsets from before."""
        return {"ingest": self.stack.sighup("ingest"), "notify-0": self.stack.sighup("notify-0")}

    def restore_routing(self):
        self.stack.write_routing(self.routing)
        offsets = self.reload_both()
        for proc, off in offsets.items():
            self.stack.wait_log(proc, "routing reloaded", 15, since=off)

    def test_reload_adds_a_topic(self):
        self.expect_problem(self.http.post_json("/v1/assistance", {"topic": "late", "description": "x"}), 422,
                            "POST on topic late before the reload", "/topic")
        self.addCleanup(self.restore_routing)
        self.stack.write_routing(lambda st: self.routing(st, {"topics": {"late": {"channels": ["late-slack"]}}}))
        for proc, off in self.reload_both().items():
            self.stack.wait_log(proc, "routing reloaded", 15, since=off)
        rid = self.post_assistance("late", f"New topic {self.token}")
        self.received("late", rid)
        d, _ = self.delivery(rid, "late-slack")
        self.expect_eq((d.get("type"), d.get("attempts")), ("slack", 1), f"the delivery on the new topic: {d}")
        rid = self.post_assistance("sales", f"Old topic after reload {self.token}")
        self.delivery(rid, "sales-slack")

    def test_reload_refuses_invalid_files(self):
        self.addCleanup(self.restore_routing)
        bogus = {"topics": {"bogus": {"channels": ["bogus-channel"]}}}
        variants = {
            "not JSON": '{"channels": {',
            "a topic naming no channel": lambda st: self.routing(st, bogus),
            "an unknown channel type": lambda st: self.routing(st, {
                "channels": {"bogus-channel": {"type": "carrier-pigeon", "url": "http://127.0.0.1:9/"}}, **bogus}),
            "a channel missing its required setting": lambda st: self.routing(st, {
                "channels": {"bogus-channel": {"type": "webhook", "url": "http://127.0.0.1:9/"}}, **bogus}),
        }
        for what, content in variants.items():
            self.stack.write_routing(content)
            for proc, off in self.reload_both().items():
                line = self.stack.wait_log(proc, "routing file refused", 15, since=off, level="error")
                later = [ln for ln in self.stack.log_lines(proc, off) if "routing reloaded" in ln]
                self.expect(not later, f"{proc} after SIGHUP with {what}", "no 'routing reloaded'", later)
                self.expect(isinstance(line, dict), f"{proc}'s refusal line", "a JSON log line", line)
            self.expect_problem(self.http.post_json("/v1/assistance", {"topic": "bogus", "description": "x"}), 422,
                                f"POST on the topic of the refused file ({what})", "/topic")
            rid = self.post_assistance("sales", f"Old routing stays ({what}) {self.token}")
            self.delivery(rid, "sales-slack")

    def test_reload_refuses_unset_variable_in_notify(self):
        # Ingest does not expand channel settings, so only notify can see this one.
        self.addCleanup(self.restore_routing)
        var = f"IT_UNSET_{self.token.upper()}"
        self.stack.write_routing(lambda st: self.routing(st, {
            "channels": {"secret-hook": {"type": "webhook", "url": "${" + var + "}", "secret": SECRET2}},
            "topics": {"secretive": {"channels": ["secret-hook"]}}}))
        off = self.stack.sighup("notify-0")
        line = self.stack.wait_log("notify-0", "routing file refused", 15, since=off, level="error")
        self.expect(var in json.dumps(line), "notify's refusal line", f"names ${{{var}}}", line)
        rid = self.post_assistance("sales", f"Old routing stays (unset variable) {self.token}")
        self.delivery(rid, "sales-slack")

    # -- Kafka side

    def test_poison_goes_to_dlq_and_good_requests_flow(self):
        tok = self.token
        rid = self.post_assistance("sales", f"Template {tok}")
        self.delivery(rid, "sales-slack")
        original = next(m for m in self.stack.kcat_consume(self.stack.assistance_topic) if rid in (m.get("payload") or ""))
        clone_id = str(uuid.uuid4())
        clone = original["payload"].replace(rid, clone_id)  # the same envelope with another id
        poison = {f"poison-text-{tok}": f"not JSON {tok}", f"poison-empty-{tok}": "{}",
                  f"poison-array-{tok}": "[1, 2]"}
        self.stack.kcat_produce(self.stack.assistance_topic, list(poison.items()) + [(clone_id, clone)],
                                partition=original["partition"])
        dlq = self.wait(lambda: (lambda d: len(d) >= len(poison) and d)(
            [m for m in self.stack.kcat_consume(self.stack.assistance_dlq) if m.get("key") in poison]), 30,
            f"{len(poison)} poison messages on {self.stack.assistance_dlq}")
        for m in dlq:
            self.expect(bool(m["headers"].get("x-error")), f"x-error of the DLQ message {m.get('key')}",
                        "the reason", m["headers"])
            self.expect_eq(m.get("payload"), poison[m["key"]], f"value of the DLQ message {m.get('key')}: kept")
        self.delivery(clone_id, "sales-slack", timeout=30)
        self.expect_eq(len(self.received("sales", clone_id)), 1, "Slack requests for the envelope after the poison")
        rid = self.post_assistance("sales", f"After poison {tok}")
        self.delivery(rid, "sales-slack")

    def test_redelivered_message_is_not_sent_again(self):
        rid = self.post_assistance("sales", f"Once only {self.token}")
        self.delivery(rid, "sales-slack")
        original = next(m for m in self.stack.kcat_consume(self.stack.assistance_topic) if rid in (m.get("payload") or ""))
        self.stack.kcat_produce(self.stack.assistance_topic, [(original.get("key") or rid, original["payload"])],
                                partition=original["partition"], headers=original.get("headers") or {})
        self.barrier(rid)
        self.expect_eq(self.sinks["sales"].count(self.of(rid)), 1, "Slack requests after the message came again")
        d, doc = self.delivery(rid, "sales-slack")
        self.expect_eq((d.get("attempts"), len(doc["deliveries"])), (1, 1), "attempts and deliveries after redelivery")

    def test_metrics_exposed(self):
        rid = self.post_assistance("sales", f"Metrics {self.token}")
        self.delivery(rid, "sales-slack")
        text = self.stack.notify_metrics(0)
        delivered = self.stack.metric("sluice_notify_deliveries_total", channel="sales-slack", status="delivered")
        self.expect(delivered is not None and delivered >= 1,
                    'sluice_notify_deliveries_total{channel="sales-slack",status="delivered"}', ">= 1", delivered)
        self.expect_eq(self.stack.metric("sluice_notify_breaker_open", channel="sales-slack"), 0.0,
                       'sluice_notify_breaker_open{channel="sales-slack"}')
        for name in ("sluice_notify_retry_backlog", "sluice_notify_send_seconds_bucket",
                     "sluice_notify_send_seconds_sum", "sluice_notify_send_seconds_count"):
            self.expect(re.search(rf"^{name}(\{{|\s)", text, re.M) is not None, f"metric {name} on /metrics",
                        "present", text[:1500])
        count = self.stack.metric("sluice_notify_send_seconds_count")
        self.expect(count is not None and count >= 1, "sluice_notify_send_seconds_count", ">= 1", count)
