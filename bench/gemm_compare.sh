#!/usr/bin/env bash
# Small-GEMM libraries at the shapes gift multiplies, one thread each (bench/gemm_compare.cc):
# Eigen (gift's), OpenBLAS (Debian's pthread build on 1 thread, and its serial build), BLIS
# (serial), libxsmm, oneDNN (dnnl_sgemm and the matmul primitive). Installs the missing Debian
# packages (scripts/deps.sh), builds, checks every library against a double reference, and
# prints a markdown table on stdout: GFLOP/s per product, one training step of the default
# network (µs and samples/s = 128 / step), and whether each library is bitwise reproducible
# (repeated, on 2 threads at once, with OpenMP allowing 2 threads). ~12 s once built.
# Usage: bench/gemm_compare.sh [trial_ms (default 6)] [trials (default 5)]
# Environment: GIFT_BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}" "${GIFT_GEMM_PACKAGES[@]}"
BUILD="${GIFT_BUILD_DIR:-build}"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$BUILD" -j"$(nproc)" --target gemm_compare; } >"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "bench/gemm_compare.sh: the build failed (above)" >&2
  exit 1
fi
# Each library on one thread, whatever this machine has: gift's threads each call a GEMM on
# their own block. (The program also sets them itself and checks that no thread was started.)
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 BLIS_NUM_THREADS=1
"$BUILD/bench/gemm_compare" "$@"
