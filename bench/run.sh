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
for mode in none sum_add weight; do
  build/bench/train_throughput "$THREADS" "$STEPS" "$mode"
  OMP_NUM_THREADS="$THREADS" /usr/bin/python3 bench/pytorch_train.py "$THREADS" "$STEPS" "$mode"
done
