#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/<name>_fuzz.cc; clang, GIFT_FUZZ=ON, in build-fuzz/)
# and runs each for N seconds (default 30) on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<name>/ and the fixed reproducers in tests/fuzz/regressions/<name>/), with
# its dictionary tests/fuzz/<name>.dict if there is one. Prints per target the seconds, the
# executions and what it found; exits non-zero if any target crashed, hung (-timeout=10) or
# blew up memory (-rss_limit_mb=2048). Reproducers go to build-fuzz/crashes/<name>/.
#
#   bash scripts/fuzz.sh [seconds-per-target] [target ...]     e.g. bash scripts/fuzz.sh 60 idx
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
# clang with libFuzzer (compiler-rt) and its OpenMP runtime, from Debian.
install_missing "${GIFT_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev libomp-14-dev
SECS="${1:-30}"
shift || true
BUILD_DIR="${BUILD_DIR:-build-fuzz}"
JOBS="${JOBS:-$(nproc)}"

if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
else
  TARGETS=()
  for src in tests/fuzz/*_fuzz.cc; do
    name="$(basename "$src" _fuzz.cc)"
    TARGETS+=("$name")
  done
fi

CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S . -B "$BUILD_DIR" -DGIFT_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS"

work="$(mktemp -d "${TMPDIR:-/tmp}/gift-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
crashes="$BUILD_DIR/crashes"
# Leaks count as findings (ASan's default); stack traces name the line.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:print_stacktrace=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

failed=0
summary=()
for t in "${TARGETS[@]}"; do
  exe="$BUILD_DIR/${t}_fuzz"
  [ -x "$exe" ] || { echo "fuzz: no target $exe" >&2; exit 2; }
  mkdir -p "$work/$t" "$crashes/$t"
  cp tests/fuzz/corpus/"$t"/* "$work/$t/"
  if [ -d "tests/fuzz/regressions/$t" ]; then
    find "tests/fuzz/regressions/$t" -maxdepth 1 -type f -exec cp {} "$work/$t/" \;
  fi
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$crashes/$t.log"
  echo "== $t: ${SECS} s (log: $log)"
  touch "$work/$t.start"
  start="$(date +%s.%N)"
  rc=0
  "$exe" "$work/$t" "${dict[@]}" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crashes/$t/" >"$log" 2>&1 || rc=$?
  end="$(date +%s.%N)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  artifacts="$(find "$crashes/$t" -maxdepth 1 -type f -newer "$work/$t.start" 2>/dev/null | wc -l)"
  # A finding is a non-zero exit or an artifact written during this run.
  if [ "$rc" -ne 0 ] || [ "$artifacts" -gt 0 ]; then
    found="FOUND (exit $rc): $(grep -m1 -E 'what\(\)|runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|fuzz: broken guarantee' "$log" || echo see log)"
    find "$crashes/$t" -maxdepth 1 -type f -newer "$work/$t.start" | sed 's/^/    reproducer: /'
    failed=1
  else
    found="nothing"
  fi
  summary+=("$(printf '%-14s %7.1f s %12s execs  %s' "$t" "$(awk "BEGIN { print $end - $start }")" "${execs:-?}" "$found")")
done

echo
echo "target           seconds       executions  findings"
printf '%s\n' "${summary[@]}"
exit "$failed"
