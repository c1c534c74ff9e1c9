#!/usr/bin/env python3
"""EventLog ÷ peer ratios (medians of the same run) from a bench-peers results.jsonl.

  ratios.py RESULTS.jsonl
For records/s workloads a ratio above 1 means EventLog is faster; for W4 (ms per query) it is
peer ms ÷ EventLog ms, so above 1 is also faster. EventLog's W3d (StreamJet from events decoded in memory)
is set beside the peers' W3 rows, since the peers have no decoded-events variant of their own.
"""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if "error" not in r]
rate = defaultdict(list)
query_ms = defaultdict(list)
for r in rows:
    rate[(r["workload"], r["peer"])].append(r["records_per_s"])
    if r.get("ms_per_query") is not None:
        query_ms[(r["workload"], r["peer"])].append(r["ms_per_query"])

print("## EventLog ÷ peer (medians, same run)\n")
print("| workload | peer | peer median | EventLog median | ratio |")
print("|---|---|---|---|---|")
for workload in ["W1", "W1s", "W2", "W3", "W3d", "W4"]:
    mine = rate.get((workload, "eventlog"))
    if not mine:
        continue
    against = "W3" if workload == "W3d" else workload
    for (w, peer), values in sorted(rate.items()):
        if w != against or peer == "eventlog":
            continue
        w = workload if workload == against else f"{workload} vs {against}"
        if workload == "W4" and (w, "eventlog") in query_ms:
            # A peer without ms_per_query (the C baseline) reports queries per second.
            theirs_ms = query_ms.get((w, peer)) or [1000 / value for value in values]
            ours, theirs = statistics.median(query_ms[(w, "eventlog")]), statistics.median(theirs_ms)
            print(f"| {w} | {peer} | {theirs:.3f} ms | {ours:.3f} ms | {theirs / ours:.1f}× |")
        else:
            ours, theirs = statistics.median(mine), statistics.median(values)
            print(f"| {w} | {peer} | {theirs:,.0f}/s | {ours:,.0f}/s | {ours / theirs:.1f}× |")
