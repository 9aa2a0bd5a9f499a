"""A fixed amount of work for counting instructions per write (bench/run.sh,
BENCH=cpu): exactly REQUESTS POSTs of bench/event.json to URL over
CONNECTIONS keep-alive connections (one thread each), every answer read
before it returns, so the server did all of that work and nothing more.
wrk cannot do this: it has no request count, and it runs its whole -d even
once its threads stop.

    BENCH_AUTHORIZATION="Bearer $KEY" /usr/bin/python3 bench/fixed_load.py URL REQUESTS [CONNECTIONS] [--keyed]

--keyed: a fresh Idempotency-Key on every request. Prints one line:
    FIXED requests=<n> ok=<2xx answers> failed=<other answers or errors> seconds=<s>
and exits 1 when any request failed.
"""
import http.client
import os
import sys
import threading
import time
import urllib.parse
import uuid


def worker(url, count, keyed, body, results):
    headers = {"Content-Type": "application/json"}
    auth = os.environ.get("BENCH_AUTHORIZATION", "")
    if auth:
        headers["Authorization"] = auth
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    ok = failed = 0
    for _ in range(count):
        if keyed:
            headers["Idempotency-Key"] = "bench-" + uuid.uuid4().hex
        try:
            conn.request("POST", url.path or "/", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if 200 <= resp.status < 300:
                ok += 1
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    conn.close()
    results.append((ok, failed))


def main(argv):
    args = [a for a in argv[1:] if a != "--keyed"]
    if len(args) not in (2, 3):
        sys.exit(__doc__)
    url = urllib.parse.urlsplit(args[0])
    total = int(args[1])
    conns = int(args[2]) if len(args) == 3 else 8
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "event.json"), "rb") as f:
        body = f.read().rstrip(b"\n")
    results = []
    threads = [threading.Thread(target=worker,
                                args=(url, total // conns + (i < total % conns), "--keyed" in argv,
                                      body, results))
               for i in range(conns)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(r[0] for r in results)
    failed = sum(r[1] for r in results)
    print(f"FIXED requests={total} ok={ok} failed={failed} seconds={time.monotonic() - t0:.2f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv)
