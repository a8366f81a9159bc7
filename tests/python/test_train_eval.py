"""Training, evaluation, checkpoints and numpy views, cross-checked against the CLI bit for bit."""

import json

import numpy as np
import pytest

import gift
from conftest import ARCH, run_cli


def test_train_matches_cli_byte_for_byte(tmp_path, data_dir):
    cli_out, py_out = tmp_path / "cli.safetensors", tmp_path / "py.safetensors"
    run_cli(["train", "--data-dir", data_dir, "--arch", ARCH, "--epochs", 2, "--batch-size", 32,
             "--seed", 7, "--lr", 0.003, "--noise-sum-add", "0.05,0.1", "--train-limit", 500,
             "--test-limit", 100, "--out", cli_out])
    ckpt = gift.new_checkpoint(ARCH, epochs=2, batch_size=32, seed=7, lr=0.003,
                               noise=gift.NoiseModel(2, sum_add=[0.05, 0.1]))
    train = gift.load_dataset("mnist", "train", str(data_dir), limit=500)
    seen = []
    summary = gift.train(ckpt, train, out=str(py_out), epoch_end=seen.append)
    assert [e.epoch for e in seen] == [1, 2] and len(summary.epochs) == 2
    assert ckpt.epochs_done == 2
    assert py_out.read_bytes() == cli_out.read_bytes()
    assert gift.load_checkpoint(str(cli_out)).net == ckpt.net


def test_evaluate_matches_cli_exactly(tmp_path, data_dir, trained):
    ckpt, path = trained
    report = tmp_path / "eval.json"
    run_cli(["eval", "--checkpoint", path, "--data-dir", data_dir, "--test-limit", 300,
             "--noise-out-add", 0.2, "--repeats", 4, "--seed", 9, "--json", report])
    rows = json.loads(report.read_text())["rows"]
    test = gift.load_dataset("mnist", "test", str(data_dir), limit=300)
    noises = [gift.NoiseModel(), ckpt.train.noise, gift.NoiseModel(2, out_add=0.2)]
    assert len(rows) == len(noises)
    for row, noise in zip(rows, noises):
        r = gift.evaluate(ckpt, test, noise=noise, repeats=4, seed=9)
        assert (r.mean, [r.low, r.high], r.stddev, r.loss) == (
            row["accuracy"], row["ci95"], row["stddev"], row["loss"])
    assert rows[1]["accuracy"] > 0.5  # the network learnt something: the test is not vacuous
    # One interval type: an EvalResult is a gift.Interval over noise draws, of `repeats` values.
    assert isinstance(r, gift.Interval) and (r.over, r.n) == ("noise draws", 4)


def test_resumed_training_equals_one_run(train_set):
    # constant learning rate: a cosine schedule spans the epochs asked for, so a run of 1 epoch
    # extended to 2 differs from a run of 2 (`gift train --resume` keeps the total instead)
    one = gift.new_checkpoint(ARCH, epochs=2, batch_size=50, seed=2, lr_schedule="constant")
    gift.train(one, train_set)
    two = gift.new_checkpoint(ARCH, epochs=1, batch_size=50, seed=2, lr_schedule="constant")
    gift.train(two, train_set)
    assert two.epochs_done == 1 and not two.net == one.net
    two.train.epochs = 2
    gift.train(two, train_set)
    assert two.net == one.net and two.optimizer_step == one.optimizer_step


def test_views_share_the_network_buffer(tmp_path, trained):
    ckpt = trained[0].copy()
    net = ckpt.net
    w0, b1 = net.weight(0), net.bias(1)
    assert w0.shape == (16, 64) and b1.shape == (10,) and w0.dtype == np.float32
    assert w0.base is not None and np.shares_memory(w0, net.params)
    assert net.params.size == net.arch.num_params
    w0[0, 0] = 0.25
    b1[:] = 0.5
    # the physical chain's layout: [W_0 | b_0 | g_0 | W_1 | b_1 | g_1]
    assert net.params[0] == np.float32(0.25) and np.all(net.params[-20:-10] == 0.5)
    g1 = net.gain(1)
    assert g1.shape == (10,) and np.shares_memory(g1, net.params)
    g1[:] = 2.0
    assert np.all(net.params[-10:] == 2.0)
    path = tmp_path / "edited.safetensors"
    ckpt.save(str(path))
    again = gift.load_checkpoint(str(path))
    assert again.net == net and again.train.noise == ckpt.train.noise
    assert again.dataset == "mnist" and again.epochs_done == 4
    del ckpt, net  # the view keeps its network alive
    assert w0[0, 0] == np.float32(0.25)


def test_options_have_the_cli_defaults():
    t = gift.TrainOptions()
    assert (t.epochs, t.batch_size, t.optimizer, t.lr, t.lr_schedule, t.seed) == (
        10, 128, "adam", 1e-3, "cosine", 1)
    f = gift.FinetuneOptions()
    assert (f.epochs, f.lr, f.holdout, f.fit_data, f.score, f.calib_inputs, f.calib_repeats,
            f.budget_gradients, f.budget_passes, f.rescale) == (
        30, 3e-3, 0.3, "train", "accuracy", 100, 16, 30000, 5000, True)
    assert gift.EvalOptions().repeats == 10
    with pytest.raises(TypeError, match="unknown option 'epoch'"):
        gift.TrainOptions(epoch=3)
    assert gift.FinetuneOptions(lr=0.01, score="loss").as_dict()["score"] == "loss"


def test_dataset_from_arrays_and_the_deprecated_labelled_set():
    x = np.arange(12, dtype=np.float32).reshape(3, 4) / 12
    y = np.array([0, 2, 1], np.int32)
    d = gift.Dataset(x, y)
    assert (len(d), d.num_classes, d.rows, d.cols) == (3, 10, 2, 2)
    assert np.array_equal(d.images, x) and np.array_equal(d.labels, y)
    assert gift.Dataset(x, y, num_classes=3, rows=1, cols=4).cols == 4
    with pytest.raises(gift.InputError, match=r"3 images but 2 labels"):
        gift.Dataset(x, y[:2])
    with pytest.raises(gift.InputError, match=r"class index 2 at position 1 is outside \[0, 2\)"):
        gift.Dataset(x, y, num_classes=2)
    with pytest.raises(gift.InputError, match=r"rows x cols must be the 4 pixels"):
        gift.Dataset(x, y, rows=3, cols=3)
    with pytest.warns(DeprecationWarning, match="gift.Dataset"):
        old = gift.LabelledSet(x, np.array([0, 12, 1]))  # the old set took any class index
    assert isinstance(old, gift.Dataset) and old.num_classes == 13
    calib, held_out = gift.lab_split(old, 1, seed=1)
    assert isinstance(calib, gift.Dataset) and len(calib) + len(held_out) == 3
    assert calib.num_classes == 13
