"""Progress callbacks and Ctrl-C: a long call stops cleanly, leaves what it finished whole, and a
second call resumes; Python's own SIGINT handler is back afterwards."""

import os
import signal
import threading
import time

import numpy as np
import pytest

import gift
from conftest import ARCH, run_cli
from test_device import NumpyChip, small_options


def fresh(epochs):
    return gift.new_checkpoint(ARCH, epochs=epochs, batch_size=50, seed=5)


def test_progress_is_reported(train_set):
    ckpt, seen = fresh(2), []
    gift.train(ckpt, train_set, progress=lambda done, total, loss: seen.append((done, total)))
    assert len(seen) == 2 * 12 and seen[0] == (50, 600) and seen[11] == (600, 600)
    assert seen[12] == (50, 600)


def test_callback_raising_keyboard_interrupt_keeps_the_last_epoch(tmp_path, train_set):
    out = tmp_path / "m.safetensors"
    ckpt = fresh(3)

    def progress(done, total, loss):
        if ckpt.epochs_done == 1 and done >= 300:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gift.train(ckpt, train_set, out=str(out), progress=progress)
    assert ckpt.epochs_done == 1 and gift.load_checkpoint(str(out)).net == ckpt.net
    gift.train(ckpt, train_set, out=str(out))  # resumes from epoch 1
    whole = fresh(3)
    gift.train(whole, train_set)
    assert ckpt.epochs_done == 3 and ckpt.net == whole.net


def test_sigint_during_training_stops_it(train_set):
    ckpt, sent = fresh(3), []

    def progress(done, total, loss):
        if ckpt.epochs_done == 1 and not sent:
            sent.append(done)
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends

    with pytest.raises(KeyboardInterrupt):
        gift.train(ckpt, train_set, progress=progress)
    assert sent and ckpt.epochs_done == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):  # Python's handler is installed again
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):
            pass


def test_sigint_from_a_python_chip_stops_finetuning(trained, train_set, test_set):
    ckpt = trained[0].copy()
    before = ckpt.net.params.copy()
    calib, _ = gift.lab_split(test_set, 120, seed=3)

    class Interrupting(NumpyChip):  # calls no gift function itself
        calls = 0

        def forward(self, x, taps):
            Interrupting.calls += 1
            if Interrupting.calls == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return super().forward(x, taps)

    with pytest.raises(KeyboardInterrupt):
        gift.finetune("hil", ckpt, Interrupting(ckpt.net.arch, 0.3), calib, train_set,
                      small_options())
    assert Interrupting.calls == 3  # stopped before the next device call (of about 20)
    assert np.array_equal(ckpt.net.params, before)


STUDY = {
    "dataset": "mnist", "arch": ARCH, "train": {"epochs": 1, "batch_size": 50, "limit": 300},
    "test_limit": 200, "eval_repeats": 2, "seeds": [1], "methods": ["none", "gift"],
    "grids": [{"name": "sum_add", "site": "sum_add", "assumed": [0.1], "true": [0.1, 0.3]}],
    "finetune": {"epochs": 1, "calib_size": 60, "calib_inputs": 20, "calib_repeats": 4,
                 "budget_gradients": 2000, "budget_passes": 800},
}


def rows(d):
    return (d / "results.jsonl").read_text().splitlines()


def test_interrupted_sweep_resumes_to_the_cli_rows(tmp_path, data_dir):
    import json
    study = dict(STUDY, data_dir=str(data_dir))
    stopped = tmp_path / "py"
    log, cells = [], []

    def progress(done, total, eta):
        cells.append(done)
        raise KeyboardInterrupt

    # Two workers: the callbacks come from worker threads; the other worker finishes its cell.
    with pytest.raises(KeyboardInterrupt):
        gift.sweep(study, stopped, jobs=2, log=log.append, progress=progress)
    finished = len(rows(stopped))
    assert cells[0] == 1 and len(cells) == finished in (1, 2)
    assert sum("trained" in l for l in log) == 2  # the networks at levels 0.1 and 0.3
    summary = gift.sweep(study, stopped, jobs=2)
    assert (summary.cells_total, summary.cells_skipped, summary.cells_run) == (
        4, finished, 4 - finished)
    (tmp_path / "study.json").write_text(json.dumps(study))
    run_cli(["sweep", "--study", tmp_path / "study.json", "--out", tmp_path / "cli", "--jobs", 1])

    def numbers(d):  # every field but the wall-clock time
        rows = gift.read_results(str(d))
        for r in rows:
            r.pop("digital_seconds")
        return sorted(rows, key=lambda r: r["key"])

    assert numbers(stopped) == numbers(tmp_path / "cli")
    report = gift.report(str(stopped))
    assert len(report["rows"]) == 4 and "gift" in report["text"]
    assert (stopped / "table.csv").exists()


def test_long_calls_release_the_gil(trained, test_set):
    """Python code runs while gift works: with the GIL held, no tick could fall inside the call."""
    call, done = [], threading.Event()

    def work():
        t0 = time.perf_counter()
        gift.evaluate(trained[0], test_set, repeats=1000)
        call.extend([t0, time.perf_counter()])
        done.set()

    t = threading.Thread(target=work)
    t.start()
    ticks = []
    while not done.is_set():
        ticks.append(time.perf_counter())
    t.join()
    # With the GIL held through the call, no tick falls inside it: one gap spans the whole call.
    # Released, ticks fall all along it; a loaded machine (other jobs on every core) delays the
    # ticking thread by milliseconds, never by half the call. So the test is the largest gap
    # between ticks across the call, not their count (which follows the machine's load).
    duration = call[1] - call[0]
    edges = [call[0]] + [x for x in ticks if call[0] < x < call[1]] + [call[1]]
    largest_gap = max(b - a for a, b in zip(edges, edges[1:]))
    assert len(edges) > 10 and largest_gap < 0.5 * duration, (len(edges), largest_gap, duration)
