"""Pass: choose the word width and pack binary weights.

Matches: every binary tensor (gets ``word_bits``) and every ``Dense``/``Conv2d``
(gets ``packed`` weights).

Identity: bit(+1) = 1, bit(-1) = 0, channel c of a pixel in word c // W, bit c % W
(LSB first); each pixel starts a new word and unused tail bits are 0 in activations
and weights alike, so they add nothing to popcount(a XOR w) and the masked popcounts
of the ternary kernels.  A Dense layer reading a (H, W, C) map packs its weight
columns the same way, pixel by pixel.  A layer with real (float32) input packs only
its weight signs: a Dense one along its K inputs in order, a Conv one per tap along Cin.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import ops as O
from ..ir.graph import Graph


def pack(bits_pm1: np.ndarray, word_bits: int) -> np.ndarray:
    """Pack the last axis (±1 or -1/0/+1; bit = value > 0) into little-endian words."""
    b = (np.asarray(bits_pm1) > 0).astype(np.uint64)
    c = b.shape[-1]
    words = -(-c // word_bits)
    padded = np.zeros(b.shape[:-1] + (words * word_bits,), dtype=np.uint64)
    padded[..., :c] = b
    padded = padded.reshape(b.shape[:-1] + (words, word_bits))
    shifts = np.arange(word_bits, dtype=np.uint64)
    out = (padded << shifts).sum(axis=-1, dtype=np.uint64)
    return out.astype(np.uint32 if word_bits == 32 else np.uint64)


def run(g: Graph, options=None) -> Graph:
    wb = int((options or {}).get("word_bits", 64))
    tensors = {n: (dataclasses.replace(t, word_bits=wb) if t.dtype.is_binary else t) for n, t in g.tensors.items()}
    ops = []
    for op in g.ops:
        if isinstance(op, O.Dense) and op.acc == "float":  # real input: sign bits in input order
            op = dataclasses.replace(op, packed=pack(op.weight, wb))
        elif isinstance(op, O.Dense):
            in_t = tensors[op.inputs[0]]
            w = op.weight.reshape((op.weight.shape[0], in_t.pixels, in_t.channels))
            op = dataclasses.replace(op, packed=pack(w, wb).reshape(op.weight.shape[0], -1))
        elif isinstance(op, O.Conv2d):
            op = dataclasses.replace(op, packed=pack(op.weight, wb))
        ops.append(op)
    return g.replace(tensors=tensors, ops=tuple(ops))
