#!/usr/bin/env bash
# Throw-away PostgreSQL cluster for local runs and tests.
#   pg.sh start DIR   initdb DIR (once), start it on a free loopback port, create
#                     database "sluice"; prints the connection URL and writes it to DIR/url
#   pg.sh stop DIR    fast shutdown (no-op when not running)
#   pg.sh url DIR     print the URL of a running cluster
# Root is refused by postgres, so as root the server runs as the "postgres" user.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "pg.sh: PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
        # A repo under /root is not reachable by the postgres user: keep the
        # cluster in /tmp then, with a link from DIR so the layout stays the same.
        if ! runuser -u postgres -- test -x "$dir"; then
            real=$(mktemp -d /tmp/sluice-pg.XXXXXX)
            chown postgres:postgres "$real"
            rm -rf "$dir" && ln -s "$real" "$dir"
        fi
        dir=$(readlink -f "$dir")
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        cat "$dir/url"
        exit 0
    fi
    # The port of the last start when it is still free: processes that were
    # running while the cluster was stopped reconnect to the same URL.
    port=$(sed -n 's|.*:\([0-9]*\)/sluice$|\1|p' "$dir/url" 2>/dev/null || true)
    if [ -z "$port" ] || ! /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$port" 2>/dev/null; then
        port=$(free_port)
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB" \
        start >/dev/null || { tail -n 20 "$dir/server.log" >&2; exit 1; }
    as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname='sluice'" | grep -q 1 ||
        as_owner "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres sluice
    url="postgresql://postgres@127.0.0.1:$port/sluice"
    echo "$url" >"$dir/url"
    echo "$url"
    ;;
stop)
    dir=$(readlink -f "$dir")
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
url)
    cat "$dir/url"
    ;;
*)
    echo "usage: $0 start|stop|url DIR" >&2
    exit 2
    ;;
esac
