"""Pass: fold the XNOR-popcount identity into the thresholds.

Matches: ``Dense`` or unpadded ``Conv2d`` with a bipolar input whose accumulator feeds
only a ``Threshold``.

Identity: with bit(+1) = 1, for a, w in {-1, +1}^K

    dot(a, w) = K - 2 * popcount(bits(a) XOR bits(w))    (= 2 * popcount(XNOR) - K)

so with q = popcount(a XOR w):  x >= t  <=>  K - 2q >= t  <=>  q < floor((K - t)/2) + 1.
A threshold ``dir * ([x >= hi] + [x >= lo] - 1)`` becomes
``-dir * ([q >= hi'] + [q >= lo'] - 1)`` with hi' = f(hi), lo' = f(lo),
f(t) = clamp(floor((K - t)/2) + 1, 0, K + 1); the kernel then compares the raw popcount
and skips the 2-multiply-subtract per output.  (Clamping keeps "always"/"never"
thresholds meaning the same: q is always in [0, K].)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.types import DType


def _f(t: np.ndarray, k: int) -> np.ndarray:
    t = t.astype(np.int64)
    return np.clip((k - t) // 2 + 1, 0, k + 1).astype(np.int32)


def run(g: Graph, options=None) -> Graph:
    users: dict[str, list] = {}
    for op in g.ops:
        for i in op.inputs:
            users.setdefault(i, []).append(op)
    rewrite: dict[int, O.Op] = {}
    for op in g.ops:
        if not isinstance(op, (O.Dense, O.Conv2d)) or op.acc != "dot":
            continue
        if g.tensors[op.inputs[0]].dtype is not DType.BIPOLAR:
            continue
        if isinstance(op, O.Conv2d) and op.pads != (0, 0, 0, 0):
            continue
        us = users.get(op.output, [])
        if len(us) != 1 or not isinstance(us[0], O.Threshold):
            continue
        th = us[0]
        k = int(op.weight[0].size)
        rewrite[id(op)] = dataclasses.replace(op, acc="xor_popcount")
        rewrite[id(th)] = dataclasses.replace(th, dir=(-th.dir).astype(np.int8), lo=_f(th.hi, k), hi=_f(th.lo, k))
    return g.replace(ops=tuple(rewrite.get(id(op), op) for op in g.ops))
