#!/usr/bin/python3
"""A chip written in Python, calibrated and fine-tuned by gift (docs/python.md).

A notebook-style walk through the Python package: load a checkpoint (or train a small one if
none is given), wrap a toy photonic chip written in numpy as a gift.Device, measure its noise in
situ, fine-tune the network on it with gift and two baselines, and plot the result.

    usage: python_device.py [--checkpoint M.safetensors] [--data-dir data/mnist]
                            [--plot out/python_device.png] [--seed 1]

Needs MNIST in data/mnist (bash scripts/fetch-data.sh) and the gift package: installed by
bash scripts/setup.sh, or from a build tree with PYTHONPATH=build/python.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import gift

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the chip, in a few lines
class ToyChip(gift.Device):
    """A toy photonic chip in numpy. Programming sets each weight with a fixed gain error
    (W * (1 + d), d ~ N(0, gain_error^2), drawn once: the chip's fabrication error); every
    detected (optical) sum carries fresh Gaussian noise of std detector_noise; each neuron's
    electronic gain and bias follow, and relu saturating into the modulator's range [0, 1]
    between layers (gift's physical chain, docs/model.md).
    gift sees none of this: only program(), forward() and info()."""

    def __init__(self, arch, detector_noise=0.5, gain_error=0.05, seed=7):
        super().__init__()
        self.arch, self.detector_noise = arch, detector_noise
        fab = np.random.default_rng(seed)
        self.gain = [1 + gain_error * fab.standard_normal((arch.sizes[l + 1], arch.sizes[l]))
                     for l in range(arch.num_layers)]
        self.rng = np.random.default_rng(seed + 1)
        self.layers = None

    def info(self):
        return gift.DeviceInfo(self.arch, taps=True, name="toy numpy chip")

    def program(self, net):
        w_max = net.arch.w_max
        self.layers = [(np.clip(net.weight(l), -w_max, w_max) * self.gain[l],
                        np.clip(net.bias(l), -1, 1), net.gain(l).copy())
                       for l in range(net.num_layers)]

    def forward(self, x, taps):
        sums, h = [], x
        for l, (w, b, g) in enumerate(self.layers):
            u = h @ w.T + self.detector_noise * self.rng.standard_normal((len(x), len(b)))
            z = g * u + b
            sums.append(z.astype(np.float32))
            h = np.clip(z, 0, 1) if l + 1 < len(self.layers) else z
        return (sums, h.astype(np.float32)) if taps else h.astype(np.float32)


# ---------------------------------------------------------------- the walk-through
def get_checkpoint(args, train):
    if args.checkpoint:
        ckpt = gift.load_checkpoint(args.checkpoint)
        print(f"loaded {args.checkpoint}: {ckpt.net.arch.describe()}, "
              f"trained at {ckpt.train.noise.describe()}")
        return ckpt
    ckpt = gift.new_checkpoint("784-64-10", epochs=3, batch_size=128, lr=3e-3, seed=args.seed,
                               noise=gift.NoiseModel(2, sum_add=0.1))
    print(f"training {ckpt.net.arch.describe()} at {ckpt.train.noise.describe()} on "
          f"{len(train)} images ...")
    gift.train(ckpt, train, epoch_end=lambda e: print(
        f"  epoch {e.epoch}: loss {e.loss:.3f}, train accuracy {100 * e.accuracy:.2f}%"))
    return ckpt


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="a checkpoint of gift train (default: train one)")
    p.add_argument("--data-dir", default=str(REPO / "data" / "mnist"))
    p.add_argument("--plot", default=str(REPO / "out" / "python_device.png"))
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    t0 = time.time()

    train = gift.load_dataset("mnist", "train", args.data_dir, limit=10000)
    test = gift.load_dataset("mnist", "test", args.data_dir)
    ckpt = get_checkpoint(args, train)
    net = ckpt.net
    print(f"layer 0 weights: numpy {net.weight(0).shape} {net.weight(0).dtype}, "
          f"|W| max {np.abs(net.weight(0)).max():.3f}")

    # The lab's 1,000 labelled images; every accuracy is measured on the other 9,000.
    calib, held_out = gift.lab_split(test, 1000, seed=args.seed)
    chip = ToyChip(net.arch)
    twin = gift.evaluate(ckpt, held_out, noise=ckpt.train.noise, repeats=3, seed=args.seed)
    # Every network is judged on a fresh copy of the chip (the same fabrication errors and noise
    # draws: common random numbers), so a network that did not change reads the same.
    before = gift.device_accuracy(ToyChip(net.arch), net, held_out, repeats=3)
    print(f"\ndigital twin (assumed noise): {100 * twin.mean:.2f}%   "
          f"on the chip: {100 * before.mean:.2f}% [{100 * before.low:.2f}, {100 * before.high:.2f}]")

    cal = gift.calibrate(chip, net, calib, calib_inputs=100, calib_repeats=16, seed=args.seed)
    print(f"\ncalibration ({cal.device_passes} device passes); true detector noise "
          f"{chip.detector_noise}, gain error 0.05:")
    print(cal.report().rstrip())

    results = {}
    print("\nfine-tuned from the same start, each within the default budgets; each judged on a "
          "fresh copy\nof the chip (the same draws), so none reads exactly the start")
    print(f"{'method':8} {'accuracy':>9} {'95% interval':>17} {'passes':>7} {'programs':>9} "
          f"{'accepted':>9}")
    for method in ["none", "gift", "hil"]:
        tuned, rep = gift.finetune(method, ckpt, chip, calib, train, seed=args.seed)
        after = gift.device_accuracy(ToyChip(net.arch), tuned, held_out, repeats=3)
        results[method] = after
        print(f"{method:8} {100 * after.mean:8.2f}% [{100 * after.low:6.2f}, {100 * after.high:6.2f}]"
              f" {rep.device_passes:7d} {rep.device_programmings:9d} "
              f"{'yes' if rep.accepted else 'no':>9}")
    assert net == ckpt.net  # finetune returned new networks; the checkpoint is unchanged

    plot(args.plot, before, results, cal, chip.detector_noise)
    print(f"\nwrote {args.plot} ({time.time() - t0:.1f} s in all)")


def plot(path, before, results, cal, true_noise):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    names = list(results)
    means = [100 * results[m].mean for m in names]
    err = [[100 * (results[m].mean - results[m].low) for m in names],
           [100 * (results[m].high - results[m].mean) for m in names]]
    a.bar(names, means, yerr=err, capsize=4, color=["0.6", "tab:blue", "tab:orange"])
    a.axhline(100 * before.mean, color="k", ls="--", lw=1, label="before fine-tuning")
    a.set_ylim(min(means + [100 * before.mean]) - 3, max(means) + 3)
    a.set_ylabel("accuracy on the chip (%)")
    a.set_title("fine-tuned in situ (95% intervals)")
    a.legend(loc="upper left")
    layers = np.arange(len(cal.layers))
    est = [l.sites["sum_add"] for l in cal.layers]
    b.errorbar(layers, [e.value for e in est],
               yerr=[[e.value - e.low for e in est], [e.high - e.value for e in est]],
               fmt="o", capsize=4, label="calibrated (95% interval)")
    b.axhline(true_noise, color="k", ls="--", lw=1, label="true")
    b.set_xticks(layers, [f"layer {l}" for l in layers])
    b.set_ylabel("detector noise std")
    b.set_title("calibration of the toy chip")
    b.margins(x=0.3, y=0.3)
    b.legend(loc="upper left")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
