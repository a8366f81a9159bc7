"""Errors are Python exceptions with the CLI's one-line messages."""

import numpy as np
import pytest

import gift
from conftest import ARCH, SIDE, cli_error, write_split


def test_bad_noise_level_has_the_cli_message(tmp_path, data_dir):
    expected = cli_error(["train", "--data-dir", data_dir, "--arch", ARCH, "--epochs", 1,
                          "--noise-sum-add", "-0.5", "--out", tmp_path / "m.safetensors"])
    with pytest.raises(gift.InputError) as e:
        gift.NoiseModel(2, sum_add=-0.5)
    assert str(e.value) == expected == "--noise-sum-add: expected values >= 0, found -0.5"
    assert isinstance(e.value, ValueError) and isinstance(e.value, gift.Error)
    with pytest.raises(gift.InputError, match=r"--noise-weight: expected 1 or 2 values \(one per layer\), found 3"):
        gift.NoiseModel(2, weight=[0.1, 0.2, 0.3])


def test_truncated_checkpoint_has_the_cli_message(tmp_path, data_dir, trained):
    whole = trained[1].read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole[: len(whole) // 2])
    expected = cli_error(["eval", "--checkpoint", cut, "--data-dir", data_dir])
    with pytest.raises(gift.InputError) as e:
        gift.load_checkpoint(str(cut))
    assert str(e.value) == expected and str(cut) in expected
    assert not (tmp_path / "cut.safetensors.tmp").exists()


def test_shape_mismatch_has_the_cli_message(tmp_path, trained):
    small = tmp_path / "small"
    small.mkdir()
    write_split(small, "t10k", 50, 3, side=SIDE // 2)
    expected = cli_error(["eval", "--checkpoint", trained[1], "--data-dir", small])
    test = gift.load_dataset("mnist", "test", str(small))
    with pytest.raises(gift.InputError) as e:
        gift.evaluate(trained[0], test)
    assert str(e.value) == expected
    assert "images have 16 pixels" in expected


def test_other_input_errors(trained):
    net = trained[0].net
    with pytest.raises(gift.InputError, match="unknown fine-tuning method 'magic'"):
        gift.finetune("magic", net, gift.SimulatedDevice(net.arch), ([[0.0] * 64], [0]))
    with pytest.raises(gift.InputError, match="expected a 2-D array"):
        gift.evaluate(net, [0.0] * 64, [1])
    with pytest.raises(gift.InputError, match="unknown noise site 'sum'"):
        gift.NoiseModel(2, sum=0.1)
    with pytest.raises(gift.InputError, match="weight_bits must be .* found 40"):
        gift.Imperfections(weight_bits=40)
    with pytest.raises(gift.InputError, match="crosstalk must be"):
        gift.Imperfections(crosstalk=0.5)
    with pytest.raises(gift.InputError, match="unknown DAC scale 'mid'"):
        gift.Imperfections(dac="mid")


def test_non_finite_data_is_refused_naming_where(trained):
    net = trained[0].net
    x = np.zeros((5, 64), np.float32)
    x[3, 7] = np.nan
    with pytest.raises(gift.InputError, match=r"images: expected finite numbers, found nan at row 3, column 7"):
        gift.evaluate(net, x, np.zeros(5, np.int32))
    x[3, 7] = np.inf
    with pytest.raises(gift.InputError, match=r"images: expected finite numbers, found inf at row 3"):
        gift.Dataset(x, np.zeros(5, np.int32))
    with pytest.raises(gift.InputError, match=r"inputs: expected finite numbers"):
        gift.calibrate(gift.SimulatedDevice(net.arch), net, x)
