#!/usr/bin/env bash
# The first README command, on a fresh Debian 12 machine as root: installs the missing
# Debian packages, fetches the data (once), builds in Release (incrementally) and runs
# the main job. Running it again repeats no finished work.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}" "${GIFT_RUN_PACKAGES[@]}"
bash scripts/fetch-data.sh data
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
bash scripts/main-job.sh
