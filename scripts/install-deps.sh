#!/usr/bin/env bash
# Installs the system libraries EventLog links (liblz4, libzstd) and what the tests use (libsqlite3, the SQL
# oracle; kcat, a librdkafka Kafka client the protocol server is tested with) if they are missing.
# Debian/Ubuntu.
set -euo pipefail
need=()
for pkg in liblz4-dev libzstd-dev libsqlite3-dev pkg-config kcat; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
