#!/usr/bin/env bash
# Sets up and runs the test suite: system libraries, a build with warnings as errors (which also builds
# the eventlog binary the command-line tests run), then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests -Xswiftc -warnings-as-errors
swift test --skip-build "$@"
