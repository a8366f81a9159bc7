#!/usr/bin/env python3
"""The machine's SGEMM peak as torch reaches it (Debian's torch calls the system BLAS:
OpenBLAS once bench/run.sh has installed it): torch.mm at M x K x N = 2048^3 and at the
default network's first layer (a 128-row batch times W_0ᵀ: 128 x 784 x 256), 2 M K N FLOP
each, the best of several timed rounds of at least SECONDS each.
Usage: pytorch_sgemm.py THREADS [SECONDS]   (torch threads; OPENBLAS_NUM_THREADS from the caller)
Prints one line per shape: "sgemm MxKxN  G GFLOP/s"."""
import sys, time
import torch

threads = int(sys.argv[1])
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
torch.set_num_threads(threads)
torch.manual_seed(1)

for m, k, n in ((2048, 2048, 2048), (128, 784, 256)):
    a, b = torch.rand(m, k), torch.rand(k, n)
    out = torch.empty(m, n)
    ref = a.double() @ b.double()  # check before timing
    torch.mm(a, b, out=out)
    err = float((out.double() - ref).norm() / ref.norm())
    if not err < 1e-5:
        sys.exit(f"pytorch_sgemm.py: check failed: {m}x{k}x{n} relative error {err:.1e}")
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while True:
            torch.mm(a, b, out=out)
            reps += 1
            sec = time.perf_counter() - t0
            if sec >= seconds / 3:
                break
        best = max(best, 2.0 * m * k * n * reps / sec)
    print(f"sgemm {m}x{k}x{n}  {best * 1e-9:.1f} GFLOP/s  (threads={threads}, check rel {err:.1e})")
