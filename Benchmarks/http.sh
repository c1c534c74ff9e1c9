#!/usr/bin/env bash
# HTTP load in one run: wrk against `eventlog serve --http --simulate --speed 60` (the simulator delivering
# orders in the same process) — GET /v1/orders/{id}, POST .../commands/updateOrderLocation, GET /health (the
# HTTP stack's own floor) — and against nginx serving a static file of the same size as the order's JSON.
# Needs: the release build, wrk and nginx (Debian: apt-get install wrk nginx-light). Prints one line each.
#   SECONDS_EACH (10) and CONNECTIONS (32) tune the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EL=.build/release/eventlog
SECONDS_EACH=${SECONDS_EACH:-10}
CONNECTIONS=${CONNECTIONS:-32}
work=$(mktemp -d)
chmod 755 "$work"   # nginx workers run as another user
trap 'kill $server 2>/dev/null || true; nginx -c "$work/nginx.conf" -s stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
EVENTLOG_DIR="$work/log" $EL serve --http 127.0.0.1:18090 --simulate --speed 60 > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf 127.0.0.1:18090/health > /dev/null && break; sleep 0.2; done
sleep 3   # let the simulator write some orders
order=$(curl -s '127.0.0.1:18090/v1/orders?size=1' | python3 -c 'import json,sys; print(json.load(sys.stdin)["_embedded"]["orders"][0]["orderId"])')
mine=$(curl -s -X POST 127.0.0.1:18090/v1/orders -d '{"accountId":"bench"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["orderId"])')
mkdir -p "$work/www"
curl -s "127.0.0.1:18090/v1/orders/$order" > "$work/www/order.json"
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:18095; location / { root $work/www; default_type application/json; } } }
CONF
nginx -c "$work/nginx.conf"
cat > "$work/post.lua" <<'LUA'
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", wrk.path .. "?lat=" .. (37.7 + (counter % 1000) / 100000) .. "&lon=-122.42")
end
LUA
run() {  # name, url, extra wrk arguments
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency "${@:3}" "$2")
  printf '%-30s %9s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$1" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" "$(echo "$out" | awk '$1 == "50%" {print $2}')" \
    "$(echo "$out" | awk '$1 == "99%" {print $2}')" \
    "$(echo "$out" | awk '/Non-2xx/ {n = $NF} /Socket errors/ {s = " " $0} END {print (n ? n : 0) s}')"
}
echo "order JSON: $(wc -c < "$work/www/order.json") bytes; $(nproc) cores; wrk -t2 -c$CONNECTIONS -d${SECONDS_EACH}s"
run "GET /v1/orders/{id}" "http://127.0.0.1:18090/v1/orders/$order"
run "POST .../updateOrderLocation" "http://127.0.0.1:18090/v1/orders/$mine/commands/updateOrderLocation" -s "$work/post.lua"
run "GET /health (Hummingbird)" "http://127.0.0.1:18090/health"
run "nginx static, same size" "http://127.0.0.1:18095/order.json"
