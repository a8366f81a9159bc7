#!/usr/bin/env python3
"""Markdown summary of a sweep's table.json (used for docs/results.md):
one row per (grid, assumed, true) with before, oracle, and each method's accuracy after,
relative improvement and recovery (mean over seeds, 95% interval).
Usage: scripts/results-table.py out/reproduce-mnist/table.json"""
import json, sys
from collections import OrderedDict

rows = json.load(open(sys.argv[1]))
cells = OrderedDict()
for r in rows:
    cells.setdefault((r["grid"], r["assumed"], r["true"]), {})[r["method"]] = r
methods = [m for m in ("gift", "diff", "hil", "retrain") if any(m in c for c in cells.values())]
def pct(s): return f'{100*s["mean"]:.2f}'
def ci(s): return f'[{100*s["ci"][0]:.1f}, {100*s["ci"][1]:.1f}]'
head = ["grid", "assumed", "true", "before", "oracle"] + [f"{m} (rel., recovery)" for m in methods]
print("| " + " | ".join(head) + " |")
print("|" + " --- |" * len(head))
for (g, a, t), c in cells.items():
    any_row = next(iter(c.values()))
    line = [g, f"{a:g}", f"{t:g}", pct(any_row["acc_before"]) + "% " + ci(any_row["acc_before"]),
            pct(any_row["acc_oracle"]) + "%"]
    for m in methods:
        r = c.get(m)
        if r is None:
            line.append("")
            continue
        rec = r["recovery"]
        rec_s = f'{rec["mean"]:.2f}' if rec else "–"
        acc = f'{pct(r["acc_after"])}% (+{100*r["relative_improvement"]["mean"]:.1f}%, {rec_s})'
        acc = acc.replace("+-", "-")
        if m in ("gift", "diff"):
            acc += f' {round(r["accepted_fraction"]*r["seeds"])}/{r["seeds"]}'
        line.append(acc)
    print("| " + " | ".join(line) + " |")
