"""Devices written in Python: calibration and every fine-tuning method through the trampoline,
compared with the built-in simulated device and with `gift finetune`; errors raised by a chip."""

import json

import numpy as np
import pytest

import gift
from conftest import run_cli

TRUE_NOISE = dict(sum_add=0.3)


class Relay(gift.Device):
    """A Python chip that passes every call to a simulated one: what gift computes through the
    Python boundary must equal what it computes on the simulated chip directly."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def info(self):
        i = self.inner.info()
        return gift.DeviceInfo(i.arch, i.taps, "relay")

    def program(self, net):
        self.inner.program(net)

    def forward(self, x, taps):
        return self.inner.forward(x, taps)


class NumpyChip(gift.Device):
    """A chip in numpy with the physical chain: relu layers saturating into [0, 1], Gaussian
    detector noise of std `sigma` on every optical sum, then each neuron's gain and bias."""

    def __init__(self, arch, sigma, seed=0):
        super().__init__()
        self.arch, self.sigma = arch, sigma
        self.rng = np.random.default_rng(seed)
        self.layers = None

    def info(self):
        return gift.DeviceInfo(self.arch, taps=True, name="numpy")

    def program(self, net):
        self.layers = [(net.weight(l).copy(), net.bias(l).copy(), net.gain(l).copy())
                       for l in range(net.num_layers)]

    def forward(self, x, taps):
        sums, h = [], x
        for l, (w, b, g) in enumerate(self.layers):
            u = h @ w.T + self.sigma * self.rng.standard_normal((len(x), len(b)))
            z = (g * u + b).astype(np.float32)
            sums.append(z)
            h = np.clip(z, 0, 1) if l + 1 < len(self.layers) else z
        return (sums, h) if taps else h


def simulated(net, seed=11, taps=True):
    return gift.SimulatedDevice(net.arch, gift.NoiseModel(net.num_layers, **TRUE_NOISE), seed=seed,
                                taps=taps)


def small_options(**kw):
    base = dict(epochs=2, calib_inputs=20, calib_repeats=4, calib_bootstrap=20,
                budget_gradients=4000, budget_passes=1500)
    base.update(kw)
    return gift.FinetuneOptions(**base)


def test_calibration_through_python_equals_simulated(trained, train_set):
    net = trained[0].net
    for taps in (True, False):
        opts = gift.CalibrationOptions(calib_inputs=30, calib_repeats=6, calib_bootstrap=50)
        direct = gift.calibrate(simulated(net, taps=taps), net, train_set, opts)
        relayed = gift.calibrate(Relay(simulated(net, taps=taps)), net, train_set, opts)
        assert relayed.to_json() == direct.to_json()
        assert direct.per_layer == taps


def test_numpy_chip_noise_is_found(trained, train_set):
    net = trained[0].net
    chip = NumpyChip(net.arch, sigma=0.3)
    c = gift.calibrate(chip, net, train_set, calib_inputs=60, calib_repeats=8)
    for layer in c.layers:
        est = layer.sites["sum_add"]
        assert est.low <= 0.3 <= est.high and abs(est.value - 0.3) < 0.05
    assert c.device_passes == 60 * 8


@pytest.mark.parametrize("method", gift.method_names())
def test_every_method_through_python_equals_simulated(method, trained, train_set, test_set):
    ckpt = trained[0]
    calib, _ = gift.lab_split(test_set, 120, seed=3)
    opts = small_options(seed=3, retrain_epochs=1)
    direct_net, direct = gift.finetune(method, ckpt, simulated(ckpt.net), calib, train_set, opts)
    relay = Relay(simulated(ckpt.net))
    relay_net, relayed = gift.finetune(method, ckpt, relay, calib, train_set, opts)
    assert relay_net == direct_net
    a, b = relayed.to_json(), direct.to_json()
    for timing in ("digital_seconds", "device_seconds"):
        a.pop(timing), b.pop(timing)
    assert a == b
    assert relay.counters().passes == direct.device_passes > 0


class Liar(Relay):
    """A relay whose counters() lie: budgets and reports must not believe it."""

    def __init__(self, inner, lie):
        super().__init__(inner)
        self.lie = lie

    def counters(self):
        return gift.DeviceCounters(self.lie, self.lie, self.lie)


@pytest.mark.parametrize("lie", [0, 1 << 60])
def test_budgets_count_what_was_sent_not_what_the_device_says(lie, trained, train_set, test_set):
    ckpt = trained[0]
    calib, _ = gift.lab_split(test_set, 120, seed=3)
    opts = small_options(seed=3, checks=3)
    inner = simulated(ckpt.net)
    liar = Liar(inner, lie)
    _, honest = gift.finetune("gift", ckpt, simulated(ckpt.net), calib, train_set, opts)
    _, r = gift.finetune("gift", ckpt, liar, calib, train_set, opts)
    assert r.device_passes == inner.counters().passes == honest.device_passes
    assert r.device_passes <= opts.budget_passes
    assert r.device_programmings == inner.counters().programmings


def test_finetune_matches_cli(tmp_path, data_dir, trained, train_set):
    ckpt, path = trained
    report = tmp_path / "report.json"
    run_cli(["finetune", "--checkpoint", path, "--data-dir", data_dir, "--method", "gift,hil",
             "--device-noise-sum-add", 0.3, "--device-seed", 11, "--calib-size", 120,
             "--calib-inputs", 20, "--calib-repeats", 4, "--calib-bootstrap", 20, "--epochs", 2,
             "--budget-gradients", 4000, "--budget-passes", 1500, "--seed", 3,
             "--eval-repeats", 3, "--report", report])
    rows = json.loads(report.read_text())["methods"]
    test = gift.load_dataset("mnist", "test", str(data_dir))
    calib, held_out = gift.lab_split(test, 120, seed=3)
    for row in rows:
        device = simulated(ckpt.net)
        tuned, rep = gift.finetune(row["method"], ckpt, device, calib, train_set,
                                   small_options(seed=3))
        # gift finetune judges every network on a fresh chip (common random numbers).
        after = gift.device_accuracy(simulated(ckpt.net), tuned, held_out, repeats=3)
        assert [after.mean, after.low, after.high] == row["test_accuracy_after"]
        assert rep.device_passes == row["device_passes"]
        assert rep.accepted == row["accepted"]


class Failing(Relay):
    def __init__(self, inner, after):
        super().__init__(inner)
        self.calls, self.after = 0, after

    def forward(self, x, taps):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("chip on fire")
        return super().forward(x, taps)


@pytest.mark.parametrize("method", ["gift", "hil"])
def test_a_raising_chip_leaves_the_network_unchanged(method, trained, train_set, test_set):
    ckpt = trained[0].copy()
    before = ckpt.net.params.copy()
    calib, _ = gift.lab_split(test_set, 120, seed=3)
    chip = Failing(simulated(ckpt.net), after=2)
    with pytest.raises(RuntimeError, match="^chip on fire$"):
        gift.finetune(method, ckpt, chip, calib, train_set, small_options())
    assert chip.calls == 3
    assert np.array_equal(ckpt.net.params, before)


def test_bad_chip_output_is_an_input_error(trained, train_set):
    net = trained[0].net

    class Short(Relay):
        def forward(self, x, taps):
            sums, out = super().forward(x, taps)
            return sums, out[:, :9]

    # calibration sends its 30 inputs once per call, 4 calls (its repeats are interleaved)
    with pytest.raises(gift.InputError, match=r"gift.Device.forward: out must be 30 x 10, "
                                              r"found 30 x 9"):
        gift.calibrate(Short(simulated(net)), net, train_set, calib_inputs=30, calib_repeats=4)

    class Missing(gift.Device):
        def info(self):
            return gift.DeviceInfo(net.arch)

    with pytest.raises(gift.InputError, match=r"must define program\(\)"):
        gift.calibrate(Missing(), net, train_set)


def test_calib_sites_choose_what_the_fit_may_find(trained, train_set):
    net = trained[0].net
    opts = gift.CalibrationOptions()
    assert opts.calib_sites == ["weight", "sum_mult", "sum_add", "out_add", "in_add", "drift"]
    opts.calib_sites = ["sum_add"]
    assert opts.calib_sites == ["sum_add"]
    with pytest.raises(gift.InputError, match="unknown noise site 'bogus'"):
        opts.calib_sites = ["bogus"]
    assert gift.FinetuneOptions(calib_sites=["sum_add", "shot"]).calib_sites == ["sum_add", "shot"]
    c = gift.calibrate(NumpyChip(net.arch, sigma=0.3), net, train_set, calib_inputs=30,
                       calib_repeats=6, calib_sites=["sum_add"])
    for layer in c.layers:
        assert layer.sites["weight"].high == 0 and layer.sites["sum_add"].value > 0
