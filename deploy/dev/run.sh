#!/usr/bin/env bash
# `make run`: the whole system on this machine, in the foreground.
#   a throw-away PostgreSQL cluster under .run/pg, sluice-devkafka (embedded
#   Kafka), sluice-ingest on $SLUICE_LISTEN (127.0.0.1:8080),
#   $SLUICE_PERSIST_REPLICAS (2) sluice-persist replicas and one sluice-notify.
# Assistance routing (.run/routing.json, written here): sales -> Slack when
# SLACK_WEBHOOK_URL is set, pricing -> email when SMTP_URL, SMTP_FROM and
# SMTP_TO are; otherwise, and as the fallback, the log channel
# (.run/deliveries.log). Edit the file and send SIGHUP to reload it; it is
# written anew at each start unless SLUICE_ROUTING_FILE names a file of yours.
# Each process runs in a session of its own (setsid): Ctrl-C in a terminal
# signals the whole foreground group, and processes that stopped by themselves
# at once would leave the workers no time to apply what the in-memory broker
# holds. This script takes the signal and stops them in order.
# Ctrl-C, SIGINT or SIGTERM stops everything in order: ingest first (it drains
# its writes into Kafka), then the workers once they have applied what Kafka
# holds, then the broker, then PostgreSQL.
#
# .run/env (SLUICE_API_URL, SLUICE_PG_URL, SLUICE_KAFKA_BROKERS, the workers'
# admin URLs, SLUICE_RUN_PID) exists exactly while the system takes writes:
# the workers start first, so it is written, whole (temp file and rename),
# the moment ingest's /readyz answers, when every URL in it answers; it is
# removed as the stop begins, and at start, in case a run was killed -9.
set -euo pipefail

build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
run="$root/.run"
# The last run's logs are often what one wants after stopping it: kept once.
if [ -d "$run/logs" ]; then rm -rf "$run/logs.prev" && mv "$run/logs" "$run/logs.prev"; fi
mkdir -p "$run/logs"

listen=${SLUICE_LISTEN:-127.0.0.1:8080}
replicas=${SLUICE_PERSIST_REPLICAS:-2}
if ! [[ "$replicas" =~ ^[0-9]+$ ]] || ((replicas < 1 || replicas > 32)); then
    echo "run: SLUICE_PERSIST_REPLICAS=$replicas: expected 1 to 32" >&2
    exit 2
fi
[[ "$listen" =~ ^[^:]+:[0-9]+$ ]] ||
    { echo "run: SLUICE_LISTEN=$listen: expected host:port" >&2; exit 2; }

# Ports, waits (bounded, naming what did not come up and its log), PostgreSQL
# and the broker: deploy/dev/launch.py, shared with make bench and the tests.
# Its ports are reserved for this run ($$), so two runs never share one.
launch() { /usr/bin/python3 "$root/deploy/dev/launch.py" "$@"; }
stop_seconds=60
# stop_procs WHAT LOG PID...: SIGTERM, at most $stop_seconds for them to exit (then
# SIGKILL, which launch.py reports), and reaped.
stop_procs() {
    local what=$1 log=$2 pid
    shift 2
    launch stop --timeout "$stop_seconds" --what "$what" --log "$log" "$@" || true
    for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# The embedded broker keeps its log in memory: a write acknowledged but not
# yet applied when it stops would be lost with it. So the workers apply the
# backlog first (bounded by SLUICE_DRAIN_SECONDS), as an orchestrator's drain
# would. Done means: some replica holds partitions, none is still waiting for
# its assignment or for the end of a partition, and their lag gauges add up
# to nothing.
drain_workers() {
    local deadline=$((SECONDS + ${SLUICE_DRAIN_SECONDS:-60})) said=0 state url
    while :; do
        state=$(for url in "${admin_urls[@]}"; do curl -fsS --max-time 2 "$url/metrics" 2>/dev/null || true; done |
            awk '/^sluice_persist_lag\{/ { lag += $2 }
                 /^sluice_persist_assigned_partitions / { held += $2 }
                 /^sluice_persist_unassigned_seconds / { if ($2 > 0) waiting++ }
                 /^sluice_persist_lag_unknown_partitions / { if ($2 > 0) waiting++ }
                 END { printf "%d %d %d\n", lag, held, waiting }')
        read -r lag held waiting <<<"$state"
        ((held > 0 && waiting == 0 && lag == 0)) && return 0
        local alive=0 pid
        for pid in "${persist_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
        if ((alive == 0)); then
            echo "run: no persist replica is running; what they did not apply is lost with the embedded broker" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "run: the workers did not apply everything in ${SLUICE_DRAIN_SECONDS:-60}s ($lag message(s) left, $waiting replica(s) still joining); what they did not apply is lost with the embedded broker" >&2
            return 1
        fi
        ((said)) || echo "run: waiting for the workers to apply what Kafka holds"
        said=1
        sleep 0.2
    done
}

ingest_pid="" devkafka_pid="" notify_pid="" persist_pids=() admin_urls=()
stopping=0
stop_all() {
    ((stopping)) && return
    stopping=1
    trap '' INT TERM
    # First, so no tool reaches for ports that are about to close.
    rm -f "$run/env" "$run/env.tmp" "$run/ingest.pid" "$run/notify.pid"
    echo "run: stopping (ingest, workers, broker, database)"
    if [ -n "$ingest_pid" ]; then stop_procs sluice-ingest "$run/logs/ingest.log" "$ingest_pid"; fi
    ((${#persist_pids[@]})) && { drain_workers || true; }
    if ((${#persist_pids[@]})) || [ -n "$notify_pid" ]; then
        # shellcheck disable=SC2086 # $notify_pid: none or one
        stop_procs "the workers" "$run/logs/" "${persist_pids[@]}" $notify_pid
    fi
    if [ -n "$devkafka_pid" ]; then stop_procs sluice-devkafka "$run/logs/devkafka.log" "$devkafka_pid"; fi
    launch stop-pg "$run/pg" || true
    launch release-ports --owner $$ || true
    echo "run: stopped"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# A run killed -9 left its file behind: it names ports that are closed now.
rm -f "$run/env" "$run/env.tmp"

pg_url=$(launch start-pg "$run/pg" --owner $$)

# The dev key: every scope, made on the first start and kept beside the
# database it lives in (a wiped .run/pg gets a new one). Never printed to a
# log; .run/env and the banner show it, for this machine's user only.
dev_key=""
if [ -s "$run/dev-key" ]; then
    dev_key=$(cat "$run/dev-key")
    dev_key_id=${dev_key#sk_sluice_}
    dev_key_id=${dev_key_id%%_*}
    known=$(psql "$pg_url" -tAXqc "SELECT count(*) FROM api_keys WHERE id = '${dev_key_id//[^A-Za-z0-9]/}' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now() + interval '1 hour')" 2>/dev/null || true)
    [ "$known" = 1 ] || dev_key=""
fi
if [ -z "$dev_key" ]; then
    dev_key=$(SLUICE_PG_URL="$pg_url" "$build/sluice-ingest" create-key --name "make run dev key" --scopes '*' 2>>"$run/logs/ingest.log") ||
        { echo "run: cannot create the dev API key (see $run/logs/ingest.log)" >&2; exit 1; }
    (umask 077 && printf '%s\n' "$dev_key" >"$run/dev-key")
fi

# launch.py devkafka becomes the broker (exec): it stays this shell's child.
setsid /usr/bin/python3 "$root/deploy/dev/launch.py" devkafka "$build" "$run/kafka.bootstrap" \
    >"$run/logs/devkafka.log" 2>&1 &
devkafka_pid=$!
brokers=$(launch wait-devkafka "$run/kafka.bootstrap" --timeout 30 --pid "$devkafka_pid" --log "$run/logs/devkafka.log")

# Secrets stay in the environment: the file names the variables (the
# ${...} in single quotes are the routing file's, not the shell's).
sales='"ops-log"' pricing='"ops-log"' channels=""
# shellcheck disable=SC2016
if [ -n "${SLACK_WEBHOOK_URL:-}" ]; then
    channels+='"sales-slack": {"type": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}"},'$'\n    '
    sales='"sales-slack"'
fi
# shellcheck disable=SC2016
if [ -n "${SMTP_URL:-}" ] && [ -n "${SMTP_FROM:-}" ] && [ -n "${SMTP_TO:-}" ]; then
    auth=""
    [ -n "${SMTP_USERNAME:-}" ] && auth=', "username": "${SMTP_USERNAME}", "password": "${SMTP_PASSWORD}"'
    channels+='"pricing-email": {"type": "email", "url": "${SMTP_URL}", "from": "${SMTP_FROM}",'
    channels+=' "to": "${SMTP_TO}"'"$auth"'},'$'\n    '
    pricing='"pricing-email"'
fi
routing=${SLUICE_ROUTING_FILE:-$run/routing.json}
routes="sales -> ${sales//\"/}, pricing -> ${pricing//\"/}"
[ -z "${SLUICE_ROUTING_FILE:-}" ] || routes="yours"
[ -n "${SLUICE_ROUTING_FILE:-}" ] || cat >"$run/routing.json" <<JSON
{
  "channels": {
    $channels"ops-log": {"type": "log", "path": "$run/deliveries.log"}
  },
  "topics": {
    "sales": {"channels": [$sales], "fallback": "ops-log"},
    "pricing": {"channels": [$pricing], "fallback": "ops-log"}
  }
}
JSON

export SLUICE_KAFKA_BROKERS="$brokers" SLUICE_PG_URL="$pg_url" SLUICE_ROUTING_FILE="$routing"
export SLUICE_PUBLIC_URL="http://$listen"

# Appends to its log: a replica started again keeps its history.
start_persist() {
    local i=$1 port=${admin_urls[$(($1 - 1))]##*:}
    # The dev broker hands a stopped replica's partitions on only after the
    # session timeout: 3 s here (Kafka itself refuses less than 6 s).
    SLUICE_KAFKA_SESSION_TIMEOUT_MS="${SLUICE_KAFKA_SESSION_TIMEOUT_MS:-3000}" \
        SLUICE_ADMIN_LISTEN="127.0.0.1:$port" setsid "$build/sluice-persist" >>"$run/logs/persist-$i.log" 2>&1 &
    persist_pids[$1 - 1]=$!
}
port_list=$(launch free-port --count $((replicas + 1)) --owner $$)
read -ra ports <<<"$port_list"
admin_urls=()
for i in $(seq 1 "$replicas"); do
    admin_urls+=("http://127.0.0.1:${ports[$((i - 1))]}")
    : >"$run/logs/persist-$i.log"
    start_persist "$i"
    launch wait-http "${admin_urls[$((i - 1))]}/healthz" --timeout 60 --what "sluice-persist replica $i" \
        --pid "${persist_pids[$((i - 1))]}" --log "$run/logs/persist-$i.log"
done

notify_url="http://127.0.0.1:${ports[$replicas]}"
start_notify() {
    SLUICE_ADMIN_LISTEN="${notify_url#http://}" setsid "$build/sluice-notify" >>"$run/logs/notify.log" 2>&1 &
    notify_pid=$!
    echo "$notify_pid" >"$run/notify.pid"
}
: >"$run/logs/notify.log"
start_notify
launch wait-http "$notify_url/healthz" --timeout 60 --what sluice-notify --pid "$notify_pid" --log "$run/logs/notify.log"

# Ingest last: once its /readyz answers, everything else already does.
SLUICE_LISTEN="$listen" setsid "$build/sluice-ingest" >"$run/logs/ingest.log" 2>&1 &
ingest_pid=$!
echo "$ingest_pid" >"$run/ingest.pid"
launch wait-http "http://$listen/readyz" --timeout 60 --what sluice-ingest --pid "$ingest_pid" --log "$run/logs/ingest.log"

# Renamed into place, so a reader never sees half a file; this user's only,
# as it holds the dev key.
(umask 077 && : >"$run/env.tmp")
cat >"$run/env.tmp" <<ENV
# Written by make run (pid $$) while it runs; removed when it stops.
export SLUICE_RUN_PID=$$
export SLUICE_API_URL=http://$listen
export SLUICE_API_KEY=$dev_key
export SLUICE_PG_URL=$pg_url
export SLUICE_KAFKA_BROKERS=$brokers
export SLUICE_PERSIST_ADMIN_URLS="${admin_urls[*]}"
export SLUICE_NOTIFY_ADMIN_URL=$notify_url
export SLUICE_ROUTING_FILE=$routing
ENV
mv -f "$run/env.tmp" "$run/env"

cat <<MSG

Sluice is running.
  API          http://$listen   (OpenAPI: http://$listen/openapi.json)
  PostgreSQL   $pg_url
  Kafka        $brokers
  workers      $replicas sluice-persist (admin: ${admin_urls[*]})
               sluice-notify (admin: $notify_url)
  routing      $routing ($routes)
               (reload: kill -HUP \$(cat $run/ingest.pid) \$(cat $run/notify.pid))
  deliveries   $run/deliveries.log (the log channel)
  logs         $run/logs/
  env file     $run/env   (source it: SLUICE_API_URL, SLUICE_API_KEY, SLUICE_PG_URL,
                            SLUICE_KAFKA_BROKERS; removed when this run stops)
  API key      $dev_key
               (every scope; kept in $run/dev-key for the next run)

Try it:
  curl -i -X POST http://$listen/v1/events -H 'Authorization: Bearer $dev_key' \\
       -H 'Content-Type: application/json' \\
       -d '{"type":"greeting","occurred_at":"2024-05-01T12:00:00Z","text":"hello"}'
  curl -s 'http://$listen/v1/events?contains=hello' -H 'Authorization: Bearer $dev_key'
  curl -s -X POST http://$listen/v1/assistance -H 'Authorization: Bearer $dev_key' \\
       -H 'Content-Type: application/json' \\
       -d '{"topic":"sales","description":"Can I get a quote for 40 seats?"}'
  curl -s http://$listen/v1/assistance/<id> -H 'Authorization: Bearer $dev_key'  # its deliveries

Ctrl-C stops everything in order.
MSG

# Supervise like an orchestrator would: a worker or ingest that dies (killed
# in a failure drill, say) is started again in its place; the broker is not,
# since a new embedded Kafka would be an empty cluster on other ports.
set +e
while :; do
    sleep 1 &
    wait $! 2>/dev/null
    ((stopping)) && break
    for i in $(seq 1 "$replicas"); do
        if ! kill -0 "${persist_pids[$((i - 1))]}" 2>/dev/null; then
            wait "${persist_pids[$((i - 1))]}" 2>/dev/null
            echo "run: sluice-persist replica $i exited (status $?); starting it again"
            start_persist "$i"
        fi
    done
    if ! kill -0 "$notify_pid" 2>/dev/null; then
        wait "$notify_pid" 2>/dev/null
        echo "run: sluice-notify exited (status $?); starting it again"
        start_notify
    fi
    if ! kill -0 "$ingest_pid" 2>/dev/null; then
        wait "$ingest_pid" 2>/dev/null
        echo "run: sluice-ingest exited (status $?); starting it again"
        SLUICE_LISTEN="$listen" setsid "$build/sluice-ingest" >>"$run/logs/ingest.log" 2>&1 &
        ingest_pid=$!
        echo "$ingest_pid" >"$run/ingest.pid"
    fi
    if [ -n "$devkafka_pid" ] && ! kill -0 "$devkafka_pid" 2>/dev/null; then
        echo "run: sluice-devkafka exited; writes answer 503 until make run is restarted" >&2
        devkafka_pid=""
    fi
done
