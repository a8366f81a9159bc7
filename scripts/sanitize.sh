#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UBSan (GIFT_SANITIZE=ON, in build-asan/), for the
# baseline x86-64 rather than this CPU (GIFT_NATIVE=OFF), runs the
# ctest suite but its "slow" label under them, then end-to-end runs of the sanitized CLI on a
# small synthetic IDX data set: train, eval, calibrate, finetune (every method), a 2-cell sweep, report, and bad
# inputs that must fail with one line "gift: error: ...". Exits non-zero if a test or a command
# fails or if any process (tests, the CLI, the device servers the tests start) writes a
# sanitizer report: reports go to files (log_path), printed as soon as one is seen.
# OpenMP (libgomp) gives no false reports under ASan/UBSan (measured: none in the suite or the
# runs below with 2 threads), so nothing is suppressed.
#
#   bash scripts/sanitize.sh                 # JOBS=N: build/test parallelism (default nproc)
#   CTEST_EXCLUDE='regex' bash scripts/sanitize.sh     # skip some tests (ctest -E)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}"  # g++ brings the ASan and UBSan runtimes
ROOT="$PWD"
BUILD_DIR="${BUILD_DIR:-build-asan}"
JOBS="${JOBS:-$(nproc)}"
t0="$(date +%s)"

# Without the Python package (an ASan-built extension cannot load into an uninstrumented Python)
# and without MPI (Open MPI's own allocations would be reported as leaks); the packaging test,
# which installs and links without the sanitizers, is not registered in a sanitized build.
# -O1: the build takes about half the time of -O2 (measured: 8.5 s against 16.7 s for
# tests/train/trainer_test.cc), which is most of this script's time in CI.
# Never with -Werror: GCC 12 warns (-Wmaybe-uninitialized) inside libstdc++'s <regex> under the
# sanitizers' instrumentation, a false positive (measured: cli_test.cc).
# GIFT_NATIVE=OFF: built for the baseline x86-64 (SSE2, no AVX or FMA), not -march=native, so CI
# runs the suite for two CPU targets: this machine's (scripts/test.sh) and the oldest x86-64
# that gift supports; Eigen's kernels, and so the rounding, differ between them.
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGIFT_SANITIZE=ON -DGIFT_NATIVE=OFF \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -DNDEBUG" \
  -DGIFT_BUILD_BENCH=OFF -DGIFT_PYTHON=OFF -DGIFT_MPI=OFF >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"
t_build="$(date +%s)"

work="$(mktemp -d "${TMPDIR:-/tmp}/gift-sanitize.XXXXXX")"
trap 'rm -rf "$work"' EXIT
reports="$work/reports"
mkdir -p "$reports"
# Every report is fatal (halt_on_error; the build also has -fno-sanitize-recover) and goes to a
# file, so one in a child process whose exit status a test ignores is still seen.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:detect_leaks=1:\
check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:\
log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"

status=0
check_reports() {  # $1: what just ran
  if compgen -G "$reports/*" >/dev/null; then
    echo "sanitize: sanitizer report(s) after $1:" >&2
    for f in "$reports"/*; do
      echo "---- $f" >&2
      cat "$f" >&2
    done
    exit 1
  fi
}

# --- the test suite ---
# Without the "slow" label: the statistical studies (CalibrationCoverageSlow, FinetuneSlow, ...)
# run 10-20x slower under the sanitizers and run in scripts/test.sh's optimised build; the code
# paths they use are the fast tests' (every calibration site, every method).
ctest_args=(--test-dir "$BUILD_DIR" --output-on-failure -j"$JOBS" -LE slow)
[ -n "${CTEST_EXCLUDE:-}" ] && ctest_args+=(-E "$CTEST_EXCLUDE")
ctest "${ctest_args[@]}" || status=1
check_reports "ctest"
[ "$status" -eq 0 ] || { echo "sanitize: ctest failed" >&2; exit 1; }
t_ctest="$(date +%s)"

# --- end-to-end CLI runs ---
GIFT="$ROOT/$BUILD_DIR/gift"
data="$work/data"
run="$work/run"
mkdir -p "$data" "$run"
# The synthetic layout of tests/cli/cli_test_util.h (tests/synthetic_idx.py).
python3 tests/synthetic_idx.py "$data" 300 300

step() {  # step NAME CMD...: runs CMD in $run; fails the script if it fails
  local name="$1"
  shift
  echo "== $name"
  if ! (cd "$run" && "$@" >"$work/out.txt" 2>"$work/err.txt"); then
    echo "sanitize: '$name' failed:" >&2
    cat "$work/out.txt" "$work/err.txt" >&2
    check_reports "$name"
    exit 1
  fi
  check_reports "$name"
}

expect_error() {  # expect_error NAME CMD...: CMD must exit non-zero with one line "gift: error: ..."
  local name="$1"
  shift
  echo "== $name (must fail)"
  local rc=0
  (cd "$run" && "$@" >"$work/out.txt" 2>"$work/err.txt") || rc=$?
  check_reports "$name"
  if [ "$rc" -eq 0 ] || [ "$(wc -l <"$work/err.txt")" -ne 1 ] ||
    ! grep -q '^gift: error: ' "$work/err.txt"; then
    echo "sanitize: '$name' should fail with one line 'gift: error: ...' (exit $rc):" >&2
    cat "$work/err.txt" >&2
    exit 1
  fi
  echo "   $(cat "$work/err.txt")"
}

common=(--data-dir "$data" --threads 2)
step train "$GIFT" train "${common[@]}" --arch 16-12-10 --epochs 2 --batch-size 20 --lr 0.05 \
  --noise-weight 0.05 --noise-sum-add 0.1 --seed 3 --out m.safetensors
step train-oracle "$GIFT" train "${common[@]}" --arch 16-12-10 --epochs 2 --batch-size 20 \
  --lr 0.05 --noise-sum-add 1 --seed 4 --out oracle.safetensors
step eval "$GIFT" eval "${common[@]}" --checkpoint m.safetensors --noise-weight 0.02 \
  --site sum_add --levels 0.5,1,2 --repeats 2 --json eval.json
step eval-device "$GIFT" eval "${common[@]}" --checkpoint m.safetensors --gain-std 0.02 \
  --weight-bits 6 --device-seed 7 --repeats 2
step calibrate "$GIFT" calibrate "${common[@]}" --checkpoint m.safetensors \
  --device-noise-sum-add 1 --json cal.json
step finetune "$GIFT" finetune "${common[@]}" --checkpoint m.safetensors \
  --method none,gift,hil,retrain --device-noise-sum-add 1 --calib-size 100 --epochs 2 \
  --retrain-epochs 1 --eval-repeats 2 --oracle oracle.safetensors --report ft.json
step finetune-external "$GIFT" finetune "${common[@]}" --checkpoint m.safetensors --method gift \
  --calib-size 100 --epochs 1 --eval-repeats 2 --out tuned.safetensors \
  --device-command "'$GIFT' device-server --checkpoint m.safetensors --noise-sum-add 1"
cat >"$run/sweep.json" <<EOF
{"dataset": "mnist", "data_dir": "$data", "arch": "16-12-10", "activation": "relu",
 "train": {"epochs": 2, "batch_size": 20, "lr": 0.05},
 "grids": [{"site": "sum_add", "assumed": [0.1], "true": [0.5, 1]}],
 "seeds": [1], "methods": ["none", "gift", "hil", "retrain"],
 "finetune": {"epochs": 2, "retrain_epochs": 1, "calib_size": 100},
 "eval_repeats": 2}
EOF
figures=()
command -v gnuplot >/dev/null || figures=(--no-figures)
step sweep "$GIFT" sweep --study sweep.json --out sweep --jobs 2 --no-figures
step sweep-resume "$GIFT" sweep --study sweep.json --out sweep --jobs 2 --no-figures
step report "$GIFT" report --sweep sweep "${figures[@]}"

# Bad inputs: one line, non-zero, no sanitizer report.
head -c 300 "$run/m.safetensors" >"$run/truncated.safetensors"
expect_error truncated-checkpoint "$GIFT" eval "${common[@]}" --checkpoint truncated.safetensors
head -c -10 "$run/m.safetensors" >"$run/truncated-data.safetensors"
expect_error truncated-checkpoint-data "$GIFT" eval "${common[@]}" \
  --checkpoint truncated-data.safetensors
printf 'not a checkpoint' >"$run/garbage.safetensors"
expect_error garbage-checkpoint "$GIFT" eval "${common[@]}" --checkpoint garbage.safetensors
mkdir -p "$work/bad-data"
cp "$data"/* "$work/bad-data/"
printf 'GARBAGE%.0s' {1..100} >"$work/bad-data/t10k-images-idx3-ubyte"
expect_error garbage-idx "$GIFT" eval --data-dir "$work/bad-data" --checkpoint m.safetensors
printf '\x1f\x8b\x08\x00garbage' >"$work/bad-data/t10k-images-idx3-ubyte"
expect_error garbage-gzip-idx "$GIFT" eval --data-dir "$work/bad-data" --checkpoint m.safetensors
head -c 20 "$data/train-labels-idx1-ubyte" >"$work/bad-data/train-labels-idx1-ubyte"
expect_error truncated-idx "$GIFT" train --data-dir "$work/bad-data" --arch 16-12-10 --epochs 1 \
  --out bad.safetensors
printf '{"grids": [' >"$run/bad-sweep.json"
expect_error bad-sweep-config "$GIFT" sweep --study bad-sweep.json --out bad-sweep
mkdir -p "$run/bad-results"
printf '{"key": 1}\n' >"$run/bad-results/results.jsonl"
expect_error bad-results "$GIFT" report --sweep bad-results --no-figures
t_end="$(date +%s)"

echo
echo "sanitize: all passed (build $((t_build - t0)) s, ctest $((t_ctest - t_build)) s," \
  "CLI $((t_end - t_ctest)) s, total $((t_end - t0)) s)"
