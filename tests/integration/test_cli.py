"""sluicectl used as a person and a script would use it, against a real stack
(docs/cli.md): an import of 10,000 records to done and again as no-ops, gzip
and stdin, broken records listed by index (exit 0; 3 with --strict), the
progress bar on a terminal and plain lines elsewhere, NO_COLOR; events
sent, read and listed with --json parsed; assistance requests and their
deliveries; `status` on ingest, on a worker's admin port and on nothing;
the exit codes (2 usage, 1 an HTTP error or no answer, 4 a refused key)
with the message each prints; the API key sent as a bearer token; the
settings taken from .run/env when the environment has none.

The binary is $SLUICE_BIN/sluicectl (the sanitizer build under `make
test`): every run's stderr is checked for sanitizer reports, so the error
paths the tests take are leak-checked too."""
import fcntl
import gzip
import http.server
import json
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import tempfile
import termios
import threading
import time
import uuid

from harness import BIN, SANITIZER_PATTERNS, StackCase, free_port
import launch  # noqa: E402 - deploy/dev is on the path once harness is imported

CLI = os.path.join(BIN, "sluicectl")
COLOR = re.compile(rb"\x1b\[[0-9;]*m")


def routing(stack):
    return {"channels": {"ops-log": {"type": "log", "path": os.path.join(stack.dir, "ops-log.jsonl")}},
            "topics": {"sales": {"channels": ["ops-log"]}}}


def ndjson(tag, n):
    return "".join(json.dumps({"id": f"{tag}-{i}", "type": "cli.bulk", "tag": tag, "n": i,
                               "occurred_at": "2015-06-01T00:00:00Z"}) + "\n" for i in range(n))


def counts(text):
    """{name: value} of the `name  value` lines sluicectl prints for a record
    (the first of a name: what follows the record may look alike)."""
    found = {}
    for m in re.finditer(r"^(\w+) +(\S.*)$", text, re.M):
        found.setdefault(*m.groups())
    return found


class FakeApi:
    """An HTTP server standing in for the API: answers every request with a
    fixed status, content type and body, and keeps the requests' headers."""

    def __init__(self, status, ctype, body):
        self.requests = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(dict(self.headers))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Cli(StackCase):
    stack_options = {"persist": 1, "notify": 1, "routing": routing}

    @classmethod
    def setUpClass(cls):
        if not os.access(CLI, os.X_OK):
            raise RuntimeError(f"{CLI} is missing: build first (make build-san) or set SLUICE_BIN")
        super().setUpClass()
        cls.url = f"http://127.0.0.1:{cls.stack.ingest_port}"

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="sluice-it-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    # -- running sluicectl

    def cli_env(self, env):
        e = self.stack.env()  # the sanitizer settings; no SLUICE_* of the caller's
        e.pop("NO_COLOR", None)
        e["SLUICE_API_URL"] = self.url
        for name, value in (env or {}).items():
            if value is None:
                e.pop(name, None)
            else:
                e[name] = value
        return e

    def check_sanitizers(self, args, stderr):
        text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
        for pattern in SANITIZER_PATTERNS:
            if pattern in text:
                self.fail(f"sanitizer report from sluicectl {' '.join(args)}:\n{text[-6000:]}")

    def run_cli(self, *args, env=None, stdin=None, cwd=None, timeout=300):
        """Runs sluicectl (SLUICE_API_URL the stack's unless env says
        otherwise; a value None unsets); returns (rc, stdout, stderr) as text."""
        p = subprocess.run([CLI, *args], env=self.cli_env(env), input=stdin, capture_output=True,
                           timeout=timeout, cwd=cwd or self.tmp)
        self.check_sanitizers(args, p.stderr)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def run_tty(self, *args, env=None, timeout=300):
        """Runs sluicectl with stdout and stderr on a terminal (a pty of 100
        columns); returns (rc, everything it wrote, as bytes)."""
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        e = self.cli_env({"TERM": "xterm", **(env or {})})
        proc = subprocess.Popen([CLI, *args], env=e, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                cwd=self.tmp)
        os.close(slave)
        out = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:  # EIO: the last writer closed the terminal
                        break
                    if not chunk:
                        break
                    out += chunk
                elif proc.poll() is not None:
                    break
            else:
                proc.kill()
                self.fail(f"sluicectl {' '.join(args)} on a terminal did not end within {timeout}s; "
                          f"it wrote {out[-2000:]!r}")
        finally:
            os.close(master)
        rc = proc.wait(timeout=30)
        self.check_sanitizers(args, out)
        return rc, out

    def expect_rc(self, got, want, args, out, err):
        self.expect(got == want, f"exit status of sluicectl {' '.join(args)}", want,
                    f"{got}\n  stdout: {out[-3000:]}\n  stderr: {err[-3000:]}")

    def ok(self, *args, **kw):
        rc, out, err = self.run_cli(*args, **kw)
        self.expect_rc(rc, 0, args, out, err)
        return out, err

    def json_lines(self, text, what):
        try:
            return [json.loads(line) for line in text.splitlines()]
        except ValueError:
            self.fail(f"{what}: expected one JSON object per line, got {text[:2000]!r}")

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return path

    def rows_of_tag(self, tag):
        return int(self.stack.sql_value(f"SELECT count(*) FROM events WHERE body->>'tag' = '{tag}'"))

    # -- import

    def test_import_10000_then_again_unchanged(self):
        tag = f"cli{self.token}"
        path = self.write("records.ndjson", ndjson(tag, 10_000))
        out, err = self.ok("import", path)
        got = counts(out)
        self.expect_eq({k: got.get(k) for k in ("status", "received", "accepted", "rejected", "persisted", "created")},
                       {"status": "done", "received": "10000", "accepted": "10000", "rejected": "0",
                        "persisted": "10000", "created": "10000"}, "the counts the first import prints")
        self.expect("\r" not in err and not COLOR.search(err.encode()), "stderr when it is not a terminal",
                    "plain lines", repr(err))
        self.expect(re.search(r"^importing .*records\.ndjson \(\S+ [KM]iB, NDJSON\)", err, re.M), "the first line",
                    "importing FILE (size, NDJSON)", err)
        self.expect_eq(self.rows_of_tag(tag), 10_000, "rows of the import")

        # The same records again, gzip (sent compressed as it is), then from stdin: nothing changes.
        gz = self.write("records.ndjson.gz", gzip.compress(open(path, "rb").read()))
        out, err = self.ok("import", gz, "--json")
        (imp,) = self.json_lines(out, "import --json")
        self.expect_eq({k: imp[k] for k in ("status", "accepted", "persisted", "created", "unchanged", "rejected")},
                       {"status": "done", "accepted": 10_000, "persisted": 10_000, "created": 0,
                        "unchanged": 10_000, "rejected": 0}, "the second import (gzip), as --json gives it")
        self.expect("gzip" in err, "the gzip file is said to be gzip", "gzip", err)
        out, _ = self.ok("import", "-", "--json", stdin=open(path, "rb").read())
        self.expect_eq(self.json_lines(out, "import - --json")[0]["unchanged"], 10_000, "stdin import: unchanged")
        self.expect_eq(self.rows_of_tag(tag), 10_000, "rows after importing the same file three times")

    def test_import_broken_records_listed_by_index(self):
        tag = f"bad{self.token}"
        records = [{"id": f"{tag}-{i}", "tag": tag, "type": "cli.bulk"} for i in range(12)]
        records[2] = {"id": f"{tag}-2", "tag": tag, "occurred_at": "not a date"}
        records[5] = 42
        records[9] = {"id": f"{tag}-9", "tag": tag, "type": ""}
        path = self.write("broken.json", json.dumps(records, indent=1))
        out, err = self.ok("import", path)
        self.expect_eq((counts(out).get("accepted"), counts(out).get("rejected")), ("9", "3"), "counts")
        self.expect("rejected records (3):" in out, "the rejected records' heading", "rejected records (3):", out)
        listed = re.findall(r"^  (\d+) +(\S.*)$", out, re.M)
        self.expect_eq([int(i) for i, _ in listed], [2, 5, 9], "the rejected records, by index")
        self.expect("/occurred_at" in listed[0][1] and "/type" in listed[2][1], "each index with its reason",
                    "/occurred_at..., /type...", listed)
        self.expect("JSON array" in err, "the format told", "JSON array", err)

        args = ("import", path, "--strict", "--json")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 3, args, out, err)
        (imp,) = self.json_lines(out, "import --strict --json")
        self.expect_eq(sorted(e["index"] for e in imp["errors"]), [2, 5, 9], "--json errors")
        self.expect_eq((imp["rejected"], imp["unchanged"]), (3, 9), "the second import: 3 rejected, 9 unchanged")

    def test_import_refused_and_missing_file(self):
        args = ("import", self.write("notjson.txt", "id,name\n1,ann\n"))
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("error: Import refused (400 malformed-body)" in err, "what ingest said", "Import refused", err)
        args = ("import", self.write("x.ndjson", "{}\n"), "--collection", "planets")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("unknown-collection" in err and "events or recipes" in err, "an unknown collection",
                    "400 unknown-collection naming the collections", err)
        args = ("import", os.path.join(self.tmp, "nowhere.json"))
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("nowhere.json: No such file or directory" in err, "a missing file", "No such file", err)
        rc, out, err = self.run_cli("import", self.tmp)
        self.expect_rc(rc, 1, ("import", self.tmp), out, err)
        self.expect("is a directory" in err, "a directory", "is a directory", err)

    def test_import_timeout_while_the_workers_are_down(self):
        tag = f"to{self.token}"
        path = self.write("timeout.ndjson", ndjson(tag, 50))
        self.stack.kill_persist(0)
        restarted = []

        def restart():
            if not restarted:
                restarted.append(True)
                self.stack.start_persist(0)

        self.addCleanup(restart)  # the other tests need their worker, even if this one fails
        args = ("import", path, "--timeout", "2")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        m = re.search(r"the import is not done after 2 s; it goes on: 'sluicectl imports get (\S+)'", err)
        self.expect(m, "the message when --timeout runs out", "not done after 2 s ... imports get ID", err)
        out, _ = self.ok("imports", "get", m.group(1))
        self.expect_eq((counts(out).get("status"), counts(out).get("accepted"), counts(out).get("persisted")),
                       ("persisting", "50", "0"), "imports get while no worker runs")
        restart()
        state = {}

        def done():
            out, _ = self.ok("imports", "get", m.group(1), "--json")
            state["imp"] = self.json_lines(out, "imports get --json")[0]
            return state["imp"]["status"] == "done"

        self.wait(done, 120, lambda: f"the import done once the worker is back (last: {state.get('imp')})")
        self.expect_eq(state["imp"]["persisted"], 50, "persisted once the worker is back")

    def test_import_progress_on_a_terminal_and_no_color(self):
        tag = f"tty{self.token}"
        path = self.write("tty.ndjson", ndjson(tag, 2000))
        rc, out = self.run_tty("import", path)
        self.expect_eq(rc, 0, f"exit status on a terminal; it wrote {out[-3000:]!r}")
        self.expect(re.search(rb"\r(uploading|uploaded|persisting) ", out) and b"\x1b[K" in out,
                    "the progress line, redrawn in place", "\\r<phase> ... \\x1b[K", repr(out[:1500]))
        self.expect(re.search(rb"\x1b\[32mdone\x1b\[0m", out), "status done in green on a terminal",
                    "\\x1b[32mdone", repr(out[-1500:]))
        rc, out = self.run_tty("import", path, env={"NO_COLOR": "1"})
        self.expect_eq(rc, 0, f"exit status with NO_COLOR; it wrote {out[-3000:]!r}")
        self.expect(not COLOR.search(out), "no color with NO_COLOR", "no SGR sequences", repr(out[-1500:]))
        self.expect(b"\rpersisting " in out or b"\ruploading " in out, "the bar still redraws with NO_COLOR",
                    "\\r<phase>", repr(out[:1500]))
        self.expect(re.search(rb"status +done", out), "the result", "status done", repr(out[-1500:]))

    # -- events

    def test_events_send_get_list_round_trip(self):
        tag = f"ev{self.token}"
        etype = f"cli.{self.token}"
        body = {"id": f"{tag}-1", "type": etype, "tag": tag, "amount": "42.50", "occurred_at": "2024-05-01T12:00:00Z"}
        out, _ = self.ok("events", "send", json.dumps(body), "--wait", "10", "--idempotency-key", f"k-{tag}")
        eid = out.strip()
        uuid.UUID(eid)
        out, _ = self.ok("events", "get", eid, "--json")
        (event,) = self.json_lines(out, "events get --json")
        self.expect_eq((event["id"], event["external_id"], event["type"], event["body"]),
                       (eid, f"{tag}-1", etype, body), "the event read back")
        out, _ = self.ok("events", "get", f"{tag}-1")  # by external id, for people
        self.expect_eq((counts(out).get("id"), counts(out).get("type")), (eid, etype), "events get, as text")
        self.expect('"amount": "42.50"' in out, "the body, indented", '"amount": "42.50"', out)

        # Two more: from stdin, and sent with --json; one a day later.
        later = dict(body, id=f"{tag}-2", occurred_at="2024-05-02T12:00:00Z")
        out, _ = self.ok("events", "send", "--wait", "10", stdin=json.dumps(later).encode())
        id2 = out.strip()
        out, _ = self.ok("events", "send", "--json", "--wait", "10",
                         json.dumps(dict(body, id=f"{tag}-3", occurred_at="2024-05-03T12:00:00Z")))
        (sent,) = self.json_lines(out, "events send --json")
        self.expect_eq(sent.get("outcome"), "created", "the waited answer of events send --json")
        id3 = sent["id"]

        out, _ = self.ok("events", "list", "--type", etype, "--json")
        listed = self.json_lines(out, "events list --json")
        self.expect_eq([e["id"] for e in listed], [eid, id2, id3], "events list --type, oldest first")
        out, _ = self.ok("events", "list", "--type", etype, "--since", "2024-05-02", "--until", "2024-05-03", "--json")
        self.expect_eq([e["id"] for e in self.json_lines(out, "list --since --until")], [id2],
                       "--since inclusive, --until exclusive")
        out, _ = self.ok("events", "list", "--contains", tag, "--since", "5000w", "--json")
        self.expect_eq(len(self.json_lines(out, "list --contains")), 3, "--contains and a duration for --since")

        # Pages: --limit 2 prints two and names the cursor; --cursor goes on; --all has them all.
        out, err = self.ok("events", "list", "--type", etype, "--limit", "2")
        lines = out.splitlines()
        self.expect(lines[0].split() == ["ID", "TYPE", "OCCURRED", "AT", "EXTERNAL", "ID"] and len(lines) == 3,
                    "the table: a header and two rows", "ID TYPE OCCURRED AT EXTERNAL ID + 2 rows", out)
        self.expect(lines[1].startswith(eid + "  ") and lines[2].startswith(id2 + "  "), "rows in order",
                    f"{eid}, {id2}", out)
        m = re.search(r"--cursor (\S+)", err)
        self.expect(m, "the cursor to go on from, on stderr", "--cursor X", err)
        out, _ = self.ok("events", "list", "--type", etype, "--cursor", m.group(1), "--json")
        self.expect_eq([e["id"] for e in self.json_lines(out, "list --cursor")], [id3], "the rest, from the cursor")
        out, err = self.ok("events", "list", "--type", etype, "--all", "--json")
        self.expect_eq(len(self.json_lines(out, "list --all")), 3, "--all")
        self.expect("--cursor" not in err, "no cursor after --all", "nothing more", err)
        out, err = self.ok("events", "list", "--type", f"none{self.token}")
        self.expect_eq((out, err.strip()), ("", "no events match"), "an empty listing")

    def test_404_and_validation_exit_1(self):
        args = ("events", "get", f"nothing-{self.token}")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect(err.startswith("error: Event not found (404 not-found)\n") and "X-Request-ID" in err,
                    "the problem's title, status and slug, and the request id", "Event not found (404 ...)", err)
        self.expect_eq(out, "", "nothing on stdout")
        args = ("events", "send", '{"type":"x","date":"tomorrow"}')
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("(422 validation)" in err and "/date: must be" in err, "a 422 with its field errors",
                    "/date: must be ...", err)
        args = ("imports", "get", str(uuid.uuid4()))
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("Import not found (404 not-found)" in err, "imports get of an unknown id", "404", err)
        args = ("events", "send", "{not json")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("malformed-body" in err, "a body that is not JSON: the server's 400", "malformed-body", err)

    # -- assistance

    def test_assistance_send_and_status(self):
        desc = f"A quote for 40 seats, please ({self.token})"
        out, _ = self.ok("assistance", "send", "--topic", "sales", "--description", desc, "--wait", "10")
        rid = out.strip()
        uuid.UUID(rid)
        state = {}

        def delivered():
            out, _ = self.ok("assistance", "status", rid, "--json")
            state["doc"] = self.json_lines(out, "assistance status --json")[0]
            return any(d["status"] == "delivered" for d in state["doc"]["deliveries"])

        self.wait(delivered, 60, lambda: f"the delivery to ops-log delivered (last: {state.get('doc')})")
        self.expect_eq((state["doc"]["topic"], state["doc"]["description"]), ("sales", desc), "the request")
        out, _ = self.ok("assistance", "status", rid)
        self.expect(re.search(r"^  CHANNEL +TYPE +STATUS", out, re.M) and re.search(r"^  ops-log +log +delivered +1 ",
                                                                                     out, re.M),
                    "the deliveries table", "ops-log log delivered 1", out)
        out, _ = self.ok("assistance", "send", "--topic", "sales", "--description", "-", "--json",
                         stdin=b"from stdin\n")
        self.expect_eq(self.json_lines(out, "assistance send --json")[0]["status"], "accepted", "assistance send --json")
        args = ("assistance", "send", "--topic", "nope", "--description", "x")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("known topics: sales" in err, "an unknown topic: the server's message", "known topics", err)

    # -- status, settings, exit codes

    def test_status(self):
        out, _ = self.ok("status")
        self.expect(out.startswith(f"sluice-ingest answered at {self.url} (from the environment)")
                    and re.search(r"^  /readyz +ready +kafka ok, postgresql ok$", out, re.M),
                    "status on a ready stack", "sluice-ingest answered ... /readyz ready", out)
        self.expect(re.search(r"^  COLLECTION +MESSAGES +DEAD LETTERS +LAG$", out, re.M)
                    and re.search(r"^  assistance +\d+ +\d+ +-$", out, re.M),
                    "status lists the collections (GET /v1/status)", "a COLLECTION table", out)
        out, _ = self.ok("status", "--json")
        doc = self.json_lines(out, "status --json")[0]
        self.expect_eq((doc["answered"], doc["ready"], doc["readyz"]["status"]), ("sluice-ingest", True, 200),
                       "status --json")
        self.expect_eq(sorted(c["name"] for c in doc["status"]["collections"]),
                       ["assistance", "epochs", "events", "recipes", "users"], "status --json has /v1/status")
        worker = f"http://127.0.0.1:{self.stack.persist_ports[0]}"
        args = ("status", "--url", worker)
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("a Sluice worker's admin port" in out and "is not sluice-ingest" in err,
                    "status on a worker's admin port", "a worker's admin port, not ingest", out + err)

    def test_unreachable_exits_1(self):
        port = free_port()  # reserved, and nobody listens on it
        self.addCleanup(launch.release_ports, [port])
        url = f"http://127.0.0.1:{port}"
        for args in (("status",), ("events", "get", "x"), ("import", self.write("one.ndjson", "{}\n"))):
            rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": url})
            self.expect_rc(rc, 1, args, out, err)
            self.expect(f"error: no answer from {url}: " in err and "Couldn't connect" in err
                        and f"the API's URL {url} comes from the environment" in err,
                        f"the message of {args[0]} without a server", "no answer from URL, and where URL came from",
                        err)

    def test_usage_errors_exit_2(self):
        cases = [
            ((), "Usage: sluicectl <command>"),
            (("bogus",), 'unknown command "bogus"'),
            (("events",), "events needs a subcommand"),
            (("events", "nope"), 'unknown command "events nope"'),
            (("events", "get"), "missing ID"),
            (("events", "get", "a", "b"), 'unexpected argument "b"'),
            (("events", "list", "--limit", "0"), "--limit takes a count"),
            (("events", "list", "--since", "yesterday"), "--since: expected a date"),
            (("events", "list", "--tpye", "x"), "unknown option --tpye"),
            (("events", "list", "--all", "--limit", "3"), "exclude each other"),
            (("events", "list", "--type"), "--type needs a value"),
            (("events", "send", "{}", "--wait", "99"), "--wait takes 1 to 30 seconds"),
            (("events", "send", "{}", "--idempotency-key", "a b"), "--idempotency-key takes"),
            (("events", "list", "--json=yes"), "--json takes no value"),
            (("import",), "missing FILE"),
            (("import", "f", "--no-wait", "--strict"), "--no-wait does not wait"),
            (("import", "f", "--timeout", "soon"), "--timeout takes seconds"),
            (("assistance", "send", "--topic", "sales"), "--topic and --description are both required"),
            (("status", "--url", "localhost:8080"), "--url is not an http:// or https:// URL"),
        ]
        for args, message in cases:
            rc, out, err = self.run_cli(*args)
            self.expect_rc(rc, 2, args, out, err)
            self.expect(message in err, f"the message of sluicectl {' '.join(args)}", message, err)
            self.expect_eq(out, "", f"stdout of sluicectl {' '.join(args)}")

    def test_help_everywhere_exits_0(self):
        out, _ = self.ok("--help")
        commands = re.findall(r"^  ((?:events|imports|assistance) \w+|import|status)\b", out, re.M)
        self.expect_eq(len(commands), 8, f"the commands --help lists ({commands})")
        self.expect("Exit status:" in out and "4  the API refused the key" in out, "exit codes in --help",
                    "Exit status: ... 4", out)
        self.ok("help")
        for command in commands:
            for form in (command.split() + ["--help"], ["help"] + command.split(), command.split() + ["-h", "x", "y"]):
                out, _ = self.ok(*form)
                self.expect(out.startswith(f"Usage: sluicectl {command}"), f"sluicectl {' '.join(form)}",
                            f"Usage: sluicectl {command} ...", out[:200])
                self.expect(all(len(line) <= 80 for line in out.splitlines()), f"{form}: lines of 80 columns",
                            "at most 80", max(out.splitlines(), key=len))
        out, _ = self.ok("events", "--help")
        self.expect("events send" in out and "events list" in out, "events --help lists its subcommands",
                    "events send, events get, events list", out)
        out, _ = self.ok("--version")
        self.expect(out.startswith("sluicectl "), "--version", "sluicectl <version>", out)

    def test_run_env_file_and_api_key(self):
        run = os.path.join(self.tmp, ".run")
        os.makedirs(run)
        with open(os.path.join(run, "env"), "w") as f:
            f.write(f"# Written by make run (pid 1) while it runs; removed when it stops.\n"
                    f"export SLUICE_RUN_PID=1\nexport SLUICE_API_URL={self.url}\n"
                    f"export SLUICE_PERSIST_ADMIN_URLS=\"http://127.0.0.1:1 http://127.0.0.1:2\"\n")
        out, _ = self.ok("status", env={"SLUICE_API_URL": None}, cwd=self.tmp)
        self.expect(f"answered at {self.url} (from .run/env)" in out, "the URL from .run/env", "(from .run/env)", out)
        port = free_port()
        self.addCleanup(launch.release_ports, [port])
        args = ("status",)
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": f"http://127.0.0.1:{port}"}, cwd=self.tmp)
        self.expect_rc(rc, 1, args, out, err)  # the environment wins over the file

        problem = json.dumps({"type": "https://sluice.dev/problems/unauthorized", "title": "Unauthorized",
                              "status": 401, "detail": "A valid API key is required."})
        fake = FakeApi(401, "application/problem+json", problem)
        self.addCleanup(fake.close)
        args = ("events", "get", "x")
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": fake.url, "SLUICE_API_KEY": f"key-{self.token}"})
        self.expect_rc(rc, 4, args, out, err)
        self.expect_eq(fake.requests[-1].get("Authorization"), f"Bearer key-{self.token}", "the key, as a bearer token")
        self.expect("Unauthorized (401 unauthorized)" in err and "refused the key in SLUICE_API_KEY" in err,
                    "a refused key's message", "Unauthorized (401 ...), refused the key", err)
        self.expect(f"key-{self.token}" not in out + err, "the key is never printed", "no key", err)
        with open(os.path.join(run, "env"), "a") as f:
            f.write(f"export SLUICE_API_KEY='file-{self.token}'\n")
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": fake.url, "SLUICE_API_KEY": None}, cwd=self.tmp)
        self.expect_rc(rc, 4, args, out, err)
        self.expect_eq(fake.requests[-1].get("Authorization"), f"Bearer file-{self.token}", "the key from .run/env")
        elsewhere = os.path.join(self.tmp, "elsewhere")  # no .run/env here
        os.makedirs(elsewhere)
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": fake.url, "SLUICE_API_KEY": None}, cwd=elsewhere)
        self.expect_rc(rc, 4, args, out, err)
        self.expect("Authorization" not in fake.requests[-1], "no key, no Authorization header", "absent",
                    fake.requests[-1])
        self.expect("set SLUICE_API_KEY" in err, "the hint without a key", "set SLUICE_API_KEY", err)

        forbidden = FakeApi(403, "application/problem+json", problem.replace("401", "403"))
        self.addCleanup(forbidden.close)
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": forbidden.url})
        self.expect_rc(rc, 4, args, out, err)
        proxy = FakeApi(502, "text/html", "<html><body>Bad Gateway\x1b[2J</body></html>")
        self.addCleanup(proxy.close)
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_URL": proxy.url})
        self.expect_rc(rc, 1, args, out, err)
        self.expect("HTTP 502, not a Sluice answer (text/html" in err and "\x1b" not in err,
                    "an answer that is not Sluice's, cleaned for the terminal", "HTTP 502, not a Sluice answer", err)
