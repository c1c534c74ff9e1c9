#!/usr/bin/env bash
# Runs the scaling benchmarks and renders their curves as PNG (matplotlib, installed into a virtualenv).
#   bash Benchmarks/plot.sh [OUT=Benchmarks/results]
# Writes OUT/scaling-<date>.jsonl and OUT/plots/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-Benchmarks/results}
venv=${PLOT_VENV:-/tmp/eventlog-plot-venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import matplotlib" 2>/dev/null; then
    command -v python3 >/dev/null || { echo "needs python3" >&2; exit 2; }
    python3 -m venv "$venv" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q matplotlib
fi
bash scripts/install-deps.sh
swift build -c release --product eventlog
file="$out/scaling-$(date +%F).jsonl"
mkdir -p "$out"
.build/release/eventlog bench scaling | tee "$file"
.build/release/eventlog bench W3-scaling | tee -a "$file"
.build/release/eventlog bench W4-scaling | tee -a "$file"
"$venv/bin/python" Benchmarks/plot.py "$file" --out "$out/plots"
