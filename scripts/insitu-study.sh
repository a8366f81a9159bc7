#!/usr/bin/env bash
# The in situ comparison of docs/method.md: the default network trained at sum_add 0.1
# (scripts/main-job.sh) deployed to simulated devices with true sum_add 1 and 3, and
# with weight noise 0.5 on top of sum_add 0.1; every method from the same start, with an
# oracle trained at each true noise. Reports go to out/insitu/.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out/insitu
CKPT=out/mnist-sum_add-0.1.safetensors
build/gift train --dataset mnist --noise-sum-add 0.1 --epochs 20 --seed 1 --out "$CKPT" --resume | tail -1
oracle() {  # name, noise flags...
  local name="$1"; shift
  build/gift train --dataset mnist --epochs 20 --seed 1 "$@" \
    --out "out/insitu/oracle-$name.safetensors" --resume | tail -1
}
oracle sa1 --noise-sum-add 1
oracle sa3 --noise-sum-add 3
oracle w0.5 --noise-sum-add 0.1 --noise-weight 0.5
run() {  # name, device flags...
  local name="$1"; shift
  echo "== device $name"
  build/gift finetune --checkpoint "$CKPT" --method none,gift,diff,hil,retrain "$@" \
    --oracle "out/insitu/oracle-$name.safetensors" --eval-repeats 10 \
    --report "out/insitu/$name.json"
}
run sa1 --device-noise-sum-add 1
run sa3 --device-noise-sum-add 3
run w0.5 --device-noise-sum-add 0.1 --device-noise-weight 0.5
