#!/usr/bin/env bash
# Builds libFuzzer targets (swiftc -sanitize=fuzzer,address, through SwiftPM with ENABLE_FUZZ=1 into
# .build-fuzz) and runs each on its seed corpus.
#   bash scripts/fuzz.sh                      every target, 30 s each (what CI runs)
#   bash scripts/fuzz.sh sql-parser 600       one target for 10 minutes
#   EVENTLOG_FUZZ_SECONDS=3600 bash scripts/fuzz.sh     the long run: an hour per target
# Targets: record-batch (batch decoder and segment recovery), sql-parser (parser, planner, executor),
# store-csv (the simulator's store-list reader), produce-input (`eventlog produce` line parsing),
# kafka-request (a Kafka request frame handled by the broker over a real log).
# A crash is written to .build-fuzz/<target>/crash-*; each becomes a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
all=(record-batch sql-parser store-csv produce-input kafka-request)
targets=("${1:-all}")
[ "${targets[0]}" = all ] && targets=("${all[@]}")
seconds=${2:-${EVENTLOG_FUZZ_SECONDS:-30}}
summary=()
for target in "${targets[@]}"; do
    case "$target" in
    record-batch) product=FuzzRecordBatch; dir=Fuzz/RecordBatch ;;
    sql-parser) product=FuzzSQLParser; dir=Fuzz/SQLParser ;;
    store-csv) product=FuzzStoreCSV; dir=Fuzz/StoreCSV ;;
    produce-input) product=FuzzProduceInput; dir=Fuzz/ProduceInput ;;
    kafka-request) product=FuzzKafkaRequest; dir=Fuzz/KafkaRequest ;;
    *) echo "unknown fuzz target '$target' (known: ${all[*]})" >&2; exit 2 ;;
    esac
    ENABLE_FUZZ=1 swift build --build-path .build-fuzz --product "$product" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | grep -v "Cannot export local symbol" || true
    binary=.build-fuzz/debug/$product
    [ -x "$binary" ] || { echo "building $product failed" >&2; exit 1; }
    out=.build-fuzz/$target
    mkdir -p "$out/corpus"
    cp -n "$dir"/corpus/* "$out/corpus/" 2>/dev/null || true
    log=$out/last-run.log
    # -detect_leaks=0: Swift keeps pointers in enum payloads with tag bits set, so LeakSanitizer reports
    # reachable objects (a cached parsed statement) as leaked. Memory stays bounded by -rss_limit_mb.
    (cd "$out" && ASAN_OPTIONS=detect_leaks=0 "../debug/$product" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -detect_leaks=0 -print_final_stats=1 corpus) >"$log" 2>&1 || { tail -40 "$log" >&2; echo "fuzz target $target failed" >&2; exit 1; }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    summary+=("$target: $runs executions in ${seconds} s, no crash")
done
printf '%s\n' "${summary[@]}"
