#!/usr/bin/env bash
# The second README command: installs what building and testing need (if missing), checks the
# C++ formatting (scripts/format.sh --check), builds (incrementally, warnings as errors) and runs
# every test, the slow ones (ctest label "slow") included. For the fast suite alone:
# ctest --test-dir build -LE slow.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}"
BUILD_DIR="${BUILD_DIR:-build}"
bash scripts/format.sh --check
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DGIFT_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j"$(nproc)"
