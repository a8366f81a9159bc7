#!/usr/bin/env bash
# The second README command: installs what building and testing need (if missing), checks the
# C++ formatting (scripts/format.sh --check), builds (incrementally: after scripts/setup.sh, with
# the same configuration, nothing is rebuilt) and runs every test, the slow ones (ctest label
# "slow") included. For the fast suite alone: ctest --test-dir build -LE slow.
# A compiler warning never fails this build (warnings depend on the compiler and, through
# -march=native, on the CPU); CI fails on any warning in its own stages (.ci/run).
# GIFT_WERROR=ON bash scripts/test.sh builds with -Werror.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}"
BUILD_DIR="${BUILD_DIR:-build}"
bash scripts/format.sh --check
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGIFT_WERROR="${GIFT_WERROR:-OFF}" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"
