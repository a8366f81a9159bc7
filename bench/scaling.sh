#!/usr/bin/env bash
# How the cost grows with width, depth, batch and Monte-Carlo draws: training throughput
# (bench/train_throughput, sum_add 0.1 on every layer) over networks and batches, and
# Monte-Carlo inference time (bench/mc_inference) over draws. Prints markdown tables.
# Usage: bench/scaling.sh [threads] [steps]   (default: all cores, 200 steps)
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-$(nproc)}"
STEPS="${2:-200}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target train_throughput mc_inference >/dev/null

row() {  # arch batch -> "| arch | batch | samples/s | GFLOP/s |"
  local out
  out="$(build/bench/train_throughput "$THREADS" "$STEPS" sum_add "$1" "$2")"
  echo "$out" | awk -v a="$1" -v b="$2" '{for (i = 1; i <= NF; i++) {
    if ($(i + 1) == "samples/s") s = $i; if ($(i + 1) == "GFLOP/s") g = $i }}
    END { printf "| %s | %s | %s | %s |\n", a, b, s, g }'
}
echo "training, sum_add 0.1 on every layer, threads $THREADS, $STEPS steps"
echo
echo "| network | batch | samples/s | GFLOP/s |"
echo "| --- | ---: | ---: | ---: |"
for w in 64 128 256 512 1024; do row "784-$w-$w-10" 128; done
for hidden in 256 256-256 256-256-256-256 256-256-256-256-256-256-256-256; do
  row "784-$hidden-10" 128
done
for b in 16 32 64 128 256 512; do row 784-256-128-64-32-10 "$b"; done
echo
echo "Monte-Carlo inference of the default network, sum_add 0.1, threads $THREADS"
echo
echo "| draws | seconds | images*draws/s |"
echo "| ---: | ---: | ---: |"
for d in 1 10 100 300; do
  build/bench/mc_inference "$THREADS" "$d" sum_add | awk -v d="$d" '{for (i = 1; i <= NF; i++) {
    if ($(i + 1) == "images*draws/s") r = $i; if ($(i + 1) == "s") t = $i }}
    END { printf "| %s | %s | %s |\n", d, t, r }'
done
