"""gift: optical neural networks trained in silico, fine-tuned in situ (docs/python.md).

The compiled part is gift._gift (pybind11, over the C++ library); this file adds keyword
constructors for the option objects and accepts data sets (gift.Dataset) or (images, labels)
wherever gift takes labelled images. Names and defaults are the CLI's (gift <command> --help).

Long calls (train, evaluate, calibrate, finetune, device_accuracy, sweep) release the GIL and
honour Ctrl-C: they stop at their next stop point and raise KeyboardInterrupt, leaving what they
wrote whole (checkpoints, sweep rows) and the objects they were given as they were or at the
last finished step (a checkpoint at its last finished epoch).
"""

import warnings

import numpy as np

from . import _gift
from ._gift import *  # noqa: F401,F403  (the classes and functions of the extension)
from ._gift import (Architecture, CalibrationOptions, Checkpoint, Dataset, EvalOptions,
                    FinetuneOptions, NoiseModel, SweepConfig, TrainOptions)

__version__ = _gift.__version__

_OPTION_CLASSES = (TrainOptions, EvalOptions, CalibrationOptions, FinetuneOptions)


def _fields(obj):
    cls = type(obj)
    return [n for n in dir(cls) if not n.startswith("_") and isinstance(getattr(cls, n), property)]


def _with_keywords(cls):
    """Lets cls(**fields) set fields by name; an unknown name is a TypeError."""
    plain_init = cls.__init__

    def __init__(self, **fields):
        plain_init(self)
        known = _fields(self)
        for name, value in fields.items():
            if name not in known:
                raise TypeError(f"{cls.__name__}: unknown option '{name}' (options: "
                                f"{', '.join(known)})")
            setattr(self, name, value)

    def __repr__(self):
        parts = ", ".join(f"{n}={getattr(self, n)!r}" for n in _fields(self))
        return f"gift.{cls.__name__}({parts})"

    def as_dict(self):
        return {n: getattr(self, n) for n in _fields(self)}

    cls.__init__ = __init__
    cls.__repr__ = __repr__
    cls.as_dict = as_dict


for _cls in _OPTION_CLASSES:
    _with_keywords(_cls)


def _options(cls, options, fields):
    """options (an instance of cls, or None for the defaults) with fields set, as a copy."""
    out = cls()
    if options is not None:
        if not isinstance(options, cls):
            raise TypeError(f"options: expected gift.{cls.__name__}, found {type(options).__name__}")
        for n in _fields(out):
            setattr(out, n, getattr(options, n))
    for n, v in fields.items():
        if n not in _fields(out):
            raise TypeError(f"unknown {cls.__name__} option '{n}'")
        setattr(out, n, v)
    return out


def LabelledSet(images, labels):  # noqa: N802  (the old class's name)
    """Deprecated: gift.Dataset(images, labels), which every call that took a LabelledSet takes.

    Kept so that old scripts run; classes beyond 10 are allowed, as the old set allowed them."""
    warnings.warn("gift.LabelledSet is deprecated: use gift.Dataset(images, labels)",
                  DeprecationWarning, stacklevel=2)
    return _dataset(images, labels)


def _dataset(images, labels):
    """A gift.Dataset of numpy images and labels, with as many classes as its labels need."""
    labels = np.asarray(labels)
    known = labels.ndim == 1 and labels.size > 0 and labels.dtype.kind in "iu"
    return Dataset(images, labels, num_classes=max(10, int(labels.max()) + 1 if known else 0))


def _labelled(data, labels=None, what="data"):
    """A gift.Dataset from a Dataset, (images, labels) or images and labels."""
    if isinstance(data, Dataset):
        return data
    if labels is None and isinstance(data, tuple) and len(data) == 2:
        data, labels = data
    if labels is None:
        raise TypeError(f"{what}: expected a gift.Dataset or (images, labels)")
    return _dataset(data, labels)


def _network(net):
    return net.net if isinstance(net, Checkpoint) else net


def new_checkpoint(arch="784-256-128-64-32-10", activation="relu", w_max=1.0, options=None,
                   dataset="mnist", **train_options):
    """A fresh network initialised from the seed, as `gift train` starts one.

    arch: a gift.Architecture or widths as --arch writes them ("784-32-10").
    train_options: TrainOptions fields (epochs, batch_size, lr, noise, seed, ...)."""
    if not isinstance(arch, Architecture):
        arch = Architecture(arch, activation, w_max)
    return _gift.new_checkpoint(arch, _options(TrainOptions, options, train_options), dataset)


def train(checkpoint, data, labels=None, *, out=None, progress=None, epoch_end=None):
    """Trains checkpoint.net up to checkpoint.train.epochs (resuming at epochs_done).

    progress(done, total, loss) is called within each epoch, epoch_end(gift.EpochLog) after
    it; with out, the checkpoint is written after every epoch as `gift train --out` does. On
    Ctrl-C or an exception from a callback, the checkpoint holds the last finished epoch."""
    s = _labelled(data, labels, "train")
    return _gift.train(checkpoint, s.images, s.labels, out or "", progress, epoch_end)


def evaluate(net, data, labels=None, options=None, **eval_options):
    """Accuracy (gift.EvalResult: mean, low, high, ...) of a network (or checkpoint) under
    options.noise, Monte-Carlo over options.repeats noise draws, as `gift eval`."""
    s = _labelled(data, labels, "evaluate")
    return _gift.evaluate(_network(net), s.images, s.labels,
                          _options(EvalOptions, options, eval_options))


def calibrate(device, net, inputs, options=None, pattern=None, **calib_options):
    """Programs net on device and fits its noise from the first calib_inputs rows of inputs
    (images or a Dataset), as `gift calibrate`, which sends the lab's images:
    lab_split(test, n, seed)[0] with its --seed, the images finetune calibrates on."""
    if isinstance(inputs, Dataset):
        inputs = inputs.images
    return _gift.calibrate(device, _network(net), inputs,
                           _options(CalibrationOptions, options, calib_options),
                           pattern if pattern is not None else NoiseModel())


def finetune(method, net, device, calib, train=None, options=None, **finetune_options):
    """Fine-tunes a copy of net (a Network or a Checkpoint) in situ with `method` (one of
    gift.method_names()); returns (network, gift.FinetuneReport). net is never changed.

    calib: the lab's labelled images; train: the training set (retrain, fit_data="train").
    With a Checkpoint and no `assumed` given, assumed is the noise it was trained under, as
    `gift finetune` does."""
    o = _options(FinetuneOptions, options, finetune_options)
    if isinstance(net, Checkpoint) and "assumed" not in finetune_options and (
            options is None or not options.assumed.layers):
        o.assumed = net.train.noise
    if train is None:  # no training set: only the methods that fit the calibration set run
        train_set = Dataset(np.zeros((0, _network(net).arch.inputs), np.float32),
                            np.zeros(0, np.int32))
    else:
        train_set = _labelled(train, what="train")
    return _gift.finetune(method, _network(net), device, _labelled(calib, what="calib"),
                          train_set, o)


def device_accuracy(device, net, data, labels=None, repeats=5):
    """Accuracy of net on the device over `repeats` repeats of data (gift.DeviceAccuracy;
    each repeat sends every image through the chip once)."""
    return _gift.device_accuracy(device, _network(net), _labelled(data, labels), repeats)


def lab_split(test, n, seed=1):
    """(calib, eval) Datasets: n test images chosen by seed and the rest (--calib-size)."""
    return _gift.lab_split(_labelled(test, what="test"), n, seed)


def sweep(config, dir, jobs=0, max_cells=0, log=None, progress=None):
    """Runs or resumes the sweep of config (a gift.SweepConfig, or a study dict as
    `gift sweep --study` reads it) in dir; returns a gift.SweepSummary."""
    if not isinstance(config, SweepConfig):
        config = SweepConfig.from_json(config, "study")
    return _gift.sweep(config, str(dir), jobs, max_cells, log, progress)
