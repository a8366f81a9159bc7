#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.

Python standard library only; the output is deterministic (run it again, nothing changes).
Files named valid-* must be accepted by the target's main parser (fuzz_corpus_test.cc
checks this), bad-* are interesting invalid inputs. The formats are those of
docs/checkpoint-format.md, docs/device-protocol.md, include/gift/data/idx.h and
include/gift/experiment/{sweep,report}.h.

    python3 tests/fuzz/make_corpus.py            # (re)write the corpus
"""

import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0 keeps the bytes deterministic.
    return gzip.compress(data, compresslevel=6, mtime=0)


# --- IDX ----------------------------------------------------------------------------------------

def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def idx_corpus():
    images = idx(0x08, [3, 4, 4], bytes((i * 37) % 256 for i in range(48)))
    labels = idx(0x08, [3], bytes([7, 0, 9]))
    put("idx", "valid-images-ubyte", images)
    put("idx", "valid-labels-ubyte", labels)
    put("idx", "valid-sbyte", idx(0x09, [2, 2], bytes([0x80, 0x7F, 0, 1])))
    put("idx", "valid-short", idx(0x0B, [3], struct.pack(">3h", -2, 0, 300)))
    put("idx", "valid-int", idx(0x0C, [2, 1], struct.pack(">2i", -7, 1 << 30)))
    put("idx", "valid-float", idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1.0, 3.25, 0.0)))
    put("idx", "valid-double-4d", idx(0x0E, [1, 1, 1, 2], struct.pack(">2d", 1e-300, -2.5)))
    put("idx", "valid-images.gz", gz(images))
    put("idx", "valid-two-members.gz", gz(images[:20]) + gz(images[20:]))
    put("idx", "bad-truncated", images[:-5])
    put("idx", "bad-extra-byte", labels + b"\x00")
    put("idx", "bad-type-code", idx(0x0A, [2], b"\x00\x00"))
    put("idx", "bad-zero-dim", idx(0x08, [2, 0], b""))
    put("idx", "bad-five-dims", idx(0x08, [1, 1, 1, 1, 1], b"\x00"))
    put("idx", "bad-huge-dims", idx(0x0E, [0xFFFFFFFF] * 4, b""))
    put("idx", "bad-short-header", bytes([0, 0, 8, 3, 0, 0]))
    put("idx", "bad-gzip-truncated.gz", gz(images)[:-6])
    put("idx", "bad-gzip-trailing.gz", gz(labels) + b"garbage")
    corrupt = bytearray(gz(labels))
    corrupt[-8] ^= 0xFF  # the CRC
    put("idx", "bad-gzip-crc.gz", bytes(corrupt))
    put("idx", "bad-gzip-of-garbage.gz", gz(b"\x01\x02not an idx file"))


# --- safetensors and checkpoints ----------------------------------------------------------------

def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, values); laid out in the given order."""
    header, data = {}, b""
    for name, dtype, shape, values in tensors:
        fmt = "<%d%s" % (len(values), "f" if dtype == "F32" else "d")
        blob = struct.pack(fmt, *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def checkpoint(sizes=(4, 3, 2), activations=("relu", "linear"), optimizer=True, **meta_over):
    tensors, params = [], 0
    for l in range(len(sizes) - 1):
        i, o = sizes[l], sizes[l + 1]
        w = [((k * 7) % 11 - 5) / 10.0 for k in range(o * i)]
        b = [0.1 * k - 0.1 for k in range(o)]
        tensors.append(("layers.%d.weight" % l, "F32", [o, i], w))
        tensors.append(("layers.%d.bias" % l, "F32", [o], b))
        params += o * i + o
    if optimizer:
        tensors.append(("optimizer.m", "F32", [params], [0.001 * k for k in range(params)]))
        tensors.append(("optimizer.v", "F32", [params], [0.0001 * k for k in range(params)]))
    layers = len(sizes) - 1
    meta = {
        "format": "gift-checkpoint",
        "format_version": "1",
        "gift_version": "0.1.0",
        "architecture": json.dumps({"sizes": list(sizes), "activations": list(activations), "w_max": 1.0}),
        "noise": json.dumps({"weight": [0.05] * layers, "sum_mult": [0.0] * layers,
                             "sum_add": [0.1] * layers, "out_add": [0.0] * layers, "output_clip": 0.0}),
        "train": json.dumps({"epochs": 2, "schedule": "cosine", "batch_size": 16, "seed": 1,
                             "optimizer": {"kind": "adam", "lr": 0.001, "momentum": 0.9, "beta1": 0.9,
                                           "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}}),
        "seed": "1",
        "epochs_done": "2",
        "optimizer_step": "10",
        "dataset": "mnist",
    }
    meta.update(meta_over)
    return safetensors(tensors, meta)


def safetensors_corpus():
    put("safetensors", "valid-f32-f64-metadata", safetensors(
        [("a", "F64", [2], [1.5, -2.0]), ("b", "F32", [2, 2], [0.0, 1.0, -1.0, 3.5])],
        {"note": "seed"}))
    put("safetensors", "valid-empty", safetensors([]))
    put("safetensors", "valid-scalar-and-zero-extent", safetensors(
        [("s", "F64", [], [42.0]), ("z", "F32", [0, 3], [])], pad=False))
    put("safetensors", "valid-checkpoint", checkpoint())
    put("safetensors", "valid-checkpoint-no-optimizer", checkpoint((3, 2), ("linear",), optimizer=False))
    good = safetensors([("a", "F32", [2], [1.0, 2.0])])
    put("safetensors", "bad-truncated", good[:-3])
    put("safetensors", "bad-header-length", struct.pack("<Q", 1 << 40) + good[8:])
    put("safetensors", "bad-duplicate-key",
        struct.pack("<Q", 64) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}}'.ljust(64)
        + b"\x00" * 4)
    hdr = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}'
    put("safetensors", "bad-overlapping-offsets", struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 6)
    hdr = b'{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}'
    put("safetensors", "bad-dtype", struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 2)
    hdr = b'{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}'
    put("safetensors", "bad-shape-overflow", struct.pack("<Q", len(hdr)) + hdr + b"\x00" * 4)
    hdr = b'{"a\x00":{}}'
    put("safetensors", "bad-nul-in-header", struct.pack("<Q", len(hdr)) + hdr)
    put("safetensors", "bad-checkpoint-format", checkpoint(format="other"))
    put("safetensors", "bad-checkpoint-weight-beyond-w_max", checkpoint(
        architecture=json.dumps({"sizes": [4, 3, 2], "activations": ["relu", "linear"], "w_max": 0.1})))
    put("safetensors", "bad-checkpoint-noise", checkpoint(noise='{"weight": [1]}'))


# --- sweep configs ------------------------------------------------------------------------------

def sweep_config_corpus():
    small = {"dataset": "mnist", "arch": "784-128-64-10", "activation": "relu",
             "train": {"epochs": 5, "batch_size": 128, "lr": 0.001, "limit": 20000},
             "test_limit": 5000,
             "grids": [{"site": "sum_add", "assumed": [0.1], "true": [0.1, 1, 2]}],
             "seeds": [1], "methods": ["none", "gift", "hil", "retrain"],
             "finetune": {"epochs": 10, "retrain_epochs": 1, "calib_size": 1000},
             "eval_repeats": 3}
    put("sweep_config", "valid-small.json", json.dumps(small, indent=1))
    full = {"dataset": "mnist", "arch": "784-256-128-64-32-10", "activation": "relu",
            "train": {"epochs": 20, "batch_size": 128, "lr": 0.001},
            "grids": [{"site": "sum_add", "assumed": [0.1, 1.0], "true": [0.1, 0.5, 1, 2, 3]},
                      {"name": "combined", "pattern": {"sum_add": 1.0, "weight": 0.2},
                       "assumed": [0.1], "true": [0.5, 1, 2]}],
            "seeds": [1, 2, 3], "methods": ["none", "gift", "hil", "retrain"],
            "finetune": {"epochs": 30, "lr": 0.003, "calib_size": 1000, "retrain_epochs": 5,
                         "holdout": 0.3, "score": "accuracy"},
            "eval_repeats": 5, "device": {"gain_std": 0.0, "weight_bits": 0}}
    put("sweep_config", "valid-readme.json", json.dumps(full))
    tiny = {"dataset": "mnist", "data_dir": "/tmp/x", "arch": "16-12-10", "activation": "tanh",
            "w_max": 0.5, "train": {"epochs": 1, "batch_size": 8, "lr": 0.01, "limit": 40},
            "test_limit": 20, "grids": [{"name": "w", "pattern": {"weight": [0.1, 0.2]},
                                         "assumed": [0], "true": [0.5]}],
            "seeds": [7], "methods": ["gift"],
            "finetune": {"epochs": 1, "retrain_epochs": 1, "batch_size": 4, "score_repeats": 2,
                         "accept_z": 1.0, "holdout": 0.25, "score": "loss", "calib_inputs": 8,
                         "calib_repeats": 2, "calib_size": 20},
            "eval_repeats": 2, "device": {"gain_std": 0.01, "weight_bits": 6}}
    put("sweep_config", "valid-every-key.json", json.dumps(tiny))
    put("sweep_config", "bad-unknown-key.json", json.dumps(dict(small, colour="blue")))
    put("sweep_config", "bad-no-grids.json", json.dumps({k: v for k, v in small.items() if k != "grids"}))
    put("sweep_config", "bad-negative-level.json",
        json.dumps(dict(small, grids=[{"site": "sum_add", "assumed": [-1], "true": [1]}])))
    put("sweep_config", "bad-types.json", '{"arch": 784, "seeds": "one", "grids": [{"site": 3}]}')
    put("sweep_config", "bad-site.json", json.dumps(dict(small, grids=[{"site": "nowhere", "assumed": [1], "true": [1]}])))
    put("sweep_config", "bad-not-json.json", '{"dataset": "mnist",')
    put("sweep_config", "bad-deep.json", "[" * 100 + "]" * 100)


# --- results rows -------------------------------------------------------------------------------

def row(**over):
    r = {"key": "sum_add|0.1|1|1|gift", "grid": "sum_add", "assumed": 0.1, "true": 1.0, "seed": 1,
         "method": "gift", "dataset": "mnist", "acc_before": 0.85, "acc_before_ci": [0.84, 0.86],
         "acc_after": 0.9, "acc_after_ci": [0.89, 0.91], "acc_oracle": 0.97,
         "acc_oracle_ci": [0.965, 0.975], "relative_improvement": 0.0588, "recovery": 0.4166,
         "device_passes": 21000, "device_programmings": 31, "sample_gradients": 21000,
         "digital_seconds": 1.25, "accepted": True}
    r.update(over)
    return json.dumps(r)


def results_corpus():
    put("results", "valid-row.json", row())
    put("results", "valid-row-null-recovery.json", row(recovery=None, method="none", key="sum_add|0.1|1|1|none"))
    put("results", "valid-results.jsonl",
        "\n".join([row(), "", row(method="hil", key="sum_add|0.1|1|1|hil", accepted=False), row()]) + "\n"
        + row(method="retrain")[:40])
    put("results", "bad-missing-field.json", row().replace('"accepted": true', '"other": 1'))
    put("results", "bad-accuracy-range.json", row(acc_after=1.5))
    put("results", "bad-negative-count.json", row(device_passes=-1))
    put("results", "bad-line.jsonl", row() + "\n{not json}\n")
    put("results", "bad-types.json", row(seed="one", acc_before_ci=[1]))


# --- the device protocol ------------------------------------------------------------------------

def message(mtype, payload=b""):
    return b"GIFT" + struct.pack("<IQ", mtype, len(payload)) + payload


def protocol_corpus():
    info = json.dumps({"protocol": 1, "name": "simulated", "taps": True,
                       "architecture": {"sizes": [4, 3, 2], "activations": ["relu", "linear"],
                                        "w_max": 1.0}}).encode()
    program = struct.pack("<Q", 5) + struct.pack("<5f", 0.1, -0.2, 0.3, 0.0, 1.0)
    forward = struct.pack("<II", 2, 3) + b"\x01\x00\x00\x00" + struct.pack("<6f", *range(6))
    output = (struct.pack("<I", 2) + struct.pack("<II", 2, 1) + struct.pack("<2f", 0.5, -0.5)
              + struct.pack("<II", 2, 2) + struct.pack("<4f", 1, 2, 3, 4))
    put("protocol", "valid-0-header", b"\x00" + message(3, b"")[:16])
    put("protocol", "valid-1-info", b"\x01" + info)
    put("protocol", "valid-2-program", b"\x02" + program)
    put("protocol", "valid-3-forward", b"\x03" + forward)
    put("protocol", "valid-4-output", b"\x04" + output)
    put("protocol", "valid-5-error", b"\x05" + "device on fire\nline two \xe2\x9c\x93".encode())
    put("protocol", "valid-6-empty", b"\x06")
    put("protocol", "valid-7-stream", b"\x07" + message(1) + message(129, info) + message(2, program)
        + message(128) + message(3, forward) + message(130, output) + message(255, b"oops")
        + message(4) + message(128))
    put("protocol", "bad-0-magic", b"\x00" + b"GIFX" + struct.pack("<IQ", 1, 0))
    put("protocol", "bad-0-length", b"\x00" + b"GIFT" + struct.pack("<IQ", 2, (1 << 30) + 1))
    put("protocol", "bad-1-protocol-version", b"\x01" + info.replace(b'"protocol": 1', b'"protocol": 2'))
    put("protocol", "bad-2-count", b"\x02" + struct.pack("<Q", 1 << 62) + b"\x00" * 4)
    put("protocol", "bad-3-padding", b"\x03" + forward[:9] + b"\x01" + forward[10:])
    put("protocol", "bad-4-overflow", b"\x04" + struct.pack("<III", 1, 0xFFFFFFFF, 0xFFFFFFFF))
    put("protocol", "bad-7-cut-payload", b"\x07" + message(2, program)[:-3])
    put("protocol", "bad-7-huge-length", b"\x07" + b"GIFT" + struct.pack("<IQ", 3, 1 << 30) + b"\x00" * 8)


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    idx_corpus()
    safetensors_corpus()
    sweep_config_corpus()
    results_corpus()
    protocol_corpus()
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(CORPUS) for f in fs)
    count = sum(len(fs) for _, _, fs in os.walk(CORPUS))
    print("wrote %d files, %d bytes, under %s" % (count, total, CORPUS))


if __name__ == "__main__":
    main()
