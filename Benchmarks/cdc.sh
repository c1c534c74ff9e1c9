#!/usr/bin/env bash
# Change data capture in one run, PostgreSQL on this machine (scripts/postgres.sh's server, its own directory):
#   1. PostgreSQL's own limit: pgbench committing single-row INSERT transactions, no slot, no connector.
#   2. Sustained capture: a backlog of ROWS single-row transactions committed with the connector stopped, then
#      `eventlog cdc postgres` drains it; rows/s = rows / (time until the slot is confirmed past the last one).
#   3. Latency at RATE transactions/s (pgbench --rate): commit → durable in the log, p50/p99, from the
#      connector's own measurement (PostgreSQL's commit timestamp against the clock after the append + flush).
#   4. PostgreSQL's own logical-replication client, pg_recvlogical, draining the same kind of backlog to
#      /dev/null: what the walsender delivers here with no connector work at all.
# Needs the release build (swift build -c release --product eventlog). Prints one line per measurement.
#   ROWS (300000), RATE (5000), SECONDS_EACH (10), CLIENTS (4) tune the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EL=$PWD/.build/release/eventlog
ROWS=${ROWS:-300000}
RATE=${RATE:-5000}
SECONDS_EACH=${SECONDS_EACH:-10}
CLIENTS=${CLIENTS:-4}
work=$(mktemp -d)
chmod 755 "$work"
export EVENTLOG_PG_DIR=$work/pg EVENTLOG_PG_PORT=${EVENTLOG_PG_PORT:-5499}
trap 'kill $cdc 2>/dev/null || true; bash scripts/postgres.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cdc=
bash scripts/postgres.sh >/dev/null
url="postgres://eventlog@127.0.0.1:$EVENTLOG_PG_PORT/postgres"
psql="psql -h 127.0.0.1 -p $EVENTLOG_PG_PORT -U eventlog -d postgres -X -q -A -t"
pgbench="/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -V | tail -1)/bin/pgbench -h 127.0.0.1 -p $EVENTLOG_PG_PORT -U eventlog -n"
$psql -c "CREATE TABLE rows (id bigserial PRIMARY KEY, account int, amount numeric(12,2), note text, at timestamptz DEFAULT now())"
echo "INSERT INTO rows (account, amount, note) VALUES (random() * 1000, random() * 100, 'order placed');" > "$work/insert.sql"
lsn() { $psql -c "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8"; }
lsn_text() { $psql -c "SELECT pg_current_wal_insert_lsn()"; }
confirmed() { $psql -c "SELECT COALESCE((confirmed_flush_lsn - '0/0'::pg_lsn)::int8, 0) FROM pg_replication_slots WHERE slot_name = 'eventlog'"; }
start_cdc() {
  $EL cdc postgres --data-dir "$work/log" --url "$url" --tables public.rows --snapshot never > "$work/cdc.out" 2>&1 &
  cdc=$!
  for _ in $(seq 300); do grep -q "streaming from slot" "$work/cdc.out" && return; sleep 0.1; done
  cat "$work/cdc.out"; exit 1
}
stop_cdc() { kill -TERM $cdc; wait $cdc || true; cdc=; }

# 1. PostgreSQL alone.
tps=$($pgbench -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f "$work/insert.sql" postgres | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
echo "postgres alone: $tps single-row INSERT transactions/s ($CLIENTS clients, pgbench)"

# 2. A backlog drained by the connector (the slot exists from a first start). Two figures: from the process
#    start (start-up included), and sustained — from the moment it streams, counting only the rows still to
#    drain then (the backlog's WAL is uniform, so rows left = ROWS × WAL left / WAL of the backlog).
start_cdc; stop_cdc
first=$(lsn)
$pgbench -c "$CLIENTS" -j 2 -t $((ROWS / CLIENTS)) -f "$work/insert.sql" postgres > /dev/null
target=$(lsn)
begin=$(date +%s.%N)
$EL cdc postgres --data-dir "$work/log" --url "$url" --tables public.rows --snapshot never > "$work/cdc.out" 2>&1 &
cdc=$!
until grep -q "streaming from slot" "$work/cdc.out"; do sleep 0.005; done
streaming=$(date +%s.%N)
at_stream=$(confirmed)
while [ "$(confirmed)" -lt "$target" ]; do sleep 0.02; done
end=$(date +%s.%N)
stop_cdc
python3 -c "
r=$ROWS; t=$end-$begin; s=$end-$streaming
left = r * ($target - max($at_stream, $first)) / ($target - $first)
print(f'cdc backlog: {r} single-row transactions in {t:.2f} s = {r/t:,.0f} rows/s into the log (start-up included)')
print(f'cdc backlog sustained: {left:,.0f} rows in {s:.2f} s from the moment it streamed = {left/s:,.0f} rows/s')"
grep "eventlog cdc: stopped" "$work/cdc.out" | tail -1

# 3. Latency at a fixed commit rate, the connector running.
start_cdc
$pgbench -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" --rate "$RATE" -f "$work/insert.sql" postgres | grep -E "^tps|latency average" | tr '\n' ' '
echo
target=$(lsn)
while [ "$(confirmed)" -lt "$target" ]; do sleep 0.05; done
stop_cdc
echo "cdc at $RATE tx/s: $(grep -o 'commit→log.*; the' "$work/cdc.out" | tail -1 | sed 's/; the$//')"

# 4. PostgreSQL's own client on the same kind of backlog: pg_recvlogical draining a fresh slot to /dev/null
#     (what the walsender delivers with no connector work at all).
#     Its own table and publication, last, so the connector never has it to skip.
$psql -c "CREATE TABLE rows2 (LIKE rows INCLUDING ALL); CREATE PUBLICATION recvlogical FOR TABLE rows2"
$psql -c "SELECT pg_create_logical_replication_slot('recvlogical', 'pgoutput')" > /dev/null
sed 's/INTO rows /INTO rows2 /' "$work/insert.sql" > "$work/insert2.sql"
$pgbench -c "$CLIENTS" -j 2 -t $((ROWS / CLIENTS)) -f "$work/insert2.sql" postgres > /dev/null
target=$(lsn)
begin=$(date +%s.%N)
"$(dirname "${pgbench%% *}")/pg_recvlogical" -h 127.0.0.1 -p "$EVENTLOG_PG_PORT" -U eventlog -d postgres \
  --slot recvlogical --start -o proto_version=1 -o publication_names=recvlogical -E "$(lsn_text)" -f /dev/null
end=$(date +%s.%N)
$psql -c "SELECT pg_drop_replication_slot('recvlogical')" > /dev/null
python3 -c "r=$ROWS; t=$end-$begin; print(f'pg_recvlogical (PostgreSQL alone, to /dev/null): {r} transactions in {t:.2f} s = {r/t:,.0f} rows/s')"
