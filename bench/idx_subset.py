#!/usr/bin/env python3
"""Writes the first TRAIN training and TEST test images (and labels) of an MNIST-layout
directory as raw IDX files into OUT: a small data set for a quick run of the CLI commands
(bench/run.sh with GIFT_BENCH_QUICK=1).
Usage: idx_subset.py SRC_DIR OUT_DIR TRAIN TEST"""
import gzip, os, struct, sys

src, out, n_train, n_test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out, exist_ok=True)
for split, n in (("train", n_train), ("t10k", n_test)):
    for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        name = f"{split}-{kind}"
        path = os.path.join(src, name)
        opener = open
        if not os.path.exists(path):
            path, opener = path + ".gz", gzip.open
        with opener(path, "rb") as f:
            data = f.read()
        dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
        if n > dims[0]:
            sys.exit(f"idx_subset.py: {path} holds {dims[0]} items, {n} asked")
        per_item = 1
        for d in dims[1:]:
            per_item *= d
        head = data[:4] + struct.pack(">" + "I" * ndim, n, *dims[1:])
        body = data[4 + 4 * ndim:4 + 4 * ndim + n * per_item]
        with open(os.path.join(out, name + ".tmp"), "wb") as f:
            f.write(head + body)
        os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
