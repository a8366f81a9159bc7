"""Writes a tiny synthetic data set in MNIST's IDX layout (standard library only): the layout of
tests/cli/cli_test_util.h, 4 x 4 images with a dim background from an LCG and one bright pixel at
the position of the class, so that a small network learns it in a few epochs. Used by
scripts/sanitize.sh and tests/mpi/mpi_sweep_test.sh (the pytest suite writes its own 8 x 8 set
with numpy, tests/python/conftest.py).

    synthetic_idx.py DIR TRAIN TEST    writes DIR/train-* (TRAIN images, seed 1) and
                                       DIR/t10k-* (TEST images, seed 2), creating DIR
"""
import os
import struct
import sys


def write_split(path_prefix, n, seed, side=4):
    state, pixels, labels = seed, bytearray(), bytearray()

    def nxt():
        nonlocal state
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        return state >> 24

    for _ in range(n):
        label = nxt() % 10
        labels.append(label)
        for p in range(side * side):
            pixels.append(255 if p == label else nxt() % 40)
    with open(path_prefix + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x00000803, n, side, side) + bytes(pixels))
    with open(path_prefix + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x00000801, n) + bytes(labels))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    write_split(os.path.join(sys.argv[1], "train"), int(sys.argv[2]), 1)
    write_split(os.path.join(sys.argv[1], "t10k"), int(sys.argv[3]), 2)
