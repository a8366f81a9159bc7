#!/usr/bin/env bash
# The packaging test (ctest "Packaging.consumer"): installs the gift build BUILD into a
# temporary prefix (cmake --install, the headers, library, CLI and CMake package), builds
# tests/consumer against it with find_package(gift), and checks that
#   - the installed CLI runs;
#   - the consumer compiles without gift's own flags (-march=native, -Wall/-Wextra, -Werror);
#   - the consumer prints exactly what the same program built in the gift tree prints.
#   - and that both write the same checkpoint, byte for byte.
# Usage: run.sh BUILD_DIR INTREE_CONSUMER
set -euo pipefail
build=$1 intree=$2
src="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for component in dev cli; do
  cmake --install "$build" --prefix "$tmp/prefix" --component "$component" >/dev/null
done
"$tmp/prefix/bin/gift" --version

# The consumer is configured as a user would: only the prefix is given (a compiler launcher
# such as ccache from the environment is fine; it changes no flag).
cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  >"$tmp/configure.log" || { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }

flags="$(grep '"command"' "$tmp/build/compile_commands.json")"
for private in -march=native -Werror -Wextra; do
  if grep -q -- "$private" <<<"$flags"; then
    echo "FAIL: the consumer inherited gift's private flag $private: $flags" >&2
    exit 1
  fi
done
grep -q -- "-DEIGEN_MAX_ALIGN_BYTES=64" <<<"$flags" || {
  echo "FAIL: the consumer did not get EIGEN_MAX_ALIGN_BYTES=64 from gift::gift: $flags" >&2
  exit 1
}

"$tmp/build/consumer" "$tmp/installed.safetensors" >"$tmp/installed.txt"
"$intree" "$tmp/intree.safetensors" >"$tmp/intree.txt"
cmp "$tmp/installed.safetensors" "$tmp/intree.safetensors"
cat "$tmp/installed.txt"
if ! cmp -s "$tmp/installed.txt" "$tmp/intree.txt"; then
  echo "FAIL: the installed build and the in-tree build print different numbers:" >&2
  diff "$tmp/intree.txt" "$tmp/installed.txt" >&2 || true
  exit 1
fi
echo "consumer: installed and in-tree outputs are identical"
