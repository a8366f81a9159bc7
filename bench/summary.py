#!/usr/bin/env python3
"""The final table of bench/run.sh, from the rows it collected (tab-separated):
  KIND  PATH  GIFT  BASE  TORCH  UNIT  FLOP_PER_ITEM  NOTE
KIND: rate (items/s, higher is better), time (seconds, lower is better), mem (peak resident
MB; TORCH holds the data set plus the model, the reference of the memory target) or peak (the
machine's SGEMM GFLOP/s in TORCH). Empty fields are "-". "gift vs X" is always how many times
better gift is: gift/X for a rate, X/gift for a time or (against GIFT_BASE) a memory peak; a
memory peak against PyTorch's column is gift over the data set plus the model. The fraction of
the SGEMM peak is GIFT * FLOP_PER_ITEM over the 2048^3 peak.
Usage: summary.py ROWS_TSV"""
import sys


def num(s):
    return None if s in ("", "-") else float(s)


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "MB":
        return f"{v:.0f} MB"
    if unit == "GFLOP/s":
        return f"{v:.1f} GFLOP/s"
    return f"{v:,.0f} {unit}"


rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
rows = [r + [""] * (8 - len(r)) for r in rows]
peak = next((num(r[4]) for r in rows if r[0] == "peak" and "2048" in r[1]), None)
have_base = any(num(r[3]) is not None for r in rows)

head = ["path", "gift", "PyTorch", "gift vs PyTorch", "of SGEMM peak"]
if have_base:
    head[2:2] = ["base (GIFT_BASE)", "gift vs base"]
table = []
for kind, path, g, b, t, unit, flop, note in rows:
    g, b, t, flop = num(g), num(b), num(t), num(flop)

    def speedup(other):
        if g is None or other is None or g == 0 or other == 0:
            return "-"
        if kind == "rate":
            return f"{g / other:.2f}x"
        if kind in ("time", "mem"):
            return f"{other / g:.2f}x"
        return "-"

    if kind == "mem":
        vs = f"{g / t:.2f}x data+model" if g is not None and t else "-"
        cells = [path, fmt(g, unit), fmt(t, unit) + " (data+model)", vs, "-"]
    elif kind == "peak":
        cells = [path, "-", fmt(t, unit), "-", "100%" if "2048" in path else
                 (f"{t / peak:.0%}" if peak and t else "-")]
    else:
        frac = f"{g * flop / (peak * 1e9):.0%}" if g and flop and peak else "-"
        cells = [path, fmt(g, unit), fmt(t, unit) + (f" {note}" if note else ""), speedup(t), frac]
    if have_base:
        cells[2:2] = [fmt(b, unit), speedup(b)]
    table.append(cells)

widths = [max(len(str(r[i])) for r in [head] + table) for i in range(len(head))]
line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |"
print(line)
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in table:
    print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
