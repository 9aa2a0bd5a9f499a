#!/usr/bin/python3
"""A real SMTP server for tests (aiosmtpd, Debian's python3-aiosmtpd; run with
/usr/bin/python3) that records every message it accepts.

    sink = SmtpSink().start()          # 127.0.0.1, a free port
    sink.url                           # smtp://127.0.0.1:PORT
    sink.script(["451 4.3.0 try later"])  # the next DATA answers, then 250
    sink.wait_for(1, lambda m: token in m.text(), timeout=10)
    m = sink.messages()[0]; m.mail_from, m.rcpt_tos, m.raw, m.parsed()
    sink.stop()

SmtpSink(auth=("user", "secret")) offers AUTH PLAIN/LOGIN without TLS and
refuses mail from a session that did not authenticate with those.

As a program: /usr/bin/python3 tests/tools/smtp_sink.py [--port P] [--dir D]
prints "port=PORT", one line per message (and writes it to D/N.eml), and
"messages=N" on SIGTERM or SIGINT.
"""
import argparse
import email
import logging
import email.policy
import os
import signal
import sys
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

__all__ = ["SmtpSink", "Message"]

# AUTH without TLS is what a test sink on loopback wants: no warning about it.
warnings.filterwarnings("ignore", module="aiosmtpd")
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Message:
    """One accepted message: envelope and the bytes as received."""

    def __init__(self, seq, mail_from, rcpt_tos, raw, peer, authenticated):
        self.seq, self.mail_from, self.rcpt_tos, self.raw = seq, mail_from, list(rcpt_tos), raw
        self.peer, self.authenticated = peer, authenticated
        self.received, self.wall = time.monotonic(), time.time()
        self.reply = "250"  # or the scripted error it was refused with

    def parsed(self):
        """An email.message.EmailMessage (policy.default)."""
        return email.message_from_bytes(self.raw, policy=email.policy.default)

    def text(self):
        """The decoded text/plain body ("" when there is none)."""
        part = self.parsed().get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def __repr__(self):
        return f"<mail #{self.seq} from {self.mail_from} to {self.rcpt_tos}, {len(self.raw)} bytes>"


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        return self.sink._data(session, envelope)


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "dev"))
from launch import free_port  # noqa: E402 - the one port picker of every launcher


class SmtpSink:
    def __init__(self, port=0, host="127.0.0.1", auth=None, name="smtp"):
        self.host, self.port, self.auth, self.name = host, port, auth, name
        self._cond = threading.Condition()
        self._messages, self._script = [], []
        self.refused = []  # Messages whose DATA was answered with a scripted error (.reply)
        self.controller = None

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (self.auth is not None and auth_data.login.decode() == self.auth[0]
              and auth_data.password.decode() == self.auth[1])
        return AuthResult(success=ok, handled=False)

    def start(self):
        kwargs = {"enable_SMTPUTF8": True}
        if self.auth:
            kwargs.update(authenticator=self._authenticator, auth_require_tls=False, auth_required=True)
        for attempt in range(20):  # a free port may be taken between probe and bind
            port = self.port or free_port()
            ctl = Controller(_Handler(self), hostname=self.host, port=port, ready_timeout=10,
                             server_hostname="smtp-sink.test", **kwargs)
            try:
                ctl.start()
            except (OSError, RuntimeError):
                if self.port or attempt == 19:
                    raise
                continue
            self.controller, self.port = ctl, port
            return self
        raise RuntimeError("no free port for the SMTP sink")

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"smtp://{self.host}:{self.port}"

    def script(self, replies):
        """Answers the next DATA commands with these replies (e.g. "451 4.3.0
        later", "554 5.7.1 no"), then 250 again."""
        with self._cond:
            self._script.extend(replies)

    def _data(self, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self._cond:
            m = Message(len(self._messages) + 1, envelope.mail_from, envelope.rcpt_tos, raw,
                        session.peer, bool(getattr(session, "authenticated", False)))
            if self._script:
                m.reply = self._script.pop(0)
                self.refused.append(m)
                self._cond.notify_all()
                return m.reply
            self._messages.append(m)
            self._cond.notify_all()
        if self.on_message:
            self.on_message(m)
        return "250 2.0.0 Message accepted for delivery"

    on_message = None  # callable(Message), called from the server's thread

    def messages(self, predicate=None):
        with self._cond:
            msgs = list(self._messages)
        return [m for m in msgs if predicate is None or _safe(predicate, m)]

    def wait_for(self, count, predicate=None, timeout=10, what=None):
        """Waits until at least `count` accepted messages satisfy predicate;
        returns them, or raises AssertionError saying what came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self._messages if predicate is None or _safe(predicate, m)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"SMTP sink {self.name} ({self.url}): timed out after {timeout:g}s waiting for {count} "
                        f"{what or 'matching messages'}; {len(got)} matched of {len(self._messages)} accepted "
                        f"{self._messages[-5:]}, {len(self.refused)} refused by script")
                self._cond.wait(min(left, 0.5))


def _safe(predicate, m):
    try:
        return predicate(m)
    except Exception:  # noqa: BLE001 - a message that does not parse does not match
        return False


def main(argv):
    ap = argparse.ArgumentParser(description="SMTP sink for Sluice tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--dir", help="write each message to DIR/N.eml")
    args = ap.parse_args(argv)
    sink = SmtpSink(port=args.port, host=args.host, name="cli")

    def show(m):
        if args.dir:
            with open(os.path.join(args.dir, f"{m.seq}.eml"), "wb") as f:
                f.write(m.raw)
        print(f"message {m.seq}: from {m.mail_from} to {','.join(m.rcpt_tos)} ({len(m.raw)} bytes)", flush=True)

    sink.on_message = show
    sink.start()
    print(f"port={sink.port}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1):
        pass
    count = len(sink.messages())
    sink.stop()
    print(f"messages={count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
