#!/usr/bin/env bash
# The main job: the paper's misspecification experiment at reduced scale (150 s
# measured on two cores; the time is printed at the end): MNIST, the default five-layer network trained at several assumed
# detector-noise levels, deployed to simulated devices at several true levels, repaired in
# situ by gift and the baselines. Prints the table and the paths of the figures. Run again,
# it resumes: finished networks and cells are not recomputed.
set -euo pipefail
cd "$(dirname "$0")/.."
t0="$(date +%s)"
build/gift reproduce --quick --out out/reproduce-mnist-quick
echo "gift: the main job took $(($(date +%s) - t0)) s"
