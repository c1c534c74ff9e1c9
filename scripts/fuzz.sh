#!/usr/bin/env bash
# Builds a libFuzzer target (swiftc -sanitize=fuzzer,address) and runs it on its seed corpus.
#   bash scripts/fuzz.sh sql-parser [seconds]     (default 30 s; CI runs a short round)
# Crashes are written to .build-fuzz/<target>/crash-*; each becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-sql-parser}
seconds=${2:-30}
out=.build-fuzz/$target
mkdir -p "$out/corpus"
case "$target" in
sql-parser)
    sources=(Fuzz/SQLParser/main.swift Sources/LiveViews/SQL/Syntax.swift Sources/LiveViews/SQL/Parser.swift
        Sources/LiveViews/SQL/SQLValue.swift Sources/LiveViews/SQL/Functions.swift
        Sources/LiveViews/Table/ViewError.swift Sources/LiveViews/Geo/Geography.swift)
    corpus=Fuzz/SQLParser/corpus ;;
*) echo "unknown fuzz target '$target' (known: sql-parser)" >&2; exit 2 ;;
esac
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name Fuzz "${sources[@]}" -o "$out/fuzz"
cp -n "$corpus"/* "$out/corpus/" 2>/dev/null || true
cd "$out"
./fuzz -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 corpus
