#!/usr/bin/env bash
# Installs the system libraries EventLog links (liblz4, libzstd) and what the tests use (libsqlite3, the SQL
# oracle; librdkafka, the package's Kafka client; kcat, a librdkafka Kafka client the protocol server is
# tested with; Leaflet and Chart.js, which the dashboard serves; Chromium and its driver, which the browser
# test runs; PostgreSQL, which the change-capture tests start, each its own server on loopback) if they are
# missing.
# Debian/Ubuntu.
set -euo pipefail
need=()
for pkg in liblz4-dev libzstd-dev zlib1g-dev libsnappy-dev librdkafka-dev libsqlite3-dev pkg-config kcat curl \
  libjs-leaflet libjs-chart.js chromium chromium-driver postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# Kafka clients from PyPI that the protocol server is tested with: confluent-kafka (librdkafka 2.16, bundled)
# and kafka-python (an independent pure-Python implementation).
# selenium drives the browser test; schemathesis checks the HTTP API against its OpenAPI document.
if ! python3 -c "import confluent_kafka, kafka, selenium, schemathesis" >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    confluent-kafka==2.16.1 kafka-python==3.0.12 selenium==4.51.0 schemathesis==4.32.5
fi
