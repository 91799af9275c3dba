#!/usr/bin/env python3
"""Summarize a CUDA step timeline (a build with -DGRETA_CUDA_TIMELINE=ON writes it; see
src/backend/cuda/cuda_timeline.cuh).

Each line of the file is one kernel: when block 0 arrived and when its wait for the
previous kernel returned. A kernel's cost on the chain of dependencies is the time from
its own "go" to the next kernel's "go". Decode steps repeat one launch sequence, so the
script finds that period, aligns steps at the largest gap (the host's turn between two
steps) and prints, per position in the step, the median cost, how long block 0 had been
resident before its wait returned, and the launch's shape; then the cost summed by shape.

usage: timeline_summary.py greta_timeline.csv [--steps N]   (the last N whole steps)
"""
import argparse
import csv
import statistics
from collections import defaultdict


def load(path):
    with open(path) as f:
        rows = [r for r in csv.DictReader(f)]
    return [(int(r["arrive_ns"]), int(r["go_ns"]), (int(r["blocks"]), int(r["threads"]), int(r["smem"]))) for r in rows]


def period(sigs):
    """Smallest P for which the timeline ends in at least three repeats of P kernels, and
    how many kernels at its end repeat (the decode steps; a prefill before them does not)."""
    for p in range(1, len(sigs) // 3 + 1):
        i = len(sigs) - 1 - p
        while i >= 0 and sigs[i] == sigs[i + p]:
            i -= 1
        if len(sigs) - (i + 1) >= 3 * p:
            return p, len(sigs) - (i + 1)
    raise SystemExit("no repeating step found: run more decode steps at a fixed split")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--steps", type=int, default=64)
    args = ap.parse_args()
    k = load(args.file)
    sigs = [s for _, _, s in k]
    p, periodic = period(sigs)
    n = min(args.steps, periodic // p - 1)
    body = k[-(n + 1) * p:]
    gaps = [statistics.median(body[s * p + j + 1][1] - body[s * p + j][1] for s in range(n)) for j in range(p)]
    start = (max(range(p), key=lambda j: gaps[j]) + 1) % p  # the kernel after the host's turn
    steps = [body[start + s * p: start + (s + 1) * p + 1] for s in range(n - 1)]
    cost = [statistics.median(st[j + 1][1] - st[j][1] for st in steps) / 1000 for j in range(p)]
    lead = [statistics.median(st[j][1] - st[j][0] for st in steps) / 1000 for j in range(p)]
    step_us = statistics.median(st[p][1] - st[0][1] for st in steps) / 1000
    print(f"{p} kernels a step, {len(steps)} steps, median step {step_us:.1f} us ({1e6 / step_us:.1f} tok/s)")
    print(f"{'pos':>4} {'cost us':>8} {'resident us':>11}  blocks x threads, smem")
    for j in range(p):
        b, t, sm = steps[0][j][2]
        print(f"{j:>4} {cost[j]:>8.2f} {lead[j]:>11.2f}  {b} x {t}, {sm}")
    by = defaultdict(lambda: [0, 0.0])
    for j in range(p):
        by[steps[0][j][2]][0] += 1
        by[steps[0][j][2]][1] += cost[j]
    print("\nby shape (the last kernel's cost includes the host's turn):")
    for sig, (cnt, us) in sorted(by.items(), key=lambda e: -e[1][1]):
        print(f"  {sig[0]:>6} x {sig[1]:>4}, smem {sig[2]:>6}: {cnt:>4} launches, {us:8.1f} us a step, {us / cnt:6.2f} each")


if __name__ == "__main__":
    main()
