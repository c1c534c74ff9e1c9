#!/usr/bin/env bash
# Starts (or stops: `bash scripts/postgres.sh stop`) a local PostgreSQL for trying change data capture: Debian's
# server, its own cluster in $EVENTLOG_PG_DIR (default /tmp/eventlog-postgres), on 127.0.0.1:$EVENTLOG_PG_PORT
# (default 5433), wal_level=logical, trust authentication for the user `eventlog`. Prints the URL to give
# `eventlog cdc postgres --url`. PostgreSQL will not run as root, so as root the cluster belongs to `postgres`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${EVENTLOG_PG_DIR:-/tmp/eventlog-postgres}
port=${EVENTLOG_PG_PORT:-5433}
dpkg -s postgresql >/dev/null 2>&1 || bash scripts/install-deps.sh
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_owner() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "${1:-start}" = "stop" ]; then
  as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop
  exit 0
fi
if [ ! -d "$dir/data" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -A trust -U eventlog -E UTF8 >/dev/null
fi
as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10 -c unix_socket_directories=$dir" \
  start >/dev/null
echo "PostgreSQL on 127.0.0.1:$port (data $dir/data, log $dir/log)"
echo "url: postgres://eventlog@127.0.0.1:$port/postgres    psql: psql -h 127.0.0.1 -p $port -U eventlog postgres"
