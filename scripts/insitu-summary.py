#!/usr/bin/env python3
"""Summarises the reports of scripts/insitu-study.sh (out/insitu/*.json) as a Markdown table:
per case and method, device test accuracy, recovery, both budgets spent, accepted."""
import glob
import json
import os
import sys


def main(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        doc = json.load(open(path))
        if "methods" not in doc:
            continue
        case = os.path.basename(path)[:-5]
        first = True
        for m in doc["methods"]:
            before = m["test_accuracy_before"][0]
            after = m["test_accuracy_after"]
            oracle = m.get("oracle_accuracy")
            rec = m.get("recovery")
            rows.append("| {} | {} | {:.2f}% | {:.2f}% [{:.2f}, {:.2f}] | {} | {} | {:,} | {:,} | {} |".format(
                case if first else "", m["method"], 100 * before, 100 * after[0], 100 * after[1],
                100 * after[2], "{:.2f}%".format(100 * oracle) if oracle is not None else "-",
                "{:.2f}".format(rec) if isinstance(rec, (int, float)) else "-",
                m["sample_gradients"], m["device_passes"], "yes" if m["accepted"] else "no"))
            first = False
    print("| case | method | before | after [95%] | oracle | recovery | per-sample gradients "
          "| device passes | accepted |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/insitu")
