#!/usr/bin/env bash
# make bench: one run, one machine, everything on loopback (see bench/README.md).
#   bench/run.sh BUILD_DIR
#   1. HTTP: wrk -t2 -c64 posting a ~300-byte event (bench/post_event.lua) to
#      sluice-ingest (durable ack; unkeyed, then with a fresh Idempotency-Key
#      per request), to the FastAPI + confluent-kafka peer and to the naive C
#      front (bench/naive_front.c: MHD + jansson + librdkafka, ingest's
#      producer settings) on the same broker, and to a bare libmicrohttpd
#      server (the ceiling): req/s, p99 and the ratios.
#   2. Persist: BENCH_EVENTS (1,000,000) envelopes on sluice.events, then
#      sluice-persist replicas started and timed until SELECT count(*) FROM
#      events reaches it; against psql \copy of the same rows into an empty
#      table with the same indexes.
#   3. Bulk import: the same event bodies as NDJSON through POST /v1/bulk,
#      timed until GET /v1/imports/{id} says done (and indexed, when it says
#      so), with ingest's peak RSS; against psql \copy of the imported rows
#      into a copy of events without its text-search index.
#      Search (BENCH=search, runs the import): then a fixed mix of
#      GET /v1/events?contains=...&limit=100 on those rows, p50/p95.
#   4. Notify: BENCH_NOTIFY_REQUESTS (1,000) assistance requests POSTed to
#      ingest (bench/notify_load.py), one sluice-notify sending each to a Slack
#      stand-in (tests/tools/sink.py) that answers after BENCH_NOTIFY_DELAY_MS
#      (200): timed until all deliveries are delivered, against the ideal of
#      a fixed concurrency (requests x delay / concurrency).
#   5. Auth (BENCH=auth, or BENCH=all; not in the default run): the write of 1
#      against four sluice-ingest side by side, each configured for one way
#      of authenticating: none (SLUICE_AUTH_PUBLIC_SCOPES='*', no header), an
#      API key, an HS256 JWT and an RS256 JWT (JWKS file), one pre-signed
#      credential in every request's header; BENCH_AUTH_ROUNDS (3) rounds in
#      rotating order, the median of each, and each authenticated variant's
#      ratio to the unauthenticated one (issue 11's figures).
#   6. CPU (BENCH=cpu, or BENCH=all): instructions per accepted write, counted
#      by callgrind over exactly BENCH_CPU_REQUESTS requests (bench/fixed_load.py)
#      for ingest (unkeyed and keyed), the naive front and the bare server,
#      one at a time under valgrind (issue 13's "half the CPU per write").
# Every request to ingest authenticates as a user's would: right after
# PostgreSQL is up, `sluice-ingest create-key --name bench --scopes '*'`
# makes a key, sent as "Authorization: Bearer <key>" by wrk, curl and
# notify_load.py (to the FastAPI peer and the bare server too, which ignore
# it: every server gets the same bytes). Every ingest runs with
# SLUICE_RATE_LIMIT=0: a benchmark is not a rate-limit test.
# Results: a markdown report on stdout and in bench/results-latest.md (a run
# that skips a section writes bench/results-partial.md instead).
#
# Knobs (environment): BENCH (the sections: "http persist import notify" by
# default, any of those and "auth", "cpu", "search", space- or
# comma-separated, or "all"),
# BENCH_DURATION (10 s per wrk run), BENCH_WARMUP (2 s),
# BENCH_ROUNDS (1: measure each server that many times, keep its best),
# BENCH_AUTH_ROUNDS (3: rounds of section 5, the median counts),
# BENCH_EVENTS (1000000), BENCH_PERSIST_REPLICAS (2), BENCH_PARTITIONS (200),
# BENCH_TIMEOUT (900 s bound on each persist/import/notify wait),
# BENCH_NOTIFY_REQUESTS (1000), BENCH_NOTIFY_DELAY_MS (200),
# BENCH_NOTIFY_CONCURRENCY (50), BENCH_CPU_REQUESTS (2000),
# BENCH_CPU_CONNECTIONS (8), BENCH_SEARCH_QUERIES (20 rounds of the mix),
# BENCH_NAIVE_TOPIC (sluice.events.dlq), BENCH_SKIP_HTTP=1, BENCH_SKIP_PERSIST=1,
# BENCH_SKIP_IMPORT=1, BENCH_SKIP_NOTIFY=1, BENCH_REPORT (the report's file),
# BENCH_KEEP=1 (keep the work directory).
# Free ports, waits, PostgreSQL and the broker: deploy/dev/launch.py, shared
# with make run and the integration tests.
set -euo pipefail

[ $# -le 1 ] || { echo "usage: $0 [BUILD_DIR]" >&2; exit 2; }
build=$(cd "${1:-build}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${BENCH_DURATION:-10}
rounds=${BENCH_ROUNDS:-1}
warmup=${BENCH_WARMUP:-2}
events=${BENCH_EVENTS:-1000000}
replicas=${BENCH_PERSIST_REPLICAS:-2}
partitions=${BENCH_PARTITIONS:-200}
timeout=${BENCH_TIMEOUT:-900}
notify_requests=${BENCH_NOTIFY_REQUESTS:-1000}
notify_delay=${BENCH_NOTIFY_DELAY_MS:-200}
notify_concurrency=${BENCH_NOTIFY_CONCURRENCY:-50}
auth_rounds=${BENCH_AUTH_ROUNDS:-3}
cpu_requests=${BENCH_CPU_REQUESTS:-2000}
cpu_conns=${BENCH_CPU_CONNECTIONS:-8}
search_rounds=${BENCH_SEARCH_QUERIES:-20}
# The naive front's topic of its own, with the events topic's partition count:
# sluice-devkafka pre-creates only the collections' topics and their .dlq (a
# topic used before it exists gets the mock's 4 partitions), and nothing reads
# sluice.events.dlq during section 1.
naive_topic=${BENCH_NAIVE_TOPIC:-sluice.events.dlq}
py=/usr/bin/python3

# BENCH selects the sections; BENCH_SKIP_<SECTION>=1 (the older knob) still
# drops one of them.
sections=${BENCH:-http persist import notify}
[ "$sections" != all ] || sections="http persist import notify auth cpu search"
run_auth="" run_cpu="" run_search=""
for s in ${sections//,/ }; do
    case $s in
    http | persist | import | notify) ;;
    auth) run_auth=1 ;;
    cpu) run_cpu=1 ;;
    search) run_search=1 ;; # on the import's rows: it runs the import too
    *) echo "bench: BENCH=$sections: \"$s\" is not one of http persist import notify auth cpu search (or all)" >&2; exit 2 ;;
    esac
done
[ -z "$run_search" ] || [[ " ${sections//,/ } " == *" import "* ]] || sections="$sections import"
for s in HTTP PERSIST IMPORT NOTIFY; do
    v=BENCH_SKIP_$s
    [[ " ${sections//,/ } " == *" ${s,,} "* ]] || declare "$v=1"
done
if [ -n "${BENCH_SKIP_HTTP:-}${BENCH_SKIP_PERSIST:-}${BENCH_SKIP_IMPORT:-}${BENCH_SKIP_NOTIFY:-}" ]; then
    report_file=${BENCH_REPORT:-bench/results-partial.md} # a partial run keeps the full figures
else
    report_file=${BENCH_REPORT:-bench/results-latest.md}
fi

# What the sections to run need (sluice-ingest always: it makes the API key).
bins=(sluice-devkafka sluice-ingest) tools=(psql curl) modules=()
[ -n "${BENCH_SKIP_HTTP:-}" ] || { bins+=(bench-bare-mhd bench-naive-front) tools+=(wrk) modules+=(fastapi uvicorn confluent_kafka); }
[ -z "$run_auth" ] || tools+=(wrk)
[ -z "$run_cpu" ] || { bins+=(bench-bare-mhd bench-naive-front) tools+=(valgrind callgrind_control); }
[ -n "${BENCH_SKIP_PERSIST:-}" ] || { bins+=(sluice-persist) modules+=(confluent_kafka); }
[ -n "${BENCH_SKIP_IMPORT:-}" ] || { bins+=(sluice-persist) modules+=(confluent_kafka); }
[ -n "${BENCH_SKIP_NOTIFY:-}" ] || bins+=(sluice-notify)
[ -n "${BENCH_SKIP_NOTIFY:-}" ] || [ -r tests/tools/sink.py ] ||
    { echo "bench: tests/tools/sink.py (the Slack stand-in) is missing" >&2; exit 1; }
for bin in "${bins[@]}"; do
    [ -x "$build/$bin" ] || { echo "bench: $build/$bin is missing (make bench builds it)" >&2; exit 1; }
done
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/deps.sh --bench)" >&2; exit 1; }
done
if ((${#modules[@]})); then
    $py -c "import $(printf '%s\n' "${modules[@]}" | sort -u | paste -sd,)" 2>/dev/null ||
        { echo "bench: $py lacks one of $(printf '%s\n' "${modules[@]}" | sort -u | paste -sd' ') (scripts/deps.sh --bench)" >&2; exit 1; }
fi

work=$(mktemp -d /tmp/sluice-bench.XXXXXX)
chmod 755 "$work"
pids=()
declare -A logs=() # pid -> its log, for the waits' messages
ok=0

log() { echo "bench: $*" >&2; }
launch() { $py deploy/dev/launch.py "$@"; }

# Stops each pid (TERM, then KILL after 30 s), reaps it and forgets it.
stop() {
    local pid keep=() gone g
    launch stop --timeout 30 --log "$work" "$@" || true
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        gone=0
        for g in "$@"; do [ "$pid" = "$g" ] && gone=1; done
        [ "$gone" = 1 ] || keep+=("$pid")
    done
    pids=("${keep[@]+"${keep[@]}"}")
}

cleanup() {
    trap - EXIT INT TERM
    ((${#pids[@]})) && stop "${pids[@]}"
    launch stop-pg "$work/pg" >/dev/null 2>&1 || true
    launch release-ports --owner $$ || true
    rm -f "$work"/*.tsv "$work"/*.ndjson
    if [ "$ok" = 1 ] && [ -z "${BENCH_KEEP:-}" ]; then
        rm -rf "$work" "$(readlink -f "$work/pg" 2>/dev/null || echo "$work/pg")"
    else
        log "logs kept in $work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a command in the background and records its pid in $started.
start() {
    local logfile=$1
    shift
    "$@" >"$logfile" 2>&1 &
    started=$!
    pids+=("$started")
    logs[$started]=$logfile
}

# start_ingest LOG ADDR [VAR=VALUE...]: a sluice-ingest on ADDR (host:port),
# its pid in $ingest_pid; run by the command in the array ingest_wrap when
# set (valgrind, in section 6). No rate limit (a benchmark is not a rate-limit
# test), and none of the caller's authentication settings: only what the
# arguments say (the defaults: credentials required, no JWT).
start_ingest() {
    local logfile=$1 addr=$2
    shift 2
    start "$logfile" env -u SLUICE_AUTH_PUBLIC_SCOPES -u SLUICE_JWT_JWKS -u SLUICE_JWT_HS256_SECRET \
        -u SLUICE_JWT_ISSUER -u SLUICE_JWT_AUDIENCE -u SLUICE_JWT_ALGORITHMS \
        SLUICE_RATE_LIMIT=0 SLUICE_LISTEN="$addr" "$@" ${ingest_wrap[@]+"${ingest_wrap[@]}"} "$build/sluice-ingest"
    ingest_pid=$started
}

# A free loopback port, reserved for this run.
free_port() { launch free-port --owner $$; }

# wait_http WHAT SECONDS PID URL [launch.py wait-http options]: fails when
# SECONDS pass or PID (started by start) exits first, naming its log.
wait_http() {
    local what=$1 seconds=$2 pid=$3 url=$4
    shift 4
    launch wait-http "$url" --timeout "$seconds" --what "$what" --pid "$pid" --log "${logs[$pid]}" "$@"
}

now_ns() { date +%s%N; }
elapsed() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN {printf "%.2f", (b - a) / 1e9}'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN {if (b > 0) printf f, a / b; else printf "n/a"}'; }
# met VALUE OP TARGET -> "met" or "NOT met"
met() {
    awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN {
        if (v !~ /^[0-9.]+$/) { print "not measured"; exit }
        r = (op == ">=") ? v + 0 >= t + 0 : v + 0 <= t + 0
        print (r ? "met" : "NOT met")
    }'
}

# CPU seconds (user + system) used so far by the given pids and their children,
# those that exited included (cutime, cstime: PostgreSQL's ended backends).
cpu_s() {
    local tck total=0 p
    tck=$(getconf CLK_TCK)
    for p in "$@" $(for q in "$@"; do pgrep -P "$q" || true; done); do
        [ -r "/proc/$p/stat" ] || continue
        total=$((total + $(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$p/stat")))
    done
    awk -v t="$total" -v h="$tck" 'BEGIN {printf "%.2f", t / h}'
}

# launch.py devkafka becomes the broker (exec), so $kafka_pid is the broker's.
# It sets TCP_NODELAY on the connections it accepts, as a real broker does
# (deploy/dev/devkafka.c).
start_kafka() {
    start "$work/devkafka-$1.log" $py deploy/dev/launch.py devkafka "$build" \
        "$work/bootstrap" --partitions "$partitions"
    kafka_pid=$started
    SLUICE_KAFKA_BROKERS=$(launch wait-devkafka "$work/bootstrap" --timeout 60 --pid "$kafka_pid" \
        --log "$work/devkafka-$1.log")
    export SLUICE_KAFKA_BROKERS
}

psql_q() { PGOPTIONS="-c client_min_messages=warning" psql "$SLUICE_PG_URL" -v ON_ERROR_STOP=1 -qtAc "$1"; }

# Busy CPU seconds of the whole machine so far (all cores, from /proc/stat).
machine_s() { awk -v h="$(getconf CLK_TCK)" '$1 == "cpu" {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / h; exit}' /proc/stat; }
# Sets $children to the CPU seconds of the children this shell has reaped so
# far (the builtin times; not in a subshell, which would count its own).
children_s() {
    times >"$work/times"
    children=$(awk 'NR == 2 {
        for (i = 1; i <= 2; i++) { split($i, t, "m"); sub("s", "", t[2]); s += t[1] * 60 + t[2] }
        printf "%.2f", s
    }' "$work/times")
}
# acct_begin PIDS... / acct_end PIDS...: around a phase, sets $rest to the
# cores that processes other than PIDS (and their children), this shell's
# children and PostgreSQL kept busy on average: how disturbed the phase was.
acct_begin() {
    children_s
    a_children=$children a_machine=$(machine_s) a_ours=$(cpu_s "$pg_pid" "$@") a_t0=$(now_ns)
}
acct_end() {
    local secs ours machine
    secs=$(elapsed "$a_t0") machine=$(machine_s) ours=$(cpu_s "$pg_pid" "$@")
    children_s
    rest=$(awk -v s="$secs" -v m0="$a_machine" -v m1="$machine" -v o0="$a_ours" -v o1="$ours" \
        -v c0="$a_children" -v c1="$children" \
        'BEGIN {r = ((m1 - m0) - (o1 - o0) - (c1 - c0)) / s; printf "%.2f", r < 0 ? 0 : r}')
}
per_s() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN {printf "%.2f", (b - a) / s}'; }

# measure NAME URL SERVER_PID [AUTHORIZATION [KEYED]]: a warm-up, then the
# timed wrk run, every request with that Authorization header (none when
# empty or absent), and a fresh Idempotency-Key when KEYED is 1. Sets rps, p50, p99, failed (non2xx + socket errors), non2xx and
# the cores kept busy on average by the server (with its children), the
# broker, wrk and everything else on the machine.
measure() {
    local name=$1 url=$2 server=$3 out line c0 k0 w0 m0 t0 c1 k1 w1 m1 secs sock
    export BENCH_AUTHORIZATION=${4:-} BENCH_KEYED=${5:-} # read by post_event.lua
    wrk -t2 -c64 -d"${warmup}s" --timeout 10s -s bench/post_event.lua "$url" >/dev/null 2>&1
    c0=$(cpu_s "$server") k0=$(cpu_s "$kafka_pid")
    children_s
    w0=$children m0=$(machine_s) t0=$(now_ns)
    out=$(wrk -t2 -c64 -d"${duration}s" --timeout 10s -s bench/post_event.lua "$url")
    secs=$(elapsed "$t0") m1=$(machine_s)
    children_s
    w1=$children
    c1=$(cpu_s "$server") k1=$(cpu_s "$kafka_pid")
    server_cpu=$(per_s "$c0" "$c1" "$secs") broker_cpu=$(per_s "$k0" "$k1" "$secs")
    wrk_cpu=$(per_s "$w0" "$w1" "$secs")
    other_cpu=$(awk -v m="$(per_s "$m0" "$m1" "$secs")" -v a="$server_cpu" -v b="$broker_cpu" -v c="$wrk_cpu" \
        'BEGIN {o = m - a - b - c; printf "%.2f", o < 0 ? 0 : o}')
    printf '### %s\n%s\n\n' "$name" "$out" >>"$work/wrk.log"
    line=$(echo "$out" | grep '^BENCH ') || { log "$name: no BENCH line from wrk:"; echo "$out" >&2; exit 1; }
    field() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
    rps=$(field rps) p50=$(field p50_ms) p99=$(field p99_ms) non2xx=$(field non2xx) sock=$(field socket_errors)
    failed=$((non2xx + sock))
    ((failed == 0)) || log "$name: $failed requests failed (non-2xx or socket errors); see $work/wrk.log"
    log "$name: $rps req/s, p99 $p99 ms; cores busy: server $server_cpu, broker $broker_cpu, wrk $wrk_cpu, rest $other_cpu"
}

# best ARRAY NAME URL SERVER_PID [AUTHORIZATION [KEYED]]: measure, and keep in
# ARRAY the round with the most req/s.
best() {
    local -n b=$1
    measure "$2" "$3" "$4" "${5:-}" "${6:-}"
    if ((${#b[@]} == 0)) || awk -v n="$rps" -v o="${b[0]}" 'BEGIN {exit !(n > o)}'; then
        b=("$rps" "$p50" "$p99" "$failed" "$server_cpu" "$broker_cpu" "$wrk_cpu" "$other_cpu")
    fi
}

load_start=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load_start" 'BEGIN {exit !(l > 1)}'; then
    log "load average is $load_start before starting: other processes are busy and the figures will suffer"
fi

SLUICE_PG_URL=$(launch start-pg "$work/pg" --owner $$)
export SLUICE_PG_URL
pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")

# The API key every request to ingest carries (create-key also applies the
# schema). curl reads the header from a file, wrk and notify_load.py from
# the environment, so the key never shows in ps.
api_key=$("$build/sluice-ingest" create-key --name bench --scopes '*' 2>"$work/create-key.log") ||
    { log "sluice-ingest create-key failed: $(cat "$work/create-key.log")"; exit 1; }
bearer="Bearer $api_key"
(umask 077 && printf 'Authorization: %s\n' "$bearer" >"$work/auth.header")

# ---------------------------------------------------------------- 1. HTTP
# The four servers run side by side (ingest, the FastAPI peer and the naive
# front on the same broker) and are measured in turn, BENCH_ROUNDS times,
# ingest twice (unkeyed, then keyed); the best round of each counts.
ingest=() ingest_keyed=() fastapi=() naive=() bare=()
if [ -z "${BENCH_SKIP_HTTP:-}" ]; then
    start_kafka http
    url_ingest=http://127.0.0.1:$(free_port)
    start_ingest "$work/ingest.log" "${url_ingest#http://}"
    url_fastapi=http://127.0.0.1:$(free_port)
    port=${url_fastapi##*:}
    start "$work/fastapi.log" $py -m uvicorn fastapi_peer:app --app-dir bench --workers 2 \
        --host 127.0.0.1 --port "$port" --no-access-log --log-level warning
    fastapi_pid=$started
    url_naive=http://127.0.0.1:$(free_port)
    start "$work/naive.log" "$build/bench-naive-front" "${url_naive#http://}" "$naive_topic" 2
    naive_pid=$started
    url_bare=http://127.0.0.1:$(free_port)
    start "$work/bare.log" "$build/bench-bare-mhd" "${url_bare#http://}" 2
    bare_pid=$started
    wait_http sluice-ingest 60 "$ingest_pid" "$url_ingest/readyz"
    wait_http "FastAPI peer" 60 "$fastapi_pid" "$url_fastapi/v1/events" --method POST --data '{}' \
        --header 'Content-Type: application/json' --status 202
    wait_http bench-naive-front 30 "$naive_pid" "$url_naive/v1/events" --method POST --data '{}' --status 202
    wait_http bench-bare-mhd 10 "$bare_pid" "$url_bare/v1/events" --method POST --data '{}' --status 202
    for ((round = 1; round <= rounds; round++)); do
        best ingest sluice-ingest "$url_ingest/v1/events" "$ingest_pid" "$bearer"
        best ingest_keyed "sluice-ingest, keyed" "$url_ingest/v1/events" "$ingest_pid" "$bearer" 1
        best fastapi "FastAPI peer" "$url_fastapi/v1/events" "$fastapi_pid" "$bearer"
        best naive bench-naive-front "$url_naive/v1/events" "$naive_pid" "$bearer"
        best bare bench-bare-mhd "$url_bare/v1/events" "$bare_pid" "$bearer"
    done
    stop "$ingest_pid" "$fastapi_pid" "$naive_pid" "$bare_pid"
    stop "$kafka_pid"
fi

# ------------------------------------------------------------- 2. Persist
# A fresh broker and empty tables, so only the benchmark's events count. The
# embedded broker keeps the last 5 MiB of each partition: $partitions
# partitions hold the whole backlog before the workers start.
persist_workers() { # prefix: starts $replicas sluice-persist, pids in $workers, admin URLs in $admins
    workers=() admins=()
    local i a
    for ((i = 1; i <= replicas; i++)); do
        a=127.0.0.1:$(free_port)
        start "$work/$1-$i.log" env SLUICE_ADMIN_LISTEN="$a" "$build/sluice-persist"
        workers+=("$started") admins+=("http://$a")
    done
}
persist_metric() { # name: the sum over the replicas, empty when one does not answer
    local a v sum=0
    for a in "${admins[@]}"; do
        v=$(curl -fsS --max-time 2 "$a/metrics" 2>/dev/null | awk -v k="$1" '$1 == k {print $2}') || return 0
        [ -n "$v" ] || return 0
        sum=$(awk -v s="$sum" -v v="$v" 'BEGIN {printf "%d", s + v}')
    done
    echo "$sum"
}

if [ -z "${BENCH_SKIP_PERSIST:-}" ] || [ -z "${BENCH_SKIP_IMPORT:-}" ]; then
    start_kafka persist
    psql_q "TRUNCATE events; DELETE FROM kafka_offsets;" >/dev/null
    log "producing $events events to sluice.events"
    t0=$(now_ns)
    $py bench/produce_events.py "$SLUICE_KAFKA_BROKERS" "$events" "$work/bodies.ndjson" 2>>"$work/produce.log" ||
        { log "producing failed:"; tail -n 5 "$work/produce.log" >&2; exit 1; }
    produce_s=$(elapsed "$t0")
fi

if [ -z "${BENCH_SKIP_PERSIST:-}" ]; then
    psql_q "CHECKPOINT" >/dev/null
    log "persist: $replicas sluice-persist replicas draining $events events"
    acct_begin "$kafka_pid"
    persist_kafka0=$(cpu_s "$kafka_pid") persist_pg0=$(cpu_s "$pg_pid")
    t0=$(now_ns)
    persist_workers persist
    deadline=$((SECONDS + timeout))
    next_count=$SECONDS
    # The workers' row counters are cheap to poll; count(*) confirms (and is the
    # fallback every 2 s should the metrics not answer).
    while :; do
        rows=$(persist_metric sluice_persist_rows_total)
        if [ -z "$rows" ] || ((rows >= events)) || ((SECONDS >= next_count)); then
            next_count=$((SECONDS + 2))
            (($(psql_q "SELECT count(*) FROM events") >= events)) && break
        fi
        for w in "${workers[@]}"; do
            kill -0 "$w" 2>/dev/null || { log "a sluice-persist replica died (logs in $work)"; exit 1; }
        done
        ((SECONDS < deadline)) || { log "persist: not all $events rows after ${timeout}s (${rows:-?} so far)"; exit 1; }
        sleep 0.1
    done
    persist_s=$(elapsed "$t0")
    persist_cpu="persist $(cpu_s "${workers[@]}"), broker $(awk -v a="$persist_kafka0" -v b="$(cpu_s "$kafka_pid")" 'BEGIN {printf "%.2f", b - a}'), PostgreSQL $(awk -v a="$persist_pg0" -v b="$(cpu_s "$pg_pid")" 'BEGIN {printf "%.2f", b - a}')"
    acct_end "$kafka_pid" "${workers[@]}"
    persist_rest=$rest
    persist_dlq=$(persist_metric sluice_persist_dlq_total)
    stop "${workers[@]}"
    stop "$kafka_pid"
    persist_rows=$(psql_q "SELECT count(*) FROM events")

    # psql \copy of the very same rows from a file written beforehand.
    psql_q "\\copy events TO '$work/events.tsv'" >/dev/null
    psql_q "DROP TABLE IF EXISTS events_copy; CREATE TABLE events_copy (LIKE events INCLUDING ALL)" >/dev/null
    psql_q "CHECKPOINT" >/dev/null
    log "copy: psql \\copy of the same $persist_rows rows"
    acct_begin
    t0=$(now_ns)
    psql_q "\\copy events_copy FROM '$work/events.tsv'" >/dev/null
    copy_s=$(elapsed "$t0")
    acct_end
    copy_rest=$rest
    copy_rows=$(psql_q "SELECT count(*) FROM events_copy")
    psql_q "DROP TABLE events_copy" >/dev/null
    rm -f "$work/events.tsv"
elif [ -z "${BENCH_SKIP_IMPORT:-}" ]; then
    stop "$kafka_pid"
fi

# ----------------------------------------------------------- 3. Bulk import
if [ -z "${BENCH_SKIP_IMPORT:-}" ]; then
    start_kafka import
    psql_q "TRUNCATE events; DELETE FROM kafka_offsets" >/dev/null
    psql_q "CHECKPOINT" >/dev/null
    url=http://127.0.0.1:$(free_port)
    start_ingest "$work/ingest-import.log" "${url#http://}"
    wait_http sluice-ingest 60 "$ingest_pid" "$url/readyz"
    persist_workers persist-import
    for i in "${!admins[@]}"; do wait_http sluice-persist 60 "${workers[$i]}" "${admins[$i]}/healthz"; done
    (while kill -0 "$ingest_pid" 2>/dev/null; do
        awk '/^VmRSS/ {print $2}' "/proc/$ingest_pid/status" 2>/dev/null || true
        sleep 0.1
    done) >"$work/rss.log" &
    rss_sampler=$!
    pids+=("$rss_sampler")
    log "import: POST /v1/bulk of $events NDJSON records"
    acct_begin "$kafka_pid" "$ingest_pid" "${workers[@]}" "$rss_sampler"
    # Who spent the cores until done: the bound is whoever ran out of them.
    import_cpu0=("$(cpu_s "$ingest_pid")" "$(cpu_s "$kafka_pid")" "$(cpu_s "${workers[@]}")" "$(cpu_s "$pg_pid")")
    t0=$(now_ns)
    curl -sS --max-time "$timeout" -o "$work/import.json" -w '%{http_code}' -X POST -H 'Expect:' \
        -H @"$work/auth.header" -H 'Content-Type: application/x-ndjson' -T "$work/bodies.ndjson" "$url/v1/bulk" >"$work/import.status" ||
        { log "import: upload failed (logs in $work)"; exit 1; }
    upload_s=$(elapsed "$t0")
    [ "$(cat "$work/import.status")" = 202 ] ||
        { log "import: answered $(cat "$work/import.status"): $(cat "$work/import.json")"; exit 1; }
    import_id=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["import_id"])' "$work/import.json")
    import_rejected=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["rejected"])' "$work/import.json")
    deadline=$((SECONDS + timeout))
    # Done: every row in PostgreSQL. Indexed (when the reply says it: a
    # status "indexed", "indexed": true or an "indexed_at"): contains= serves
    # them from its index. Without either in the reply, indexed is not
    # measured and the searches start once done.
    import_reply() { curl -fsS -H @"$work/auth.header" "$url/v1/imports/$import_id" 2>/dev/null || true; }
    until import_reply >"$work/import-status.json" && grep -Eq '"status":"(done|indexed)"' "$work/import-status.json"; do
        ((SECONDS < deadline)) || { log "import: not done after ${timeout}s (logs in $work)"; exit 1; }
        kill -0 "$ingest_pid" || { log "sluice-ingest died during the import (logs in $work)"; exit 1; }
        sleep 0.1
    done
    import_s=$(elapsed "$t0")
    import_cpu1=("$(cpu_s "$ingest_pid")" "$(cpu_s "$kafka_pid")" "$(cpu_s "${workers[@]}")" "$(cpu_s "$pg_pid")")
    import_cpu=""
    for i in 0 1 2 3; do import_cpu+="$(awk -v a="${import_cpu0[$i]}" -v b="${import_cpu1[$i]}" 'BEGIN {printf "%.1f", b - a}') "; done
    read -r cpu_ingest cpu_kafka cpu_persist cpu_pg <<<"$import_cpu"
    import_indexed_s="not reported"
    indexed_re='"status":"indexed"|"indexed":true|"indexed_at":"'
    if grep -Eq '"status":"indexed"|"indexed(_at)?":' "$work/import-status.json"; then
        until grep -Eq "$indexed_re" "$work/import-status.json"; do
            ((SECONDS < deadline)) || { log "import: not indexed after ${timeout}s (logs in $work)"; exit 1; }
            kill -0 "$ingest_pid" || { log "sluice-ingest died during the import (logs in $work)"; exit 1; }
            sleep 0.1
            import_reply >"$work/import-status.json"
        done
        import_indexed_s=$(elapsed "$t0")
    fi
    acct_end "$kafka_pid" "$ingest_pid" "${workers[@]}" "$rss_sampler"
    import_rest=$rest
    import_rows=$(psql_q "SELECT count(*) FROM events")

    # ------------------------------------------------------- search
    # A fixed mix of contains= queries on the imported rows, limit=100, each
    # timed by curl (time_total, keep-alive off: one query, one connection):
    # two substrings of every body, three rare ones (one user's id: 10 rows
    # in a million; the session UUIDs of the middle and of the last record: 1
    # row each) and one found nowhere, BENCH_SEARCH_QUERIES rounds. None holds
    # a colon or a space: the body's text is jsonb's ("key": value).
    if [ -n "$run_search" ]; then
        session_of() { sed -n "$1p" "$work/bodies.ndjson" | $py -c 'import json,sys; print(json.load(sys.stdin)["session"])'; }
        search_terms=(pricing/enterprise ALPHA '"u-4242"' "$(session_of $((events / 2 + 1)))" "$(session_of "$events")"
            no-such-text-qzx)
        : >"$work/search.tsv"
        log "search: $search_rounds rounds of ${#search_terms[@]} contains= queries on $import_rows rows"
        for ((round = 0; round < search_rounds; round++)); do
            for q in "${search_terms[@]}"; do
                out=$(curl -sS -G --max-time 60 -o "$work/search.json" -w '%{http_code} %{time_total}' \
                    -H @"$work/auth.header" --data-urlencode "contains=$q" --data-urlencode limit=100 \
                    "$url/v1/events") || { log "search: GET /v1/events?contains=$q failed"; exit 1; }
                [ "${out%% *}" = 200 ] || { log "search: contains=$q answered $out: $(head -c 300 "$work/search.json")"; exit 1; }
                n=$($py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/search.json" 2>/dev/null || echo '?')
                printf '%s\t%s\t%s\n' "$q" "${out#* }" "$n" >>"$work/search.tsv"
            done
        done
        pct() { # P FILE-of-seconds: the nearest-rank percentile, in ms
            sort -g "$2" | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; printf "%.1f", a[i] * 1000}'
        }
        cut -f2 "$work/search.tsv" >"$work/search-all.txt"
        search_p50=$(pct 50 "$work/search-all.txt") search_p95=$(pct 95 "$work/search-all.txt")
        search_rows=""
        for q in "${search_terms[@]}"; do
            awk -F'\t' -v q="$q" '$1 == q {print $2}' "$work/search.tsv" >"$work/search-one.txt"
            hits=$(awk -F'\t' -v q="$q" '$1 == q {print $3; exit}' "$work/search.tsv")
            search_rows+="| \`$q\` | $hits | $(pct 50 "$work/search-one.txt") | $(pct 95 "$work/search-one.txt") |"$'\n'
        done
        log "search: p50 $search_p50 ms, p95 $search_p95 ms"
    fi
    stop "$rss_sampler"
    rss_mib=$(sort -n "$work/rss.log" | tail -n 1 | awk '{printf "%.1f", $1 / 1024}')
    stop "$ingest_pid" "${workers[@]}"
    stop "$kafka_pid"

    # psql \copy of the imported rows into a copy of events without its
    # text-search indexes (GIN or GiST: the trigram index on the body), the
    # issue-13 baseline of the import.
    psql_q "\\copy events TO '$work/events.tsv'" >/dev/null
    psql_q "DROP TABLE IF EXISTS events_copy_notext; CREATE TABLE events_copy_notext (LIKE events INCLUDING ALL)" >/dev/null
    notext_dropped=$(psql_q "SELECT string_agg(indexname, ', ') FROM pg_indexes
        WHERE tablename = 'events_copy_notext' AND indexdef ~* 'using (gin|gist)'")
    for ix in ${notext_dropped//,/ }; do psql_q "DROP INDEX $ix" >/dev/null; done
    psql_q "CHECKPOINT" >/dev/null
    log "copy: psql \\copy of the same $import_rows rows into events without its text index (${notext_dropped:-none to drop})"
    acct_begin
    t0=$(now_ns)
    psql_q "\\copy events_copy_notext FROM '$work/events.tsv'" >/dev/null
    notext_s=$(elapsed "$t0")
    acct_end
    notext_rest=$rest
    notext_rows=$(psql_q "SELECT count(*) FROM events_copy_notext")
    psql_q "DROP TABLE events_copy_notext" >/dev/null
    rm -f "$work/events.tsv"
fi

# ---------------------------------------------------------------- 4. Notify
# A fresh broker; one sluice-notify (a pool of $notify_concurrency senders)
# with a routing file whose topic "sales" goes to one slack channel, the
# stand-in answering every call after $notify_delay ms. All requests are
# POSTed at once (16 keep-alive connections) while notify runs, timed from
# the first POST until count(*) of delivered deliveries reaches them.
notify_metric() { # name: its value in the last scrape ($work/notify-metrics.txt)
    awk -v k="$1" '$1 == k {print $2; exit}' "$work/notify-metrics.txt"
}
if [ -z "${BENCH_SKIP_NOTIFY:-}" ]; then
    start_kafka notify
    start "$work/sink.log" $py tests/tools/sink.py --port 0 --delay-ms "$notify_delay"
    sink_pid=$started
    sink_port=$(launch wait-file "$work/sink.log" --match '^port=' --timeout 30 --what "Slack stand-in" \
        --pid "$sink_pid" --log "$work/sink.log")
    sink_port=${sink_port#port=}
    # Only the one channel: with a second one (a fallback), slack would get
    # at most four fifths of the pool.
    cat >"$work/routing.json" <<JSON
{"channels": {"sales-slack": {"type": "slack", "webhook_url": "http://127.0.0.1:$sink_port/services/bench"}},
 "topics": {"sales": {"channels": ["sales-slack"]}}}
JSON
    url=http://127.0.0.1:$(free_port)
    start_ingest "$work/ingest-notify.log" "${url#http://}" SLUICE_ROUTING_FILE="$work/routing.json"
    wait_http sluice-ingest 60 "$ingest_pid" "$url/readyz"
    admin=http://127.0.0.1:$(free_port)
    start "$work/notify.log" env SLUICE_ADMIN_LISTEN="${admin#http://}" SLUICE_ROUTING_FILE="$work/routing.json" \
        SLUICE_NOTIFY_CONCURRENCY="$notify_concurrency" SLUICE_PUBLIC_URL="$url" "$build/sluice-notify"
    notify_pid=$started
    wait_http sluice-notify 60 "$notify_pid" "$admin/readyz"
    # The group join is start-up, not sending: the clock starts once notify
    # has its partitions.
    launch wait-file "$work/notify.log" --match 'partitions assigned' --timeout 60 \
        --what "sluice-notify's partition assignment" --pid "$notify_pid" --log "$work/notify.log" >/dev/null
    psql_q "TRUNCATE assistance_deliveries, assistance_requests" >/dev/null
    psql_q "CHECKPOINT" >/dev/null
    log "notify: $notify_requests requests, stand-in answering after $notify_delay ms, $notify_concurrency senders"
    acct_begin "$kafka_pid" "$ingest_pid" "$notify_pid" "$sink_pid"
    SLUICE_API_KEY=$api_key timeout --kill-after=5 "$timeout" $py bench/notify_load.py "$url" "$notify_requests" sales 16 \
        >"$work/notify-load.out" 2>"$work/notify-load.log" ||
        { log "notify: posting failed:"; cat "$work/notify-load.out" >&2; tail -n 5 "$work/notify-load.log" >&2; exit 1; }
    load_line=$(grep '^NOTIFY_LOAD ' "$work/notify-load.out")
    load_field() { echo "$load_line" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
    notify_t0=$(load_field first_post_ns) notify_post_s=$(load_field seconds)
    notify_post_retried=$(load_field retried)
    # sluice_notify_inflight is sampled at each poll while sends go on.
    : >"$work/inflight.log"
    deadline=$((SECONDS + timeout))
    while :; do
        delivered=$(psql_q "SELECT count(*) FROM assistance_deliveries WHERE status = 'delivered'")
        ((delivered >= notify_requests)) && break
        kill -0 "$notify_pid" 2>/dev/null || { log "sluice-notify died (logs in $work)"; exit 1; }
        ((SECONDS < deadline)) ||
            { log "notify: $delivered of $notify_requests delivered after ${timeout}s (logs in $work)"; exit 1; }
        if ((delivered > 0)); then
            curl -fsS --max-time 1 "$admin/metrics" 2>/dev/null |
                awk '$1 == "sluice_notify_inflight" {print $2}' >>"$work/inflight.log" || true
        fi
        sleep 0.1
    done
    notify_s=$(elapsed "$notify_t0")
    acct_end "$kafka_pid" "$ingest_pid" "$notify_pid" "$sink_pid"
    notify_rest=$rest
    curl -fsS --max-time 5 "$admin/metrics" >"$work/notify-metrics.txt" 2>/dev/null || : >"$work/notify-metrics.txt"
    IFS='|' read -r notify_rows notify_delivered notify_attempts notify_sends_s notify_recorded_s < <(psql_q "
        SELECT count(*), count(*) FILTER (WHERE d.status = 'delivered'), sum(d.attempts),
               round(extract(epoch FROM max(d.delivered_at) - min(d.created_at))::numeric, 2),
               round(extract(epoch FROM max(r.recorded_at) - min(r.received_at))::numeric, 2)
        FROM assistance_deliveries d JOIN assistance_requests r ON r.id = d.request_id")
    notify_requests_rows=$(psql_q "SELECT count(*) FROM assistance_requests")
    inflight_mean=$(awk '{s += $1; n++} END {if (n) printf "%.1f", s / n; else print "n/a"}' "$work/inflight.log")
    inflight_max=$(sort -n "$work/inflight.log" | tail -n 1)
    send_count=$(notify_metric sluice_notify_send_seconds_count)
    send_mean_ms=$(awk -v s="$(notify_metric sluice_notify_send_seconds_sum)" -v c="$send_count" \
        'BEGIN {if (c > 0) printf "%.0f", s / c * 1000; else print "n/a"}')
    notify_dups=$(notify_metric sluice_notify_requests_duplicate_total)
    # Notify first (it finishes its sends in flight), then the stand-in, which
    # prints how many calls it received when it stops.
    stop "$notify_pid"
    stop "$sink_pid" "$ingest_pid"
    stop "$kafka_pid"
    sink_requests=$(sed -n 's/^requests=//p' "$work/sink.log")
    notify_ideal=$(awk -v n="$notify_requests" -v d="$notify_delay" -v c="$notify_concurrency" \
        'BEGIN {printf "%.2f", n * d / 1000 / c}')
    log "notify: $notify_delivered delivered in $notify_s s (sends alone $notify_sends_s s, ideal $notify_ideal s);" \
        "the stand-in received ${sink_requests:-?} calls; inflight mean $inflight_mean, send mean $send_mean_ms ms"
fi

# ---------------------------------------------------------------- 5. Auth
# Issue 11's figures: the write of section 1 against four ingests side by
# side on one broker, each configured for one way of authenticating and sent
# one pre-signed credential on every request, measured in turn with the same
# wrk settings; the order rotates each round so that no variant always runs
# first or last, and the median of the rounds counts.
auth_names=(none apikey hs256 rs256)
declare -A auth_label=(
    [none]="no credentials (SLUICE_AUTH_PUBLIC_SCOPES='*', no header)"
    [apikey]="API key (Bearer sk_sluice_..., in-memory key store)"
    [hs256]="JWT HS256 (SLUICE_JWT_HS256_SECRET)"
    [rs256]="JWT RS256, RSA-2048 (SLUICE_JWT_JWKS file)")
declare -A auth_url=() auth_pid=() auth_hdr=() auth_rps=() auth_p50=() auth_p99=() auth_failed=() auth_cpu=()
declare -A auth_rest=() auth_us=()
# post_check URL AUTHORIZATION: the status of one POST /v1/events with that
# header (none when empty); curl reads it from stdin, out of ps.
post_check() {
    local h=()
    [ -z "$2" ] || h=(-H @-)
    printf 'Authorization: %s\n' "$2" | curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X POST "${h[@]}" \
        -H 'Content-Type: application/json' --data '{"type":"bench.check"}' "$1/v1/events"
}
median() { # numbers, space-separated
    echo "$1" | tr ' ' '\n' | grep . | sort -g |
        awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
if [ -n "$run_auth" ]; then
    start_kafka auth
    jwt_iss=https://issuer.bench jwt_aud=sluice
    # Valid through the whole section, however long its knobs make it.
    lifetime=$((auth_rounds * 4 * (duration + warmup + 5) + 3600))
    $py bench/jwt_tokens.py "$work" "$lifetime" "$jwt_iss" "$jwt_aud" >"$work/jwt.env" 2>"$work/jwt.log" ||
        { log "bench/jwt_tokens.py failed: $(cat "$work/jwt.log")"; exit 1; }
    jwt_field() { sed -n "s/^$1=//p" "$work/jwt.env"; }
    auth_hdr[none]="" auth_hdr[apikey]=$bearer auth_hdr[hs256]="Bearer $(jwt_field hs256)"
    if [ -n "$(jwt_field rs256)" ]; then
        auth_hdr[rs256]="Bearer $(jwt_field rs256)"
    else
        log "auth: no RS256 variant: $(cat "$work/jwt.log")"
        auth_names=(none apikey hs256)
    fi
    for v in "${auth_names[@]}"; do
        auth_url[$v]=http://127.0.0.1:$(free_port)
        case $v in
        none) extra=(SLUICE_AUTH_PUBLIC_SCOPES='*') ;;
        apikey) extra=() ;;
        hs256) extra=(SLUICE_JWT_ISSUER="$jwt_iss" SLUICE_JWT_AUDIENCE="$jwt_aud"
            SLUICE_JWT_HS256_SECRET="$(jwt_field hs256_secret)") ;;
        rs256) extra=(SLUICE_JWT_ISSUER="$jwt_iss" SLUICE_JWT_AUDIENCE="$jwt_aud" SLUICE_JWT_JWKS="$work/jwks.json") ;;
        esac
        start_ingest "$work/ingest-auth-$v.log" "${auth_url[$v]#http://}" "${extra[@]+"${extra[@]}"}"
        auth_pid[$v]=$ingest_pid
    done
    for v in "${auth_names[@]}"; do
        wait_http "sluice-ingest ($v)" 60 "${auth_pid[$v]}" "${auth_url[$v]}/readyz"
        # The variant's credential must be accepted and, where credentials are
        # required, a request without one refused: a 401 is far cheaper than a
        # write, so a figure of refused requests would mean nothing.
        code=$(post_check "${auth_url[$v]}" "${auth_hdr[$v]}")
        [ "$code" = 202 ] || { log "auth $v: a write with its credential answered $code (logs in $work)"; exit 1; }
        if [ "$v" != none ]; then
            code=$(post_check "${auth_url[$v]}" "")
            [ "$code" = 401 ] || { log "auth $v: a write without credentials answered $code, not 401"; exit 1; }
        fi
    done
    n=${#auth_names[@]}
    for ((round = 0; round < auth_rounds; round++)); do
        for ((i = 0; i < n; i++)); do
            v=${auth_names[(round + i) % n]}
            measure "auth $v, round $((round + 1))" "${auth_url[$v]}/v1/events" "${auth_pid[$v]}" "${auth_hdr[$v]}"
            ((non2xx == 0)) ||
                { log "auth $v: $non2xx requests not accepted (see $work/wrk.log): not a figure of writes"; exit 1; }
            auth_rps[$v]+="$rps " auth_p50[$v]+="$p50 " auth_p99[$v]+="$p99 "
            auth_cpu[$v]+="$server_cpu " auth_rest[$v]+="$other_cpu "
            # CPU time per request: what contention for the cores hides from req/s.
            auth_us[$v]+="$(awk -v c="$server_cpu" -v r="$rps" 'BEGIN {printf "%.1f", (r > 0 ? c / r * 1e6 : 0)}') "
            auth_failed[$v]=$((${auth_failed[$v]:-0} + failed))
        done
    done
    stop "${auth_pid[@]}"
    stop "$kafka_pid"
fi

# ---------------------------------------------------------------- 6. CPU
# Instructions per accepted write: each server alone under callgrind (user-
# space instructions of all its threads; this VM has no PMU, so perf stat
# cannot count instructions here, and an instruction count does not depend
# on what else the shared cores run). Instrumentation is off until the server
# is up, then on for a warm-up, zeroed, and dumped after exactly
# $cpu_requests requests (bench/fixed_load.py, $cpu_conns keep-alive
# connections, every answer read); an idle second is dumped too, so the
# figure's share of timers and polls is known.
cpu_names=(ingest ingest_keyed naive bare)
declare -A cpu_label=(
    [ingest]="sluice-ingest, durable ack"
    [ingest_keyed]="sluice-ingest, a fresh Idempotency-Key per request"
    [naive]="naive C front (bench-naive-front)"
    [bare]="bare libmicrohttpd (bench-bare-mhd)")
declare -A cpu_ir=() cpu_idle=() cpu_s=()
cg_control() { # callgrind_control's chatter goes to a log, kept on failure
    callgrind_control "$@" >>"$work/callgrind_control.log" 2>&1 ||
        { log "callgrind_control $* failed: $(tail -n 3 "$work/callgrind_control.log")"; exit 1; }
}
# callgrind_dump PID WHAT: the instructions (Ir) since the last dump or zero.
# Callgrind numbers its dumps: callgrind.PID.1, .2, ...
callgrind_dump() {
    local n
    n=$(find "$work" -maxdepth 1 -name "callgrind.$1.*" | wc -l)
    cg_control -d "$2" "$1"
    # Written by the server's own threads: wait for the file and its totals.
    launch wait-file "$work/callgrind.$1.$((n + 1))" --match '^totals:' --timeout 60 \
        --what "callgrind's dump ($2)" --pid "$1" --log "${logs[$1]}" | awk '{print $2}'
}
# cpu_count NAME SERVER_PID URL [--keyed]: warm-up, zero, the fixed load, dump.
cpu_count() {
    local name=$1 pid=$2 url=$3 out
    shift 3
    BENCH_AUTHORIZATION=$bearer $py bench/fixed_load.py "$url" 200 "$cpu_conns" "$@" >/dev/null ||
        { log "cpu $name: the warm-up failed (logs in $work)"; exit 1; }
    cg_control -z "$pid"
    sleep 1
    cpu_idle[$name]=$(callgrind_dump "$pid" "$name, idle")
    out=$(BENCH_AUTHORIZATION=$bearer $py bench/fixed_load.py "$url" "$cpu_requests" "$cpu_conns" "$@") ||
        { log "cpu $name: $out (not every request was accepted; logs in $work)"; exit 1; }
    cpu_ir[$name]=$(callgrind_dump "$pid" "$name")
    cpu_s[$name]=$(echo "$out" | tr ' ' '\n' | sed -n 's/^seconds=//p')
    log "cpu $name: $(div "${cpu_ir[$name]}" "$cpu_requests" %.0f) instructions per write" \
        "(${cpu_ir[$name]} over $cpu_requests requests in ${cpu_s[$name]} s; idle second: ${cpu_idle[$name]})"
}
if [ -n "$run_cpu" ]; then
    start_kafka cpu
    vg=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.%p")
    for v in ingest naive bare; do
        url=http://127.0.0.1:$(free_port)
        case $v in
        ingest)
            ingest_wrap=("${vg[@]}")
            start_ingest "$work/ingest-cpu.log" "${url#http://}"
            ingest_wrap=()
            ;;
        naive) start "$work/naive-cpu.log" "${vg[@]}" "$build/bench-naive-front" "${url#http://}" "$naive_topic" 2 ;;
        bare) start "$work/bare-cpu.log" "${vg[@]}" "$build/bench-bare-mhd" "${url#http://}" 2 ;;
        esac
        pid=$started
        if [ "$v" = ingest ]; then
            wait_http "sluice-ingest under valgrind" 180 "$pid" "$url/readyz"
        else
            wait_http "$v under valgrind" 120 "$pid" "$url/v1/events" --method POST --data '{}' --status 202
        fi
        cg_control -i on "$pid"
        cpu_count "$v" "$pid" "$url/v1/events"
        [ "$v" != ingest ] || cpu_count ingest_keyed "$pid" "$url/v1/events" --keyed
        stop "$pid"
    done
    stop "$kafka_pid"
fi

# ---------------------------------------------------------------- report
row() { # label array-name
    local -n r=$2
    printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "${r[@]}"
}
load_end=$(cut -d' ' -f1 /proc/loadavg)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
report=$(
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "$(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average" \
        "$load_start at start, $load_end at the end; commit $commit. Everything (wrk, servers, broker," \
        "PostgreSQL) shares these cores. Every request to ingest carries an API key" \
        "(\`sluice-ingest create-key --name bench --scopes '*'\`) and every ingest runs with SLUICE_RATE_LIMIT=0." \
        "The embedded broker sets TCP_NODELAY on its connections as a real broker does (deploy/dev/devkafka.c)."
    ran=""
    for k in HTTP PERSIST IMPORT NOTIFY; do
        v=BENCH_SKIP_$k
        [ -n "${!v:-}" ] || ran="$ran ${k,,}"
    done
    [ -z "$run_auth" ] || ran="$ran auth"
    [ -z "$run_cpu" ] || ran="$ran cpu"
    [ -z "$run_search" ] || ran="$ran search"
    [ -z "${BENCH_SKIP_HTTP:-}${BENCH_SKIP_PERSIST:-}${BENCH_SKIP_IMPORT:-}${BENCH_SKIP_NOTIFY:-}" ] ||
        { echo; echo "A partial run: sections${ran:- none}."; }
    if ((${#ingest[@]})); then
        r_fastapi=$(div "${ingest[0]}" "${fastapi[0]}")
        r_naive=$(div "${ingest[0]}" "${naive[0]}")
        r_bare=$(div "${ingest[0]}" "${bare[0]}")
        r_keyed=$(div "${ingest_keyed[0]}" "${ingest[0]}")
        echo
        echo "## HTTP: \`wrk -t2 -c64 -d${duration}s --timeout 10s -s bench/post_event.lua URL\`"
        echo
        echo "After a ${warmup} s warm-up each; best of $rounds round(s). The last four columns are the cores kept busy" \
            "on average during the run (\"rest\": everything else on the machine, 0 when it was idle)."
        echo
        echo "| server | req/s | p50 (ms) | p99 (ms) | failed | server | broker | wrk | rest |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        row "sluice-ingest, durable ack (2 MHD threads)" ingest
        row "sluice-ingest, a fresh Idempotency-Key per request" ingest_keyed
        row "FastAPI + confluent-kafka, 2 uvicorn workers" fastapi
        row "naive C front: MHD + jansson + librdkafka, keyless, durable ack" naive
        row "bare libmicrohttpd, no Kafka (ceiling)" bare
        echo
        echo "- ingest / naive front: **${r_naive}x** (target >= 1.25: $(met "$r_naive" ">=" 1.25))"
        echo "- ingest / FastAPI: **${r_fastapi}x** (target >= 4: $(met "$r_fastapi" ">=" 4))"
        echo "- ingest / bare: **${r_bare}x** (target >= 0.6: $(met "$r_bare" ">=" 0.6))"
        echo "- ingest keyed / unkeyed: **${r_keyed}x** (target >= 0.9: $(met "$r_keyed" ">=" 0.9))"
        echo "- ingest p99: **${ingest[2]} ms** unkeyed (target <= 5: $(met "${ingest[2]}" "<=" 5))," \
            "**${ingest_keyed[2]} ms** keyed (target <= 5: $(met "${ingest_keyed[2]}" "<=" 5))"
    fi
    if [ -n "${persist_s:-}" ]; then
        persist_rate=$(div "$events" "$persist_s" %.0f)
        copy_rate=$(div "$copy_rows" "$copy_s" %.0f)
        r_persist=$(div "$persist_rate" "$copy_rate")
        echo
        echo "## Persist: $events events on sluice.events ($partitions partitions, produced in ${produce_s} s) -> PostgreSQL"
        echo
        echo "| writer | rows | seconds | rows/s | rest (cores) |"
        echo "|---|---:|---:|---:|---:|"
        echo "| $replicas x sluice-persist, from start until count(*) = $events | $persist_rows | $persist_s | $persist_rate | $persist_rest |"
        echo "| psql \\copy of the same rows into an empty copy of events (same indexes) | $copy_rows | $copy_s | $copy_rate | $copy_rest |"
        echo
        echo "- persist / COPY: **${r_persist}x** (target >= 0.8: $(met "$r_persist" ">=" 0.8)); DLQ: ${persist_dlq:-?} messages"
        echo "- CPU seconds from start to the last row: $persist_cpu (of $(awk -v s="$persist_s" -v n="$(nproc)" 'BEGIN {printf "%.1f", s * n}') on $(nproc) cores)"
    fi
    if [ -n "${import_s:-}" ]; then
        import_rate=$(div "$import_rows" "$import_s" %.0f)
        echo
        echo "## Bulk import: the same $events event bodies as one NDJSON file, \`POST /v1/bulk\`, $replicas persist replicas"
        echo
        echo "| stage | rows | seconds | rows/s | rest (cores) |"
        echo "|---|---:|---:|---:|---:|"
        echo "| upload answered 202 (every record acknowledged by Kafka) | $events | $upload_s | $(div "$events" "$upload_s" %.0f) | |"
        echo "| import status done (all rows in PostgreSQL) | $import_rows | $import_s | $import_rate | $import_rest |"
        if [ "$import_indexed_s" != "not reported" ]; then
            echo "| import indexed (contains= served by its index) | $import_rows | $import_indexed_s |" \
                "$(div "$import_rows" "$import_indexed_s" %.0f) | |"
        fi
        echo "| psql \\copy of the same rows into a copy of events without its text index (dropped: ${notext_dropped:-none}) |" \
            "$notext_rows | $notext_s | $(div "$notext_rows" "$notext_s" %.0f) | $notext_rest |"
        echo
        r_notext=$(div "$import_s" "$notext_s")
        echo "- import done / COPY without the text index, time: **${r_notext}x** (target <= 2.5: $(met "$r_notext" "<=" 2.5));" \
            "indexed: $import_indexed_s$([ "$import_indexed_s" = "not reported" ] || echo " s, $(div "$import_indexed_s" "$notext_s")x")"
        if [ -n "${copy_rate:-}" ]; then
            r_import=$(div "$import_rate" "$copy_rate")
            echo "- import / COPY: **${r_import}x** (target >= 0.7: $(met "$r_import" ">=" 0.7)); rejected: $import_rejected"
        else
            echo "- import / COPY: not measured (BENCH_SKIP_PERSIST); rejected: $import_rejected"
        fi
        echo "- CPU seconds from upload to done: ingest $cpu_ingest, broker $cpu_kafka, persist ($replicas replicas) $cpu_persist, PostgreSQL $cpu_pg (of $(awk -v s="$import_s" -v n="$(nproc)" 'BEGIN {printf "%.1f", s * n}') on $(nproc) cores)"
        echo "- ingest peak RSS during the import: **$rss_mib MiB** (target < 64: $(met "$rss_mib" "<=" 64))"
    fi
    if [ -n "${search_p95:-}" ]; then
        echo
        echo "## Search: \`GET /v1/events?contains=...&limit=100\` on the $import_rows imported rows"
        echo
        echo "$search_rounds rounds of ${#search_terms[@]} queries, each timed by curl (one connection per query)," \
            "started once the import was $([ "$import_indexed_s" = "not reported" ] && echo done || echo indexed)."
        echo
        echo "| contains | rows answered (limit 100) | p50 (ms) | p95 (ms) |"
        echo "|---|---:|---:|---:|"
        printf '%s' "$search_rows"
        echo
        echo "- all queries: p50 **$search_p50 ms**, p95 **$search_p95 ms** (target p95 <= 100: $(met "$search_p95" "<=" 100))"
    fi
    if [ -n "${notify_s:-}" ]; then
        r_notify=$(div "$notify_s" "$notify_ideal")
        exact=$([ "${sink_requests:-}" = "$notify_requests" ] && echo met || echo "NOT met")
        echo
        echo "## Notify: $notify_requests assistance requests, one sluice-notify ($notify_concurrency senders)," \
            "a Slack stand-in answering after $notify_delay ms"
        echo
        echo "| stage | deliveries | seconds | deliveries/s | rest (cores) |"
        echo "|---|---:|---:|---:|---:|"
        echo "| all POSTs answered 202 (16 connections) | $notify_requests | $notify_post_s | | |"
        echo "| first POST until count(delivered) = $notify_requests | $notify_delivered | $notify_s |" \
            "$(div "$notify_delivered" "$notify_s" %.0f) | $notify_rest |"
        echo "| sends alone: min(created_at) to max(delivered_at) of the deliveries | $notify_delivered |" \
            "$notify_sends_s | $(div "$notify_delivered" "$notify_sends_s" %.0f) | |"
        echo "| ideal: $notify_requests x $notify_delay ms / $notify_concurrency | $notify_requests | $notify_ideal |" \
            "$(div "$notify_requests" "$notify_ideal" %.0f) | |"
        echo
        echo "- total / ideal: **${r_notify}x** (target <= 2: $(met "$r_notify" "<=" 2)); a serial sender:" \
            "$(awk -v n="$notify_requests" -v d="$notify_delay" 'BEGIN {printf "%.0f", n * d / 1000}') s"
        echo "- calls the stand-in received: **${sink_requests:-?}** (target exactly $notify_requests: $exact);" \
            "$notify_requests_rows requests and $notify_rows deliveries recorded, $notify_attempts attempts," \
            "${notify_dups:-?} duplicates; all requests recorded $notify_recorded_s s after the first was received;" \
            "$notify_post_retried POSTs retried"
        echo "- sluice_notify_inflight, sampled every 0.1 s while sending: mean $inflight_mean, max ${inflight_max:-n/a};" \
            "sluice_notify_send_seconds: ${send_count:-?} sends, mean $send_mean_ms ms"
    fi
    if ((${#cpu_ir[@]})); then
        echo
        echo "## CPU per write: callgrind, exactly $cpu_requests requests per server (\`bench/fixed_load.py URL $cpu_requests $cpu_conns\`)"
        echo
        echo "Each server alone under \`valgrind --tool=callgrind --instr-atstart=no\`, instrumentation on after start-up" \
            "and a 200-request warm-up, counters zeroed, dumped after the last answer: user-space instructions of" \
            "all its threads (librdkafka's included; the kernel's not). \"idle\": the instructions of one idle" \
            "second just before, the share of timers and polls in the figure."
        echo
        echo "| server | instructions | per write | vs bare | seconds under valgrind | idle second |"
        echo "|---|---:|---:|---:|---:|---:|"
        for v in "${cpu_names[@]}"; do
            [ -n "${cpu_ir[$v]:-}" ] || continue
            printf '| %s | %s | %s | %s | %s | %s |\n' "${cpu_label[$v]}" "${cpu_ir[$v]}" \
                "$(div "${cpu_ir[$v]}" "$cpu_requests" %.0f)" "$(div "${cpu_ir[$v]}" "${cpu_ir[bare]}")" \
                "${cpu_s[$v]}" "${cpu_idle[$v]}"
        done
        echo
        echo "- ingest / naive front, instructions per write: **$(div "${cpu_ir[ingest]}" "${cpu_ir[naive]}")x**;" \
            "keyed / unkeyed: **$(div "${cpu_ir[ingest_keyed]}" "${cpu_ir[ingest]}")x**" \
            "(target, issue 13: half of main's ingest figure, docs/benchmarks.md)"
    fi
    if ((${#auth_rps[@]})); then
        echo
        echo "## Authentication: \`wrk -t2 -c64 -d${duration}s --timeout 10s -s bench/post_event.lua URL\`," \
            "${#auth_names[@]} ingests configured for one credential each"
        echo
        echo "After a ${warmup} s warm-up each; $auth_rounds rounds, the order rotating each round; the median" \
            "of the rounds. One pre-signed credential in every request's \`Authorization\` header" \
            "(\`BENCH_AUTHORIZATION\`, read by post_event.lua). \"CPU/req\": that ingest's CPU time per" \
            "request; the last two columns: cores kept busy by that ingest, and by everything else on the" \
            "machine (all medians)."
        echo
        echo "| credential | req/s | req/s of each round | p50 (ms) | p99 (ms) | failed | CPU/req (µs) | server | rest |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for v in "${auth_names[@]}"; do
            printf '| %s | %.0f | %s | %s | %s | %s | %s | %s | %s |\n' "${auth_label[$v]}" \
                "$(median "${auth_rps[$v]}")" \
                "$(echo "${auth_rps[$v]}" | awk '{for (i = 1; i <= NF; i++) printf "%s%.0f", (i > 1 ? ", " : ""), $i}')" \
                "$(median "${auth_p50[$v]}")" "$(median "${auth_p99[$v]}")" "${auth_failed[$v]}" \
                "$(median "${auth_us[$v]}")" "$(median "${auth_cpu[$v]}")" "$(median "${auth_rest[$v]}")"
        done
        echo
        base=$(median "${auth_rps[none]}")
        for v in "${auth_names[@]}"; do
            [ "$v" != none ] || continue
            target=$([ "$v" = apikey ] && echo 0.9 || echo 0.8)
            r=$(div "$(median "${auth_rps[$v]}")" "$base")
            # Each round's own ratio: the spread says how much to trust the median's.
            per=$(paste -d' ' <(echo "${auth_rps[$v]}" | tr ' ' '\n' | grep .) \
                <(echo "${auth_rps[none]}" | tr ' ' '\n' | grep .) |
                awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), ($2 > 0 ? $1 / $2 : 0)}')
            echo "- $v / none: **${r}x** (target >= $target: $(met "$r" ">=" "$target")); round by round: $per;" \
                "CPU per request $(div "$(median "${auth_us[$v]}")" "$(median "${auth_us[none]}")")x none's"
        done
    fi
)
echo "$report"
echo "$report" >"$report_file"
log "report written to $report_file"
ok=1
