#!/usr/bin/env bash
# make bench: one run, one machine, everything on loopback.
#   1. HTTP: wrk -t2 -c64 posting a ~300-byte event to sluice-ingest (durable
#      ack), to the FastAPI + confluent-kafka peer on the same broker, and to a
#      bare libmicrohttpd server (the ceiling); req/s, p99 and the ratios.
#   2. Persist: BENCH_EVENTS (1,000,000) events on sluice.events -> all rows in
#      PostgreSQL with two sluice-persist replicas, against psql \copy of the
#      same rows into a table with the same indexes.
#   3. Bulk import of as many events from an NDJSON file, until done, with
#      ingest's peak RSS.
# Results go to stdout and bench/results-latest.md.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${BENCH_DURATION:-10}
events=${BENCH_EVENTS:-1000000}
work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$work"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    deploy/dev/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_for() { # what seconds command...
    local what=$1 seconds=$2 deadline
    shift 2
    deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "bench: $what not ready after ${seconds}s (logs in $work)" >&2; exit 1; }
        sleep 0.1
    done
}

start_kafka() {
    rm -f "$work/bootstrap"
    "$build/sluice-devkafka" --partitions 200 --bootstrap-file "$work/bootstrap" >"$work/devkafka-$1.log" 2>&1 &
    kafka_pid=$!
    pids+=("$kafka_pid")
    wait_for sluice-devkafka 30 test -s "$work/bootstrap"
    export SLUICE_KAFKA_BROKERS=$(cat "$work/bootstrap")
}

# wrk against URL; sets rps and p99 (ms).
measure() {
    local url=$1 out
    wrk -t2 -c64 -d2s -s bench/post_event.lua "$url" >/dev/null 2>&1 # warm-up
    out=$(wrk -t2 -c64 -d"${duration}s" -s bench/post_event.lua "$url")
    echo "$out" >>"$work/wrk.log"
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk -F= '/^p99_ms=/ {print $2}')
    local errors=$(echo "$out" | awk -F= '/^errors=/ {print $2}')
    local non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    if [ "${errors:-0}" != 0 ] || [ -n "$non2xx" ]; then
        echo "bench: $url had errors (${errors} socket/status errors, ${non2xx:-0} non-2xx); see $work/wrk.log" >&2
    fi
}

export SLUICE_PG_URL=$(deploy/dev/pg.sh start "$work/pg")
start_kafka http

# 1. HTTP
port=$(free_port)
SLUICE_LISTEN=127.0.0.1:$port "$build/sluice-ingest" >"$work/ingest.log" 2>&1 &
ingest_pid=$!
pids+=("$ingest_pid")
wait_for sluice-ingest 60 curl -fsS "http://127.0.0.1:$port/readyz"
measure "http://127.0.0.1:$port/v1/events"
ingest_rps=$rps ingest_p99=$p99
kill -TERM "$ingest_pid" && wait "$ingest_pid" || true

port=$(free_port)
/usr/bin/python3 -m uvicorn fastapi_peer:app --app-dir bench --workers 2 --host 127.0.0.1 \
    --port "$port" --no-access-log --log-level warning >"$work/fastapi.log" 2>&1 &
fastapi_pid=$!
pids+=("$fastapi_pid")
wait_for "FastAPI peer" 60 curl -fsS -X POST -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$port/v1/events"
measure "http://127.0.0.1:$port/v1/events"
fastapi_rps=$rps fastapi_p99=$p99
kill -TERM "$fastapi_pid" && wait "$fastapi_pid" || true

port=$(free_port)
"$build/bench-bare-mhd" "$port" 2 >"$work/bare.log" 2>&1 &
bare_pid=$!
pids+=("$bare_pid")
wait_for bench-bare-mhd 10 curl -fsS -X POST -d '{}' "http://127.0.0.1:$port/v1/events"
measure "http://127.0.0.1:$port/v1/events"
bare_rps=$rps bare_p99=$p99
kill -TERM "$bare_pid" && wait "$bare_pid" || true

# 2. Persist: a fresh broker and empty tables, so only the benchmark's events count.
# The embedded broker keeps the last 5 MiB of each partition: 200 partitions
# hold the whole million before the workers start.
kill -TERM "$kafka_pid" && wait "$kafka_pid" || true
start_kafka persist
psql "$SLUICE_PG_URL" -qc "TRUNCATE events; DELETE FROM kafka_offsets;"
/usr/bin/python3 bench/produce_events.py "$SLUICE_KAFKA_BROKERS" "$events" 2>>"$work/produce.log"
start_ns=$(date +%s%N)
for i in 1 2; do
    SLUICE_ADMIN_LISTEN=127.0.0.1:$(free_port) "$build/sluice-persist" >"$work/persist-$i.log" 2>&1 &
    pids+=("$!")
done
deadline=$((SECONDS + 1800))
until [ "$(psql "$SLUICE_PG_URL" -tAc 'SELECT count(*) FROM events')" -ge "$events" ]; do
    ((SECONDS < deadline)) || { echo "bench: persist did not finish in 30 min; logs in $work" >&2; exit 1; }
    sleep 0.5
done
persist_s=$(echo "scale=2; ($(date +%s%N) - $start_ns) / 1000000000" | bc)

psql "$SLUICE_PG_URL" -qc "\\copy events TO '$work/events.tsv'"
psql "$SLUICE_PG_URL" -qc "CREATE TABLE events_copy (LIKE events INCLUDING ALL)"
start_ns=$(date +%s%N)
psql "$SLUICE_PG_URL" -qc "\\copy events_copy FROM '$work/events.tsv'"
copy_s=$(echo "scale=2; ($(date +%s%N) - $start_ns) / 1000000000" | bc)

# 3. Bulk import: the same number of events from an NDJSON file through
# POST /v1/bulk, timed until GET /v1/imports/{id} says done, with ingest's
# peak RSS sampled throughout.
for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
pids=()
start_kafka import
psql "$SLUICE_PG_URL" -qc "TRUNCATE events; DELETE FROM kafka_offsets;"
/usr/bin/python3 - "$events" "$work/import.ndjson" <<'PY'
import json, sys, uuid
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": f"imp-{i}", "type": "page.viewed", "occurred_at": "2024-05-01T12:00:00Z",
                            "user": {"id": f"u-{i}", "plan": "pro", "country": "FR"},
                            "page": "/pricing/enterprise", "referrer": "https://example.com/blog/post-about-things",
                            "session": str(uuid.uuid4()), "n": i}) + "\n")
PY
port=$(free_port)
SLUICE_LISTEN=127.0.0.1:$port "$build/sluice-ingest" >"$work/ingest-import.log" 2>&1 &
ingest_pid=$!
pids+=("$ingest_pid")
wait_for sluice-ingest 60 curl -fsS "http://127.0.0.1:$port/readyz"
for i in 1 2; do
    SLUICE_ADMIN_LISTEN=127.0.0.1:$(free_port) "$build/sluice-persist" >"$work/persist-import-$i.log" 2>&1 &
    pids+=("$!")
done
(while kill -0 "$ingest_pid" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$ingest_pid/status" 2>/dev/null
    sleep 0.2
done) >"$work/rss.log" &
rss_sampler=$!
start_ns=$(date +%s%N)
import_id=$(curl -fsS -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$work/import.ndjson" \
    "http://127.0.0.1:$port/v1/bulk" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["import_id"])')
upload_s=$(echo "scale=2; ($(date +%s%N) - $start_ns) / 1000000000" | bc)
deadline=$((SECONDS + 1800))
until curl -fsS "http://127.0.0.1:$port/v1/imports/$import_id" | grep -q '"status":"done"'; do
    ((SECONDS < deadline)) || { echo "bench: import not done in 30 min; logs in $work" >&2; exit 1; }
    sleep 0.5
done
import_s=$(echo "scale=2; ($(date +%s%N) - $start_ns) / 1000000000" | bc)
kill "$rss_sampler" 2>/dev/null || true
rss_mib=$(sort -n "$work/rss.log" | tail -n 1 | awk '{printf "%.1f", $1 / 1024}')

ratio() { echo "scale=2; $1 / $2" | bc; }
persist_rate=$(echo "$events / $persist_s" | bc)
copy_rate=$(echo "$events / $copy_s" | bc)
report=$(
    cat <<MD
| run | req/s | p99 (ms) |
|---|---:|---:|
| sluice-ingest (durable ack) | $ingest_rps | $ingest_p99 |
| FastAPI + confluent-kafka, 2 workers | $fastapi_rps | $fastapi_p99 |
| bare libmicrohttpd, no Kafka (ceiling) | $bare_rps | $bare_p99 |

- ingest / FastAPI: **$(ratio "$ingest_rps" "$fastapi_rps")x** (target >= 4)
- ingest / bare: **$(ratio "$ingest_rps" "$bare_rps")x** (target >= 0.6); ingest p99 $ingest_p99 ms (target <= 5)

| persist | rows | seconds | rows/s |
|---|---:|---:|---:|
| 2 x sluice-persist, topic -> PostgreSQL | $events | $persist_s | $persist_rate |
| psql \\copy of the same rows, same indexes | $events | $copy_s | $copy_rate |

- persist / COPY: **$(ratio "$copy_s" "$persist_s")x** (target >= 0.8)

| bulk import (NDJSON file, POST /v1/bulk) | rows | seconds | rows/s |
|---|---:|---:|---:|
| upload answered (all records acknowledged by Kafka) | $events | $upload_s | $(echo "$events / $upload_s" | bc) |
| import status done (all rows in PostgreSQL) | $events | $import_s | $(echo "$events / $import_s" | bc) |

- import / COPY: **$(ratio "$copy_s" "$import_s")x** (target >= 0.7); ingest peak RSS **$rss_mib MiB** (target < 64)
MD
)
echo "$report"
{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
    echo
    echo "$report"
} >bench/results-latest.md
