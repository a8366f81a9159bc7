#!/usr/bin/env python3
"""PyTorch reference for bench/mc_inference: DRAWS noisy forward passes of the default
network over the 10,000 MNIST test images under torch.no_grad(), the noise applied as gift's
forward applies it (src/onn/forward.cc), the whole test set as one batch (torch's fastest).
Prints images*draws/s and the mean accuracy over the draws.
Usage: pytorch_mc.py THREADS DRAWS SITE [DATA_DIR [CHECKPOINT]]
  SITE: none | weight | sum_mult | sum_add | out_add (std 0.1 on every layer) | all
  DATA_DIR: MNIST's t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (raw or .gz); default
    data/mnist; synthetic images of the same shape where they are missing.
  CHECKPOINT: a gift checkpoint (safetensors, read here with numpy); default: random weights.
With the same checkpoint, gift's and torch's accuracies agree within the Monte-Carlo error:
a check that both compute the same model."""
import gzip, json, os, struct, sys, time
import numpy as np
import torch

SITES = ("weight", "sum_mult", "sum_add", "out_add")


def read_idx(path):
    """An IDX file (raw, or path + '.gz') as a numpy array."""
    if not os.path.exists(path):
        path += ".gz"
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_checkpoint(path):
    """(weights, biases, activations) of a gift checkpoint (docs/checkpoint-format.md)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    arch = json.loads(header["__metadata__"]["architecture"])

    def tensor(name):
        t = header[name]
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}, expected F32"
        b, e = t["data_offsets"]
        return torch.from_numpy(np.frombuffer(blob, np.float32, (e - b) // 4, 8 + n + b).copy()
                                .reshape(t["shape"]))

    L = len(arch["activations"])
    return ([tensor(f"layers.{l}.weight") for l in range(L)],
            [tensor(f"layers.{l}.bias") for l in range(L)], arch["activations"])


def main():
    threads, draws, site = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    data_dir = sys.argv[4] if len(sys.argv) > 4 else "data/mnist"
    checkpoint = sys.argv[5] if len(sys.argv) > 5 else ""
    if site not in ("none", "all") + SITES or draws < 1:
        sys.exit(f"pytorch_mc.py: expected DRAWS >= 1 and a SITE, found {draws} and '{site}'")
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    std = {s: (0.1 if site in (s, "all") else 0.0) for s in SITES}

    try:
        x = torch.from_numpy(read_idx(f"{data_dir}/t10k-images-idx3-ubyte").reshape(-1, 784)
                             .astype(np.float32) / 255.0)
        y = torch.from_numpy(read_idx(f"{data_dir}/t10k-labels-idx1-ubyte").astype(np.int64))
        source = data_dir
    except FileNotFoundError:
        x, y, source = torch.rand(10000, 784), torch.arange(10000) % 10, "synthetic"

    if checkpoint:
        weights, biases, acts = read_checkpoint(checkpoint)
    else:
        sizes = [784, 256, 128, 64, 32, 10]
        layers = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(5)]
        weights = [l.weight.detach() for l in layers]
        biases = [l.bias.detach() for l in layers]
        acts = ["relu"] * 4 + ["linear"]
    phi = {"relu": torch.relu, "linear": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
    w_sq = [w * w for w in weights]

    def forward(h):
        for w, b, wq, act in zip(weights, biases, w_sq, acts):
            z = torch.addmm(b, h, w.t())
            if std["weight"] > 0:  # local reparameterisation, as in gift
                z += std["weight"] * torch.sqrt((h * h) @ wq.t()) * torch.randn_like(z)
            if std["sum_mult"] > 0:
                z *= 1 + std["sum_mult"] * torch.randn_like(z)
            if std["sum_add"] > 0:
                z += std["sum_add"] * torch.randn_like(z)
            h = phi[act](z)
            if std["out_add"] > 0:
                h = h + std["out_add"] * torch.randn_like(h)
        return h

    with torch.no_grad():
        forward(x[:1000])  # warm-up
        correct = 0
        t0 = time.perf_counter()
        for _ in range(draws):
            correct += int((forward(x).argmax(1) == y).sum())
        sec = time.perf_counter() - t0
    n = x.shape[0]
    print(f"torch threads={threads} site={site:<8} draws={draws} images={n} ({source})  "
          f"{n * draws / sec:.0f} images*draws/s  {sec:.3f} s  accuracy {100 * correct / (n * draws):.2f}%"
          f"  (torch {torch.__version__})")


if __name__ == "__main__":
    main()
