#!/usr/bin/env bash
# Sets up and runs the main job into ./eventlog-data: builds the release `eventlog` binary, writes order
# events into an embedded log, and shows what is in it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product eventlog
EL=.build/release/eventlog
DATA=${EVENTLOG_DIR:-./eventlog-data}
export EVENTLOG_DIR=$DATA
$EL topics create orders --partitions 4 --compression lz4 2>/dev/null || true
echo "writing 100,000 order events into $DATA ..."
awk 'BEGIN {
  split("ORDER_CREATED ORDER_ASSIGNED ORDER_PREPARING ORDER_PREPARED DRIVER_ASSIGNED ORDER_PICKED_UP ORDER_DELIVERING ORDER_DELIVERED", s, " ");
  for (i = 0; i < 100000; i++) { o = i % 12500; st = s[int(i / 12500) + 1];
    printf "order-%06d\t{\"orderId\":\"order-%06d\",\"status\":\"%s\",\"restaurantId\":%d,\"lastModified\":%.0f}\n", o, o, st, o % 97, 1704067200000 + i * 36 }
}' | $EL produce orders --separator tab
$EL topics describe orders
echo "latest events of order-000042:"
$EL consume orders --partition "$($EL consume orders --json | grep -m1 '"order-000042"' | sed 's/.*"partition":\([0-9]*\).*/\1/')" --json \
  | grep '"order-000042"' | tail -3
$EL verify
