#!/usr/bin/env bash
# Sets up and runs the main job: builds the release `eventlog` binary, then simulates drivers delivering
# orders from 100 restaurants in 20 US cities for two hours of simulated time, writing every order and
# driver event straight into the embedded log directory ./eventlog-data (or $EVENTLOG_DIR). A live
# progress line shows the simulation; afterwards the current deliveries by city and the events per
# minute are read back from the log, and every segment is verified.
#
# Extra arguments go to `eventlog simulate`, e.g.:  bash scripts/main.sh --speed 60 --duration 8h
#   or with real stores:  bash scripts/main.sh --stores ../shared/data/directory.csv --city Seattle
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product eventlog
EL=.build/release/eventlog
export EVENTLOG_DIR=${EVENTLOG_DIR:-./eventlog-data}
$EL simulate --duration 2h "$@"
echo
$EL stats
$EL verify
echo
echo "Explore it: $EL tail orders -n 3 --data-dir $EVENTLOG_DIR   |   $EL consume drivers --max 5 --json"
