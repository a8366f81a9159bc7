#!/usr/bin/env bash
# Side-by-side training throughput: gift vs PyTorch (Debian's python3-torch), same
# network, noise, optimizer, batch and thread count, in one run.
# Usage: bench/run.sh [threads] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# Debian's torch calls the system BLAS; without OpenBLAS that is the slow reference
# BLAS, which would flatter gift. libopenblas0-pthread takes over libblas.so.3.
install_missing "${GIFT_BUILD_PACKAGES[@]}" python3-torch libopenblas0-pthread
echo "BLAS used by torch: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
THREADS="${1:-$(nproc)}"
STEPS="${2:-400}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target train_throughput >/dev/null
# torch's own threads and OpenBLAS's threads oversubscribe the cores when both are set to
# THREADS (measured: 4x slower on 2 cores), so torch runs in both ways of spending THREADS
# cores, and the faster one is the reference.
for mode in none sum_add weight; do
  build/bench/train_throughput "$THREADS" "$STEPS" "$mode"
  echo "  torch (BLAS threads $THREADS, torch threads 1): $(OPENBLAS_NUM_THREADS="$THREADS" OMP_NUM_THREADS=1 \
    /usr/bin/python3 bench/pytorch_train.py 1 "$STEPS" "$mode" | grep -o '[0-9]* samples/s')"
  echo "  torch (BLAS threads 1, torch threads $THREADS): $(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS="$THREADS" \
    /usr/bin/python3 bench/pytorch_train.py "$THREADS" "$STEPS" "$mode" | grep -o '[0-9]* samples/s')"
done
build/bench/train_throughput 1 "$STEPS" none
