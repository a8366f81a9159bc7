"""Fixtures of the gift Python tests: the gift module and CLI of the build tree (ctest sets
PYTHONPATH and GIFT_CLI; see python/CMakeLists.txt), a small synthetic data set in the MNIST file
layout (so the tests need no download), and helpers to run the CLI and compare with it."""

import os
import shlex
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import gift

SOURCE_DIR = Path(os.environ.get("GIFT_SOURCE_DIR", Path(__file__).resolve().parents[2]))
CLI = os.environ.get("GIFT_CLI", str(SOURCE_DIR / "build" / "gift"))
SIDE = 8  # images are SIDE x SIDE pixels: networks take 64 inputs
ARCH = "64-16-10"


def write_split(directory, prefix, n, seed, side=SIDE):
    """IDX files of n images: a dim random background and one bright pixel at the position of
    the class, so that a small network learns them in an epoch or two."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 40, (n, side * side)).astype(np.uint8)
    pixels[np.arange(n), labels.astype(int) * (side * side // 10)] = 255
    with open(directory / f"{prefix}-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, side, side) + pixels.tobytes())
    with open(directory / f"{prefix}-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.tobytes())


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    write_split(d, "train", 600, 1)
    write_split(d, "t10k", 400, 2)
    return d


@pytest.fixture(scope="session")
def train_set(data_dir):
    return gift.load_dataset("mnist", "train", str(data_dir))


@pytest.fixture(scope="session")
def test_set(data_dir):
    return gift.load_dataset("mnist", "test", str(data_dir))


@pytest.fixture(scope="session")
def trained(tmp_path_factory, train_set):
    """A checkpoint trained at sum_add 0.1 for 4 epochs, and its file."""
    path = tmp_path_factory.mktemp("model") / "model.safetensors"
    ckpt = gift.new_checkpoint(ARCH, epochs=4, batch_size=32, lr=0.01, seed=4,
                               noise=gift.NoiseModel(2, sum_add=0.1))
    gift.train(ckpt, train_set, out=str(path))
    return ckpt, path


def run_cli(args, cwd=None, check=True):
    """Runs the CLI; returns the CompletedProcess (text)."""
    r = subprocess.run([CLI] + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"{shlex.join([CLI] + [str(a) for a in args])} failed: {r.stderr}")
    return r


def cli_error(args):
    """The one-line message the CLI prints for args after 'gift: error: '."""
    r = run_cli(args, check=False)
    assert r.returncode != 0, r.stdout
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith("gift: error: "), line
    return line[len("gift: error: "):]
