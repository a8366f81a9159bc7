#!/usr/bin/env bash
# The headline comparison under the physical chain (docs/method.md, README): the default network
# trained 10 epochs at sum_add 0.1 on MNIST, deployed to simulated chips at true sum_add 0.5, 1
# and 2; gift, gift without its rescale step, hil and retrain within the default budgets, the
# oracle trained at the true noise and given the within-layer rescale; 3 seeds, each with its own
# trained networks, its own chip (device seed) and its own lab split. Prints the summary with
# intervals over seeds and paired differences (scripts/seed-summary.py). About 10 minutes on two
# cores; run again, it resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
O=${OUT:-out/headline}
mkdir -p "$O"
study() {  # name, methods (JSON list), rescale (true/false)
  cat > "$O/$1.json" <<JSON
{"dataset": "mnist", "arch": "784-256-128-64-32-10", "activation": "relu", "chain": "physical",
 "train": {"epochs": 10, "batch_size": 128, "lr": 0.001}, "test_limit": 5000,
 "grids": [{"site": "sum_add", "assumed": [0.1], "true": [0.5, 1, 2]}],
 "seeds": [1, 2, 3], "methods": $2,
 "finetune": {"retrain_epochs": 1, "rescale": $3}, "eval_repeats": 3}
JSON
}
study with-rescale '["none", "gift", "hil", "retrain"]' true
study without-rescale '["none", "gift"]' false
build/gift sweep --study "$O/with-rescale.json" --out "$O/with-rescale" --no-figures
mkdir -p "$O/without-rescale"
cp -rn "$O/with-rescale/models" "$O/without-rescale/"  # the same networks, not trained again
build/gift sweep --study "$O/without-rescale.json" --out "$O/without-rescale" --no-figures
/usr/bin/python3 scripts/seed-summary.py "$O/with-rescale" "$O/without-rescale=-norescale" \
  | tee "$O/summary.md"
