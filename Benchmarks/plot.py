#!/usr/bin/env python3
"""Scaling curves as PNG from `eventlog bench scaling` / `W4-scaling` JSON lines.

    python3 Benchmarks/plot.py RESULTS.jsonl... --out Benchmarks/results/plots

One plot per curve: append MB/s against record size, append records/s against batch size, read
records/s against partition count, W3 events/s against key count and window size, W4 query latency
against table size (index and full scan).
"""
import argparse
import collections
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CURVES = {
    "W1-size": ("record_bytes", "mb_per_s", "value size (bytes)", "append MB/s", "Append throughput against record size"),
    "W1-batch": ("batch", "records_per_s", "records per batch", "append records/s", "Append throughput against batch size"),
    "W2-partitions": ("partitions", "records_per_s", "partitions", "read records/s", "Read throughput against partition count"),
    "W3-keys": ("keys", "records_per_s", "keys", "events/s", "W3 throughput against key count (1-minute windows)"),
    "W3-window": ("window_ms", "records_per_s", "window (ms)", "events/s", "W3 throughput against window size (1,000 keys)"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--out", default="Benchmarks/results/plots")
    args = parser.parse_args()
    points = collections.defaultdict(list)
    for path in args.files:
        for line in open(path):
            line = line.strip()
            if line.startswith("{"):
                row = json.loads(line)
                if row.get("peer") == "eventlog":
                    points[row["workload"]].append(row)
    os.makedirs(args.out, exist_ok=True)
    written = []
    for workload, (x, y, xlabel, ylabel, title) in CURVES.items():
        rows = sorted(points.get(workload, []), key=lambda r: r[x])
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([r[x] for r in rows], [r[y] for r in rows], marker="o")
        ax.set_xscale("log", base=2 if workload in ("W1-size", "W2-partitions") else 10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        written.append(save(fig, args.out, workload))
    rows = sorted(points.get("W4-scaling", []), key=lambda r: r["rows"])
    if rows:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([r["rows"] for r in rows], [r["ms_per_query"] for r in rows], marker="o", label="spatial index")
        ax.plot([r["rows"] for r in rows], [r["ms_per_query_scan"] for r in rows], marker="s", label="full scan")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows in the table")
        ax.set_ylabel("ms per radius query")
        ax.set_title("W4 radius query latency against table size")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        written.append(save(fig, args.out, "W4-scaling"))
    for path in written:
        print(path)


def save(fig, directory, name):
    path = os.path.join(directory, name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
