#!/usr/bin/env python3
"""PyTorch reference for bench/train_throughput: the same network, noise model,
optimizer and batch, on the same synthetic data shape. Prints samples/s.
Usage: pytorch_train.py THREADS STEPS MODE   (MODE: none|sum_add|weight|all)"""
import sys, time
import torch

threads, steps, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
torch.manual_seed(1)
sizes = [784, 256, 128, 64, 32, 10]
s_a = 0.1 if mode in ("sum_add", "all") else 0.0
s_w = 0.1 if mode in ("weight", "all") else 0.0
layers = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(5)]
params = [p for l in layers for p in l.parameters()]
opt = torch.optim.Adam(params, lr=1e-3)
B = 128
x = torch.rand(B * 8, 784)
y = torch.arange(B * 8) % 10


def forward(h):
    for i, l in enumerate(layers):
        z = h @ l.weight.t() + l.bias
        if s_w > 0:  # local reparameterisation, as in gift
            z = z + s_w * torch.sqrt((h * h) @ (l.weight * l.weight).t()) * torch.randn_like(z)
        if s_a > 0:
            z = z + s_a * torch.randn_like(z)
        h = torch.relu(z) if i < 4 else z
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
print(f"torch threads={threads} noise={mode:<7} batch={B} steps={steps}  {steps * B / sec:.0f} samples/s"
      f"  (torch {torch.__version__})")
