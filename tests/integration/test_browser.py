"""Issue 12 item 3: the API docs at GET /docs, and the browser tests.

Over HTTP first: the page and each of its files (GET /docs/{asset}) with
its Content-Type, ETag, Cache-Control and Content-Security-Policy; HEAD;
304 on If-None-Match; 404 for a file that is not there; Swagger UI exactly
as npm installed it into the build.

Then in a browser: tests/browser/run.js drives Debian's Chromium with
playwright-core (both installed by scripts/deps.sh and the build's
`npm ci`) against this stack's ingest. It loads /docs, waits for Swagger UI
to render every operation of /openapi.json, fails on any request off
loopback, CSP violation, console error or HTTP error, and saves a
screenshot under the stack's directory (kept with --keep or on failure),
printing its path.

Issue 12 item 2, the console at GET /console: Console serves its files
over HTTP (headers, 304, 404), then prepares data on a stack with persist
and notify (events, a bulk import, a poison message on the events topic, an
assistance request) and runs tests/browser/console.test.js, which signs in
through the page's form with the stack's admin key, opens each view, checks
it shows that data and saves a screenshot of each; and checks the sign-in:
no key (the form, no data, no call), a wrong key (the 401), a key with
events:read only (events, and a readable 403 on dead letters), signing out
(the key forgotten), a key revoked while in use (the form again).
ConsoleRateLimit: a 429 in the console, with its Retry-After waited out.

The browser tests get the stack's admin key as SLUICE_API_KEY; /docs signs
in with it through Swagger UI's Authorize dialog and tries an operation."""
import json
import os
import re
import shutil
import subprocess
import uuid

import harness
from harness import StackCase, free_port

NODE_MODULES = os.path.join(harness.BIN, "npm", "node_modules")
DIST = os.path.join(NODE_MODULES, "swagger-ui-dist")
RUNNER = os.path.join(harness.ROOT, "tests", "browser", "run.js")
CHROMIUM = os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")
BROWSER_TIMEOUT = 240  # the whole node run: start Chromium, then each test's bounded waits

# ingest/ops.c's DOCS_CSP: this server only, and data: images for Swagger UI's icons.
CSP = "default-src 'self'; img-src 'self' data:"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".png": "image/png", ".txt": "text/plain; charset=utf-8"}


def asset_names():
    with open(os.path.join(harness.ROOT, "ingest", "openapi.json")) as f:
        doc = json.load(f)
    params = doc["paths"]["/docs/{asset}"]["get"]["parameters"]
    return next(p for p in params if p["name"] == "asset")["schema"]["enum"]


def content_type(name):
    ext = os.path.splitext(name)[1]
    return TYPES.get(ext, "text/plain; charset=utf-8")  # LICENSE, NOTICE


class Docs(StackCase):
    stack_options = {"persist": 0}  # the page needs ingest only

    def expect_docs_headers(self, r, what):
        self.expect(re.fullmatch(r'"[0-9a-f]{20}"', r.header("ETag") or ""), f"{what}: ETag",
                    'a quoted hash', r.header("ETag"))
        self.expect_eq(r.header("Cache-Control"), "no-cache", f"{what}: Cache-Control")
        self.expect_eq(r.header("X-Content-Type-Options"), "nosniff", f"{what}: X-Content-Type-Options")
        self.expect_eq(r.header("Content-Security-Policy"), CSP,
                       f"{what}: Content-Security-Policy")

    def test_page(self):
        r = self.http.get("/docs")
        if r.status == 404 and b"docs-not-built" in r.body:
            self.fail(f"GET /docs: {r.json().get('detail')} (this build has no Swagger UI: see "
                      f"{harness.BIN}/npm/npm-ci.log and scripts/deps.sh)")
        self.expect_status(r, 200, "GET /docs")
        self.expect_eq(r.header("Content-Type"), "text/html; charset=utf-8", "GET /docs Content-Type")
        self.expect_docs_headers(r, "GET /docs")
        page = r.body.decode()
        self.expect('<div id="swagger-ui">' in page, "GET /docs body", "Swagger UI's mount point", page[:300])
        scripts = re.findall(r"<script\b[^>]*>", page)
        self.expect(scripts and all("src=" in s for s in scripts), "GET /docs scripts",
                    "only <script src=...> (no inline script: the CSP forbids it)", scripts)
        for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
            self.expect(ref.startswith("/docs/"), f"GET /docs refers to {ref}", "a file under /docs/", ref)
            self.expect_status(self.http.get(ref), 200, f"GET {ref} (named by the page)")

    def test_files(self):
        with open(os.path.join(harness.ROOT, "ingest", "static", "swagger-initializer.js"), "rb") as f:
            ours = f.read()
        for name in asset_names():
            path = f"/docs/{name}"
            r = self.http.get(path)
            self.expect_status(r, 200, f"GET {path}")
            self.expect_eq(r.header("Content-Type"), content_type(name), f"GET {path} Content-Type")
            self.expect_docs_headers(r, f"GET {path}")
            source = os.path.join(DIST, name)
            if name == "swagger-initializer.js":
                self.expect(r.body == ours, f"GET {path}", "ingest/static/swagger-initializer.js",
                            r.body[:200])
                self.expect(b"validatorUrl: null" in r.body and b'"/openapi.json"' in r.body
                            and b"persistAuthorization: false" in r.body, f"GET {path}",
                            "validatorUrl: null, persistAuthorization: false and url /openapi.json", r.body[:600])
            elif os.path.exists(source):
                with open(source, "rb") as f:
                    want = f.read()
                self.expect(r.body == want, f"GET {path}", f"the bytes of {source} ({len(want)})",
                            f"{len(r.body)} bytes that differ")
            h = self.http.request("HEAD", path)
            self.expect_status(h, 200, f"HEAD {path}")
            self.expect_eq(h.body, b"", f"HEAD {path} body")
            self.expect_eq(h.header("ETag"), r.header("ETag"), f"HEAD {path} ETag")
            self.expect_eq(h.header("Content-Type"), r.header("Content-Type"), f"HEAD {path} Content-Type")
            n = self.http.get(path, headers={"If-None-Match": r.header("ETag")})
            self.expect_status(n, 304, f"GET {path} with If-None-Match: its ETag")
            self.expect_eq(n.body, b"", f"304 for {path}: body")
            self.expect_eq(n.header("ETag"), r.header("ETag"), f"304 for {path}: ETag")
            other = self.http.get(path, headers={"If-None-Match": '"0000000000"'})
            self.expect_status(other, 200, f"GET {path} with If-None-Match: another ETag")
        lic = self.http.get("/docs/LICENSE").body
        self.expect(b"Apache License" in lic and b"Version 2.0" in lic, "GET /docs/LICENSE",
                    "Swagger UI's Apache License 2.0", lic[:200])

    def test_unknown_file(self):
        for path in ("/docs/nope.js", "/docs/..%2Fopenapi.json", "/docs/swagger-ui.js"):
            p = self.expect_problem(self.http.get(path), 404, f"GET {path}")
            self.expect_eq(p["type"], "https://sluice.dev/problems/not-found", f"GET {path}: type")
        self.expect_eq(self.http.get("/docs/").status, 404, "GET /docs/ (no such route)")
        r = self.http.request("POST", "/docs", b"", {"Content-Type": "application/json"}, retry=False)
        self.expect_status(r, 405, "POST /docs")

    def test_browser_renders_docs(self):
        artifacts = run_browser(self, "docs.test.js")
        for shot in ("get-docs-renders-every-operation-of-openapi-json",
                     "get-docs-authorizes-with-an-api-key-and-tries-an-operation-with-it"):
            self.expect(os.path.exists(os.path.join(artifacts, f"{shot}.png")), f"the screenshot {shot}",
                        f"saved in {artifacts}", os.listdir(artifacts))


def run_browser(case, test_filter, env_extra=None):
    """Runs tests/browser/run.js on the tests matching test_filter against
    case's stack, with its admin key as SLUICE_API_KEY; fails case unless
    every one passed. Returns the folder of the screenshots."""
    node = shutil.which("node")
    case.expect(node, "node", "on PATH (scripts/deps.sh installs npm, which brings it)", None)
    case.expect(os.access(CHROMIUM, os.X_OK), "Chromium", f"{CHROMIUM} (scripts/deps.sh installs "
                "Debian's chromium)", "missing")
    case.expect(os.path.isdir(os.path.join(NODE_MODULES, "playwright-core")), "playwright-core",
                f"in {NODE_MODULES} (the build's `npm ci` installs it with the tests)",
                f"missing; see {harness.BIN}/npm/npm-ci.log")
    artifacts = os.path.join(case.stack.dir, "browser")
    argv = [node, RUNNER, "--base-url", f"http://127.0.0.1:{case.stack.ingest_port}",
            "--artifacts", artifacts, "--modules", NODE_MODULES, test_filter]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASAN_", "UBSAN_", "LSAN_"))}
    env["SLUICE_API_KEY"] = case.stack.api_key
    env.update(env_extra or {})
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, env=env,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        case.fail(f"tests/browser/run.js did not end within {BROWSER_TIMEOUT}s; its output:\n"
                  f"{e.stdout or ''}{e.stderr or ''}")
    # The screenshots' paths, and on failure what the page did.
    print("\n" + "\n".join("    " + line for line in (out.stdout + out.stderr).splitlines()))
    print(f"    (browser artifacts in {artifacts}; kept with run.py --keep or when a test fails)")
    case.expect(out.returncode == 0, f"{' '.join(argv)}", "exit 0 (every browser test passed)",
                f"exit {out.returncode}:\n{out.stdout}{out.stderr}")
    return artifacts


CONSOLE_CSP = "default-src 'self'"
MARKUP = '<img src="/console/not-here.png"><b>bold</b>'  # console.test.js looks for it as text
CONSOLE_TYPES = {"": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
CONSOLE_SHOTS = ("console-overview-lists-every-collection-with-its-counts",
                 "console-events-search-next-page-and-detail", "console-import-progress-reaches-done",
                 "console-dead-letters-grouped-by-error-a-dry-run-and-a-replay",
                 "console-assistance-request-shows-its-deliveries",
                 "console-deliveries-by-status-and-channel-next-page-and-a-request-s-deliveries",
                 "console-without-a-key-shows-the-sign-in-form-and-no-data",
                 "console-refuses-a-wrong-key-with-the-401-message",
                 "console-with-an-events-read-key-shows-events-and-a-readable-403-on-dead-letters",
                 "console-sign-out-forgets-the-key",
                 "console-brings-the-sign-in-form-back-when-its-key-is-revoked")


CONSOLE_ATTEMPTS = 2  # SLUICE_NOTIFY_RETRY_SCHEDULE below


def console_routing(stack):
    # console-dead is a webhook to a port reserved here that nobody listens
    # on: every attempt is refused, so its deliveries fail for good.
    stack.dead_port = getattr(stack, "dead_port", None) or free_port()
    dead = {"type": "webhook", "url": f"http://127.0.0.1:{stack.dead_port}/hook",
            "secret": "whsec_" + "Y29uc29sZS1kZWFkLWhvb2stc2VjcmV0LTAxMjM0NTY3", "timeout_ms": 1000}
    return {"channels": {"console-log": {"type": "log", "path": os.path.join(stack.dir, "console-log.jsonl")},
                         "console-dead": dead},
            "topics": {"sales": {"channels": ["console-log"]}, "dead": {"channels": ["console-dead"]}}}


class Console(StackCase):
    stack_options = {"persist": 1, "notify": 1, "routing": console_routing,
                     "notify_env": {"SLUICE_NOTIFY_RETRY_SCHEDULE": "0,200ms", "SLUICE_NOTIFY_POLL_MS": "100"}}

    def console_asset_names(self):
        with open(os.path.join(harness.ROOT, "ingest", "openapi.json")) as f:
            doc = json.load(f)
        params = doc["paths"]["/console/{asset}"]["get"]["parameters"]
        return next(p for p in params if p["name"] == "asset")["schema"]["enum"]

    def test_files(self):
        page = self.http.get("/console")
        self.expect_status(page, 200, "GET /console")
        html = re.sub(r"<!--.*?-->", "", page.body.decode(), flags=re.S)  # the comment names what it avoids
        self.expect(not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|data:", html),
                    "GET /console", "no inline script, style, handler or data: URL", html[:300])
        refs = re.findall(r'(?:src|href)="(/[^"]+)"', html)
        for name in [""] + self.console_asset_names():
            path = f"/console/{name}" if name else "/console"
            r = self.http.get(path)
            self.expect_status(r, 200, f"GET {path}")
            self.expect_eq(r.header("Content-Type"), CONSOLE_TYPES[os.path.splitext(name)[1]], f"GET {path} Content-Type")
            self.expect_eq(r.header("Content-Security-Policy"), CONSOLE_CSP, f"GET {path}: Content-Security-Policy")
            self.expect_eq(r.header("Cache-Control"), "no-cache", f"GET {path}: Cache-Control")
            self.expect_eq(r.header("X-Content-Type-Options"), "nosniff", f"GET {path}: X-Content-Type-Options")
            source = os.path.join(harness.ROOT, "ingest", "static", name or "console.html")
            with open(source, "rb") as f:
                self.expect(r.body == f.read(), f"GET {path}", f"the bytes of {source}", r.body[:200])
            if name:
                self.expect(path in refs, f"GET /console names {path}", "a reference in the page", refs)
            n = self.http.get(path, headers={"If-None-Match": r.header("ETag")})
            self.expect_status(n, 304, f"GET {path} with If-None-Match: its ETag")
        for path in ("/console/nope.js", "/console/..%2Fopenapi.json", "/console/docs.html"):
            p = self.expect_problem(self.http.get(path), 404, f"GET {path}")
            self.expect_eq(p["type"], "https://sluice.dev/problems/not-found", f"GET {path}: type")

    def test_browser_views(self):
        tok = self.token
        etype = f"console.{tok}"
        # Markup in a body must reach the page as text: parsed, the image would
        # be requested and its 404 fail the browser test.
        ids = [self.post_event({"type": etype, "tag": tok, "i": i, "date": f"2025-0{i + 1}-01",
                                "note": MARKUP}) for i in range(3)]
        self.stack.wait_persisted(ids, timeout=60)

        # A bulk import with two rejected records: the view watches it reach done.
        lines = [json.dumps({"id": f"console-{tok}-{i}", "type": "console.bulk", "date": "2025-02-01"})
                 for i in range(5)] + ["42", "[1, 2]"]
        r = self.http.request("POST", "/v1/bulk", ("\n".join(lines) + "\n").encode(),
                              {"Content-Type": "application/x-ndjson"}, retry=True)
        self.expect_status(r, 202, "POST /v1/bulk")
        imp = r.json()
        self.expect_eq((imp["accepted"], imp["rejected"]), (5, 2), f"POST /v1/bulk answer {imp}")

        # A poison message: not JSON, straight onto the events topic.
        key = f"console-poison-{tok}"
        self.stack.kcat_produce(self.stack.topic, [(key, "this is not JSON")], partition=0)

        def letter():
            d = self.http.get("/v1/dlq/events?limit=1000")
            return d.status == 200 and next((x for x in d.json()["letters"] if x.get("key") == key), None)
        dead = self.wait(letter, 60, f"GET /v1/dlq/events to list the poison message {key}")
        self.expect(dead.get("error"), f"dead letter {dead}", "an error (x-error)", dead)

        r = self.http.post_json("/v1/assistance", {"topic": "sales", "description": f"console {tok}"}, retry=True)
        self.expect_status(r, 202, "POST /v1/assistance")
        aid = r.json()["id"]
        uuid.UUID(aid)
        # The page must not meet a 404 (run.js fails on any HTTP error): wait until notify recorded it.
        self.wait(lambda: self.http.get(f"/v1/assistance/{aid}").status == 200, 60,
                  f"GET /v1/assistance/{aid} to answer 200 (notify recorded the request)")

        # Two requests whose only delivery fails for good, for the deliveries view.
        failed = [self.post_assistance("dead", f"console nobody hears {tok} #{i}") for i in range(2)]
        for rid in failed:
            d, _ = self.wait_delivery(rid, "console-dead", "failed", timeout=60)
            self.expect(f"gave up after {CONSOLE_ATTEMPTS} attempts" in (d.get("last_error") or ""),
                        f"the failed delivery of {rid}", "its last error", d)
        self.wait_delivery(aid, "console-log", "delivered", timeout=60)

        data = {"events": {"type": etype, "tag": tok, "ids": ids, "markup": MARKUP},
                "deliveries": {"failed": failed, "channel": "console-dead", "delivered": aid,
                               "delivered_channel": "console-log", "attempts": CONSOLE_ATTEMPTS},
                "import": {"id": imp["import_id"], "accepted": 5, "rejected": 2},
                "dlq": {"collection": "events", "error": dead["error"]},
                "assistance": {"id": aid, "channel": "console-log"}}
        # A key that may read events and nothing else; one the test revokes.
        keys = {"SLUICE_VIEWER_KEY": self.stack.create_key(f"console-viewer-{tok}", "events:read"),
                "SLUICE_REVOCABLE_KEY": self.stack.create_key(f"console-revoked-{tok}", "admin")}
        artifacts = run_browser(self, "console.test.js", {"SLUICE_CONSOLE_DATA": json.dumps(data), **keys})
        missing = [s for s in CONSOLE_SHOTS if not os.path.exists(os.path.join(artifacts, f"{s}.png"))]
        self.expect(not missing, "the screenshots of the console's views", f"saved in {artifacts}",
                    f"missing {missing}; there: {os.listdir(artifacts)}")


class ConsoleRateLimit(StackCase):
    """The console meets a 429: ingest allows each principal 2 requests an
    hour, so an events:read key's third search is refused (the sign-in's
    check is a 403 for it, which takes no quota)."""
    stack_options = {"persist": 0, "ingest_env": {"SLUICE_RATE_LIMIT": "2/3600"}}

    def test_browser_rate_limited(self):
        key = self.stack.create_key(f"console-limited-{self.token}", "events:read")
        artifacts = run_browser(self, "console-ratelimit.test.js", {"SLUICE_LIMITED_KEY": key})
        shot = "console-shows-a-429-with-its-retry-after-and-waits-it-out"
        self.expect(os.path.exists(os.path.join(artifacts, f"{shot}.png")), "the screenshot",
                    f"{shot}.png in {artifacts}", os.listdir(artifacts))
