#!/usr/bin/python3
"""Write golden-test fixtures for gift's noisy dense forward/backward.

Run:  /usr/bin/python3 tests/reference/make_fixtures.py

Writes tests/reference/fixtures/{noisy,noiseless,clipped}.safetensors and
self-checks them (read-back, gradients vs. central finite differences).
See tests/reference/README.md for the exact model semantics and tensor names.
Output is deterministic: running twice gives byte-identical files.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")
GENERATOR = "tests/reference/make_fixtures.py"

SIZES = [7, 6, 5, 4, 3]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear"]
BATCH = 5
NUM_CLASSES = SIZES[-1]
KINK_MARGIN = 1e-3  # min distance of relu z / clip boundary from its kink
Q_MIN = 1e-6        # min q where s_w > 0 (sqrt must be differentiable)
MAX_ATTEMPTS = 1000

NOISY_STDS = {
    "std_weight": [0.05, 0.1, 0.15, 0.2],
    "std_sum_mult": [0.05, 0.08, 0.12, 0.15],
    "std_sum_add": [0.1, 0.15, 0.2, 0.3],
    "std_out_add": [0.02, 0.05, 0.08, 0.1],
}
ZERO_STDS = {k: [0.0] * len(ACTIVATIONS) for k in NOISY_STDS}

# name, base seed, stds, output_clip, weight/bias scale
FIXTURES = [
    ("noisy", 1000, NOISY_STDS, 0.0, 1.0),
    ("noiseless", 2000, ZERO_STDS, 0.0, 1.0),
    ("clipped", 3000, NOISY_STDS, 0.8, 1.0),
]


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------

def phi(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return torch.relu(z)
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "tanh":
        return torch.tanh(z)
    raise ValueError(name)


def forward(x, Ws, bs, xis, stds, acts, clip, trace=None):
    """Returns the list of layer outputs a_l; the last one is the logits.

    If trace is a list, appends per layer a dict with z, q and pre-clip a
    (detached) for the well-definedness checks.
    """
    h = x
    outs = []
    for l, (W, b) in enumerate(zip(Ws, bs)):
        s_w = stds["std_weight"][l]
        s_m = stds["std_sum_mult"][l]
        s_a = stds["std_sum_add"][l]
        s_o = stds["std_out_add"][l]
        xi_w, xi_m, xi_a, xi_o = xis[l]
        mean = h @ W.T + b
        q = None
        if s_w > 0:
            q = (h * h) @ (W * W).T
            u = mean + s_w * torch.sqrt(q) * xi_w
        else:
            u = mean
        z = u * (1 + s_m * xi_m) + s_a * xi_a
        a = phi(acts[l], z) + s_o * xi_o
        pre_clip = a
        if clip > 0:
            a = torch.clamp(a, -clip, clip)
        if trace is not None:
            trace.append({
                "z": z.detach().numpy().copy(),
                "q": None if q is None else q.detach().numpy().copy(),
                "pre_clip": pre_clip.detach().numpy().copy(),
            })
        outs.append(a)
        h = a
    return outs


def loss_fn(logits, labels):
    return torch.nn.functional.cross_entropy(logits, labels, reduction="mean")


def draw(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(BATCH, SIZES[0]))
    labels = rng.integers(0, NUM_CLASSES, size=BATCH)
    Ws, bs, xis = [], [], []
    for l in range(len(ACTIVATIONS)):
        I, O = SIZES[l], SIZES[l + 1]
        Ws.append(scale * rng.uniform(-1.0, 1.0, size=(O, I)))
        bs.append(scale * rng.uniform(-1.0, 1.0, size=O))
        xis.append(tuple(rng.standard_normal(size=(BATCH, O)) for _ in range(4)))
    return x, labels, Ws, bs, xis


def problems(trace, stds, clip):
    """Reasons why this draw is not well defined / not interesting (empty = ok)."""
    bad = []
    L = len(ACTIVATIONS)
    for l, t in enumerate(trace):
        if stds["std_weight"][l] > 0 and not (t["q"] > Q_MIN).all():
            bad.append(f"layer {l}: q min {t['q'].min():.3g}")
        if ACTIVATIONS[l] == "relu" and (np.abs(t["z"]) < KINK_MARGIN).any():
            bad.append(f"layer {l}: relu z near 0")
        if clip > 0:
            dist = np.abs(np.abs(t["pre_clip"]) - clip)
            if (dist < KINK_MARGIN).any():
                bad.append(f"layer {l}: activation near clip boundary")
            if l < L - 1:
                clipped = np.abs(t["pre_clip"]) > clip
                if not clipped.any():
                    bad.append(f"layer {l}: nothing clipped")
                if clipped.all():
                    bad.append(f"layer {l}: everything clipped")
    if clip > 0:
        # keep the loss sensitive to every logit column at least somewhere
        last = np.abs(trace[-1]["pre_clip"]) < clip
        if not last.any(axis=0).all():
            bad.append("a logit column is clipped in every sample")
    return bad


# ----------------------------------------------------------------------------
# safetensors (by hand)
# ----------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float64 ndarray) in file order."""
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, arr in tensors:
        arr = np.asarray(arr, dtype="<f8")  # (ascontiguousarray would make 0-d 1-d)
        data = arr.tobytes(order="C")
        header[name] = {
            "dtype": "F64",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Returns (ordered list of (name, ndarray), metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0, "header not padded to 8"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__")
    tensors = []
    expect = 0
    for name, info in header.items():
        assert info["dtype"] == "F64", name
        b, e = info["data_offsets"]
        assert b == expect, f"{name}: offsets not contiguous"
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert e - b == 8 * count, f"{name}: size mismatch"
        arr = np.frombuffer(data[b:e], dtype="<f8").reshape(info["shape"])
        tensors.append((name, arr))
        expect = e
    assert expect == len(data), "trailing bytes after last tensor"
    return tensors, metadata


# ----------------------------------------------------------------------------
# Fixture generation
# ----------------------------------------------------------------------------

def make_fixture(name, base_seed, stds, clip, scale):
    for attempt in range(MAX_ATTEMPTS):
        seed = base_seed + attempt
        x_np, labels_np, Ws_np, bs_np, xis_np = draw(seed, scale)
        x = torch.tensor(x_np)
        trace = []
        with torch.no_grad():
            forward(x, [torch.tensor(w) for w in Ws_np],
                    [torch.tensor(b) for b in bs_np],
                    [tuple(torch.tensor(v) for v in xi) for xi in xis_np],
                    stds, ACTIVATIONS, clip, trace)
        if not problems(trace, stds, clip):
            break
    else:
        raise RuntimeError(f"{name}: no acceptable draw in {MAX_ATTEMPTS} attempts")

    x = torch.tensor(x_np, requires_grad=True)
    Ws = [torch.tensor(w, requires_grad=True) for w in Ws_np]
    bs = [torch.tensor(b, requires_grad=True) for b in bs_np]
    xis = [tuple(torch.tensor(v) for v in xi) for xi in xis_np]
    labels = torch.tensor(labels_np, dtype=torch.int64)
    outs = forward(x, Ws, bs, xis, stds, ACTIVATIONS, clip)
    logits = outs[-1]
    loss = loss_fn(logits, labels)
    loss.backward()

    L = len(ACTIVATIONS)
    tensors = [("x", x_np), ("labels", labels_np.astype(np.float64))]
    for l in range(L):
        tensors += [
            (f"W{l}", Ws_np[l]), (f"b{l}", bs_np[l]),
            (f"xi_w{l}", xis_np[l][0]), (f"xi_m{l}", xis_np[l][1]),
            (f"xi_a{l}", xis_np[l][2]), (f"xi_o{l}", xis_np[l][3]),
            (f"h{l}", outs[l].detach().numpy()),
        ]
    tensors += [("logits", logits.detach().numpy()),
                ("loss", np.array(loss.item()))]
    for l in range(L):
        tensors += [(f"grad_W{l}", Ws[l].grad.numpy()),
                    (f"grad_b{l}", bs[l].grad.numpy())]
    tensors += [("grad_x", x.grad.numpy())]
    tensors = [(n, np.array(a, dtype=np.float64, copy=True)) for n, a in tensors]

    metadata = {
        "activations": json.dumps(ACTIVATIONS),
        "std_weight": json.dumps(stds["std_weight"]),
        "std_sum_mult": json.dumps(stds["std_sum_mult"]),
        "std_sum_add": json.dumps(stds["std_sum_add"]),
        "std_out_add": json.dumps(stds["std_out_add"]),
        "output_clip": json.dumps(float(clip)),
        "generator": GENERATOR,
        "torch_version": str(torch.__version__),
        "seed": str(seed),
    }
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, metadata)

    # ---- self-check 1: read back --------------------------------------------
    got, got_meta = read_safetensors(path)
    assert got_meta == metadata, f"{name}: metadata mismatch"
    assert [n for n, _ in got] == [n for n, _ in tensors], f"{name}: names"
    for (n, a), (_, b) in zip(tensors, got):
        assert a.shape == b.shape and np.array_equal(a, b), f"{name}: {n} differs"
    # ---- self-check 2: rebuild forward from the file alone ------------------
    t = dict(got)
    meta_stds = {k: json.loads(got_meta[k]) for k in NOISY_STDS}
    re_outs = forward(
        torch.tensor(t["x"]),
        [torch.tensor(t[f"W{l}"]) for l in range(L)],
        [torch.tensor(t[f"b{l}"]) for l in range(L)],
        [tuple(torch.tensor(t[f"xi_{s}{l}"]) for s in "wmao") for l in range(L)],
        meta_stds, json.loads(got_meta["activations"]),
        float(got_meta["output_clip"]))
    re_loss = loss_fn(re_outs[-1], torch.tensor(t["labels"]).long()).item()
    assert re_loss == float(t["loss"]), f"{name}: loss not reproducible from file"

    # ---- self-check 3: central finite differences ---------------------------
    worst = fd_check(name, seed, x_np, Ws_np, bs_np, xis, labels, stds, clip, t)

    nclip = [int((np.abs(tr["pre_clip"]) > clip).sum()) if clip > 0 else 0
             for tr in trace]
    print(f"{name}: seed={seed} attempts={attempt + 1} bytes={os.path.getsize(path)} "
          f"tensors={len(tensors)} loss={float(t['loss']):.12g} "
          f"clipped_per_layer={nclip} of {[BATCH * o for o in SIZES[1:]]} "
          f"fd_checks={worst[0]} max_rel_err={worst[1]:.2e}")


def fd_check(name, seed, x_np, Ws_np, bs_np, xis, labels, stds, clip, t,
             eps=1e-5, tol=1e-6):
    L = len(ACTIVATIONS)

    def f(x, Ws, bs):
        with torch.no_grad():
            outs = forward(torch.tensor(x), [torch.tensor(w) for w in Ws],
                           [torch.tensor(b) for b in bs], xis, stds,
                           ACTIVATIONS, clip)
            return loss_fn(outs[-1], labels).item()

    targets = [("x", None)] + [(k, l) for l in range(L) for k in ("W", "b")]
    rng = np.random.default_rng(seed + 7)
    count, worst = 0, 0.0
    for kind, l in targets:
        grad = t["grad_x"] if kind == "x" else t[f"grad_{kind}{l}"]
        flat = np.abs(grad).ravel()
        picks = {int(np.argmax(flat))}
        big = np.flatnonzero(flat > 1e-2 * flat.max())
        picks.update(int(i) for i in rng.choice(big, size=min(2, len(big)), replace=False))
        for idx in sorted(picks):
            vals = []
            for sgn in (+1, -1):
                x = x_np.copy()
                Ws = [w.copy() for w in Ws_np]
                bs = [b.copy() for b in bs_np]
                p = x if kind == "x" else (Ws[l] if kind == "W" else bs[l])
                p.reshape(-1)[idx] += sgn * eps
                vals.append(f(x, Ws, bs))
            fd = (vals[0] - vals[1]) / (2 * eps)
            g = grad.ravel()[idx]
            rel = abs(fd - g) / max(abs(g), abs(fd))
            label = "x" if kind == "x" else f"{kind}{l}"
            assert rel < tol, f"{name}: FD mismatch {label}[{idx}] fd={fd} grad={g} rel={rel}"
            worst = max(worst, rel)
            count += 1
    return count, worst


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for args in FIXTURES:
        make_fixture(*args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
