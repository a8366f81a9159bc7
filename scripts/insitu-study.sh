#!/usr/bin/env bash
# The in situ comparison of docs/method.md: networks trained at a small noise deployed to
# simulated devices whose true noise differs (every site alone and mixed, a fabrication-error
# chip, an output-only chip, a sigmoid network, Fashion-MNIST); gift, hil and retrain from the
# same start, each within the default budgets (30,000 per-sample gradients, 5,000 device
# passes), with an oracle trained at each true noise. Reports go to out/insitu/, a summary
# table to out/insitu/summary.md. Run again, it resumes (finished networks are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
O=out/insitu
mkdir -p "$O"
METHODS=${METHODS:-gift,hil,retrain}
net() {  # name, dataset, train flags...
  local name="$1" ds="$2"; shift 2
  build/gift train --dataset "$ds" --epochs 20 --seed 1 "$@" --out "$O/$name.safetensors" \
    --resume | tail -1
}
net base-sa0.1 mnist --noise-sum-add 0.1
net base-w0.05 mnist --noise-weight 0.05
net base-sm0.05 mnist --noise-sum-mult 0.05
net oracle-sa1 mnist --noise-sum-add 1
net oracle-sa3 mnist --noise-sum-add 3
net oracle-oa0.5 mnist --noise-sum-add 0.1 --noise-out-add 0.5
net oracle-w0.6 mnist --noise-weight 0.6
net oracle-w1 mnist --noise-weight 1
net oracle-sm0.3 mnist --noise-sum-mult 0.3
net oracle-mix mnist --noise-sum-add 0.5 --noise-sum-mult 0.2 --noise-weight 0.2 --noise-out-add 0.2
net s-base-sa0.1 mnist --arch 784-512-10 --activation sigmoid --noise-sum-add 0.1
net s-oracle-sa1 mnist --arch 784-512-10 --activation sigmoid --noise-sum-add 1
net f-base-sa0.1 fashion-mnist --noise-sum-add 0.1
net f-oracle-sa1 fashion-mnist --noise-sum-add 1
run() {  # case name, start, oracle ("" for none), methods, device flags...
  local name="$1" start="$2" oracle="$3" methods="$4"; shift 4
  echo "== $name"
  local extra=()
  [ -n "$oracle" ] && extra=(--oracle "$O/$oracle.safetensors")
  build/gift finetune --checkpoint "$O/$start.safetensors" --method "$methods" "${extra[@]}" \
    --eval-repeats 10 --report "$O/$name.json" --resume "$@"
}
run sa0.1-sa1 base-sa0.1 oracle-sa1 "$METHODS" --device-noise-sum-add 1
run sa0.1-sa3 base-sa0.1 oracle-sa3 "$METHODS" --device-noise-sum-add 3
run sa0.1-oa0.5 base-sa0.1 oracle-oa0.5 "$METHODS" --device-noise-sum-add 0.1 --device-noise-out-add 0.5
run w0.05-w0.6 base-w0.05 oracle-w0.6 "$METHODS" --device-noise-weight 0.6
run w0.05-w1 base-w0.05 oracle-w1 "$METHODS" --device-noise-weight 1
run sm0.05-sm0.3 base-sm0.05 oracle-sm0.3 "$METHODS" --device-noise-sum-mult 0.3
run sm0.3-sm0.3 oracle-sm0.3 "" "$METHODS" --device-noise-sum-mult 0.3
run sa0.1-mix base-sa0.1 oracle-mix "$METHODS" --device-noise-sum-add 0.5 \
  --device-noise-sum-mult 0.2 --device-noise-weight 0.2 --device-noise-out-add 0.2
run fab-gain0.1-6bit base-sa0.1 "" "$METHODS" --device-noise-sum-add 0.1 --gain-std 0.1 \
  --weight-bits 6
run fab-sa1 base-sa0.1 oracle-sa1 "$METHODS" --device-noise-sum-add 1 --gain-std 0.1 --weight-bits 6
run output-only-sa1 base-sa0.1 oracle-sa1 gift,retrain --device-noise-sum-add 1 --no-taps
run sigmoid-sa1 s-base-sa0.1 s-oracle-sa1 "$METHODS" --device-noise-sum-add 1
run fashion-sa1 f-base-sa0.1 f-oracle-sa1 "$METHODS" --device-noise-sum-add 1
python3 scripts/insitu-summary.py "$O" > "$O/summary.md"
echo "wrote $O/summary.md"
