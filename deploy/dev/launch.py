#!/usr/bin/python3
"""Sluice's launcher library: the one implementation of what `make run`
(deploy/dev/run.sh), `make bench` (bench/run.sh) and the integration harness
(tests/integration/harness.py) need to start a system on this machine: free
ports, bounded waits, a throw-away PostgreSQL cluster and the dev Kafka broker
(sluice-devkafka). The harness imports it; the shell scripts call its CLI.
Debian's /usr/bin/python3, standard library only.

Ports. free_port() picks a port the kernel never hands out by itself (above
net.ipv4.ip_local_port_range, 61000-65535 on a default Linux; below it when
there is no room above), so an outgoing connection cannot take it between
the choice and the server's bind, checks that it binds, and reserves it in
$SLUICE_PORTS_DIR (/tmp/sluice-ports): a file per port naming its owner
process, under a lock. Another run skips a port whose owner still lives, so
two runs never get the same port, even while one restarts a server on its
own port (a PostgreSQL stopped and started again). A reservation lapses when
its owner exits; release_ports() drops it sooner.

Waits. Every wait polls a condition with a bound. On failure it names what
did not come up, what it waited for, the last thing seen and where the log
is; given the process, it fails at once when that process exits first.
Timeouts raise NotReady (an AssertionError), a process gone first Abort (the
same, for the tests' wait_until).

CLI (exit 0: done; 1: failed, the reason on stderr; 2: usage):
  launch.py free-port [--count N] [--owner PID]       ports, space-separated
  launch.py release-ports [--owner PID] [PORT...]     drop reservations
  launch.py wait-port HOST:PORT   [WAIT]              a TCP connect succeeds
  launch.py wait-http URL [--status 200] [--method GET] [--data BODY]
                          [--header 'Name: value']... [WAIT]
  launch.py wait-file PATH [--match REGEX] [WAIT]     prints the first line
                                                      matching (default: any)
  launch.py wait-exit PID... [WAIT]                   the processes are gone
  launch.py stop PID... [WAIT]                        SIGTERM, wait, SIGKILL
  launch.py start-pg DIR [--owner PID] [--port P]     prints the URL
  launch.py stop-pg DIR | pg-url DIR
  launch.py devkafka BUILD_DIR BOOTSTRAP_FILE [--brokers 3] [--partitions N]
      becomes sluice-devkafka (exec: it stays the caller's child), run it
      in the background, then:
  launch.py wait-devkafka BOOTSTRAP_FILE [WAIT]       prints the broker list
  WAIT: --timeout SECONDS (30) --what NAME --log PATH --pid PID (fail when
        PID exits first)
--owner defaults to the calling process (the parent of launch.py): a shell
script passes its own pid ("$$"), since command substitution may fork.
"""
import argparse
import fcntl
import glob
import http.client
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

__all__ = ["Abort", "LaunchError", "NotReady", "wait_until", "free_port", "free_ports", "release_ports",
           "reserve_port", "wait_port", "wait_http", "wait_file", "wait_exit", "exited", "stop",
           "start_pg", "stop_pg", "pg_url", "pg_bindir", "devkafka_argv", "wait_devkafka"]

IS_ROOT = os.geteuid() == 0
PORTS_DIR = os.environ.get("SLUICE_PORTS_DIR") or "/tmp/sluice-ports"
PG_OPTIONS = ("-c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 "
              "-c shared_buffers=256MB -c max_wal_size=2GB")


class Abort(AssertionError):
    """Raised by a wait_until predicate: stop waiting, the condition can never hold."""


class NotReady(AssertionError):
    """A bounded wait ran out of time."""


class LaunchError(RuntimeError):
    """Something could not be started or stopped."""


# ---------------------------------------------------------------- waiting

def _poll(predicate, timeout, interval):
    """(True, value, None) once predicate() is truthy, or (False, last value,
    last exception) after `timeout` s. Exceptions count as "not yet", except Abort."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last = predicate()
            if last:
                return True, last, None
            last_exc = None
        except Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - transient until the deadline
            last_exc = exc
        if time.monotonic() >= deadline:
            return False, last, last_exc
        time.sleep(interval)


def wait_until(predicate, timeout, message, interval=0.05):
    """Polls predicate() until it returns something truthy (returned) or
    `timeout` seconds pass (NotReady naming `message`, a string or a callable
    giving one, and the last value or exception)."""
    ok, last, last_exc = _poll(predicate, timeout, interval)
    if ok:
        return last
    msg = message() if callable(message) else message
    detail = f"; last value: {last!r}" if last_exc is None else f"; last error: {last_exc!r}"
    raise NotReady(f"timed out after {timeout:g}s waiting for: {msg}{detail}")


def _stat(pid):
    """The fields of /proc/PID/stat after the command (state first, start
    time at index 19), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


def _running(pid):
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def exited(proc):
    """None while `proc` (a pid or a subprocess.Popen) runs, else how it
    ended. A zombie counts as ended: its parent has yet to reap it."""
    if isinstance(proc, subprocess.Popen):
        rc = proc.poll()
        if rc is None:
            return None
        return f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
    return None if _running(int(proc)) else "exited"


def _pid(proc):
    return proc.pid if isinstance(proc, subprocess.Popen) else int(proc)


def _where(log):
    return f"; its log: {log}" if log else ""


def _wait(check, timeout, what, goal, log=None, proc=None, interval=0.05, last=None):
    """Polls check() until truthy (returned); NotReady after `timeout` s, Abort
    as soon as `proc` is gone. `last` describes the last failed attempt."""
    def attempt():
        error = None
        try:
            value = check()
        except Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - "not yet", unless the process is gone
            value, error = None, exc
        how = exited(proc) if not value and proc is not None else None
        if how:
            raise Abort(f"{what} (pid {_pid(proc)}) {how} while waiting for it to {goal}{_where(log)}")
        if error is not None:
            raise error
        return value

    ok, value, exc = _poll(attempt, timeout, interval)
    if ok:
        return value
    seen = last() if last else (repr(exc) if exc else None)
    seen = f" (last: {seen})" if seen else ""
    raise NotReady(f"{what} did not {goal} within {timeout:g}s{seen}{_where(log)}")


def wait_port(host, port, timeout=30, what=None, log=None, proc=None):
    """Waits until a TCP connection to host:port succeeds."""
    state = {}

    def answers():
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            return True
        except OSError as exc:
            state["last"] = exc.strerror or repr(exc)
            return False

    return _wait(answers, timeout, what or f"{host}:{port}", f"accept connections on {host}:{port}",
                 log, proc, last=lambda: state.get("last"))


def wait_http(url, timeout=30, what=None, log=None, proc=None, status=200, method="GET", body=None,
              headers=None):
    """Waits until `method` `url` answers `status`."""
    u = urllib.parse.urlsplit(url)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    if isinstance(body, str):
        body = body.encode()
    state = {}

    def answers():
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=2)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            text = r.read(300).decode("utf-8", "replace").strip()
            state["last"] = f"HTTP {r.status} {text}".strip()
            return r.status == status
        except (OSError, http.client.HTTPException) as exc:
            state["last"] = getattr(exc, "strerror", None) or repr(exc)
            return False
        finally:
            conn.close()

    return _wait(answers, timeout, what or url, f"answer {status} to {method} {url}", log, proc,
                 last=lambda: state.get("last"))


def wait_file(path, timeout=30, what=None, log=None, proc=None, match=None):
    """Waits until `path` has a line matching the regex `match` (default: any
    non-empty line); returns that line."""
    goal = f"write a line matching {match!r} to {path}" if match else f"write {path}"
    return _wait(lambda: _first_line(path, match), timeout, what or path, goal, log, proc)


def _first_line(path, match=None):
    """The first line of `path` matching the regex `match` (default: the
    first non-empty one), None when there is none (or no file)."""
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.rstrip("\n")
                if re.search(match, line) if match else line.strip():
                    return line
    except FileNotFoundError:
        pass
    return None


def wait_exit(proc, timeout=30, what=None, log=None):
    """Waits until `proc` (a pid or a Popen) is gone; returns how it ended."""
    name = what or "process"
    return _wait(lambda: exited(proc), timeout, f"{name} (pid {_pid(proc)})", "exit", log)


def stop(procs, timeout=30, what=None, log=None):
    """SIGTERM to each of `procs` (pids or Popens), a wait of `timeout` s in
    all, then SIGKILL to those still running. Returns [(proc, message)] for
    those that had to be killed."""
    procs = list(procs)
    for p in procs:
        try:
            os.kill(_pid(p), signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    killed = []
    for p in procs:
        try:
            wait_exit(p, max(0.0, deadline - time.monotonic()), what, log)
        except NotReady:
            msg = (f"{what or 'process'} (pid {_pid(p)}) did not exit within {timeout:g}s of SIGTERM; "
                   f"killed it{_where(log)}")
            try:
                os.kill(_pid(p), signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_exit(p, 30, what, log)
            killed.append((p, msg))
    return killed


# ------------------------------------------------------------------ ports

def _owner_id(owner):
    """"PID START-TIME": a pid reused by another process is another owner."""
    pid = int(owner if owner is not None else os.getpid())
    st = _stat(pid)
    if st is None or st[0] in ("Z", "X"):
        raise LaunchError(f"owner process {pid} is not running")
    return f"{pid} {st[19]}"


def _owner_alive(owner_id):
    pid, _, started = owner_id.strip().partition(" ")
    st = _stat(pid) if pid.isdigit() else None
    return st is not None and st[0] not in ("Z", "X") and st[19] == started


def _ports_dir():
    """The shared reservation directory (sticky, world-writable, as /tmp);
    one of our own when it cannot be written."""
    for d in (PORTS_DIR, f"{PORTS_DIR}-{os.geteuid()}"):
        try:
            os.makedirs(d, exist_ok=True)
            if os.stat(d).st_uid == os.geteuid() and d == PORTS_DIR:
                os.chmod(d, 0o1777)
            if os.access(d, os.W_OK | os.X_OK):
                return d
        except OSError:
            continue
    raise LaunchError(f"cannot create a port reservation directory {PORTS_DIR}")


class _Lock:
    def __init__(self, d):
        self.path = os.path.join(d, ".lock")

    def __enter__(self):
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            if os.fstat(self.fd).st_uid == os.geteuid():
                os.fchmod(self.fd, 0o666)  # whoever runs next may be another user
        except PermissionError:
            self.fd = os.open(self.path, os.O_RDONLY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def _claim(d, port, me, again=False):
    """Reserves `port` for owner id `me` (lock held): False when a live
    owner holds it, unless that is `me` and `again` (a server of ours
    started again on its port)."""
    path = os.path.join(d, str(port))
    try:
        with open(path) as f:
            holder = f.read()
        if holder.strip() == me and again:
            return True
        if _owner_alive(holder):
            return False
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:  # another user's stale file in the sticky directory
        return False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        f.write(me + "\n")
    return True


def _binds(port, reuse):
    """Whether a server could listen on 127.0.0.1:port now. With `reuse`
    (SO_REUSEADDR, as PostgreSQL and libmicrohttpd set it), connections in
    TIME_WAIT on the port do not count."""
    with socket.socket() as s:
        if reuse:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _candidates():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if 65535 - hi >= 1000:
        return hi + 1, 65535
    if lo - 10000 >= 1000:
        return 10000, lo - 1
    return None


def free_port(owner=None):
    """A free loopback port, reserved for `owner` (a pid; default this
    process) until it exits or release_ports()."""
    return free_ports(1, owner)[0]


def free_ports(count, owner=None):
    me = _owner_id(owner)
    d = _ports_dir()
    span = _candidates()
    got = []
    with _Lock(d):
        if len(os.listdir(d)) > 512:
            _sweep(d)
        for _ in range(count * 200 + 200):
            if span:
                port = random.randint(*span)
            else:  # no room outside the kernel's range: let it pick
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
            if port not in got and _binds(port, reuse=False) and _claim(d, port, me):
                got.append(port)
                if len(got) == count:
                    return got
    raise LaunchError(f"no free loopback port found (reservations in {d})")


def reserve_port(port, owner=None):
    """Reserves a given port for `owner` when no other live owner holds it
    and nothing listens on it; True when it is ours now."""
    me = _owner_id(owner)
    d = _ports_dir()
    with _Lock(d):
        return _binds(port, reuse=True) and _claim(d, port, me, again=True)


def _sweep(d):
    """Drops the reservations of owners that are gone (lock held)."""
    for name in os.listdir(d):
        if name.isdigit():
            try:
                with open(os.path.join(d, name)) as f:
                    if not _owner_alive(f.read()):
                        os.unlink(os.path.join(d, name))
            except OSError:
                pass


def release_ports(ports=None, owner=None):
    """Drops the reservations of `owner` (default this process): all of them,
    or only `ports`."""
    me = _owner_id(owner)
    d = _ports_dir()
    with _Lock(d):
        names = [str(p) for p in ports] if ports is not None else os.listdir(d)
        for name in names:
            path = os.path.join(d, name)
            try:
                with open(path) as f:
                    if f.read().strip() == me:
                        os.unlink(path)
            except OSError:
                pass


# ------------------------------------------------------------- PostgreSQL

def pg_bindir():
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "pg_ctl"), os.X_OK)]
    if not dirs:
        raise LaunchError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    return sorted(dirs, key=lambda d: int(re.findall(r"/(\d+)/bin", d)[0]))[-1]


def _as_owner(cmd):
    """Root is refused by postgres: as root the server runs as "postgres"."""
    return ["runuser", "-u", "postgres", "--"] + cmd if IS_ROOT else cmd


def _run(cmd, timeout, what):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise LaunchError(f"{what} did not finish within {timeout}s: {' '.join(cmd)}") from None


def _tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])
    except OSError:
        return ""


def _pg_dir(d):
    """DIR made (absolute, reachable by the server's user); the real one."""
    os.makedirs(d, exist_ok=True)
    d = os.path.abspath(d)
    if IS_ROOT:
        real = os.path.realpath(d)
        os.chown(real, *_postgres_ids())
        # A repo under /root is not reachable by the postgres user: keep the
        # cluster in /tmp then, with a link from DIR so the layout stays the same.
        if _run(_as_owner(["test", "-x", real]), 30, "runuser").returncode != 0:
            tmp = tempfile.mkdtemp(prefix="sluice-pg.", dir="/tmp")
            os.chown(tmp, *_postgres_ids())
            if os.path.islink(d):
                os.unlink(d)
            else:
                shutil.rmtree(d)
            os.symlink(tmp, d)
    return os.path.realpath(d)


def _postgres_ids():
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def _url_port(d):
    try:
        with open(os.path.join(d, "url")) as f:
            m = re.search(r":(\d+)/sluice$", f.read().strip())
        return int(m.group(1)) if m else None
    except OSError:
        return None


def _pg_running(bindir, data):
    return _run(_as_owner([f"{bindir}/pg_ctl", "-D", data, "status"]), 60, "pg_ctl status").returncode == 0


def start_pg(d, owner=None, port=None, timeout=60):
    """Starts the throw-away cluster in DIR (initdb once, database "sluice")
    on 127.0.0.1 and returns its URL (also written to DIR/url). The port: `port`
    when given, else that of the last start when it is still free (processes
    that ran while it was stopped reconnect to the same URL), else a free one;
    reserved for `owner`. A running cluster's URL is returned as it is."""
    bindir = pg_bindir()
    real = _pg_dir(d)
    data = os.path.join(real, "data")
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        out = _run(_as_owner([f"{bindir}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                              "--locale=C.UTF-8"]), 180, "initdb")
        with open(os.path.join(real, "initdb.log"), "w") as f:
            f.write(out.stdout + out.stderr)
        if out.returncode != 0:
            raise LaunchError(f"initdb {data} failed; its log: {real}/initdb.log\n{out.stderr.strip()}")
    if _pg_running(bindir, data):
        return pg_url(real)
    if port is None:
        port = _url_port(real)
        if port is None or not reserve_port(port, owner):
            port = free_port(owner)
    else:
        reserve_port(port, owner)  # a restart on its own port: pg_ctl says so if it is taken
    log = os.path.join(real, "server.log")
    out = _run(_as_owner([f"{bindir}/pg_ctl", "-D", data, "-l", log, "-w", "-t", str(timeout),
                          "-o", f"-p {port} -k {real} {PG_OPTIONS}", "start"]), timeout + 30, "pg_ctl start")
    if out.returncode != 0:
        raise LaunchError(f"PostgreSQL ({data}) did not come up on 127.0.0.1:{port}: "
                          f"{(out.stderr or out.stdout).strip()}; its log: {log}\n{_tail(log)}")
    psql = [f"{bindir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres", "-qtAc",
            "SELECT 1 FROM pg_database WHERE datname='sluice'"]
    if _run(_as_owner(psql), 60, "psql").stdout.strip() != "1":
        out = _run(_as_owner([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                              "sluice"]), 60, "createdb")
        if out.returncode != 0:
            raise LaunchError(f"createdb sluice on 127.0.0.1:{port} failed: {out.stderr.strip()}; its log: {log}")
    url = f"postgresql://postgres@127.0.0.1:{port}/sluice"
    with open(os.path.join(real, "url.tmp"), "w") as f:
        f.write(url + "\n")
    os.replace(os.path.join(real, "url.tmp"), os.path.join(real, "url"))
    return url


def stop_pg(d, timeout=60):
    """Fast shutdown of the cluster in DIR (nothing when there is none or it
    is not running); it keeps its port for start_pg()."""
    real = os.path.realpath(d)
    data = os.path.join(real, "data")
    if not os.path.exists(os.path.join(data, "PG_VERSION")):
        return
    bindir = pg_bindir()
    if not _pg_running(bindir, data):
        return
    out = _run(_as_owner([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", str(timeout), "stop"]),
               timeout + 30, "pg_ctl stop")
    if out.returncode != 0:
        raise LaunchError(f"PostgreSQL in {real} did not stop within {timeout}s ({out.stderr.strip()}); "
                          f"its log: {real}/server.log")


def pg_url(d):
    path = os.path.join(os.path.realpath(d), "url")
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        raise LaunchError(f"no cluster URL in {path}: start it first") from None


# ------------------------------------------------------------------ Kafka

def devkafka_argv(bin_dir, bootstrap_file, brokers=3, partitions=None):
    """The command line of the dev broker. Start it, then wait_devkafka()."""
    argv = [os.path.join(bin_dir, "sluice-devkafka"), "--brokers", str(brokers)]
    if partitions is not None:
        argv += ["--partitions", str(partitions)]
    # A broker started again: the wait is for the new one's servers.
    try:
        os.unlink(bootstrap_file)
    except FileNotFoundError:
        pass
    return argv + ["--bootstrap-file", bootstrap_file]


def _age(pid):
    """Seconds since process pid started (None when it is gone)."""
    st = _stat(pid)
    if st is None:
        return None
    with open("/proc/uptime") as f:
        return float(f.read().split()[0]) - int(st[19]) / os.sysconf("SC_CLK_TCK")


def wait_devkafka(bootstrap_file, timeout=60, proc=None, log=None, what="sluice-devkafka"):
    """Waits for the broker's bootstrap file (written whole, by rename) and
    returns the broker list. Given the broker's process, a file older than
    it (a previous broker's, when the caller started it in the background
    before devkafka_argv() removed the old one) does not count."""
    def fresh():
        if proc is None:
            return True
        age = _age(_pid(proc))
        try:
            return age is not None and time.time() - os.stat(bootstrap_file).st_mtime <= age + 0.05
        except FileNotFoundError:
            return False

    return _wait(lambda: fresh() and _first_line(bootstrap_file), timeout, what, f"write {bootstrap_file}",
                 log, proc).strip()


# -------------------------------------------------------------------- CLI

def _parser():
    p = argparse.ArgumentParser(prog="launch.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def waiting(sp, timeout=30):
        sp.add_argument("--timeout", type=float, default=timeout)
        sp.add_argument("--what")
        sp.add_argument("--log")
        sp.add_argument("--pid", type=int, help="fail at once when this process exits first")
        return sp

    sp = sub.add_parser("free-port")
    sp.add_argument("--count", type=int, default=1)
    sp.add_argument("--owner", type=int, default=os.getppid())
    sp = sub.add_parser("release-ports")
    sp.add_argument("--owner", type=int, default=os.getppid())
    sp.add_argument("ports", nargs="*", type=int)
    waiting(sub.add_parser("wait-port")).add_argument("address", metavar="HOST:PORT")
    sp = waiting(sub.add_parser("wait-http"))
    sp.add_argument("url")
    sp.add_argument("--status", type=int, default=200)
    sp.add_argument("--method", default="GET")
    sp.add_argument("--data")
    sp.add_argument("--header", action="append", default=[])
    sp = waiting(sub.add_parser("wait-file"))
    sp.add_argument("path")
    sp.add_argument("--match")
    waiting(sub.add_parser("wait-exit")).add_argument("pids", nargs="+", type=int)
    waiting(sub.add_parser("stop")).add_argument("pids", nargs="+", type=int)
    sp = sub.add_parser("start-pg")
    sp.add_argument("dir")
    sp.add_argument("--owner", type=int, default=os.getppid())
    sp.add_argument("--port", type=int)
    sub.add_parser("stop-pg").add_argument("dir")
    sub.add_parser("pg-url").add_argument("dir")
    sp = sub.add_parser("devkafka")
    sp.add_argument("build")
    sp.add_argument("bootstrap_file")
    sp.add_argument("--brokers", type=int, default=3)
    sp.add_argument("--partitions", type=int)
    waiting(sub.add_parser("wait-devkafka"), 60).add_argument("bootstrap_file")
    return p


def main(argv):
    a = _parser().parse_args(argv)
    w = {"timeout": a.timeout, "log": a.log, "proc": a.pid} if hasattr(a, "timeout") else {}
    if a.cmd == "free-port":
        print(" ".join(map(str, free_ports(a.count, a.owner))))
    elif a.cmd == "release-ports":
        release_ports(a.ports or None, a.owner)
    elif a.cmd == "wait-port":
        host, _, port = a.address.rpartition(":")
        wait_port(host, port, what=a.what, **w)
    elif a.cmd == "wait-http":
        headers = dict(h.split(":", 1) for h in a.header)
        wait_http(a.url, what=a.what, status=a.status, method=a.method, body=a.data,
                  headers={k.strip(): v.strip() for k, v in headers.items()}, **w)
    elif a.cmd == "wait-file":
        print(wait_file(a.path, what=a.what, match=a.match, **w))
    elif a.cmd == "wait-exit":
        deadline = time.monotonic() + a.timeout
        for pid in a.pids:
            wait_exit(pid, max(0.0, deadline - time.monotonic()), a.what, a.log)
    elif a.cmd == "stop":
        killed = stop(a.pids, a.timeout, a.what, a.log)
        for _, msg in killed:
            print(f"launch: {msg}", file=sys.stderr)
        return 1 if killed else 0
    elif a.cmd == "start-pg":
        print(start_pg(a.dir, a.owner, a.port))
    elif a.cmd == "stop-pg":
        stop_pg(a.dir)
    elif a.cmd == "pg-url":
        print(pg_url(a.dir))
    elif a.cmd == "devkafka":
        argv = devkafka_argv(a.build, a.bootstrap_file, a.brokers, a.partitions)
        try:
            os.execv(argv[0], argv)
        except OSError as exc:
            raise LaunchError(f"cannot run {argv[0]}: {exc.strerror} (build it first)") from None
    elif a.cmd == "wait-devkafka":
        print(wait_devkafka(a.bootstrap_file, what=a.what or "sluice-devkafka", **w))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (AssertionError, LaunchError) as exc:
        print(f"launch: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
