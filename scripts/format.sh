#!/usr/bin/env bash
# Formats every C++ file of the repository (*.cc, *.h; tracked or new, not ignored) with the
# committed .clang-format, or, with --check, changes nothing and fails listing the files that
# differ from it (scripts/test.sh runs that).
# The formatter is Debian 12's clang-format (14): other versions format some constructs
# differently, so the version is pinned (CLANG_FORMAT=... overrides it).
#
#   bash scripts/format.sh           # rewrite the files in place
#   bash scripts/format.sh --check   # exit 1 if any file is not formatted
set -euo pipefail
cd "$(dirname "$0")/.."
mode=fix
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: bash scripts/format.sh [--check]" >&2; exit 2 ;;
esac
CLANG_FORMAT="${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}"
if [ -z "$CLANG_FORMAT" ]; then
  echo "gift: clang-format not found (Debian: apt-get install clang-format)" >&2
  exit 2
fi
version="$("$CLANG_FORMAT" --version)"
case "$version" in
  *"version 14."*) ;;
  *) echo "gift: expected clang-format 14 (Debian 12), found: $version" >&2; exit 2 ;;
esac
# Tracked files and new ones not yet added (ignored ones, such as build directories, excluded).
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h')
if [ "$mode" = fix ]; then
  "$CLANG_FORMAT" -i -- "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$CLANG_FORMAT" --dry-run -Werror -- "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "gift: ${#bad[@]} file(s) differ from .clang-format (fix: bash scripts/format.sh):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "gift: ${#files[@]} C++ files formatted"
