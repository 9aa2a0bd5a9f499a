"""sluicectl used as a person and a script would use it, against a real stack
(docs/cli.md): an import of 10,000 records to done and again as no-ops, gzip
and stdin, broken records listed by index (exit 0; 3 with --strict), the
progress bar on a terminal and plain lines elsewhere, NO_COLOR; events
sent, read and listed with --json parsed; assistance requests and their
deliveries; GET /v1/deliveries (filters, keyset pages, its 400s and scope)
and `deliveries list` on deliveries that failed for good (a webhook to a
port nobody listens on); API keys made, listed, rolled and revoked, each
key then used or refused; `status` on ingest, on a worker's admin port and
on nothing; the exit codes (2 usage, 1 an HTTP error or no answer, 4 a
refused key, for every command) with the message each prints; the API key
sent as a bearer token; the settings taken from .run/env when the
environment has none.

The binary is $SLUICE_BIN/sluicectl (the sanitizer build under `make
test`): every run's stderr is checked for sanitizer reports, so the error
paths the tests take are leak-checked too."""
import base64
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
# lib/uuid.c: a delivery's id is uuid5(this, "<request>\n<channel>").
SLUICE_NAMESPACE = uuid.UUID("3b0c1c4e-8a7d-5f2e-9a41-5c1d1ce0b7a1")
DEAD_SECRET = "whsec_" + "c2x1aWNlLWl0LWRlYWQtaG9vay1zZWNyZXQtMDEyMzQ1"
ATTEMPTS = 2  # SLUICE_NOTIFY_RETRY_SCHEDULE below


def routing(stack):
    # The dead channels' port is reserved for this process and nobody
    # listens on it: every attempt is refused, and each delivery fails for
    # good. Two channels, so a request has two deliveries recorded at once
    # (one created_at): the listing's pages must tell them apart.
    stack.dead_port = getattr(stack, "dead_port", None) or free_port()
    dead = {"type": "webhook", "url": f"http://127.0.0.1:{stack.dead_port}/hook", "secret": DEAD_SECRET,
            "timeout_ms": 1000}
    return {"channels": {"ops-log": {"type": "log", "path": os.path.join(stack.dir, "ops-log.jsonl")},
                         "dead-hook": dead, "dead-too": dead},
            "topics": {"sales": {"channels": ["ops-log"]}, "dead": {"channels": ["dead-hook", "dead-too"]}}}


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
    stack_options = {"persist": 1, "notify": 1, "routing": routing,
                     "notify_env": {"SLUICE_NOTIFY_RETRY_SCHEDULE": "0,200ms", "SLUICE_NOTIFY_POLL_MS": "100"}}

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
        self.expect("known topics: dead, sales" in err, "an unknown topic: the server's message", "known topics", err)

    # -- deliveries

    def failed_deliveries(self, n):
        """n assistance requests on the topic whose two channels never
        answer; returns their ids once both deliveries of each have failed
        for good."""
        rids = [self.post_assistance("dead", f"nobody hears this ({self.token} #{i})") for i in range(n)]
        for rid in rids:
            for channel in ("dead-hook", "dead-too"):
                self.wait_delivery(rid, channel, "failed", timeout=60)
        return rids

    def make_key(self, name, scopes):
        """A key made with POST /v1/keys, which this ingest accepts before it
        answers (one made in the database directly is heard within 2 s)."""
        r = self.http.post_json("/v1/keys", {"name": name, "scopes": scopes})
        self.expect_status(r, 201, f"POST /v1/keys {scopes}")
        return r.json()["key"]

    def deliveries(self, query, key="default"):
        http = self.http if key == "default" else self.stack.http()
        if key != "default":
            http.key = key
        try:
            return http.get(f"/v1/deliveries{query}")
        finally:
            if http is not self.http:
                http.close()

    def test_deliveries_api(self):
        rids = self.failed_deliveries(3)
        ok = self.post_assistance("sales", f"this one arrives ({self.token})")
        self.wait_delivery(ok, "ops-log", "delivered", timeout=60)

        r = self.deliveries("?status=failed&channel=dead-hook&limit=1000")
        self.expect_status(r, 200, "GET /v1/deliveries?status=failed&channel=dead-hook")
        page = r.json()
        self.expect_eq((sorted(page), page["next_cursor"]), (["items", "next_cursor"], None), "the page's members")
        mine = [d for d in page["items"] if d["request"] in rids]
        self.expect_eq(sorted(d["request"] for d in mine), sorted(rids), "the failed deliveries of the requests")
        self.expect(all(d["status"] == "failed" and d["channel"] == "dead-hook" for d in page["items"]),
                    "only failed deliveries to dead-hook", "status failed, channel dead-hook", page["items"])
        created = [d["created_at"] for d in page["items"]]
        self.expect_eq(created, sorted(created), "oldest first")
        for d in mine:
            self.expect_eq({k: d[k] for k in ("topic", "type", "attempts", "fallback", "next_attempt_at",
                                              "delivered_at")},
                           {"topic": "dead", "type": "webhook", "attempts": ATTEMPTS, "fallback": False,
                            "next_attempt_at": None, "delivered_at": None}, f"the failed delivery {d}")
            self.expect(f"gave up after {ATTEMPTS} attempts" in (d["last_error"] or ""), "last_error of a delivery "
                        "that failed for good", f"... (gave up after {ATTEMPTS} attempts)", d)
            self.expect_eq(d["id"], str(uuid.uuid5(SLUICE_NAMESPACE, f"{d['request']}\ndead-hook")),
                           "the delivery's id: the webhook-id notify sends")
            self.expect(isinstance(d["request_id"], str) and d["request_id"], "request_id: the X-Request-ID",
                        "a string", d)
            self.expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", d["created_at"]),
                        "created_at", "an RFC 3339 UTC time", d)

        # Keyset pages of 1 give the same deliveries, in the same order, each
        # once, though a request's two deliveries share their created_at.
        r = self.deliveries("?status=failed&limit=1000")
        self.expect_status(r, 200, "GET /v1/deliveries?status=failed")
        whole = [(d["request"], d["channel"]) for d in r.json()["items"]]
        both = {(d["request"], d["created_at"]) for d in r.json()["items"] if d["request"] in rids}
        self.expect_eq(len(both), len(rids), "one created_at for both deliveries of a request")
        self.expect(set(whole) >= {(rid, c) for rid in rids for c in ("dead-hook", "dead-too")},
                    "both deliveries of each request", "dead-hook and dead-too", whole)
        seen, cursor = [], ""
        for _ in range(len(whole) + 1):
            r = self.deliveries(f"?status=failed&limit=1{cursor}")
            self.expect_status(r, 200, f"a page of failed deliveries ({cursor})")
            seen += [(d["request"], d["channel"]) for d in r.json()["items"]]
            nxt = r.json()["next_cursor"]
            if nxt is None:
                break
            cursor = f"&cursor={nxt}"
        self.expect_eq(seen, whole, "pages of 1, joined")

        r = self.deliveries("?status=delivered&limit=1000")
        self.expect_status(r, 200, "GET /v1/deliveries?status=delivered")
        (d,) = [d for d in r.json()["items"] if d["request"] == ok]
        self.expect_eq((d["channel"], d["status"], d["last_error"], d["next_attempt_at"]),
                       ("ops-log", "delivered", None, None), "the delivered one")
        self.expect(d["delivered_at"], "delivered_at of a delivered delivery", "a time", d)
        self.expect(not any(x["request"] in rids for x in r.json()["items"]), "no failed one among the delivered",
                    "none", r)
        r = self.deliveries("?status=pending&limit=1000")
        self.expect_status(r, 200, "GET /v1/deliveries?status=pending")
        self.expect(all(x["status"] == "pending" and x["next_attempt_at"] for x in r.json()["items"]),
                    "pending ones have a next attempt", "next_attempt_at set", r)
        r = self.deliveries("?channel=&status=")
        self.expect_status(r, 200, "empty filters are no filters")

        bad = self.deliveries("?status=lost&channel=" + "x" * 200 + "&limit=0&cursor=bm90LWEtY3Vyc29y")
        p = self.expect_problem(bad, 400, "four bad parameters")
        self.expect_eq(sorted(e["pointer"] for e in p["errors"]),
                       ["#/query/channel", "#/query/cursor", "#/query/limit", "#/query/status"], "one error each")
        self.expect(p["type"].endswith("/invalid-query"), "the problem type", "invalid-query", p)
        self.expect_problem(self.deliveries("?status=%ff"), 400, "a status that is not UTF-8", "#/query/status")
        # Another listing's cursor (GET /v1/events': "<microseconds>/<uuid>") is not this one's.
        events_cursor = base64.urlsafe_b64encode(f"1700000000000000/{uuid.uuid4()}".encode()).rstrip(b"=").decode()
        self.expect_problem(self.deliveries(f"?cursor={events_cursor}"), 400, "an events cursor", "#/query/cursor")
        self.expect_problem(self.deliveries("?limit=99999999999999999999"), 400, "a huge limit", "#/query/limit")

        # assistance:read, as GET /v1/assistance/{id}.
        self.expect_status(self.deliveries("", key=None), 401, "no key")
        weak = self.make_key(f"weak-{self.token}", ["events:read"])
        self.expect_problem(self.deliveries("", key=weak), 403, "a key without assistance:read")
        reader = self.make_key(f"reader-{self.token}", ["assistance:read"])
        self.expect_status(self.deliveries("?limit=1", key=reader), 200, "a key with assistance:read")

    def test_deliveries_list_cli(self):
        rids = self.failed_deliveries(2)
        out, _ = self.ok("deliveries", "list", "--status", "failed", "--channel", "dead-hook", "--all", "--json")
        listed = {d["request"]: d for d in self.json_lines(out, "deliveries list --json")}
        self.expect(set(rids) <= set(listed), "deliveries list --status failed --json has the requests", rids,
                    sorted(listed))
        self.expect_eq({listed[r]["status"] for r in rids}, {"failed"}, "their status")

        out, _ = self.ok("deliveries", "list", "--status", "failed", "--channel", "dead-hook", "--all")
        lines = out.splitlines()
        self.expect(lines[0].split() == ["REQUEST", "CHANNEL", "STATUS", "ATTEMPTS", "CREATED", "AT", "NEXT",
                                         "ATTEMPT", "LAST", "ERROR"], "the table's header",
                    "REQUEST CHANNEL STATUS ATTEMPTS CREATED AT NEXT ATTEMPT LAST ERROR", out)
        for rid in rids:
            self.expect(re.search(rf"^{rid} +dead-hook +failed +{ATTEMPTS} +\S+ +- +.*gave up after", out, re.M),
                        f"the row of {rid}", f"{rid} dead-hook failed {ATTEMPTS} <created> - <error>", out)

        # One at a time: the cursor on stderr goes on.
        out, err = self.ok("deliveries", "list", "--channel", "dead-hook", "--limit", "1")
        self.expect_eq(len(out.splitlines()), 2, "--limit 1: a header and one row")
        m = re.search(r"more deliveries match: --cursor (\S+)", err)
        self.expect(m, "the cursor to go on from", "--cursor X", err)
        out, _ = self.ok("deliveries", "list", "--channel", "dead-hook", "--cursor", m.group(1), "--all", "--json")
        rest = [d["request"] for d in self.json_lines(out, "deliveries list --cursor")]
        out, _ = self.ok("deliveries", "list", "--channel", "dead-hook", "--all", "--json")
        every = [d["request"] for d in self.json_lines(out, "deliveries list --all")]
        self.expect_eq(rest, every[1:], "the rest, from the cursor")

        out, err = self.ok("deliveries", "list", "--channel", f"none-{self.token}")
        self.expect_eq((out, err.strip()), ("", "no deliveries match"), "an empty listing")
        args = ("deliveries", "list", "--status", "lost")
        rc, out, err = self.run_cli(*args)
        self.expect_rc(rc, 1, args, out, err)
        self.expect("(400 invalid-query)" in err and "#/query/status: must be pending, delivered or failed" in err,
                    "a bad status: the API's 400", "#/query/status: must be ...", err)

    # -- keys

    def test_keys_create_list_roll_revoke(self):
        name = f"cli-{self.token}"
        out, err = self.ok("keys", "create", "--name", name, "--scopes", "events:read, assistance:read")
        key = out.strip()
        self.expect(re.fullmatch(r"sk_sluice_[0-9A-Za-z]{12}_\S+", key) and out.count("\n") == 1,
                    "keys create prints the key alone", "sk_sluice_<id>_...", out)
        kid = key.split("_")[2]
        self.expect(f"key {kid}: shown this once" in err, "the note on stderr", "key ID: shown this once", err)
        self.expect_status(self.deliveries("?limit=1", key=key), 200, "the new key reads deliveries")
        out, _ = self.ok("events", "list", "--limit", "1", env={"SLUICE_API_KEY": key})
        args = ("keys", "list")
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_KEY": key})
        self.expect_rc(rc, 4, args, out, err)
        self.expect("Forbidden (403 forbidden)" in err and "This credential lacks the scope admin." in err
                    and "does not hold the scope" in err, "keys list with a key lacking admin",
                    "Forbidden (403 ...), the detail, the hint", err)

        out, _ = self.ok("keys", "create", "--name", f"{name}-t", "--scopes", "*", "--tenant", "acme",
                         "--expires-at", "2999-01-01T00:00:00Z", "--json")
        (made,) = self.json_lines(out, "keys create --json")
        self.expect_eq((made["name"], made["tenant"], made["expires_at"], "admin" in made["scopes"],
                        made["key"].startswith(f"sk_sluice_{made['id']}_")),
                       # "*" for another tenant than the default: every scope but admin.
                       (f"{name}-t", "acme", "2999-01-01T00:00:00.000000Z", False, True), "keys create --json")

        out, _ = self.ok("keys", "list", "--json")
        listed = {k["id"]: k for k in self.json_lines(out, "keys list --json")}
        self.expect(kid in listed and made["id"] in listed, "keys list --json has both", [kid, made["id"]],
                    sorted(listed))
        self.expect_eq(listed[kid]["scopes"], ["events:read", "assistance:read"], "the scopes, as given")
        self.expect(not any("key" in k for k in listed.values()), "keys list shows no secret", "no key member", out)
        out, _ = self.ok("keys", "list")
        self.expect(re.search(rf"^{kid} +{name} +default +valid +events:read assistance:read +- +", out, re.M),
                    "keys list, as text", f"{kid} {name} default valid events:read assistance:read - ...", out)

        # Roll with a grace period: both valid, the old one "rolled".
        out, err = self.ok("keys", "roll", kid, "--grace", "3600")
        successor = out.strip()
        sid = successor.split("_")[2]
        self.expect(sid != kid and f"it replaces {kid}, which stays valid for 3600 s" in err,
                    "keys roll prints the successor", "a new key; the old one valid 3600 s", (out, err))
        self.ok("events", "list", "--limit", "1", env={"SLUICE_API_KEY": key})
        self.ok("events", "list", "--limit", "1", env={"SLUICE_API_KEY": successor})
        out, _ = self.ok("keys", "list")
        self.expect(re.search(rf"^{kid} +{name} +default +rolled ", out, re.M)
                    and re.search(rf"^{sid} +{name} +default +valid ", out, re.M),
                    "the old key rolled, its successor valid", "rolled / valid", out)

        # Roll with no grace: the successor's successor; the successor is refused at once.
        out, _ = self.ok("keys", "roll", sid, "--grace", "0", "--json")
        (third,) = self.json_lines(out, "keys roll --json")
        args = ("events", "list")
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_KEY": successor})
        self.expect_rc(rc, 4, args, out, err)
        self.expect("Unauthorized (401 unauthorized)" in err and "refused the key in SLUICE_API_KEY" in err,
                    "a key rolled with no grace", "Unauthorized (401 ...)", err)
        out, _ = self.ok("keys", "list")
        self.expect(re.search(rf"^{sid} +{name} +default +expired ", out, re.M), "the rolled key, expired",
                    "expired", out)

        out, _ = self.ok("keys", "revoke", third["id"])
        self.expect_eq(out, f"revoked {third['id']}\n", "keys revoke")
        rc, out, err = self.run_cli(*args, env={"SLUICE_API_KEY": third["key"]})
        self.expect_rc(rc, 4, args, out, err)
        out, _ = self.ok("keys", "list", "--json")
        (k,) = [k for k in self.json_lines(out, "keys list --json") if k["id"] == third["id"]]
        self.expect(k["revoked_at"], "revoked_at after keys revoke", "a time", k)
        out, _ = self.ok("keys", "revoke", third["id"], "--json")
        self.expect_eq(out, "", "keys revoke --json (the API answers 204: nothing to print)")

        for args, rc_want, message in [
            (("keys", "revoke", f"nosuch{self.token}"), 1, "Key not found (404 not-found)"),
            (("keys", "roll", f"nosuch{self.token}"), 1, "Key not found (404 not-found)"),
            (("keys", "create", "--name", name, "--scopes", "events:reed"), 1, "/scopes: item 0 is not a scope"),
            (("keys", "create", "--name", name, "--scopes", "admin", "--expires-at", "2001-01-01T00:00:00Z"), 1,
             "/expires_at: must be in the future"),
            (("keys", "create", "--name", name), 2, "--name and --scopes are both required"),
            (("keys", "create", "--name", name, "--scopes", " , "), 2, "--scopes names no scope"),
            (("keys", "roll", kid, "--grace", "-1"), 2, "--grace takes 0 to 2592000 seconds"),
            (("keys", "roll"), 2, "missing ID"),
        ]:
            rc, out, err = self.run_cli(*args)
            self.expect_rc(rc, rc_want, args, out, err)
            self.expect(message in err, f"the message of sluicectl {' '.join(args)}", message, err)

    def test_refused_key_exits_4_for_every_command(self):
        """Every command that reaches the API exits 4 on a 401 or 403 and
        says what the API said (the problem's detail)."""
        data = self.write("refused.ndjson", '{"type":"x"}\n')
        some = str(uuid.uuid4())
        commands = [("events", "send", "{}"), ("events", "get", "x"), ("events", "list"), ("import", data),
                    ("imports", "get", some), ("assistance", "send", "--topic", "sales", "--description", "x"),
                    ("assistance", "status", some), ("deliveries", "list"), ("dlq", "list", "events"),
                    ("dlq", "replay", "events"), ("keys", "create", "--name", "x", "--scopes", "admin"),
                    ("keys", "list"), ("keys", "roll", "x"), ("keys", "revoke", "x"), ("status",)]
        weak = self.make_key(f"weak-{self.token}", ["users:read"])
        for args in commands:
            rc, out, err = self.run_cli(*args, env={"SLUICE_API_KEY": weak})
            self.expect_rc(rc, 4, args, out, err)
            self.expect("Forbidden (403 forbidden)" in err and "This credential lacks the scope " in err
                        and "does not hold the scope this needs" in err,
                        f"sluicectl {' '.join(args)} with a key lacking the scope",
                        "Forbidden (403 forbidden), the detail, the hint", err)
        for args in commands[:-1]:
            rc, out, err = self.run_cli(*args, env={"SLUICE_API_KEY": None})
            self.expect_rc(rc, 4, args, out, err)
            self.expect("Unauthorized (401 unauthorized)" in err and "needs credentials" in err
                        and "set SLUICE_API_KEY" in err, f"sluicectl {' '.join(args)} without a key",
                        "Unauthorized (401 ...), needs credentials, set SLUICE_API_KEY", err)
        bogus = "sk_sluice_AAAAAAAAAAAA_" + "A" * 49
        rc, out, err = self.run_cli("deliveries", "list", env={"SLUICE_API_KEY": bogus})
        self.expect_rc(rc, 4, ("deliveries", "list"), out, err)
        self.expect("refused the key in SLUICE_API_KEY" in err and bogus not in err, "a key the API does not know",
                    "refused the key (and the key never printed)", err)

    # -- status, settings, exit codes

    def test_status(self):
        out, _ = self.ok("status")
        self.expect(out.startswith(f"sluice-ingest answered at {self.url} (from the environment)")
                    and re.search(r"^  /readyz +ready +kafka ok, postgresql ok$", out, re.M),
                    "status on a ready stack", "sluice-ingest answered ... /readyz ready", out)
        self.expect(re.search(r"^  COLLECTION +MESSAGES +DEAD LETTERS +LAG$", out, re.M)
                    and re.search(r"^  assistance +\d+ +\d+ +(\d+|-)$", out, re.M),
                    "status lists the collections (GET /v1/status)", "a COLLECTION table", out)
        out, _ = self.ok("status", "--json")
        doc = self.json_lines(out, "status --json")[0]
        self.expect_eq((doc["answered"], doc["ready"], doc["readyz"]["status"]), ("sluice-ingest", True, 200),
                       "status --json")
        self.expect_eq(sorted(c["name"] for c in doc["status"]["collections"]),
                       ["assistance", "epochs", "events", "recipes", "users"], "status --json has /v1/status")
        # Without a key, readiness alone: a deploy script waits for ingest keyless.
        out, err = self.ok("status", env={"SLUICE_API_KEY": None})
        self.expect("COLLECTION" not in out and "set SLUICE_API_KEY (a key with the admin scope)" in err,
                    "status without a key", "no collections, a note", (out, err))
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
        commands = re.findall(r"^  ((?:events|imports|assistance|deliveries|dlq|keys) \w+|import|status)\b", out,
                              re.M)
        self.expect_eq(len(commands), 15, f"the commands --help lists ({commands})")
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
