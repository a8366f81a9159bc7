#!/usr/bin/env bash
# Chooses the fine-tuning defaults by measurement: gift and hil on MNIST, the default
# network trained at sum_add 0.1 (scripts/insitu-study.sh trains it), deployed to simulated devices at
# true sum_add 1 and 3, over learning rates and epochs. Prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT=out/mnist-sum_add-0.1.safetensors
for t in 3 1; do
  for lr in 1e-3 3e-3 1e-2; do
    for ep in 10 30; do
      line=$(build/gift finetune --checkpoint "$CKPT" --method gift,hil --device-noise-sum-add "$t" \
        --epochs "$ep" --lr "$lr" --score-repeats 2 --threads 2 | tail -2 | tr -s ' ')
      echo "true=$t lr=$lr epochs=$ep | ${line//$'\n'/ | }"
    done
  done
done
