#!/usr/bin/env bash
# One command for the side-by-side comparison: builds EventLog in release, runs every shared workload for
# EventLog and the peer systems on this machine in one session (servers on loopback only), and prints
# min / median / max per workload plus the EventLog ÷ peer ratio for each pair.
#
#   bash Benchmarks/compare.sh [REPS=3] [PEERS="physical redis nats sqlite duckdb bytewax flink baseline"]
#
# Needs ../shared/bench-peers (the peers' setup, dataset generator and harness). Results go to
# $RES (default /tmp/bp-results): results.jsonl, physical.jsonl, summary.md and ratios.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
PEERS=${2:-"physical redis nats sqlite duckdb bytewax flink baseline"}
PEERS_DIR=${BENCH_PEERS:-../shared/bench-peers}
export RES=${RES:-/tmp/bp-results}

if [ ! -f "$PEERS_DIR/run_all.sh" ]; then
  echo "compare.sh: no peer harness at $PEERS_DIR." >&2
  echo "  It ships beside this repository as shared/bench-peers (setup.sh, run_all.sh, summarize.py)." >&2
  echo "  Without it, EventLog alone: python3 gen_w1.py --out /tmp/w1.jsonl; .build/release/eventlog bench W1 --input /tmp/w1.jsonl" >&2
  exit 2
fi

bash scripts/install-deps.sh
swift build -c release --product eventlog
EVENTLOG_BIN="$PWD/.build/release/eventlog"

# Peers' packages, virtualenvs, C clients and the W1 dataset (idempotent; skipped when already there).
if [ ! -x /tmp/bp-bin/sqlite_bench ] || [ ! -f /tmp/w1.jsonl ]; then bash "$PEERS_DIR/setup.sh"; fi

rm -rf "$RES" && mkdir -p "$RES"
EVENTLOG_BIN="$EVENTLOG_BIN" bash "$PEERS_DIR/run_all.sh" "$REPS" "$PEERS eventlog"
# The harness runs EventLog's W1, W1s, W2, W3 and W4; W3d (StreamJet from decoded events) goes beside them.
for rep in $(seq 1 "$REPS"); do
  python3 "$PEERS_DIR/runner.py" "$RES/results.jsonl" --rep "$rep" -- "$EVENTLOG_BIN" bench W3d --input /tmp/w1.jsonl
done
python3 "$PEERS_DIR/summarize.py" "$RES" > "$RES/summary.md"
python3 Benchmarks/ratios.py "$RES/results.jsonl" > "$RES/ratios.md"
cat "$RES/summary.md" "$RES/ratios.md"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); eventlog $(git rev-parse --short HEAD)"
