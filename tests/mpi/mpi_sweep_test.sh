#!/bin/sh
# `gift sweep` under mpirun (ctest: mpi_sweep): on a tiny synthetic data set, a sweep run by
# `mpirun --oversubscribe -np 3` (a coordinator and two workers) writes the same rows, bit for
# bit (wall time aside), as a one-process run; a sweep started by one process with --max-cells
# and finished in two MPI runs does too, without a cell twice; and a cell that fails on a worker
# ends the MPI run with the one-line message a one-process run prints, and a non-zero exit.
# Usage: mpi_sweep_test.sh GIFT MPIEXEC PYTHON3 WORKDIR. Exit 77 (skipped) if MPIEXEC is empty:
# this gift was built without MPI.
set -eu
gift=$1 mpiexec=$2 python=$3 work=$4
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$mpiexec" ]; then
  echo "gift was built without MPI: skipped"
  exit 77
fi
# CI runs as root, which Open MPI refuses unless told otherwise. In a container, Docker's default
# seccomp profile forbids the single-copy transfers (process_vm_readv) of Open MPI's shared-memory
# transport: copy through the shared buffer instead.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
rm -rf "$work"
mkdir -p "$work"
cd "$work"
fail() {
  echo "FAILED: $*"
  exit 1
}
# -q: mpirun adds no banner of its own when a rank exits non-zero.
mpi() { "$mpiexec" -q --oversubscribe -np 3 "$gift" "$@"; }
"$python" "$here/../synthetic_idx.py" data 300 200

# 2 assumed x 3 true levels x 2 seeds x 3 methods = 36 cells, 6 networks; $2: more options of
# fine-tuning.
study() {
  cat >"$1" <<JSON
{"dataset": "mnist", "data_dir": "data", "arch": "16-12-10", "activation": "relu",
 "train": {"epochs": 4, "batch_size": 20, "lr": 0.02},
 "grids": [{"site": "sum_add", "assumed": [0.05, 0.5], "true": [0.05, 0.5, 1.0]}],
 "seeds": [1, 2], "methods": ["none", "gift", "hil"],
 "finetune": {"epochs": 2, "calib_size": 100, "calib_inputs": 20, "calib_repeats": 4$2},
 "eval_repeats": 2}
JSON
}
study study.json ""
cells=36

echo "== one process"
"$gift" sweep --study study.json --out one --jobs 1 --no-figures >one.log 2>&1 ||
  { cat one.log; fail "the one-process sweep"; }

echo "== mpirun -np 3"
mpi sweep --study study.json --out three --no-figures >three.log 2>&1 ||
  { cat three.log; fail "the sweep under mpirun"; }
grep -q "^sweep three: $cells cells (0 already done, $cells run now)" three.log ||
  { cat three.log; fail "the MPI run's summary line"; }
[ "$(grep -c '^trained ' three.log)" = 6 ] || { cat three.log; fail "6 'trained' lines"; }
"$python" "$here/sweep_rows.py" same one/results.jsonl three/results.jsonl $cells ||
  fail "rows of -np 3 differ from one process"
for m in one/models/*; do
  cmp -s "$m" "three/models/$(basename "$m")" || fail "network $m differs"
done
[ -f three/table.csv ] || fail "no report (table.csv) written by rank 0"

echo "== resume: 5 cells in one process, 7 under mpirun, the rest under mpirun"
"$gift" sweep --study study.json --out resume --jobs 1 --max-cells 5 --no-figures >r1.log 2>&1 ||
  { cat r1.log; fail "the first part"; }
mpi sweep --study study.json --out resume --max-cells 7 --no-figures >r2.log 2>&1 ||
  { cat r2.log; fail "the second part"; }
grep -q "^resuming: 5 of $cells cells already finished" r2.log || { cat r2.log; fail "resume line"; }
grep -q "stopped early" r2.log || { cat r2.log; fail "--max-cells under mpirun"; }
mpi sweep --study study.json --out resume --no-figures >r3.log 2>&1 ||
  { cat r3.log; fail "the last part"; }
grep -q "^sweep resume: $cells cells (12 already done, 24 run now)" r3.log ||
  { cat r3.log; fail "the last part's summary"; }
"$python" "$here/sweep_rows.py" same one/results.jsonl resume/results.jsonl $cells ||
  fail "rows of the resumed sweep differ"

echo "== a cell that fails on a worker"
# A pass budget below the fixed cost of method gift: its cells throw an InputError, none's pass
# (hil is left out: it would fail with another message, and the first error to reach rank 0 wins).
study bad.json ', "budget_passes": 50'
sed -i 's/"methods": \["none", "gift", "hil"\]/"methods": ["none", "gift"]/' bad.json
status=0
"$gift" sweep --study bad.json --out bad1 --jobs 1 --no-figures >bad1.log 2>bad1.err || status=$?
[ "$status" = 1 ] || { cat bad1.log bad1.err; fail "one process: exit $status, expected 1"; }
status=0
mpi sweep --study bad.json --out bad3 --no-figures >bad3.log 2>bad3.err || status=$?
[ "$status" != 0 ] || fail "the MPI run of a failing cell exited 0"
want=$(grep '^gift: error:' bad1.err)
[ -n "$want" ] || { cat bad1.err; fail "no error line from one process"; }
[ "$(cat bad3.err)" = "$want" ] || { cat bad3.err; fail "not the one error line of one process"; }
# What the failed run left is a valid sweep (no row twice), and a rerun resumes it: it skips
# the rows written and stops at the failing cell again, with the same line.
rows=$("$python" "$here/sweep_rows.py" rows bad3/results.jsonl) || fail "bad3/results.jsonl"
[ "$rows" -ge 1 ] || fail "the failed MPI run kept no row"
status=0
mpi sweep --study bad.json --out bad3 --no-figures >bad4.log 2>bad4.err || status=$?
[ "$status" != 0 ] || fail "the rerun of a failing cell exited 0"
grep -q "^resuming: $rows of 24 cells already finished" bad4.log || { cat bad4.log; fail "resume"; }
[ "$(cat bad4.err)" = "$want" ] || { cat bad4.err; fail "the rerun's error line"; }
echo "all MPI sweep checks passed"
