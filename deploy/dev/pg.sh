#!/usr/bin/env bash
# Throw-away PostgreSQL cluster for local runs and tests (deploy/dev/launch.py
# does the work; this keeps the short commands).
#   pg.sh start DIR   initdb DIR (once), start it on 127.0.0.1 (the port of its
#                     last start when still free, else a free one), create
#                     database "sluice"; prints the connection URL and writes it to DIR/url
#   pg.sh stop DIR    fast shutdown (no-op when not running)
#   pg.sh url DIR     print the URL of a running cluster
# Root is refused by postgres, so as root the server runs as the "postgres" user.
set -eu

usage() { echo "usage: $0 start|stop|url DIR" >&2; exit 2; }
if [ $# -ne 2 ] || [ -z "$2" ]; then usage; fi
case "$1" in
start | stop) cmd=$1-pg ;;
url) cmd=pg-url ;;
*) usage ;;
esac
# The port is reserved for whoever ran this script (launch.py's parent after the exec).
exec /usr/bin/python3 "$(dirname "$0")/launch.py" "$cmd" "$2"
