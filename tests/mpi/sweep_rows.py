"""Helpers of mpi_sweep_test.sh (standard library only).

  sweep_rows.py same A B [N]    compares two results.jsonl files row by row, matched by cell key:
                                the same keys (no key twice), and each pair of rows equal in every
                                field but the timings (digital_seconds, device_seconds), compared by
                                their bits. With N, also checks that there are N rows. Exit 1 and
                                one line per difference otherwise.
  sweep_rows.py rows FILE       prints the number of rows of a results.jsonl (exit 1 if a key
                                appears twice).
"""
import json
import struct
import sys


TIMING = {"digital_seconds", "device_seconds", "seconds"}


def bits(value):
    """A row's value with every float replaced by its IEEE-754 bits (so -0.0 != 0.0, nan == nan)."""
    if isinstance(value, float):
        return ("f", struct.pack("<d", value).hex())
    if isinstance(value, list):
        return [bits(v) for v in value]
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    return value


def rows_of(path):
    rows = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["key"] in rows:
                sys.exit(f"{path} line {n}: key {row['key']} appears twice")
            rows[row["key"]] = {k: bits(v) for k, v in row.items() if k not in TIMING}
    return rows


def same(a, b, count=None):
    ra, rb = rows_of(a), rows_of(b)
    problems = []
    if set(ra) != set(rb):
        problems.append(f"keys differ: only in {a}: {sorted(set(ra) - set(rb))[:5]}, "
                        f"only in {b}: {sorted(set(rb) - set(ra))[:5]}")
    for key in sorted(set(ra) & set(rb)):
        if ra[key] != rb[key]:
            fields = sorted(k for k in set(ra[key]) | set(rb[key])
                            if ra[key].get(k) != rb[key].get(k))
            problems.append(f"row {key} differs in {fields}")
    if count is not None and len(ra) != count:
        problems.append(f"{a} has {len(ra)} rows, expected {count}")
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"{len(ra)} rows identical (all fields but {', '.join(sorted(TIMING))}, by their bits)")


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "same":
        same(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else None)
    elif len(sys.argv) == 3 and sys.argv[1] == "rows":
        print(len(rows_of(sys.argv[2])))
    else:
        sys.exit(__doc__)
