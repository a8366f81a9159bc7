#!/usr/bin/env bash
# Peak resident memory of `gift sweep` against the size of its grid: the same small study
# (network 784-16-10, method none, one grid cell of sum_add 0.1, one epoch, full MNIST) run with
# 1, 10 and 40 seeds, each under GNU time (`/usr/bin/time -v`, package time, GIFT_BENCH_PACKAGES
# of scripts/deps.sh). Prints a markdown table: seeds, cells, peak RSS (MB, 10^6 bytes), and
# the same for GIFT_BASE if set. The peak should not grow with the seeds: the data is held once,
# and a seed's lab split only while a cell of that seed runs.
# Usage: bench/memory.sh [gift binary] [seeds...]   (default build/gift; 1 10 40)
# Environment (all optional):
#   GIFT_BASE       another gift binary (e.g. a build of an older commit), measured alike
#   GIFT_BENCH_JOBS the sweep's --jobs (default 1: one cell in flight)
#   GIFT_BENCH_OUT  where the logs go (default out/bench-memory)
set -euo pipefail
cd "$(dirname "$0")/.."
GIFT="${1:-build/gift}"
shift || true
SEEDS=("$@")
[ "${#SEEDS[@]}" -gt 0 ] || SEEDS=(1 10 40)
JOBS="${GIFT_BENCH_JOBS:-1}"
OUT="${GIFT_BENCH_OUT:-out/bench-memory}"
for bin in "$GIFT" ${GIFT_BASE:+"$GIFT_BASE"}; do
  if [ ! -x "$bin" ]; then
    echo "bench/memory.sh: $bin is not an executable (build it: cmake --build build --target gift_cli)" >&2
    exit 1
  fi
done
if [ ! -x /usr/bin/time ]; then
  echo "bench/memory.sh: needs GNU time (/usr/bin/time; Debian package time)" >&2
  exit 1
fi
if [ ! -f data/mnist/t10k-images-idx3-ubyte ] && [ ! -f data/mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "bench/memory.sh: needs MNIST in data/mnist (bash scripts/fetch-data.sh data)" >&2
  exit 1
fi
mkdir -p "$OUT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The study with seeds 1..N.
study() {
  local seeds
  seeds=$(seq -s, 1 "$1")
  cat <<EOF
{"dataset": "mnist", "data_dir": "$PWD/data/mnist", "arch": "784-16-10", "activation": "relu",
 "train": {"epochs": 1, "batch_size": 128, "lr": 0.01},
 "grids": [{"site": "sum_add", "assumed": [0.1], "true": [0.1]}],
 "seeds": [$seeds], "methods": ["none"],
 "finetune": {"calib_size": 1000}, "eval_repeats": 2}
EOF
}

# Peak RSS in MB of `BIN sweep` with N seeds; exits on failure with the end of its log.
peak() {
  local bin="$1" n="$2" tag="$3" log
  log="$OUT/$tag-$n.log"
  study "$n" >"$WORK/study-$n.json"
  rm -rf "$WORK/sweep-$tag-$n"
  if ! /usr/bin/time -v -o "$log.time" "$bin" sweep --study "$WORK/study-$n.json" \
    --out "$WORK/sweep-$tag-$n" --jobs "$JOBS" --no-figures >"$log" 2>&1; then
    echo "bench/memory.sh: failed: $bin sweep with $n seeds (log $log)" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 * 1024 / 1e6}' "$log.time"
}

echo "gift sweep, 784-16-10, method none, 1 epoch, full MNIST, --jobs $JOBS: peak RSS (MB)"
echo
if [ -n "${GIFT_BASE:-}" ]; then
  echo "| seeds | cells | $GIFT | $GIFT_BASE |"
  echo "| ---: | ---: | ---: | ---: |"
else
  echo "| seeds | cells | $GIFT |"
  echo "| ---: | ---: | ---: |"
fi
for n in "${SEEDS[@]}"; do
  row="| $n | $n | $(peak "$GIFT" "$n" this) |"
  [ -n "${GIFT_BASE:-}" ] && row="$row $(peak "$GIFT_BASE" "$n" base) |"
  echo "$row"
done
