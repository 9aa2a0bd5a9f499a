"""Input of the notify benchmark: POSTs N assistance requests to sluice-ingest
as fast as THREADS keep-alive connections allow.

    /usr/bin/python3 bench/notify_load.py URL N [TOPIC] [THREADS]

URL is ingest's base (http://127.0.0.1:PORT); TOPIC defaults to "sales",
THREADS to 16. Request i carries "Idempotency-Key: bench-notify-<nonce>-<i>",
so a POST retried after a broken connection (at most 3 tries) is still one
request: the benchmark can demand exactly N requests, N deliveries and N
calls to the stand-in. With SLUICE_API_KEY in the environment (as sluicectl
takes it), every request sends it as "Authorization: Bearer <key>". Prints
one parseable line:

    NOTIFY_LOAD first_post_ns=... accepted=N failed=F retried=R seconds=S

(first_post_ns: time.time_ns() when the first POST was sent; seconds: from
then until the last answer). Exits non-zero unless all N answered 202.
Only the standard library is used."""
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse


def main(argv):
    if not 2 <= len(argv) <= 4:
        sys.stderr.write(__doc__)
        return 2
    url = urllib.parse.urlsplit(argv[0])
    n = int(argv[1])
    topic = argv[2] if len(argv) > 2 else "sales"
    threads = int(argv[3]) if len(argv) > 3 else 16
    nonce = os.urandom(6).hex()
    api_key = os.environ.get("SLUICE_API_KEY", "")
    auth = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "failed": 0, "retried": 0, "first": None, "errors": []}

    def take():
        with lock:
            i = state["next"]
            if i >= n:
                return None
            state["next"] = i + 1
            if state["first"] is None:
                state["first"] = time.time_ns()
            return i

    def worker():
        conn = None
        while (i := take()) is not None:
            body = json.dumps({"topic": topic,
                               "description": f"bench request {i} of {n}: the customer asks for a call back"})
            headers = {"Content-Type": "application/json", "Idempotency-Key": f"bench-notify-{nonce}-{i}", **auth}
            status, why = None, ""
            for attempt in range(3):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                    conn.request("POST", "/v1/assistance", body=body, headers=headers)
                    resp = conn.getresponse()
                    text = resp.read()
                    status = resp.status
                    if status != 202:
                        why = f"{status}: {text[:200]!r}"
                    if resp.will_close:
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as exc:
                    why = repr(exc)
                    if conn is not None:
                        conn.close()
                        conn = None
                    if attempt < 2:
                        with lock:
                            state["retried"] += 1
            with lock:
                if status == 202:
                    state["accepted"] += 1
                else:
                    state["failed"] += 1
                    if len(state["errors"]) < 5:
                        state["errors"].append(f"request {i}: {why}")
        if conn is not None:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    end = time.time_ns()
    first = state["first"] or end
    for e in state["errors"]:
        print(f"notify_load: {e}", file=sys.stderr)
    print(f"NOTIFY_LOAD first_post_ns={first} accepted={state['accepted']} failed={state['failed']}"
          f" retried={state['retried']} seconds={(end - first) / 1e9:.3f}", flush=True)
    return 0 if state["accepted"] == n else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
