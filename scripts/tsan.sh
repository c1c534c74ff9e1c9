#!/usr/bin/env bash
# Runs the whole test suite under ThreadSanitizer (its own build directory, .build-tsan). Any race report
# makes the run fail: TSan exits the reporting process with status 66. Child processes the tests start (servers,
# connectors) inherit TSAN_OPTIONS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests --sanitize=thread --build-path .build-tsan -Xswiftc -warnings-as-errors
# Suppressions: reports TSan is known to get wrong, each with its reason in the file. Options given by the
# caller come last and win.
export TSAN_OPTIONS="exitcode=66 suppressions=$PWD/scripts/tsan-suppressions.txt ${TSAN_OPTIONS:-}"
EVENTLOG_TSAN=1 swift test --skip-build --sanitize=thread --build-path .build-tsan "$@"
