#!/usr/bin/env bash
# The main job: train the default five-layer network (784-256-128-64-32-10, relu) on
# MNIST under additive detector noise 0.1, then evaluate it on the test set at the
# trained noise and at larger true noise (the misspecification that in situ
# fine-tuning repairs). Resumes a finished or interrupted training instead of redoing it.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
build/gift train --dataset mnist --noise-sum-add 0.1 --epochs 20 --seed 1 \
  --out out/mnist-sum_add-0.1.safetensors --resume
build/gift eval --checkpoint out/mnist-sum_add-0.1.safetensors --site sum_add \
  --levels 0.1,0.5,1,2,3 --repeats 10 --json out/mnist-sum_add-0.1-eval.json
