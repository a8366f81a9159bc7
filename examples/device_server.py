#!/usr/bin/python3
"""A gift device server in Python: the template for a lab's own chip.

It implements the external-device protocol of docs/device-protocol.md, written from that
document alone, for a noiseless simulated chip (numpy only). Replace Chip.program and
Chip.forward with calls into your hardware and every gift method runs on it, through
gift::ExternalDevice({"/usr/bin/python3", "examples/device_server.py", "--arch", "784-256-10"}).

Run by hand, it reads requests on stdin and writes replies on stdout; logs go to stderr
(stdout is the protocol channel: never print to it).

    usage: device_server.py [--arch 6-5-3] [--activation relu] [--w-max 1] [--no-taps]
                            [--chain physical|legacy]
"""

import argparse
import json
import struct
import sys

import numpy as np

MAGIC = b"GIFT"
HEADER = struct.Struct("<4sIQ")  # magic, uint32 type, uint64 payload length
MAX_PAYLOAD = 1 << 30
HELLO, PROGRAM, FORWARD, BYE = 1, 2, 3, 4
OK, INFO, OUTPUT, ERROR = 128, 129, 130, 255

ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, np.float32(0)),
    "sigmoid": lambda z: np.float32(1) / (np.float32(1) + np.exp(-z)),
    "tanh": np.tanh,
}


class ChipError(Exception):
    """A request the chip refuses: answered with ERROR, the session goes on."""


class Chip:
    """A noiseless chip, in float32. Physical chain (the default): z_l = g_l * (h W_l^T) + b_l,
    h_{l+1} = clip(act_l(z_l), 0, 1) (the modulator's range); legacy chain: z_l = h W_l^T + b_l,
    h_{l+1} = act_l(z_l)."""

    def __init__(self, sizes, activations, w_max, taps, chain="physical"):
        self.sizes, self.activations, self.w_max, self.taps = sizes, activations, w_max, taps
        self.chain = chain
        self.layers = None  # [(W (O x I), b (O,), g (O,) or None)] once programmed

    def info(self):
        return {
            "protocol": 1,
            "name": "python example (noiseless)",
            "taps": self.taps,
            "architecture": {"sizes": self.sizes, "activations": self.activations,
                             "w_max": self.w_max, "chain": self.chain},
        }

    def program(self, params):
        per_neuron = 2 if self.chain == "physical" else 1  # bias (and gain)
        expected = sum(o * (i + per_neuron) for i, o in zip(self.sizes[:-1], self.sizes[1:]))
        if params.size != expected:
            raise ChipError(f"PROGRAM carries {params.size} parameters, the chip has {expected}")
        if not np.all(np.isfinite(params)):
            raise ChipError("refusing to program weights holding NaN or inf")
        layers, at = [], 0
        for i, o in zip(self.sizes[:-1], self.sizes[1:]):
            w = params[at:at + o * i].reshape(o, i)
            at += o * i
            b = params[at:at + o]
            at += o
            g = None
            if self.chain == "physical":
                g = params[at:at + o].copy()
                at += o
                b = np.clip(b, -1.0, 1.0)
            layers.append((np.clip(w, -self.w_max, self.w_max).astype(np.float32), b.copy(), g))
        self.layers = layers

    def forward(self, x, taps):
        if self.layers is None:
            raise ChipError("forward before any weights were programmed")
        if taps and not self.taps:
            raise ChipError("this chip exposes only its final output")
        if x.shape[1] != self.sizes[0]:
            raise ChipError(f"input has {x.shape[1]} columns, the chip has {self.sizes[0]} inputs")
        sums, h = [], x
        last = len(self.layers) - 1
        for l, ((w, b, g), act) in enumerate(zip(self.layers, self.activations)):
            u = (h @ w.T).astype(np.float32)
            z = (u * g + b if g is not None else u + b).astype(np.float32)
            sums.append(z)
            h = ACTIVATIONS[act](z).astype(np.float32)
            if g is not None and l < last:
                h = np.clip(h, 0.0, 1.0).astype(np.float32)
        return (sums if taps else []) + [h]


def read_exact(stream, n):
    data = stream.read(n)
    return data if data is not None else b""


def send(out, msg_type, payload=b""):
    out.write(HEADER.pack(MAGIC, msg_type, len(payload)))
    out.write(payload)
    out.flush()


def decode_program(p):
    if len(p) < 8:
        raise ChipError("malformed PROGRAM payload: shorter than its 8-byte count")
    (count,) = struct.unpack_from("<Q", p, 0)
    if 8 + 4 * count != len(p):
        raise ChipError(f"malformed PROGRAM payload: {count} parameters in {len(p) - 8} bytes")
    return np.frombuffer(p, dtype="<f4", count=count, offset=8).astype(np.float32)


def decode_forward(p):
    if len(p) < 12:
        raise ChipError("malformed FORWARD payload: shorter than its 12-byte head")
    rows, cols, taps = struct.unpack_from("<IIB", p, 0)
    if cols < 1 or taps > 1 or p[9:12] != b"\0\0\0" or 12 + 4 * rows * cols != len(p):
        raise ChipError("malformed FORWARD payload")
    x = np.frombuffer(p, dtype="<f4", count=rows * cols, offset=12).astype(np.float32)
    return x.reshape(rows, cols), bool(taps)


def encode_output(mats):
    parts = [struct.pack("<I", len(mats))]
    for m in mats:
        parts.append(struct.pack("<II", m.shape[0], m.shape[1]))
        parts.append(np.ascontiguousarray(m, dtype="<f4").tobytes())
    return b"".join(parts)


def serve(chip, inp, out):
    while True:
        head = read_exact(inp, HEADER.size)
        if not head:
            return 1  # the client went away without BYE
        if len(head) < HEADER.size or head[:4] != MAGIC:
            print("device_server.py: malformed request header", file=sys.stderr)
            return 1
        _, msg_type, length = HEADER.unpack(head)
        if length > MAX_PAYLOAD:
            send(out, ERROR, b"malformed request: payload above 1 GiB")
            return 1
        payload = read_exact(inp, length)
        if len(payload) < length:
            print("device_server.py: the stream ended inside a request", file=sys.stderr)
            return 1
        try:
            if msg_type == HELLO:
                send(out, INFO, json.dumps(chip.info()).encode("utf-8"))
            elif msg_type == PROGRAM:
                chip.program(decode_program(payload))
                send(out, OK)
            elif msg_type == FORWARD:
                x, taps = decode_forward(payload)
                send(out, OUTPUT, encode_output(chip.forward(x, taps)))
            elif msg_type == BYE:
                send(out, OK)
                return 0
            else:
                raise ChipError(f"unknown request type {msg_type}")
        except ChipError as e:
            send(out, ERROR, str(e).encode("utf-8"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="784-256-128-64-32-10")
    ap.add_argument("--activation", default="relu", choices=sorted(ACTIVATIONS))
    ap.add_argument("--w-max", type=float, default=1.0)
    ap.add_argument("--no-taps", action="store_true")
    ap.add_argument("--chain", default="physical", choices=["physical", "legacy"])
    a = ap.parse_args()
    sizes = [int(s) for s in a.arch.replace(",", "-").split("-")]
    activations = [a.activation] * (len(sizes) - 2) + ["linear"]
    chip = Chip(sizes, activations, a.w_max, not a.no_taps, a.chain)
    return serve(chip, sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
