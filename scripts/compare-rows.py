#!/usr/bin/env python3
"""Compares the rows of two study folders cell by cell (issue 22, item 8).

    scripts/compare-rows.py BEFORE AFTER [--strict-fields]

A study folder holds rows files (results.jsonl of a sweep, frontier.jsonl of a frontier, in the
folder or below it, as `gift reproduce` writes them: DIR/results.jsonl and
DIR/frontier/frontier.jsonl). Files are paired by their path under the folder; rows by their
axes (grid, assumed, true, seed, method, budget_gradients, budget_passes), not by their key
string, so a change of key spelling still pairs them. An axis a row lacks (the rows before the
one row model: a sweep row has no budget, a frontier row no grid or levels) reads as "" or 0.

Every field whose value differs is reported, except timing fields (seconds, digital_seconds,
device_seconds, anything ending in _seconds or _s) and "key". Numbers compare exactly. A cell in
one folder only is a difference. A field present in one row of a pair only (a field the newer
format added) is listed apart; it is a difference only with --strict-fields.

Exit status: 0 when every cell matches, 1 on a difference, 2 on bad input. Python 3 standard
library only.
"""

import argparse
import json
import os
import sys

AXES = ("grid", "assumed", "true", "seed", "method", "budget_gradients", "budget_passes")
AXIS_DEFAULTS = {"grid": "", "assumed": 0, "true": 0, "budget_gradients": 0, "budget_passes": 0}
ROWS_FILES = ("results.jsonl", "frontier.jsonl")
IGNORED = {"key"}


def is_timing(field):
    return field in ("seconds", "wall_seconds") or field.endswith("_seconds") or field.endswith("_s")


def rows_files(folder):
    """Relative paths of the rows files under `folder`."""
    found = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name in ROWS_FILES:
                found.append(os.path.relpath(os.path.join(root, name), folder))
    return sorted(found)


def axes_of(row):
    out = []
    for axis in AXES:
        v = row.get(axis, AXIS_DEFAULTS.get(axis))
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        out.append(v)
    return tuple(out)


def read_rows(path):
    """Cells of a rows file by their axes, with the reader's rules: blank lines skipped, a last
    line without its newline ignored, the first row of a cell kept."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")[:-1]  # the part after the last newline is cut mid-write
    cells = {}
    for n, line in enumerate(lines, 1):
        if not line.strip(" \t\r"):
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise SystemExit(f"compare-rows: '{path}' line {n}: {e}") from None
        if not isinstance(row, dict):
            raise SystemExit(f"compare-rows: '{path}' line {n}: not a JSON object")
        cells.setdefault(axes_of(row), row)
    return cells


def describe(axes):
    return ", ".join(f"{a}={v!r}" for a, v in zip(AXES, axes))


def compare_file(before, after, label):
    """Prints what differs; returns (differences, fields only on one side)."""
    differences = 0
    one_sided = {}
    for axes in sorted(set(before) | set(after), key=repr):
        if axes not in after or axes not in before:
            print(f"{label}: cell {describe(axes)} only in {'BEFORE' if axes in before else 'AFTER'}")
            differences += 1
            continue
        a, b = before[axes], after[axes]
        for field in sorted(set(a) | set(b)):
            if field in IGNORED or is_timing(field) or field in AXES:
                continue
            if (field in a) != (field in b):
                side = "AFTER" if field in b else "BEFORE"
                one_sided.setdefault((field, side), 0)
                one_sided[(field, side)] += 1
                continue
            if a[field] != b[field]:
                print(f"{label}: cell {describe(axes)}: {field}: {a[field]!r} -> {b[field]!r}")
                differences += 1
    return differences, one_sided


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--strict-fields", action="store_true",
                   help="a field present in one row of a pair only is a difference")
    args = p.parse_args()
    for folder in (args.before, args.after):
        if not os.path.isdir(folder):
            print(f"compare-rows: '{folder}' is not a folder", file=sys.stderr)
            return 2
    files_before, files_after = rows_files(args.before), rows_files(args.after)
    if not files_before and not files_after:
        print("compare-rows: no results.jsonl or frontier.jsonl in either folder", file=sys.stderr)
        return 2
    differences = 0
    cells = 0
    for rel in sorted(set(files_before) | set(files_after)):
        if rel not in files_before or rel not in files_after:
            print(f"{rel}: only in {'BEFORE' if rel in files_before else 'AFTER'}")
            differences += 1
            continue
        before = read_rows(os.path.join(args.before, rel))
        after = read_rows(os.path.join(args.after, rel))
        cells += len(set(before) | set(after))
        d, one_sided = compare_file(before, after, rel)
        differences += d
        for (field, side), n in sorted(one_sided.items()):
            print(f"{rel}: field '{field}' only in {side} ({n} cells)")
            if args.strict_fields:
                differences += n
    if differences:
        print(f"{differences} difference(s) over {cells} cells (timing fields ignored)")
        return 1
    print(f"{cells} cells, every field equal (timing fields ignored)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
