"""No number from NaN or inf (issue 21): a network holding them is not evaluated, and a Python
chip returning them is refused in scoring, calibration and fine-tuning, as an external server
sending the same values is."""

import numpy as np
import pytest

import gift

from test_device import Relay, simulated, small_options


class Poisoned(Relay):
    """A relay whose final output holds `bad` at (row 1, column 2) of every forward."""

    def __init__(self, inner, bad):
        super().__init__(inner)
        self.bad = bad

    def forward(self, x, taps):
        r = super().forward(x, taps)
        out = (r[1] if taps else r).copy()
        out[1, 2] = self.bad
        return (r[0], out) if taps else out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_network_holding_nan_or_inf_is_not_evaluated(trained, test_set, bad):
    net = trained[0].net.copy()
    assert gift.evaluate(net, test_set).mean > 0.5  # the same network, finite, is evaluated
    net.bias(1)[3] = bad
    with pytest.raises(gift.InputError, match=r"^evaluation: the network holds NaN or inf \(the "
                                              r"biases of layer 1\)"):
        gift.evaluate(net, test_set)


def test_noise_that_overflows_is_an_error_naming_it(trained, test_set):
    net = trained[0].net
    for level in (1e38, 1e300):  # finite in float32 (the noisy sums overflow), and not
        with pytest.raises(gift.InputError, match=r"evaluation: the logits of draw 1 hold NaN or "
                                                  r"inf: the noise \(sum_add=1e\+(38|300)\)"):
            gift.evaluate(net, test_set, noise=gift.NoiseModel(2, sum_add=level), repeats=2)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_python_chip_returning_nan_or_inf_is_not_scored(trained, test_set, bad):
    net = trained[0].net
    chip = Poisoned(simulated(net), bad)
    word = "NaN" if np.isnan(bad) else "inf"
    with pytest.raises(gift.InputError, match=rf"^device 'relay': returned {word} in the final "
                                              r"output of pass 1 \(row 1, column 2\); a device's "
                                              r"outputs must be finite$"):
        gift.device_accuracy(chip, net, test_set, repeats=2)


@pytest.mark.parametrize("method", ["none", "gift", "hil"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_python_chip_returning_nan_or_inf_is_not_fine_tuned_on(trained, train_set, test_set,
                                                                  method, bad):
    ckpt = trained[0].copy()
    before = ckpt.net.params.copy()
    calib, _ = gift.lab_split(test_set, 120, seed=3)
    chip = Poisoned(simulated(ckpt.net), bad)
    word = "NaN" if np.isnan(bad) else "inf"
    with pytest.raises(gift.InputError, match=rf"^device 'relay': returned {word} in the final "
                                              r"output \(row 1, column 2\)"):
        gift.finetune(method, ckpt, chip, calib, train_set, small_options())
    assert np.array_equal(ckpt.net.params, before)


def test_a_network_holding_nan_is_not_programmed_on_a_python_chip(trained, test_set):
    net = trained[0].net.copy()
    net.weight(0)[0, 0] = np.nan
    chip = Relay(simulated(trained[0].net))
    with pytest.raises(gift.InputError, match=r"^device 'relay': refusing to program weights "
                                              r"holding NaN or inf$"):
        gift.device_accuracy(chip, net, test_set)
