#!/usr/bin/env bash
# Coverage of calibration's 95% intervals (docs/method.md, "Calibration: coverage and static
# errors"): many simulated devices per noise mix, with the true stds known, per site.
#   1. the default network 784-256-128-64-32-10 with random weights and inputs;
#   2. the same network trained briefly on MNIST (2 epochs on 10,000 images at sum_add 0.1),
#      calibrated on training images;
#   3. output-only devices (one scale), on 20-16-10 (the twin runs 61 times per fit);
#   4. the CLI on the trained network with weight noise 1.0 alone (the chip of the report that
#      led to this measurement): which other sites it reports.
# Mixes: each site alone at std 0.05 and 0.5, all four mixed (s, s/2, s, s/2 for weight,
# sum_mult, sum_add, out_add) at s = 0.05 and 0.5, weight alone at 1.0, and static errors
# (gain std 0, 0.05, 0.1, 6-bit weights) under weight 0.1, sum_add 0.1, out_add 0.05; relu and
# tanh (2 is relu only: the checkpoint is relu). Each case prints, per site, the coverage of
# the intervals where the site is on, and where it is off how often it is reported non-zero.
#
#   SEEDS     devices per case (default 40)     DATA_DIR  MNIST IDX files (default data/mnist)
#   THREADS   threads for the short training (default 2)
# Output: out/calib-coverage/{random,trained,output-only,cli}.txt. Needs build/ (Release).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-40}
DATA_DIR=${DATA_DIR:-data/mnist}
THREADS=${THREADS:-2}
OUT=out/calib-coverage
TESTS=build/tests/gift_tests
GIFT=build/gift
if [[ ! -x $TESTS || ! -x $GIFT ]]; then
  echo "calibration-coverage: build first (cmake --build build)" >&2
  exit 1
fi
mkdir -p "$OUT"

study() {  # output name, gtest name, environment assignments...
  local name=$1 test=$2
  shift 2
  env GIFT_STUDY_SEEDS="$SEEDS" "$@" "$TESTS" --gtest_also_run_disabled_tests \
    --gtest_filter="CalibrationCoverage.$test" | grep -v '^\[\|^Running main\|^Note:\|^$\|DISABLED TESTS' |
    tee "$OUT/$name.txt"
}

echo "== 1. 784-256-128-64-32-10, random weights and inputs, $SEEDS devices per case"
study random DISABLED_Study GIFT_STUDY_WIDTHS=784-256-128-64-32-10

echo "== 2. 784-256-128-64-32-10 trained briefly on MNIST, $SEEDS devices per case"
CKPT=$OUT/mnist-2ep.safetensors
"$GIFT" train --dataset mnist --data-dir "$DATA_DIR" --train-limit 10000 --test-limit 1000 \
  --noise-sum-add 0.1 --epochs 2 --seed 1 --threads "$THREADS" --out "$CKPT" --resume | tail -1
study trained DISABLED_Study GIFT_STUDY_CHECKPOINT="$CKPT" GIFT_STUDY_DATA="$DATA_DIR" \
  GIFT_STUDY_FILTER=relu

echo "== 3. output-only devices, 20-16-10, $SEEDS devices per case"
study output-only DISABLED_StudyOutputOnly

echo "== 4. gift calibrate on the trained network, weight noise 1.0 alone, 20 devices"
rm -f "$OUT"/cli-*.json
for seed in $(seq 1 20); do
  "$GIFT" calibrate --checkpoint "$CKPT" --dataset mnist --data-dir "$DATA_DIR" \
    --train-limit 10000 --device-noise-weight 1.0 --device-seed "$seed" --seed "$seed" \
    --threads 1 --json "$OUT/cli-$seed.json" > /dev/null
done
python3 - "$OUT" <<'EOF' | tee "$OUT/cli.txt"
import glob, json, sys
runs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/cli-*.json"))]
L = len(runs[0]["estimate"]["weight"])
covered = sum(r["low"]["weight"][l] <= 1.0 <= r["high"]["weight"][l] for r in runs for l in range(L))
print(f"weight 1.0: {covered}/{len(runs) * L} intervals cover it")
for site in ("sum_mult", "sum_add", "out_add"):
    nonzero = [r["estimate"][site][l] for r in runs for l in range(L) if r["low"][site][l] > 0]
    largest = max(nonzero, default=0.0)
    print(f"{site} (true 0): reported non-zero in {len(nonzero)}/{len(runs) * L} layer-devices,"
          f" largest {largest:.3f}")
static = [r["static_weight"]["value"][l] for r in runs for l in range(L)]
print(f"static (true 0): reported non-zero in {sum(v > 0 for v in static)}/{len(static)},"
      f" largest {max(static):.3f}")
EOF
