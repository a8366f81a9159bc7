#!/usr/bin/env python3
"""Summarises sweeps over several seeds (each seed: its own trained networks, its own simulated
chip, its own lab split) with intervals over seeds, and paired comparisons between methods.

usage: seed-summary.py DIR[=SUFFIX] [DIR[=SUFFIX] ...]

Each DIR is a sweep folder (its results.jsonl); a method of a folder given as DIR=SUFFIX is
named method+SUFFIX (e.g. out/headline-b=-norescale turns its gift into gift-norescale), so
two sweeps over the same networks and chips are compared cell by cell. Prints, per (assumed,
true) cell, each method's accuracy (mean over seeds, 95% t interval over seeds), recovery,
budgets spent; then the paired differences (per seed, same networks, chip and images) of every
method against every other and against the oracle, with a 95% t interval over seeds. A claim
"A is ahead of B" is only supported where the paired interval excludes 0.
"""
import json
import math
import os
import sys
from collections import defaultdict

# 97.5% quantiles of Student's t for 1..30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def interval(xs):
    n = len(xs)
    m = sum(xs) / n
    if n < 2:
        return m, float("nan"), float("nan")
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1))
    h = T975[min(n - 1, 30) - 1] * sd / math.sqrt(n)
    return m, m - h, m + h


def fmt(t, scale=100.0, digits=2):
    m, lo, hi = t
    if math.isnan(lo):
        return f"{scale * m:.{digits}f} (one seed: no interval)"
    if lo == hi:
        return f"{scale * m:.{digits}f} (the same in every seed)"
    return f"{scale * m:.{digits}f} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def main(args):
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    cells = defaultdict(lambda: defaultdict(dict))  # (grid, a, t) -> method -> seed -> row
    for arg in args:
        d, _, suffix = arg.partition("=")
        with open(os.path.join(d, "results.jsonl")) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                name = r["method"] + suffix if r["method"] != "none" else "none"
                cells[(r["grid"], r["assumed"], r["true"])][name][r["seed"]] = r
    for key in sorted(cells):
        methods = cells[key]
        seeds = sorted(set.intersection(*(set(s) for s in methods.values())))
        if not seeds:
            continue
        print(f"\n### {key[0]}: assumed {key[1]:g}, true {key[2]:g} ({len(seeds)} seeds: "
              f"{', '.join(str(s) for s in seeds)})\n")
        print("| method | accuracy % [95% over seeds] | recovery [95%] | per-sample gradients "
              "| device passes | accepted |")
        print("| --- | --- | --- | --- | --- | --- |")
        any_row = next(iter(methods.values()))
        before = interval([any_row[s]["acc_before"] for s in seeds])
        oracle = interval([any_row[s]["acc_oracle"] for s in seeds])
        print(f"| start | {fmt(before)} | | | | |")
        order = sorted(methods, key=lambda m: (m != "none", m))
        for m in order:
            rows = [methods[m][s] for s in seeds]
            acc = interval([r["acc_after"] for r in rows])
            gap = [r["acc_oracle"] - r["acc_before"] for r in rows]
            rec = ("-" if min(gap) < 0.01 else
                   fmt(interval([(r["acc_after"] - r["acc_before"]) /
                                 (r["acc_oracle"] - r["acc_before"]) for r in rows]), 1.0))
            grads = sum(r["sample_gradients"] for r in rows) / len(rows)
            passes = sum(r["device_passes"] for r in rows) / len(rows)
            acc_n = sum(1 for r in rows if r["accepted"])
            print(f"| {m} | {fmt(acc)} | {rec} | {grads:,.0f} | {passes:,.0f} | "
                  f"{acc_n}/{len(rows)} |")
        print(f"| oracle (trained at the true noise, within-layer rescale) | {fmt(oracle)} | | "
              "| | |")
        print("\nPaired differences (percentage points, mean and 95% t interval over seeds; "
              "\"ahead\" only where the interval excludes 0):\n")
        names = [m for m in order]
        for i, a in enumerate(names):
            for b in names[i + 1:] + ["oracle"]:
                diffs = []
                for s in seeds:
                    ra = methods[a][s]
                    vb = ra["acc_oracle"] if b == "oracle" else methods[b][s]["acc_after"]
                    diffs.append(ra["acc_after"] - vb)
                t = interval(diffs)
                if all(d == 0 for d in diffs):
                    print(f"- {a} - {b}: identical in every seed")
                    continue
                verdict = ("ahead" if t[1] > 0 else "behind" if t[2] < 0 else "not resolved")
                print(f"- {a} - {b}: {fmt(t)} ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
