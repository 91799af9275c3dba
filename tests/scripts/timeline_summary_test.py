#!/usr/bin/env python3
"""scripts/timeline_summary.py on a made-up timeline whose answers are known: a few
kernels that do not repeat (a prefill), then 20 steps of four kernels with fixed costs and
a host's turn after the last one. The script must find the period, start each step after
the host's turn, and report each kernel's cost, its residency before the wait, the step
time and the sums by launch shape.

usage: timeline_summary_test.py path/to/timeline_summary.py
"""
import os
import re
import subprocess
import sys
import tempfile

COSTS_US = [2.0, 10.0, 3.0, 5.0]  # per kernel of a step, on the chain
LEADS_US = [0.5, 1.0, 2.0, 0.25]  # block 0 resident this long before its wait returned
HOST_US = 40.0                    # after the last kernel of each step
SHAPES = [(2, 256, 0), (132, 288, 157824), (8, 128, 10368), (132, 288, 157824)]


def write_timeline(path):
    rows, t, index = [], 1_000_000, 0
    for i in range(7):  # not periodic: the prefill before the decode steps
        rows.append((index, t - 100, t, 100 + i, 64, 0))
        t += 50_000 + 1000 * i
        index += 1
    for _ in range(20):
        for j, cost in enumerate(COSTS_US):
            b, th, sm = SHAPES[j]
            rows.append((index, t - int(LEADS_US[j] * 1000), t, b, th, sm))
            t += int(cost * 1000) + (int(HOST_US * 1000) if j == len(COSTS_US) - 1 else 0)
            index += 1
    with open(path, "w") as f:
        f.write("index,arrive_ns,go_ns,blocks,threads,smem\n")
        for r in rows:
            f.write(",".join(map(str, r)) + "\n")


def main():
    script = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "timeline.csv")
        write_timeline(path)
        out = subprocess.run([sys.executable, script, path, "--steps", "16"], check=True,
                             capture_output=True, text=True).stdout
    lines = out.splitlines()
    head = re.match(r"(\d+) kernels a step, (\d+) steps, median step ([\d.]+) us", lines[0])
    assert head, out
    assert int(head[1]) == 4, out
    assert int(head[2]) == 15, out  # 16 whole steps asked, the last one has no successor
    assert abs(float(head[3]) - (sum(COSTS_US) + HOST_US)) < 1e-6, out
    rows = [l.split() for l in lines[2:6]]
    for j, r in enumerate(rows):
        want = COSTS_US[j] + (HOST_US if j == 3 else 0.0)
        assert int(r[0]) == j and abs(float(r[1]) - want) < 0.005, (j, r, out)
        assert abs(float(r[2]) - LEADS_US[j]) < 0.005, (j, r, out)
    # Shape sums: the two kernels of shape (132, 288, 157824) add up, the host's turn with them.
    assert re.search(r"132 x\s+288, smem 157824:\s+2 launches,\s+55\.0 us a step", out), out
    print("timeline_summary: ok")


if __name__ == "__main__":
    main()
