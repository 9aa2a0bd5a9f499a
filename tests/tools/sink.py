#!/usr/bin/python3
"""An HTTP stand-in for Slack incoming webhooks and webhook receivers.

It listens on 127.0.0.1 (a free port unless one is given), records every
request (arrival time, method, path, headers, body, what it answered and when)
and answers by a programmable behaviour:

    sink = Sink().start()
    sink.url("/hook")                      # http://127.0.0.1:PORT/hook
    sink.script([500, 200])                # the next two answers, then the default
    sink.script([429], path="/slack")      # per path (matched without the query)
    sink.script([respond(429, retry_after=1)])  # = {"status": 429, "headers": {"Retry-After": "1"}}
    sink.script([hang(5)])                 # hold the request up to 5 s (or until
                                           # release()), then answer 200
    sink.default(500)                      # always 500 from now on
    sink.default(hang())                   # hold every request until release()
    sink.delay_ms = 200                    # every answer waits 200 ms first
    sink.wait_for(1, lambda r: r.json()["id"] == rid, timeout=10)
    sink.stop()

A step is an int (the status), a dict {"status", "headers", "body", "hang",
"delay_ms"} (hang: seconds to hold, None for "until release()"; absent: no
hold), or "hang". Requests are served on their own daemon threads with a
large listen backlog, so many slow requests are held at once.

As a program (for benchmarks), it answers every request after --delay-ms:

    /usr/bin/python3 tests/tools/sink.py --port 0 --delay-ms 200 [--status 200]

prints "port=PORT" when listening and "requests=N" when it stops on SIGTERM
or SIGINT (exit status 0). Only the standard library is used.
"""
import argparse
import collections
import http.server
import json
import signal
import socketserver
import sys
import threading
import time

__all__ = ["Sink", "Recorded", "hang", "respond"]


def hang(seconds=None, then=200, headers=None):
    """A step that holds the request for `seconds` (None: until release()),
    then answers `then`."""
    return {"hang": seconds, "status": then, "headers": headers or {}, "_hang": True}


def respond(status, headers=None, body=None, retry_after=None):
    """A step answering `status` with headers (retry_after: a Retry-After
    header of that many seconds) and body."""
    step = {"status": status, "headers": dict(headers or {})}
    if retry_after is not None:
        step["headers"]["Retry-After"] = str(retry_after)
    if body is not None:
        step["body"] = body
    return step


def _step(step):
    if isinstance(step, int):
        return {"status": step}
    if step == "hang":
        return hang()
    if isinstance(step, dict):
        return dict(step)
    raise ValueError(f"not a sink step: {step!r}")


class Recorded:
    """One request as the sink saw it. Times are time.monotonic() values
    (`wall` is time.time() at arrival)."""

    def __init__(self, seq, method, path, headers, body, received):
        self.seq, self.method, self.path, self.headers, self.body = seq, method, path, headers, body
        self.received, self.wall = received, time.time()
        self.status = None       # what it answered (None while held or before answering)
        self.answered = None     # monotonic time the answer was written (or failed to be)
        self.answer_error = None  # repr of the error writing the answer (peer gone)
        self.held = False        # a hang step applied to it

    def header(self, name):
        return self.headers.get(name.lower())

    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    @property
    def in_flight(self):
        return self.answered is None

    def __repr__(self):
        body = self.body[:160].decode("utf-8", "replace")
        state = "in flight" if self.in_flight else f"answered {self.status}"
        if self.answer_error:
            state += f" (write failed: {self.answer_error})"
        return f"<#{self.seq} {self.method} {self.path} {state} body={body!r}>"


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as libcurl expects
    server_version = "sluice-test-sink"

    def log_message(self, *args):  # quiet
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        sink = self.server.sink
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec, step, release = sink._arrive(self.command, self.path, headers, body)
        delay = step.get("delay_ms", sink.delay_ms)
        if delay:
            time.sleep(delay / 1000.0)
        if step.get("_hang") or "hang" in step:
            rec.held = True
            release.wait(step.get("hang"))  # None: until release()
        status = int(step.get("status", 200))
        out = step.get("body", b"{}" if status < 300 else b'{"error": "sink says no"}')
        if isinstance(out, str):
            out = out.encode()
        try:
            self.send_response(status)
            for k, v in (step.get("headers") or {}).items():
                self.send_header(k, str(v))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
            self.wfile.flush()
        except OSError as exc:  # the client went away (killed, timed out)
            rec.answer_error = repr(exc)
            self.close_connection = True
        sink._answered(rec, status)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve


class Sink:
    """See the module's doc. Thread-safe; one instance per stand-in receiver."""

    def __init__(self, port=0, host="127.0.0.1", status=200, delay_ms=0, name="sink"):
        self.host, self.port, self.name = host, port, name
        self.delay_ms = delay_ms
        self._default = _step(status)
        self._queue = collections.deque()
        self._paths = {}
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._requests = []
        self._server = self._thread = None

    # -- lifecycle

    def start(self):
        self._server = _Server((self.host, self.port), _Handler)
        self._server.sink = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sink-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.release()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/"):
        return f"http://{self.host}:{self.port}{path}"

    # -- behaviour

    def default(self, step):
        """The answer when no script step is left (int status, dict or hang())."""
        with self._cond:
            self._default = _step(step)

    def script(self, steps, path=None):
        """Appends steps answered in order before the default; with `path`,
        only for requests to that path (matched without the query)."""
        with self._cond:
            q = self._queue if path is None else self._paths.setdefault(path, collections.deque())
            q.extend(_step(s) for s in steps)

    def reset(self, status=200):
        """Drops scripts and sets the default back to `status`; releases holds."""
        with self._cond:
            self._queue.clear()
            self._paths.clear()
            self._default = _step(status)
        self.release()

    def release(self):
        """Lets every request held so far go on (to answer its step's status)."""
        with self._cond:
            old, self._release = self._release, threading.Event()
        old.set()

    def clear(self):
        """Forgets the requests recorded so far."""
        with self._cond:
            self._requests = []

    # -- what came

    def requests(self, predicate=None):
        with self._cond:
            reqs = list(self._requests)
        return [r for r in reqs if predicate is None or predicate(r)]

    def count(self, predicate=None):
        return len(self.requests(predicate))

    def in_flight(self, predicate=None):
        return [r for r in self.requests(predicate) if r.in_flight]

    def wait_for(self, count, predicate=None, timeout=10, what=None, in_flight=False):
        """Waits until at least `count` recorded requests satisfy predicate
        (and, with in_flight, are still being held); returns them. Raises
        AssertionError saying what came instead."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self._requests if (predicate is None or _safe(predicate, r))
                       and (not in_flight or r.in_flight)]
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    desc = what or "matching requests"
                    raise AssertionError(
                        f"sink {self.name} ({self.url()}): timed out after {timeout:g}s waiting for {count} "
                        f"{desc}{' still held' if in_flight else ''}; {len(got)} matched of "
                        f"{len(self._requests)} received: {self._requests[-8:]}")
                self._cond.wait(min(left, 0.5))

    # -- server side

    def _arrive(self, method, path, headers, body):
        with self._cond:
            rec = Recorded(len(self._requests) + 1, method, path, headers, body, time.monotonic())
            q = self._paths.get(path.split("?", 1)[0])
            if q:
                step = q.popleft()
            elif self._queue:
                step = self._queue.popleft()
            else:
                step = self._default
            self._requests.append(rec)
            release = self._release
            self._cond.notify_all()
        return rec, step, release

    def _answered(self, rec, status):
        with self._cond:
            rec.status, rec.answered = status, time.monotonic()
            self._cond.notify_all()


def _safe(predicate, r):
    try:
        return predicate(r)
    except Exception:  # noqa: BLE001 - a body that does not parse does not match
        return False


def main(argv):
    ap = argparse.ArgumentParser(description="HTTP sink for Sluice tests and benchmarks")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    ap.add_argument("--delay-ms", type=int, default=0, help="wait before every answer")
    ap.add_argument("--status", type=int, default=200, help="status of every answer")
    args = ap.parse_args(argv)
    sink = Sink(port=args.port, host=args.host, status=args.status, delay_ms=args.delay_ms, name="cli").start()
    print(f"port={sink.port}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    while not done.wait(1):
        pass
    count = sink.count()
    sink.stop()
    print(f"requests={count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
