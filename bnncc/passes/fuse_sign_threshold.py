"""Pass: a float chain after a binary layer (BatchNorm, bias, scale, ..., then Sign,
BipolarQuant, MultiThreshold or bipolar Quant) becomes an integer ``Threshold``.

Matches: ``FloatChain`` ops with role ``activation`` on an int32 accumulator (after a
real-input layer the accumulator is float32: ``threshold_real_layer``).

Identity: the accumulator x is an integer with |x| <= K (and x = K mod 2 when the
layer's input is bipolar and unpadded: x = K - 2 popcount(a XOR w)).  The chain is a
composition of monotone float32 operations (``+c``, ``*c``, ``/c``, BatchNorm, clip),
ending in a monotone quantizer, so q(x) is monotone in x with values in {-a, 0, +a}.
We evaluate the *reference* chain (onnxruntime) at every reachable x and store, per
channel (or per element), the smallest x reaching each level:

    out = dir * ([x >= hi] + [x >= lo] - 1),     lo <= hi

dir = -1 where the chain decreases (negative BatchNorm gamma), lo = hi where no
reachable x gives 0 (a bipolar output), and constant channels (gamma = 0) use
lo = hi = INT32_MIN (always +dir) or INT32_MAX (never).  Ties are whatever the
reference does: ONNX ``Sign(0) = 0`` yields the 0 level (a ternary activation), while
``BipolarQuant``/``MultiThreshold`` map their tie to +a.  No float formula is trusted.

MaxPool inside the chain (Conv -> MaxPool -> BN -> Sign): with f1 the part before the
pool and h = q o f2 the part after, out = h(max f1(x)) = max h(f1(x)) where h is
non-decreasing and min h(f1(x)) where it is non-increasing, so the pool moves after the
threshold as a ``PoolBits`` with a per-channel max/min choice.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from ..frontend.pooling import pool_bits
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.types import DType
from .sweep import sweep

I32_MIN, I32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max


def reachable(g: Graph, op: O.FloatChain) -> np.ndarray:
    """All integers the accumulator feeding ``op`` can take."""
    k = op.acc_range
    producer = next(p for p in g.ops if p.output == op.inputs[0])
    bipolar = g.tensors[producer.inputs[0]].dtype is DType.BIPOLAR
    unpadded = not isinstance(producer, O.Conv2d) or producer.pads == (0, 0, 0, 0)
    if bipolar and unpadded:
        return np.arange(-k, k + 1, 2, dtype=np.int64)
    return np.arange(-k, k + 1, dtype=np.int64)


def levels(op: O.FloatChain, y: np.ndarray) -> np.ndarray:
    """Map the reference outputs to -1/0/+1, refusing anything else."""
    a = np.float32(op.level)
    q = np.zeros(y.shape, dtype=np.int8)
    q[y == a] = 1
    q[y == -a] = -1
    bad = ~((y == a) | (y == -a) | (y == 0))
    if bad.any():
        v = y[bad][0]
        raise UnsupportedError(f"quantizer output {float(v):g} is not one of -{a:g}, 0, +{a:g}", where=f"node '{op.name}'")
    return q


def thresholds(xs: np.ndarray, q: np.ndarray, where: str):
    """xs [R] increasing reachable values, q [R, n] levels -> dir, lo, hi arrays [n]."""
    d = np.diff(q.astype(np.int16), axis=0)
    inc = (d >= 0).all(axis=0)
    dec = (d <= 0).all(axis=0)
    if not (inc | dec).all():
        raise UnsupportedError("the activation is not monotone in the accumulator", where=where)
    dirs = np.where(inc, 1, -1).astype(np.int8)
    # vectorized over the n elements (a loop took minutes on a few million of them):
    # col is non-decreasing in x, so the first x with col >= t is where argmax finds True
    col = q.astype(np.int8) * dirs[None, :]
    big = np.int64(I32_MAX)
    ge0, ge1 = col >= 0, col >= 1
    hi = np.where(ge1.any(axis=0), xs[ge1.argmax(axis=0)], big).astype(np.int64)
    lo = np.where(ge0.any(axis=0), xs[ge0.argmax(axis=0)], big).astype(np.int64)
    lo = np.where((col == 0).any(axis=0), lo, hi)
    const = (col == col[:1]).all(axis=0)
    c = col[0]
    lo = np.where(const, np.where(c == 1, I32_MIN, np.where(c == -1, I32_MAX, I32_MIN)), lo)
    hi = np.where(const, np.where(c == 1, I32_MIN, I32_MAX), hi)
    return dirs, lo.astype(np.int32), hi.astype(np.int32)


def per_channel(arrs, shape):
    """Collapse per-element arrays (channel-last order) to per-channel when possible."""
    c = shape[-1]
    out = []
    for a in arrs:
        m = a.reshape(-1, c)
        if not (m == m[0]).all():
            return arrs, "element"
        out.append(m[0].copy())
    return tuple(out), "channel"


def _lower(g: Graph, op: O.FloatChain, tensors: dict) -> list[O.Op]:
    where = f"node '{op.name}'"
    xs = reachable(g, op)
    y = sweep(op, xs)
    q = levels(op, y)
    pools = [n for n in op.nodes if n.op_type == "MaxPool"]
    acc_t = g.tensors[op.inputs[0]]
    if not pools:
        dirs, lo, hi = thresholds(xs, q, where)
        # ONNX output element i is ONNX input element i; IR element j is ONNX out_perm[j]
        arrs, per = per_channel((dirs[op.out_perm], lo[op.out_perm], hi[op.out_perm]), acc_t.shape)
        ternary = bool((arrs[1] != arrs[2]).any())
        tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=DType.TERNARY if ternary else DType.BIPOLAR)
        return [O.Threshold(op.name, op.inputs, op.output, dir=arrs[0], lo=arrs[1], hi=arrs[2], per=per)]
    if len(pools) > 1:
        raise UnsupportedError("more than one MaxPool between two binary layers", where=where)
    # per channel: the output is constant over space because every input element is v
    c = op.onnx_out_shape[1]
    qc = q.reshape(len(xs), c, -1)
    if not (qc == qc[:, :, :1]).all():
        raise UnsupportedError("with MaxPool, the chain's constants must be per channel", where=where)
    dirs, lo, hi = thresholds(xs, qc[:, :, 0], where)
    pool = pools[0]
    prefix = list(op.nodes[: op.nodes.index(pool)])
    pin = pool.input[0]
    f1 = sweep(op, np.array([xs[0], xs[-1]]), nodes=prefix, out_name=pin) if prefix else None
    if f1 is None:
        d1 = np.ones(c, dtype=np.int8)
    else:
        f1c = f1.reshape(2, c, -1)[:, :, 0]
        d1 = np.sign(f1c[1].astype(np.float64) - f1c[0]).astype(np.int8)
    is_max = (dirs * d1) >= 0
    ternary = bool((lo != hi).any())
    dtype = DType.TERNARY if ternary else DType.BIPOLAR
    mid = f"{op.output}_pre"
    tensors[mid] = dataclasses.replace(acc_t, dtype=dtype)
    tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=dtype)
    return [
        O.Threshold(op.name, op.inputs, mid, dir=dirs, lo=lo, hi=hi, per="channel"),
        pool_bits(pool, (mid,), op.output, is_max),
    ]


def run(g: Graph, options=None) -> Graph:
    tensors = dict(g.tensors)
    new_ops: list[O.Op] = []
    for op in g.ops:
        if isinstance(op, O.FloatChain) and op.role == "activation" and g.tensors[op.inputs[0]].dtype is DType.INT32:
            # reachable() looks at the producer's input type, which earlier rewrites may have narrowed
            cur = g.replace(tensors=tensors, ops=tuple(new_ops) + (op,))
            new_ops.extend(_lower(cur, op, tensors))
        elif isinstance(op, O.PoolBits):
            tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=tensors[op.inputs[0]].dtype)
            new_ops.append(op)
        else:
            new_ops.append(op)
    return g.replace(tensors=tensors, ops=tuple(new_ops))
