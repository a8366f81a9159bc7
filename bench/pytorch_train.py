#!/usr/bin/env python3
"""PyTorch reference for bench/train_throughput: the same network, noise model,
optimizer and batch, on the same synthetic data shape. Prints samples/s and the seconds
the timed steps took.
Usage: pytorch_train.py THREADS STEPS MODE
  MODE: none | weight | sum_mult | sum_add | out_add (that site at std 0.1 on every layer,
  as gift's forward applies it, src/onn/forward.cc) | all (every site at once)"""
import sys, time
import torch

threads, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
SITES = ("weight", "sum_mult", "sum_add", "out_add")
if mode not in ("none", "all") + SITES:
    sys.exit(f"pytorch_train.py: unknown MODE '{mode}'")
torch.set_num_threads(threads)
torch.manual_seed(1)
sizes = [784, 256, 128, 64, 32, 10]
std = {s: (0.1 if mode in (s, "all") else 0.0) for s in SITES}
layers = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(5)]
params = [p for l in layers for p in l.parameters()]
opt = torch.optim.Adam(params, lr=1e-3)
B = 128
x = torch.rand(B * 8, 784)
y = torch.arange(B * 8) % 10


def forward(h):
    for i, l in enumerate(layers):
        z = h @ l.weight.t() + l.bias
        if std["weight"] > 0:  # local reparameterisation, as in gift
            z = z + std["weight"] * torch.sqrt((h * h) @ (l.weight * l.weight).t()) * torch.randn_like(z)
        if std["sum_mult"] > 0:
            z = z * (1 + std["sum_mult"] * torch.randn_like(z))
        if std["sum_add"] > 0:
            z = z + std["sum_add"] * torch.randn_like(z)
        h = torch.relu(z) if i < 4 else z
        if std["out_add"] > 0:  # after the activation, on every layer (the logits too)
            h = h + std["out_add"] * torch.randn_like(h)
    return h


def step(s):
    xb, yb = x[(s % 8) * B:(s % 8 + 1) * B], y[(s % 8) * B:(s % 8 + 1) * B]
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(forward(xb), yb)
    loss.backward()
    opt.step()
    with torch.no_grad():
        for l in layers:
            l.weight.clamp_(-1, 1)


for s in range(20):
    step(s)
t0 = time.perf_counter()
for s in range(steps):
    step(s)
sec = time.perf_counter() - t0
print(f"torch threads={threads} noise={mode:<8} batch={B} steps={steps}  {steps * B / sec:.0f} samples/s"
      f"  {sec:.3f} s  (torch {torch.__version__})")
