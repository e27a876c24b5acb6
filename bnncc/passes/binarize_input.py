"""Pass: the chain from the float graph input to the first quantizer becomes a
per-element comparison rule (``BinarizeInput``).

Matches: the ``FloatChain`` with role ``input`` (e.g. Reshape, Mul 2, Sub 1,
BipolarQuant; or Div 255, ..., MultiThreshold; or Sign).

Identity: the chain is elementwise and monotone in each input element, and float32 is
totally ordered, so each element's output is a step function of x with at most three
levels {-a, 0, +a}.  We find the steps by binary search over the float32 values, in the
order of their bit patterns, evaluating the *reference* chain (onnxruntime) at each probe:

    lo = the smallest float x with q(x) != q(-FLT_MAX)
    hi = the smallest float x with q(x) == q(+FLT_MAX)

which gives out = dir * ([x >= hi] + [x >= lo] - 1) exactly for every finite input
(dir = +1 for an increasing chain, -1 decreasing, 0 constant).  For 2(p/255) - 1 and
BipolarQuant this lands at the exact float32 image of pixel 128; for ``Sign`` the
interval [lo, hi) holds the inputs that map to exactly 0.  NaN and infinite inputs are
outside the contract.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.types import DType
from ..onnx_eval import run_nodes

FLT_MAX = np.finfo(np.float32).max


def to_key(x: np.ndarray) -> np.ndarray:
    bits = np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
    return np.where(bits >= 0, bits, -(bits & 0x7FFFFFFF))


def from_key(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _eval(op: O.FloatChain, keys: np.ndarray) -> np.ndarray:
    x = from_key(keys).reshape(op.onnx_in_shape)
    (y,) = run_nodes(op.nodes, op.consts, op.opsets, op.onnx_in, x, [op.onnx_out])
    return y.reshape(-1)


def _first_true(op, lo, hi, pred):
    """Per element, the smallest key in (lo, hi] where pred (monotone) holds; pred(hi) holds."""
    lo, hi = lo.copy(), hi.copy()
    while (hi - lo > 1).any():
        mid = lo + (hi - lo) // 2
        t = pred(_eval(op, mid))
        active = hi - lo > 1
        hi = np.where(active & t, mid, hi)
        lo = np.where(active & ~t, mid, lo)
    return hi


def _lower(op: O.FloatChain, tensors) -> O.BinarizeInput:
    n = int(np.prod(op.onnx_in_shape))
    if int(np.prod(op.onnx_out_shape)) != n:
        raise UnsupportedError("the input quantizer must see every input element once", where=f"node '{op.name}'")
    kmin = np.full(n, to_key(np.float32(-FLT_MAX)), dtype=np.int64)
    kmax = np.full(n, to_key(np.float32(FLT_MAX)), dtype=np.int64)
    f_lo, f_hi = _eval(op, kmin), _eval(op, kmax)
    a = np.float32(op.level)
    for v in (f_lo, f_hi):
        if not np.isin(v, (a, -a, 0)).all():
            raise UnsupportedError(f"input quantizer output {v[~np.isin(v, (a, -a, 0))][0]!r} is not in {{-{a:g}, 0, +{a:g}}}",
                                   where=f"node '{op.name}'")
    const = f_lo == f_hi
    k1 = _first_true(op, kmin, kmax, lambda y: y != f_lo)
    k2 = _first_true(op, kmin, kmax, lambda y: y == f_hi)
    mid_val = _eval(op, k1)
    before_hi = _eval(op, np.maximum(k2 - 1, kmin))
    three = (~const) & (k1 < k2)
    if (three & ((mid_val != 0) | (before_hi != 0))).any():
        raise UnsupportedError("the input quantizer has more than three levels", where=f"node '{op.name}'")
    dirs = np.where(const, 0, np.where(f_hi > f_lo, 1, -1)).astype(np.int8)
    lo = np.where(const, 0, from_key(k1)).astype(np.float32)
    hi = np.where(const, 0, from_key(k2)).astype(np.float32)
    cval = np.sign(f_lo).astype(np.int8)
    ternary = bool(three.any() or (const & (cval == 0)).any())
    tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=DType.TERNARY if ternary else DType.BIPOLAR)
    return O.BinarizeInput(op.name, op.inputs, op.output, dir=dirs, lo=lo, hi=hi, const=np.where(const, cval, 0).astype(np.int8),
                           perm=op.out_perm.astype(np.int64), level=float(a))


def run(g: Graph, options=None) -> Graph:
    tensors = dict(g.tensors)
    ops = tuple(_lower(op, tensors) if isinstance(op, O.FloatChain) and op.role == "input" else op for op in g.ops)
    return g.replace(tensors=tensors, ops=ops)
