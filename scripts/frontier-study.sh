#!/usr/bin/env bash
# The cost-recovery frontiers of docs/method.md: gift, hil and retrain over the default ladder
# of budgets on four cases of scripts/insitu-study.sh (run that first: it trains the networks).
# Each writes out/frontier/<case>/ (frontier.md, frontier-{gradients,passes}.{png,svg}); resumable.
set -euo pipefail
cd "$(dirname "$0")/.."
O=out/insitu
fr() {  # case, start, oracle, device flags...
  local name="$1" start="$2" oracle="$3"; shift 3
  echo "== $name"
  build/gift frontier --checkpoint "$O/$start.safetensors" --oracle "$O/$oracle.safetensors" \
    --out "out/frontier/$name" "$@" | tail -3
}
fr sa0.1-sa1 base-sa0.1 oracle-sa1 --device-noise-sum-add 1
fr sm0.05-sm0.3 base-sm0.05 oracle-sm0.3 --device-noise-sum-mult 0.3
fr w0.05-w1 base-w0.05 oracle-w1 --device-noise-weight 1
fr fashion-sa1 f-base-sa0.1 f-oracle-sa1 --device-noise-sum-add 1
