#!/usr/bin/env python3
"""Compare two builds of the kernel's criterion benchmarks on a busy machine: runs the two bench
binaries alternately ROUNDS times (so both see the same load) and prints the median of each
benchmark and the ratio, as a Markdown table (docs/PERFORMANCE.md).

    cargo bench -p mizan-kernel --bench kernel --no-run        # prints the binary's path
    python3 scripts/bench-compare.py BEFORE_BIN AFTER_BIN 3
"""
import subprocess, re, sys, statistics, os
before, after, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
unit = {"ns": 1e-3, "µs": 1.0, "ms": 1e3}
res = {"before": {}, "after": {}}
def run(b):
    out = subprocess.run(["nice", b, "--bench", "--warm-up-time", "1", "--measurement-time", "2", "--noplot"], capture_output=True, text=True).stdout
    name = None; d = {}
    for line in out.splitlines():
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) ", line)
        if not line.startswith(" ") and line.strip() and "time:" not in line.split("  ")[0]:
            name = line.split("  ")[0].strip() if not line.startswith("Benchmarking") else name
        if m:
            nm = line.split("time:")[0].strip() or name
            d[nm] = float(m.group(1)) * unit[m.group(2)]
    return d
for r in range(rounds):
    for k, b in (("before", before), ("after", after)):
        for n, v in run(b).items():
            res[k].setdefault(n, []).append(v)
    print("round", r + 1, "load", open("/proc/loadavg").read().split()[0], file=sys.stderr)
print(f"| benchmark | before (µs) | after (µs) | ratio |")
print("|---|---|---|---|")
for n in res["before"]:
    b = statistics.median(res["before"][n]); a = statistics.median(res["after"].get(n, [float('nan')]))
    print(f"| {n} | {b:.2f} | {a:.2f} | {a/b:.2f}× |")
