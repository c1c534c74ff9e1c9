#!/usr/bin/env bash
# The live demo: builds the release `eventlog`, then serves a fresh log directory (./eventlog-demo, or
# $EVENTLOG_DIR) over HTTP (the dashboard, the order-delivery HAL API, SQL, event streams) and Kafka's wire
# protocol, with the simulator delivering orders inside the server at 60 simulated seconds per second.
# Ctrl-C stops it cleanly. Extra arguments go to `eventlog serve`, e.g. --speed 10 or --stores-per-city 3.
#   HTTP_ADDRESS (127.0.0.1:8080) and KAFKA_ADDRESS (127.0.0.1:9092) choose the listeners.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product eventlog
export EVENTLOG_DIR=${EVENTLOG_DIR:-./eventlog-demo}
HTTP_ADDRESS=${HTTP_ADDRESS:-127.0.0.1:8080}
KAFKA_ADDRESS=${KAFKA_ADDRESS:-127.0.0.1:9092}
echo "Dashboard: http://$HTTP_ADDRESS/   orders: http://$HTTP_ADDRESS/v1/orders   Kafka: $KAFKA_ADDRESS   (Ctrl-C stops)"
exec .build/release/eventlog serve --http "$HTTP_ADDRESS" --kafka "$KAFKA_ADDRESS" --simulate --speed 60 "$@"
