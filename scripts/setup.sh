#!/usr/bin/env bash
# The first README command, on a fresh Debian 12 machine as root: installs the missing
# Debian packages, fetches the data (once), builds in Release (incrementally), installs and
# runs the main job. Running it again repeats no finished work.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
install_missing "${GIFT_BUILD_PACKAGES[@]}" "${GIFT_RUN_PACKAGES[@]}"
bash scripts/fetch-data.sh data
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGIFT_WERROR=OFF >/dev/null
cmake --build build -j"$(nproc)"
# Installs the gift command, the library, headers and CMake package, and the Python package
# (import gift, for Debian's /usr/bin/python3) under /usr/local: cmake/install.cmake.
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo cmake --install build >/dev/null
/usr/bin/python3 -c "import gift" ||
  { echo "gift: error: the installed Python package does not import" >&2; exit 1; }
echo "gift: installed under /usr/local (the gift command, libgift, headers, CMake and Python packages)"
bash scripts/main-job.sh
