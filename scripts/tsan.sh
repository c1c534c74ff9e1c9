#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer (its own build directory, .build-tsan). Any race report
# makes the run fail: TSan exits the reporting process with status 66.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests --sanitize=thread --build-path .build-tsan -Xswiftc -warnings-as-errors
EVENTLOG_TSAN=1 TSAN_OPTIONS="${TSAN_OPTIONS:-exitcode=66}" swift test --skip-build --sanitize=thread --build-path .build-tsan "$@"
