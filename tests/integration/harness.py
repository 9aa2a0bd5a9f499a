"""Integration test harness: a throw-away Sluice stack per test module.

A Stack is a PostgreSQL cluster, sluice-devkafka, N
sluice-persist replicas, M sluice-notify workers (default none) and
sluice-ingest, all on free loopback ports, each logging to a file under the
stack's temporary directory. Stack(routing=...) writes DIR/routing.json and
points ingest and notify at it (SLUICE_ROUTING_FILE). It offers the
failure drills the tests need (SIGKILL a replica, stop PostgreSQL keeping its
port, kill the broker) and clients for HTTP, psql and kcat.

Waiting is always on a condition with a bound (wait_until); nothing sleeps for
a fixed time. Ports, waits, PostgreSQL and the broker come from the launcher
library shared with `make run` and `make bench` (deploy/dev/launch.py); this
module keeps the names the tests use. Only the Python standard library is used.
"""
import ctypes
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "deploy", "dev"))
import launch  # noqa: E402
from launch import Abort, wait_until  # noqa: E402,F401 - the tests import them from here

BIN = os.path.abspath(os.environ.get("SLUICE_BIN") or os.path.join(ROOT, "build"))

# Sanitizer reports in a process log fail the module (run.py scans the logs).
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                      "ERROR: ThreadSanitizer")
SAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:print_summary=1",
    "LSAN_OPTIONS": "print_suppressions=0",
}
LSAN_SUPP = os.path.join(ROOT, "tests", "tools", "lsan.supp")

STACKS = []  # every Stack created, in order: run.py scans and cleans them per module


def strings(value):
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def free_port():
    """A free loopback port, reserved for this process (launch.free_port)."""
    return launch.free_port()


def _die_with_parent():
    # Children get SIGKILL if the runner dies, so no stack outlives a crashed run.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


# ---------------------------------------------------------------- HTTP client

class Response:
    def __init__(self, status, reason, headers, body, elapsed, request):
        self.status, self.reason, self.headers = status, reason, headers
        self.body, self.elapsed, self.request = body, elapsed, request

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        body = self.body[:400].decode("utf-8", "replace")
        rid = self.header("X-Request-ID")
        return (f"<{self.request} -> {self.status} {self.reason} in {self.elapsed:.3f}s, "
                f"Content-Type={self.header('Content-Type')!r}, X-Request-ID={rid!r}, body={body!r}>")


def auth_header():
    """{"Authorization": "Bearer <the stack's admin key>"} for clients other
    than Http (http.client, raw sockets), or {} when there is no key."""
    return {"Authorization": f"Bearer {Http.default_key}"} if Http.default_key else {}


class Http:
    """A keep-alive HTTP/1.1 client over http.client. A request that fails on a
    stale connection is retried once on a new one only when `retry` (default:
    for GET) says so, so a load test never sends a write twice."""

    # The API key requests carry unless a client is made with key=None: the
    # admin key of the stack started last (Stack.start), since every test
    # module runs one stack at a time.
    default_key = None

    def __init__(self, host, port, timeout=30, key="default"):
        self.host, self.port, self.timeout = host, port, timeout
        self.key = Http.default_key if key == "default" else key
        self.conn = None

    def _auth(self, headers):
        """headers with the client's key, unless they carry credentials of
        their own (an Authorization of None sends none)."""
        headers = dict(headers or {})
        names = {k.lower(): k for k in headers}
        for name in ("authorization", "x-api-key"):
            if name in names and headers[names[name]] is None:
                del headers[names[name]]
                return headers
        if self.key and "authorization" not in names and "x-api-key" not in names:
            headers["Authorization"] = f"Bearer {self.key}"
        return headers

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, retry=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        elif isinstance(body, str):
            body = body.encode()
        retry = method == "GET" if retry is None else retry
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            start = time.monotonic()
            try:
                self.conn.request(method, path, body=body, headers=self._auth(headers))
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt == 2 or not retry:
                    raise
                continue
            if r.will_close:
                self.close()
            return Response(r.status, r.reason, r.headers, data, time.monotonic() - start,
                            f"{method} {path}")

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post_json(self, path, obj, headers=None, retry=False):
        return self.request("POST", path, obj, headers, retry=retry)

    def raw(self, head, body=b"", method="?", path="?"):
        """Sends `head` + `body` on a new connection, tolerating the server
        closing it mid-body (as it may after answering 413), then reads the
        response. For requests http.client would refuse to send."""
        if self.key and b"\r\n" in head and not re.search(rb"(?im)^(authorization|x-api-key):", head):
            line, rest = head.split(b"\r\n", 1)
            head = line + f"\r\nAuthorization: Bearer {self.key}".encode() + b"\r\n" + rest
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        start = time.monotonic()
        try:
            try:
                sock.sendall(head)
                for i in range(0, len(body), 65536):
                    sock.sendall(body[i:i + 65536])
            except (BrokenPipeError, ConnectionResetError):
                pass
            r = http.client.HTTPResponse(sock, method=method)
            r.begin()
            data = r.read()
            return Response(r.status, r.reason, r.headers, data, time.monotonic() - start,
                            f"{method} {path} (raw)")
        finally:
            sock.close()


# --------------------------------------------------------------- processes

class Proc:
    """One child process, logging stdout and stderr to `log` (appended, so a
    restarted process keeps its history)."""

    def __init__(self, name, argv, env, log):
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.popen = None
        self.exits = []  # (how it was stopped, return code)

    def start(self):
        with open(self.log, "ab") as f:
            f.write(f"==== harness: starting {' '.join(self.argv)}\n".encode())
            f.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=f, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=ROOT,
                                          preexec_fn=_die_with_parent)
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def kill(self):
        """SIGKILL, as a crash: no exit status is expected."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            launch.wait_exit(self.popen, 30, self.name, self.log)
            self.exits.append(("SIGKILL", self.popen.returncode))

    def stop(self, timeout=30):
        """SIGTERM and wait; returns a problem string when it does not exit 0."""
        if self.popen is None:
            return None
        if self.popen.poll() is not None:  # it died on its own (or was killed and noted)
            rc = self.popen.returncode
            if self.exits and self.exits[-1][0] == "SIGKILL":
                return None
            self.exits.append(("exited by itself", rc))
            return f"{self.name} (pid {self.pid}) had exited by itself with status {rc}"
        if launch.stop([self.popen], timeout, self.name, self.log):
            self.exits.append(("SIGTERM timeout", None))
            return f"{self.name} (pid {self.pid}) did not exit within {timeout}s of SIGTERM"
        rc = self.popen.returncode
        self.exits.append(("SIGTERM", rc))
        if rc != 0:
            return f"{self.name} (pid {self.pid}) exited with status {rc} after SIGTERM"
        return None


class Stack:
    """A whole Sluice system for one test module. Use start()/stop()."""

    def __init__(self, name, persist=1, ingest=True, env=None, ingest_env=None, persist_env=None,
                 notify=0, notify_env=None, routing=None):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"sluice-it-{name}-")
        os.chmod(self.dir, 0o755)  # the postgres user must reach DIR/pg when we are root
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs)
        self.pg_dir = os.path.join(self.dir, "pg")
        self.n_persist, self.want_ingest = persist, ingest
        self.extra_env, self.ingest_env, self.persist_env = env or {}, ingest_env or {}, persist_env or {}
        self.pg_url = self.pg_port = self.brokers = None
        self.devkafka = self.ingest = None
        self.persist = []
        self.persist_ports = []
        self.ingest_port = None
        self.problems = []  # bad exits found by stop()
        self.stopped = False
        self.prefix = self.extra_env.get("SLUICE_TOPIC_PREFIX", "sluice.")
        self.n_notify, self.notify_env = notify, notify_env or {}
        self.notify = []
        self.notify_ports = []
        self.routing_file = None
        if routing is not None:
            self.write_routing(routing)
            self.extra_env.setdefault("SLUICE_ROUTING_FILE", self.routing_file)
        STACKS.append(self)

    # -- environment and locations

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        for key, value in SAN_ENV.items():  # ours first, so a caller's settings win
            env[key] = value + (":" + os.environ[key] if os.environ.get(key) else "")
        if os.path.exists(LSAN_SUPP):
            env["LSAN_OPTIONS"] += f":suppressions={LSAN_SUPP}"
        env.update({"SLUICE_SCHEMA_DIR": os.path.join(ROOT, "schema"), "SLUICE_LOG_LEVEL": "info",
                    "SLUICE_TOPIC_PREFIX": self.prefix})
        if self.brokers:
            env["SLUICE_KAFKA_BROKERS"] = self.brokers
        if self.pg_url:
            env["SLUICE_PG_URL"] = self.pg_url
        env.update(self.extra_env)
        env.update(extra)
        return env

    def log(self, name):
        return os.path.join(self.logs, f"{name}.log")

    def where(self):
        notify = ", notify-N.log" if self.n_notify else ""
        routing = f", routing file {self.routing_file}" if self.routing_file else ""
        return (f"logs in {self.logs}/ (ingest.log, persist-N.log{notify}, devkafka.log){routing}, "
                f"PostgreSQL log {self.pg_dir}/server.log")

    @property
    def topic(self):
        return self.prefix + "events"

    @property
    def dlq(self):
        return self.prefix + "events.dlq"

    @property
    def assistance_topic(self):
        return self.prefix + "assistance"

    @property
    def assistance_dlq(self):
        return self.prefix + "assistance.dlq"

    # -- lifecycle

    def start(self):
        needed = ("sluice-devkafka", "sluice-ingest", "sluice-persist") + (("sluice-notify",) if self.n_notify else ())
        for b in needed:
            if not os.access(os.path.join(BIN, b), os.X_OK):
                raise RuntimeError(f"{BIN}/{b} is missing: build first (make build-san) or set SLUICE_BIN")
        self.start_pg()
        self.api_key = self.create_key("harness")
        Http.default_key = self.api_key
        self.extra_env.setdefault("SLUICE_API_KEY", self.api_key)
        self.start_devkafka()
        if self.want_ingest:
            self.start_ingest()
        for i in range(self.n_persist):
            self.persist_ports.append(free_port())
            self.persist.append(None)
            self.start_persist(i)
        for i in range(self.n_notify):
            self.notify_ports.append(free_port())
            self.notify.append(None)
            self.start_notify(i)
        return self

    def stop(self):
        """Stops everything in order (ingest, workers, broker, database);
        safe to call twice. Bad exits are collected in self.problems."""
        if self.stopped:
            return
        self.stopped = True
        for proc in [self.ingest] + self.persist + self.notify + [self.devkafka]:
            if proc is not None:
                problem = proc.stop()
                if problem:
                    self.problems.append(f"{problem}; see {proc.log}")
        self.pg_stop(quiet=True)
        launch.release_ports([p for p in [self.pg_port, self.ingest_port, *self.persist_ports, *self.notify_ports] if p])

    def sanitizer_reports(self):
        """[(log, first lines of the report)] for every sanitizer report in our logs."""
        found = []
        for path in sorted(glob.glob(os.path.join(self.logs, "*.log"))):
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines):
                if any(p in line for p in SANITIZER_PATTERNS):
                    found.append((path, "\n".join(lines[max(0, i - 2):i + 25])))
                    break
        return found

    def tail_logs(self, n=40):
        out = []
        for path in sorted(glob.glob(os.path.join(self.logs, "*.log"))) + [os.path.join(self.pg_dir, "server.log")]:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    lines = f.read().splitlines()[-n:]
                out.append(f"---- last {len(lines)} lines of {path}\n" + "\n".join(lines))
        return "\n".join(out)

    def cleanup(self):
        real = os.path.realpath(self.pg_dir)
        if real != self.pg_dir and real.startswith("/tmp/"):
            shutil.rmtree(real, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- PostgreSQL

    def start_pg(self):
        self.pg_url = launch.start_pg(self.pg_dir)
        self.pg_port = int(re.search(r":(\d+)/", self.pg_url).group(1))

    def pg_stop(self, quiet=False):
        """Fast shutdown; the cluster keeps its port for pg_start()."""
        try:
            launch.stop_pg(self.pg_dir)
        except launch.LaunchError:
            if not quiet:
                raise

    def pg_start(self):
        """Starts the cluster again on its port: running processes reconnect to the same URL."""
        launch.start_pg(self.pg_dir, port=self.pg_port)

    def sql(self, query):
        """Rows of a query as lists of strings (None for NULL)."""
        out = subprocess.run(["psql", self.pg_url, "-XqAt", "-v", "ON_ERROR_STOP=1", "-P", "null=\x01",
                              "-F", "\x1f", "-R", "\x1e", "-c", query],
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed on {query!r}: {out.stderr.strip()}")
        text = out.stdout.rstrip("\n")
        if not text:
            return []
        return [[None if v == "\x01" else v for v in row.split("\x1f")] for row in text.split("\x1e")]

    def sql_value(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None

    # -- Kafka

    def start_devkafka(self):
        boot = os.path.join(self.dir, "kafka.bootstrap")
        self.devkafka = Proc("sluice-devkafka", launch.devkafka_argv(BIN, boot, partitions=32),
                             self.env(), self.log("devkafka")).start()
        self.brokers = launch.wait_devkafka(boot, 60, self.devkafka.popen, self.devkafka.log)

    def kill_devkafka(self):
        self.devkafka.kill()

    def kcat_consume(self, topic):
        """Every message of `topic` so far, as kcat -J dicts (headers as a dict)."""
        out = subprocess.run(["kcat", "-C", "-b", self.brokers, "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"kcat -C {topic} failed: {out.stderr.strip()}")
        msgs = []
        for line in out.stdout.splitlines():
            if line.strip():
                m = json.loads(line)
                h = m.get("headers") or []
                m["headers"] = dict(zip(h[0::2], h[1::2])) if isinstance(h, list) else h
                msgs.append(m)
        return msgs

    def messages_of(self, topic, record_id):
        """The messages of `topic` whose envelope names record_id: by the
        payload's id, as a fresh event's message has no key."""
        def names(m):
            try:
                return json.loads(m.get("payload") or "").get("id") == record_id
            except (ValueError, AttributeError):
                return False
        return [m for m in self.kcat_consume(topic) if names(m)]

    def end_offsets(self, topic):
        """{partition: end offset} of `topic`."""
        meta = subprocess.run(["kcat", "-L", "-J", "-b", self.brokers, "-t", topic],
                              capture_output=True, text=True, timeout=60)
        parts = [p["partition"] for t in json.loads(meta.stdout)["topics"] for p in t["partitions"]]
        cmd = ["kcat", "-Q", "-b", self.brokers] + sum((["-t", f"{topic}:{p}:-1"] for p in parts), [])
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"kcat -Q {topic} failed: {out.stderr.strip()}")
        return {int(m[0]): int(m[1]) for m in re.findall(r"\[(\d+)\] offset (-?\d+)", out.stdout)}

    def applied_offsets(self, group="sluice-persist", topic=None):
        rows = self.sql(f"SELECT partition, next_offset FROM kafka_offsets "
                        f"WHERE consumer_group = '{group}' AND topic = '{topic or self.topic}'")
        return {int(p): int(o) for p, o in rows}

    def wait_drained(self, timeout=60, topic=None):
        """Waits until persist has applied everything on `topic` (the events
        topic by default) so far (kafka_offsets in PostgreSQL reach the end of
        every partition): a barrier after which no more rows can arrive from
        earlier writes."""
        topic = topic or self.topic
        ends = self.end_offsets(topic)
        state = {}

        def drained():
            state["applied"] = self.applied_offsets(topic=topic)
            return all(state["applied"].get(p, 0) >= end for p, end in ends.items())

        wait_until(drained, timeout, lambda: f"persist to apply {topic} up to {ends} "
                                             f"(kafka_offsets: {state.get('applied')}); {self.where()}")

    def kcat_produce(self, topic, messages, partition=None, headers=None):
        """Produces [(key, value)] in order (values must not contain newlines
        or tabs), each with the headers {name: value} when given."""
        cmd = ["kcat", "-P", "-b", self.brokers, "-t", topic, "-K", "\t", "-X", "acks=all"]
        if partition is not None:
            cmd += ["-p", str(partition)]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}={value}"]
        data = "".join(f"{k}\t{v}\n" for k, v in messages)
        out = subprocess.run(cmd, input=data, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"kcat -P {topic} failed: {out.stderr.strip()}")

    # -- ingest and persist

    def create_key(self, name, scopes="*", tenant="default"):
        """A new API key made straight in the database (sluice-ingest create-key)."""
        out = subprocess.run([os.path.join(BIN, "sluice-ingest"), "create-key", "--name", name, "--scopes", scopes,
                              "--tenant", tenant], env=self.env(), capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"sluice-ingest create-key failed ({out.returncode}): {out.stderr.strip()}")
        key = out.stdout.strip()
        if self.ingest is not None and self.ingest.alive():
            # Made behind ingest's back: it holds once the NOTIFY reached
            # ingest's key store (moments; anything but 401 says it did).
            client = Http("127.0.0.1", self.ingest_port, key=key)
            try:
                wait_until(lambda: client.get("/v1/keys").status != 401, 5,
                           f"ingest to accept the key {name} made by create-key")
            finally:
                client.close()
        return key

    def start_ingest(self):
        if self.ingest_port is None:
            self.ingest_port = free_port()
        env = self.env(SLUICE_LISTEN=f"127.0.0.1:{self.ingest_port}", **self.ingest_env)
        self.ingest = Proc("sluice-ingest", [os.path.join(BIN, "sluice-ingest")], env, self.log("ingest")).start()
        launch.wait_http(f"http://127.0.0.1:{self.ingest_port}/readyz", 90, "sluice-ingest", self.ingest.log,
                         self.ingest.popen)

    def start_persist(self, i):
        env = self.env(SLUICE_ADMIN_LISTEN=f"127.0.0.1:{self.persist_ports[i]}", **self.persist_env)
        proc = Proc(f"sluice-persist-{i}", [os.path.join(BIN, "sluice-persist")], env, self.log(f"persist-{i}"))
        self.persist[i] = proc.start()
        launch.wait_http(f"http://127.0.0.1:{self.persist_ports[i]}/healthz", 90, proc.name, proc.log, proc.popen)

    def kill_persist(self, i):
        self.persist[i].kill()

    def add_persist(self):
        """Starts one more sluice-persist replica (its own admin port) and
        returns its index."""
        self.persist_ports.append(free_port())
        self.persist.append(None)
        self.start_persist(len(self.persist) - 1)
        return len(self.persist) - 1

    def freeze_devkafka(self):
        """SIGSTOP the broker: connections stay open, nothing answers."""
        self.devkafka.popen.send_signal(signal.SIGSTOP)

    def thaw_devkafka(self):
        self.devkafka.popen.send_signal(signal.SIGCONT)

    def persist_metrics(self, i):
        """{name: value} of replica i's unlabelled samples."""
        client = self.admin(i)
        try:
            text = client.get("/metrics").body.decode()
        finally:
            client.close()
        return {name: v for name, labels, v in parse_metrics(text) if not labels}

    def http(self, timeout=30):
        return Http("127.0.0.1", self.ingest_port, timeout)

    def admin(self, i):
        return Http("127.0.0.1", self.persist_ports[i])

    # -- notify

    def start_notify(self, i):
        """Starts sluice-notify-i (admin port kept across restarts) and waits
        for GET /readyz 200."""
        env = self.env(SLUICE_ADMIN_LISTEN=f"127.0.0.1:{self.notify_ports[i]}", **self.notify_env)
        proc = Proc(f"sluice-notify-{i}", [os.path.join(BIN, "sluice-notify")], env, self.log(f"notify-{i}"))
        self.notify[i] = proc.start()
        launch.wait_http(f"http://127.0.0.1:{self.notify_ports[i]}/readyz", 90, proc.name, proc.log, proc.popen)

    def kill_notify(self, i):
        self.notify[i].kill()

    def stop_notify(self, i):
        """SIGTERM; a bad exit is kept in self.problems."""
        problem = self.notify[i].stop()
        if problem:
            self.problems.append(f"{problem}; see {self.notify[i].log}")

    def restart_notify(self, i):
        if self.notify[i] is not None and self.notify[i].alive():
            self.stop_notify(i)
        self.start_notify(i)

    def notify_admin(self, i=0):
        return Http("127.0.0.1", self.notify_ports[i])

    def notify_metrics(self, i=0):
        """The text of notify-i's GET /metrics."""
        admin = self.notify_admin(i)
        try:
            r = admin.get("/metrics")
        finally:
            admin.close()
        if r.status != 200:
            raise RuntimeError(f"GET /metrics of sluice-notify-{i} answered {r}")
        return r.body.decode()

    def metric(self, name, i=0, **labels):
        """The sum of notify-i's samples called `name` whose labels include
        `labels`, or None when there is no such sample."""
        found = None
        for sname, slabels, value in parse_metrics(self.notify_metrics(i)):
            if sname == name and all(slabels.get(k) == v for k, v in labels.items()):
                found = (found or 0.0) + value
        return found

    # -- routing file, signals and logs

    def write_routing(self, routing):
        """Writes the routing file DIR/routing.json at once (rename), so a
        process reloading it never reads half a file. routing: a dict, a
        callable(stack) giving one, or str/bytes written as they are."""
        if callable(routing):
            routing = routing(self)
        if isinstance(routing, (dict, list)):
            routing = json.dumps(routing, indent=2)
        if isinstance(routing, str):
            routing = routing.encode()
        self.routing_file = os.path.join(self.dir, "routing.json")
        tmp = self.routing_file + ".tmp"
        with open(tmp, "wb") as f:
            f.write(routing)
        os.replace(tmp, self.routing_file)
        return self.routing_file

    def proc(self, which):
        """A Proc from a Proc or a name: "ingest", "notify-0", "persist-1"."""
        if isinstance(which, Proc):
            return which
        if which == "ingest":
            return self.ingest
        kind, _, i = which.rpartition("-")
        return {"notify": self.notify, "persist": self.persist}[kind][int(i)]

    def log_offset(self, which):
        """The size of a process's log now: pass it as since= to wait_log."""
        path = self.proc(which).log
        return os.path.getsize(path) if os.path.exists(path) else 0

    def sighup(self, which):
        """Sends SIGHUP; returns the log offset from before it (for wait_log)."""
        proc = self.proc(which)
        offset = self.log_offset(proc)
        if not proc.alive():
            raise AssertionError(f"{proc.name} is not running; cannot send SIGHUP; see {proc.log}")
        proc.popen.send_signal(signal.SIGHUP)
        return offset

    def log_lines(self, which, since=0):
        with open(self.proc(which).log, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace").splitlines()

    def wait_log(self, which, substring, timeout, since=0, level=None):
        """Waits for a line of the process's log, after byte offset `since`,
        that contains `substring` (and, when it is a JSON log line and level
        is given, has that "level"); returns the line (parsed when JSON)."""
        proc = self.proc(which)

        def found():
            for line in self.log_lines(proc, since):
                if substring not in line:
                    continue
                try:
                    parsed = json.loads(line)
                except ValueError:
                    parsed = None
                if level is not None and (not isinstance(parsed, dict) or parsed.get("level") != level):
                    continue
                return parsed if isinstance(parsed, dict) else line
            if not proc.alive():
                raise Abort(f"{proc.name} exited with {proc.popen.returncode}")
            return None

        lvl = f" with level {level!r}" if level else ""
        return wait_until(found, timeout, f"a line containing {substring!r}{lvl} in {proc.log} after byte {since}")

    def dlq_barrier(self, topic, partition, dlq, timeout=60):
        """Produces a poison message to topic[partition] and waits until the
        worker has put it on `dlq`: after it, every earlier message of that
        partition has been consumed."""
        key = f"barrier-{uuid.uuid4().hex}"
        self.kcat_produce(topic, [(key, f"not an envelope: {key}")], partition=partition)
        wait_until(lambda: any(m.get("key") == key for m in self.kcat_consume(dlq)), timeout,
                   f"the barrier message {key} of {topic}[{partition}] on {dlq}; {self.where()}")

    # -- event helpers

    def wait_persisted(self, ids, timeout=60):
        """Waits until every id in `ids` is a row of events."""
        ids = list(ids)
        quoted = ",".join(f"'{i}'" for i in ids)
        wait_until(lambda: int(self.sql_value(f"SELECT count(*) FROM events WHERE id IN ({quoted})")) == len(ids),
                   timeout, lambda: f"{len(ids)} event(s) in PostgreSQL (ids {ids[:3]}...); {self.where()}")


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m:
            continue
        labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        try:
            samples.append((m.group(1), labels, float(m.group(3))))
        except ValueError:
            continue
    return samples


# ------------------------------------------------------------------ load

class Load:
    """Posts `total` events from `threads` client threads, one attempt each.
    body(seq) makes the event; acked maps seq -> id for every 2xx."""

    def __init__(self, stack, total, threads, body, headers=None):
        self.stack, self.total, self.body, self.headers = stack, total, body, headers
        self.lock = threading.Lock()
        self.next_seq = 0
        self.acked = {}
        self.statuses = Counter()
        self.errors = []
        self.bad = []  # non-2xx responses (first few)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def done(self):
        with self.lock:
            return sum(self.statuses.values()) + len(self.errors)

    def _run(self):
        client = self.stack.http()
        try:
            while True:
                with self.lock:
                    seq = self.next_seq
                    if seq >= self.total:
                        return
                    self.next_seq += 1
                try:
                    r = client.post_json("/v1/events", self.body(seq), self.headers)
                except (http.client.HTTPException, OSError) as exc:
                    with self.lock:
                        self.errors.append((seq, repr(exc)))
                    continue
                with self.lock:
                    self.statuses[r.status] += 1
                    if 200 <= r.status < 300:
                        self.acked[seq] = r.json()["id"]
                    elif len(self.bad) < 5:
                        self.bad.append(r)
        finally:
            client.close()

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self.threads):
            raise AssertionError(f"load did not finish within {timeout}s ({self.done()}/{self.total} sent)")

    def summary(self):
        return (f"{self.total} writes: statuses {dict(self.statuses)}, {len(self.errors)} transport errors "
                f"{self.errors[:3]}, first non-2xx: {self.bad[:2]}")


def check_exactly_once(stack, load, run_tag, timeout=120):
    """Every acknowledged write of `load` (bodies tagged run=run_tag, seq=N) is
    one row with the acknowledged id. Returns a problem description or None."""

    def rows():
        got = {}
        for rid, seq in stack.sql(f"SELECT id, body->>'seq' FROM events WHERE body->>'run' = '{run_tag}'"):
            got.setdefault(int(seq), []).append(rid)
        return got

    state = {}

    def all_there():
        state["rows"] = rows()
        state["missing"] = [s for s in load.acked if s not in state["rows"]]
        return not state["missing"]

    try:
        wait_until(all_there, timeout, lambda: f"all {len(load.acked)} acknowledged writes in PostgreSQL "
                                               f"({len(state.get('missing', []))} missing, e.g. seqs "
                                               f"{state.get('missing', [])[:5]})")
    except AssertionError as exc:
        return str(exc)
    got = state["rows"]
    doubled = {s: ids for s, ids in got.items() if len(ids) > 1}
    wrong = {s: (load.acked[s], got[s]) for s in load.acked if got[s] != [load.acked[s]]}
    if doubled or wrong:
        return (f"rows doubled for {len(doubled)} seqs (e.g. {list(doubled.items())[:3]}); "
                f"id differs from the acknowledged one for {len(wrong)} seqs (e.g. {list(wrong.items())[:3]})")
    return None


# ------------------------------------------------------------ test base

class StackCase(unittest.TestCase):
    """One Stack for all tests of the class; options in `stack_options`."""
    stack_options = {}
    maxDiff = 4000

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(cls.__module__.replace("test_", ""), **cls.stack_options)
        try:
            cls.stack.start()
        except BaseException:
            cls.stack.stop()
            raise
        cls.http = cls.stack.http() if cls.stack.want_ingest else None

    def setUp(self):
        self.token = uuid.uuid4().hex[:10]  # per test: tests share the stack's tables

    @classmethod
    def tearDownClass(cls):
        if cls.http:
            cls.http.close()
        cls.stack.stop()

    def wait(self, predicate, timeout, message):
        """wait_until, with where to look added to the failure."""
        where = self.stack.where()
        return wait_until(predicate, timeout, lambda: f"{message() if callable(message) else message}; {where}")

    # Assertions that say what was expected, what came, and where to look.
    def expect(self, cond, what, expected, got):
        if not cond:
            self.fail(f"{what}\n  expected: {expected}\n  got:      {got}\n  look at:  {self.stack.where()}")

    def expect_eq(self, got, expected, what):
        self.expect(got == expected, what, repr(expected), repr(got))

    def expect_status(self, r, status, what):
        self.expect(r.status == status, what, f"HTTP {status}", r)
        self.expect(bool(r.header("X-Request-ID")), f"{what}: X-Request-ID header", "present", r)

    def expect_problem(self, r, status, what, pointer=None):
        """An RFC 9457 problem with `status`, and an errors entry for `pointer`."""
        self.expect_status(r, status, what)
        ctype = r.header("Content-Type") or ""
        self.expect(ctype.startswith("application/problem+json"), f"{what}: Content-Type",
                    "application/problem+json", r)
        try:
            p = r.json()
        except ValueError:
            p = None
        self.expect(isinstance(p, dict), f"{what}: body is a JSON object", "a problem object", r)
        missing = [k for k in ("type", "title", "status", "detail") if k not in p]
        self.expect(not missing, f"{what}: problem members", "type, title, status, detail", f"missing {missing}: {r}")
        self.expect_eq(p["status"], status, f"{what}: problem status member")
        if pointer is not None:
            errs = p.get("errors") or []
            ok = isinstance(errs, list) and all(isinstance(e, dict) and "pointer" in e and "message" in e for e in errs)
            self.expect(ok, f"{what}: errors entries", "[{pointer, message}]", r)
            self.expect(any(e["pointer"] == pointer for e in errs), f"{what}: errors pointer",
                        f"an entry with pointer {pointer!r}", r)
        return p

    def post_event(self, body, headers=None, http=None):
        """POST /v1/events expecting 202 {id, status: accepted} and Location; returns the id."""
        r = (http or self.http).post_json("/v1/events", body, headers, retry=True)
        self.expect_status(r, 202, f"POST /v1/events {json.dumps(body)[:80]}")
        j = r.json()
        self.expect(set(j) >= {"id", "status"} and j["status"] == "accepted", "202 body",
                    '{"id": ..., "status": "accepted"}', r)
        uuid.UUID(j["id"])
        self.expect_eq(r.header("Location"), f"/v1/events/{j['id']}", "Location header of 202")
        return j["id"]

    def get_event(self, ref, timeout=60):
        """GET /v1/events/{ref} once it answers 200 (the worker may lag)."""
        state = {}

        def found():
            state["r"] = self.http.get(f"/v1/events/{ref}")
            if state["r"].status >= 500:  # not "not yet": fail now
                raise Abort(f"GET /v1/events/{ref} answered {state['r']}; {self.stack.where()}")
            return state["r"].status == 200

        wait_until(found, timeout, lambda: f"GET /v1/events/{ref} to answer 200 (last: {state.get('r')}); "
                                           f"{self.stack.where()}")
        return state["r"].json()

    def query(self, path):
        r = self.http.get(path)
        self.expect_status(r, 200, f"GET {path}")
        return r.json()

    # -- assistance requests

    def post_assistance(self, topic, description, headers=None, http=None):
        """POST /v1/assistance expecting 202 {id, status: accepted} and
        Location; returns the id."""
        body = {"topic": topic, "description": description}
        r = (http or self.http).post_json("/v1/assistance", body, headers, retry=True)
        self.expect_status(r, 202, f"POST /v1/assistance {json.dumps(body)[:100]}")
        j = r.json()
        self.expect(isinstance(j, dict) and set(j) >= {"id", "status"} and j["status"] == "accepted", "202 body",
                    '{"id": ..., "status": "accepted"}', r)
        uuid.UUID(j["id"])
        self.expect_eq(r.header("Location"), f"/v1/assistance/{j['id']}", "Location header of the 202")
        return j["id"]

    def get_assistance(self, rid, timeout=30):
        """GET /v1/assistance/{rid} once it answers 200 (notify records the
        request after ingest accepted it); returns the document."""
        state = {}

        def found():
            state["r"] = self.http.get(f"/v1/assistance/{rid}")
            if state["r"].status not in (200, 404):
                raise Abort(f"GET /v1/assistance/{rid} answered {state['r']}")
            return state["r"].status == 200

        self.wait(found, timeout, lambda: f"GET /v1/assistance/{rid} to answer 200 (last: {state.get('r')})")
        return state["r"].json()

    def wait_delivery(self, rid, channel, status, timeout=30, fallback=None):
        """Waits until GET /v1/assistance/{rid} shows the delivery to
        `channel` (with that fallback flag, when given) in `status`; returns
        (delivery, document). A delivery that reached the other final status
        stops the wait at once."""
        final = {"delivered", "failed"}
        state = {}

        def reached():
            r = self.http.get(f"/v1/assistance/{rid}")
            state["r"] = r
            if r.status == 404:
                return None
            if r.status != 200:
                raise Abort(f"GET /v1/assistance/{rid} answered {r}")
            doc = r.json()
            for d in doc.get("deliveries") or []:
                if d.get("channel") != channel or (fallback is not None and d.get("fallback") != fallback):
                    continue
                if d.get("status") == status:
                    return d, doc
                if d.get("status") in final and status in final:
                    raise Abort(f"the delivery to {channel} of {rid} ended {d.get('status')!r}, "
                                f"not {status!r}: {d}; {self.stack.where()}")
            return None

        return self.wait(reached, timeout,
                         lambda: f"delivery of {rid} to channel {channel!r} in status {status!r}"
                                 f"{'' if fallback is None else f' (fallback {fallback})'} (last: {state.get('r')})")
