#!/usr/bin/env bash
# Sets up and runs the main job: builds the release `eventlog` binary, then simulates drivers delivering
# orders from 100 restaurants in 20 US cities for two hours of simulated time, writing every order and
# driver event straight into the embedded log directory ./eventlog-data (or $EVENTLOG_DIR). A live
# progress line shows the simulation; afterwards every segment is verified and live views over the topics
# answer SQL: current deliveries by city, orders by status, events per minute, drivers by activity.
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
# Live views over the two topics (Pinot-style upsert tables), created once, caught up on every query.
$EL tables list | grep -q '^orders' || $EL tables create --preset orders
$EL tables list | grep -q '^drivers' || $EL tables create --preset drivers
echo "== Current deliveries by restaurant city (live view 'orders', latest state of each order)"
$EL query "SELECT restaurantCity AS city, COUNT(*) AS deliveries FROM orders
           WHERE status IN ('DRIVER_ASSIGNED', 'ORDER_PICKED_UP', 'ORDER_DELIVERING')
           GROUP BY restaurantCity ORDER BY deliveries DESC LIMIT 10"
echo "== Orders by status"
$EL query "SELECT status, COUNT(*) AS orders FROM orders GROUP BY status ORDER BY orders DESC"
echo "== Order events per simulated minute, last 5 minutes (every stored row: skipUpsert)"
$EL query "SELECT ToDateTime(DATETRUNC('MINUTE', lastModified), 'yyyy-MM-dd HH:mm') AS minute, COUNT(*) AS events
           FROM orders GROUP BY minute ORDER BY minute DESC LIMIT 5 option(skipUpsert=true)"
echo "== Drivers by activity"
$EL query "SELECT activityStatus, COUNT(*) AS drivers FROM drivers GROUP BY activityStatus"
echo
echo "Explore it: $EL query \"SELECT * FROM orders LIMIT 3\"   |   $EL tail orders -n 3   |   $EL consume drivers --max 5 --json"
