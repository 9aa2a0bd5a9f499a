"""`make run` used as its users do: stopped and started on the same data.

Issue 9 item 18: `make run`'s .run/env exists exactly while the system takes
writes. It appears, whole, when ingest's /readyz answers (and every URL in it
answers then), and it is gone once a SIGTERM has stopped the run; a second
run on the same data writes it again.

Issue 9 item 1: a stop keeps the PostgreSQL cluster and loses the embedded
broker. Writes that arrive the moment a run is ready, and right up to its
stop, must all be stored, over three runs on the same data: the stop lets
the workers apply what Kafka holds, and the next run's persist never skips a
message of the new broker's log because of the old one's offsets.

deploy/dev/run.sh is driven as `make run` drives it, from a copy of deploy/dev
in a temporary directory (run.sh keeps its .run next to itself), so the
developer's own .run is never touched. SLUICE_LISTEN is a free port; PostgreSQL
and Kafka take free ports of their own."""
import glob
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from harness import Abort, Http, Load, check_exactly_once, free_port, wait_until

START_TIMEOUT = 240  # initdb, a sanitizer build, 512 partitions to assign
# run.sh polls /readyz every 0.1 s, then renames the file into place.
ENV_LATE_MAX = 1.0


def read_env(path):
    """{name: value} of the `export NAME=value` lines of a shell env file."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                name, _, value = line[len("export "):].partition("=")
                values[name] = " ".join(shlex.split(value))
    return values


class RunTarget:
    """What harness.Load and check_exactly_once need of a running system."""

    def __init__(self, listen, pg_url):
        self.host, _, port = listen.partition(":")
        self.port, self.pg_url = int(port), pg_url

    def http(self, timeout=30):
        return Http(self.host, self.port, timeout)

    def sql(self, query):
        out = subprocess.run(["psql", self.pg_url, "-XqAt", "-F", "\x1f", "-c", query],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql failed on {query!r}: {out.stderr.strip()}")
        return [line.split("\x1f") for line in out.stdout.splitlines() if line]


class MakeRun(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="sluice-it-make-run-")
        os.chmod(self.root, 0o755)  # the postgres user must reach .run/pg when we are root
        shutil.copytree(os.path.join(harness.ROOT, "deploy", "dev"), os.path.join(self.root, "deploy", "dev"))
        self.run_dir = os.path.join(self.root, ".run")
        self.env_file = os.path.join(self.run_dir, "env")
        self.listen = f"127.0.0.1:{free_port()}"
        self.proc = None
        self.outputs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        subprocess.run(["bash", os.path.join(self.root, "deploy", "dev", "pg.sh"), "stop", os.path.join(self.run_dir, "pg")],
                       capture_output=True, timeout=120)
        pg = os.path.join(self.run_dir, "pg")
        if os.path.islink(pg):
            shutil.rmtree(os.path.realpath(pg), ignore_errors=True)
        if os.environ.get("SLUICE_IT_KEEP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        for key, value in harness.SAN_ENV.items():
            env[key] = value
        if os.path.exists(harness.LSAN_SUPP):
            env["LSAN_OPTIONS"] += f":suppressions={harness.LSAN_SUPP}"
        env["SLUICE_LISTEN"] = self.listen
        env["SLUICE_PERSIST_REPLICAS"] = "2"
        return env

    def where(self):
        return f"run.sh output in {self.outputs}, process logs in {self.run_dir}/logs/"

    def fail_with(self, what, expected, got):
        self.fail(f"{what}\n  expected: {expected}\n  got:      {got}\n  look at:  {self.where()}")

    def start(self):
        out = os.path.join(self.root, f"run-{len(self.outputs) + 1}.out")
        self.outputs.append(out)
        with open(out, "wb") as f:
            self.proc = subprocess.Popen(["bash", os.path.join(self.root, "deploy", "dev", "run.sh"), harness.BIN],
                                         env=self.env(), cwd=self.root, stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

        host, _, port = self.listen.partition(":")
        seen = {}

        def written():
            if self.proc.poll() is not None:
                raise Abort(f"run.sh exited with {self.proc.returncode} before writing {self.env_file}")
            key_file = os.path.join(self.run_dir, "dev-key")
            if os.path.exists(key_file):
                # make run's dev key, made before ingest starts: what the
                # README's tour and every client here use.
                with open(key_file) as f:
                    Http.default_key = f.read().strip() or None
            if os.path.exists(self.env_file):
                seen.setdefault("env", time.monotonic())
                return True
            if "ready" not in seen:
                client = Http(host, int(port), timeout=2)
                try:
                    if client.get("/readyz").status == 200:
                        seen["ready"] = time.monotonic()
                except OSError:
                    pass
                finally:
                    client.close()
            return False

        wait_until(written, START_TIMEOUT, lambda: f"{self.env_file} to appear; {self.where()}", interval=0.02)
        # A tool that waits for the API (as the README's curl lines do) and
        # then sources the file must find it.
        late = seen["env"] - seen.get("ready", seen["env"])
        if late > ENV_LATE_MAX:
            self.fail_with(f"{self.env_file} once GET /readyz answered 200", f"within {ENV_LATE_MAX}s",
                           f"{late:.2f}s later")
        return read_env(self.env_file)

    def check_answers(self, env):
        """Every URL of the env file answers at once: it was written only
        when the system was ready."""
        api = env.get("SLUICE_API_URL")
        if api != f"http://{self.listen}":
            self.fail_with("SLUICE_API_URL in .run/env", f"http://{self.listen}", api)
        urls = [(api, "/readyz")] + [(u, "/healthz") for u in env.get("SLUICE_PERSIST_ADMIN_URLS", "").split()]
        urls.append((env.get("SLUICE_NOTIFY_ADMIN_URL"), "/healthz"))
        if len(urls) != 4:
            self.fail_with("admin URLs in .run/env", "2 persist replicas and notify", env)
        for base, path in urls:
            host, _, port = base[len("http://"):].partition(":")
            client = Http(host, int(port), timeout=10)
            try:
                r = client.get(path)
            except OSError as exc:
                r = exc
            finally:
                client.close()
            if getattr(r, "status", None) != 200:
                self.fail_with(f"GET {base}{path} as soon as .run/env exists", "200", r)
        pg = subprocess.run(["psql", env.get("SLUICE_PG_URL", ""), "-XqAtc", "SELECT 1"], capture_output=True, text=True, timeout=30)
        if pg.stdout.strip() != "1":
            self.fail_with(f"psql {env.get('SLUICE_PG_URL')} -c 'SELECT 1'", "1", pg.stderr.strip() or pg.stdout)
        kc = subprocess.run(["kcat", "-L", "-b", env.get("SLUICE_KAFKA_BROKERS", ""), "-t", "sluice.events", "-m", "10"],
                            capture_output=True, text=True, timeout=30)
        if kc.returncode != 0 or "sluice.events" not in kc.stdout:
            self.fail_with(f"kcat -L -b {env.get('SLUICE_KAFKA_BROKERS')}", "metadata naming sluice.events",
                           (kc.stderr or kc.stdout).strip()[:500])

    def stop(self, ctrl_c=False):
        """SIGTERM to run.sh, or with ctrl_c SIGINT to its whole process
        group, as a terminal's Ctrl-C sends it."""
        if ctrl_c:
            os.killpg(self.proc.pid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.fail_with("run.sh after SIGTERM", "exit within 120 s", "still running")
        if rc != 0:
            self.fail_with("run.sh's exit status after SIGTERM", 0, rc)
        if os.path.exists(self.env_file):
            with open(self.env_file) as f:
                self.fail_with(f"{self.env_file} after the run stopped", "no file (its ports are closed)", f.read())
        host, _, port = self.listen.partition(":")
        try:
            r = Http(host, int(port), timeout=5).get("/healthz")
        except OSError:
            r = None
        if r is not None:
            self.fail_with(f"GET http://{self.listen}/healthz after the stop", "connection refused", r)

    def sanitizer_reports(self):
        found = []
        for path in sorted(glob.glob(os.path.join(self.run_dir, "logs", "*.log"))):
            with open(path, errors="replace") as f:
                text = f.read()
            if any(p in text for p in harness.SANITIZER_PATTERNS):
                found.append(path)
        return found

    def test_env_file_while_running_only(self):
        env = self.start()
        self.check_answers(env)
        tag = uuid.uuid4().hex
        api = Http(*self.listen.split(":")[0:1], int(self.listen.split(":")[1]))
        r = api.post_json("/v1/events", {"type": "make-run", "tag": tag})
        api.close()
        if r.status != 202:
            self.fail_with("POST /v1/events on the first run", 202, r)

        def stored():
            out = subprocess.run(["psql", env["SLUICE_PG_URL"], "-XqAtc",
                                  f"SELECT count(*) FROM events WHERE body->>'tag' = '{tag}'"],
                                 capture_output=True, text=True, timeout=30)
            return out.stdout.strip() == "1"

        wait_until(stored, 60, lambda: f"the first run's event in PostgreSQL; {self.where()}")
        if env.get("SLUICE_API_KEY") != Http.default_key or not env["SLUICE_API_KEY"].startswith("sk_sluice_"):
            self.fail_with("SLUICE_API_KEY in .run/env", f"the dev key of {self.run_dir}/dev-key",
                           env.get("SLUICE_API_KEY"))
        mode = os.stat(os.path.join(self.run_dir, "dev-key")).st_mode & 0o777
        if mode != 0o600:
            self.fail_with(".run/dev-key's mode", "0600", oct(mode))
        anonymous = Http(*self.listen.split(":")[0:1], int(self.listen.split(":")[1]), key=None)
        r = anonymous.post_json("/v1/events", {"type": "make-run", "tag": tag})
        anonymous.close()
        if r.status != 401:
            self.fail_with("POST /v1/events without the key", 401, r)
        first_key = env["SLUICE_API_KEY"]
        self.stop()

        env = self.start()  # the same .run: the same PostgreSQL cluster
        self.check_answers(env)
        if env.get("SLUICE_API_KEY") != first_key:
            self.fail_with("the dev key on the second run", "the first run's key, kept", env.get("SLUICE_API_KEY"))
        # Tools can tell a live file from one left by a run killed -9.
        if env.get("SLUICE_RUN_PID") != str(self.proc.pid):
            self.fail_with(f"SLUICE_RUN_PID in {self.env_file}", self.proc.pid, env.get("SLUICE_RUN_PID"))
        out = subprocess.run(["psql", env["SLUICE_PG_URL"], "-XqAtc",
                              f"SELECT count(*) FROM events WHERE body->>'tag' = '{tag}'"],
                             capture_output=True, text=True, timeout=30)
        if out.stdout.strip() != "1":
            self.fail_with("the first run's event on the second run", "1 row", out.stdout.strip() or out.stderr)
        self.stop()
        reports = self.sanitizer_reports()
        if reports:
            self.fail_with("sanitizer reports in the run's logs", "none", reports)

    def test_writes_from_ready_to_stop_survive_three_runs(self):
        """Stopped by SIGTERM once, then twice by Ctrl-C."""
        runs = []
        for n in range(3):
            env = self.start()  # returns once /readyz answered: write at once
            target = RunTarget(self.listen, env["SLUICE_PG_URL"])
            run = f"run{n + 1}-{uuid.uuid4().hex[:8]}"
            load = Load(target, 400 + 300 * n, 4, lambda seq, run=run: {"type": "make-run", "run": run, "seq": seq})
            load.start()
            load.join(240)
            if len(load.acked) != load.total:
                self.fail_with(f"{run}: every write acknowledged", load.total, load.summary())
            runs.append((run, load))
            # Right after the last acknowledgement; Ctrl-C reaches every
            # process of the terminal's group, not only run.sh.
            self.stop(ctrl_c=n > 0)
        env = self.start()
        target = RunTarget(self.listen, env["SLUICE_PG_URL"])
        for run, load in runs:
            problem = check_exactly_once(target, load, run, timeout=120)
            if problem:
                self.fail_with(f"{run}: every acknowledged write stored exactly once after the restarts",
                               "none missing or doubled", problem)
        self.stop()
        reports = self.sanitizer_reports()
        if reports:
            self.fail_with("sanitizer reports in the run's logs", "none", reports)
