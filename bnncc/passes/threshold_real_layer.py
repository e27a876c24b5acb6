"""Pass: the float chain after a first layer with real-valued input (BatchNorm, bias,
..., Sign / BipolarQuant / MultiThreshold) becomes a float32 ``Threshold``.

Matches: ``FloatChain`` ops with role ``activation`` whose input is the float32
accumulator of a ``Dense``/``Conv2d`` with ``acc="float"``.

Identity: the chain sees t = acc * s (s = weight magnitude per channel, the product
rounded to float32 as the reference would) and is monotone in t, hence in acc, with
values in {-a, 0, +a}.  ``float_search.step_rules`` finds, by binary search over all
float32 values of acc with the reference (onnxruntime) as the oracle, the two
thresholds with q(acc) = dir * ([acc >= hi] + [acc >= lo] - 1) for every finite acc.
So the compiled threshold equals the reference exactly *as a function of acc*; the
only remaining difference is acc itself, summed in a fixed order (``Dense`` docstring:
exact when the partial sums are representable, e.g. integer pixels).

The search covers |acc| <= B, B the largest power of two at which the chain before
the quantizer is still finite for every element (beyond it the reference itself
computes inf - inf = NaN); the outermost levels extend past B.

Constant channels (gamma = 0): +dir always is lo = hi = -inf, 0 always is lo = -inf,
hi = +inf.  MaxPool in the chain: evaluated with every element of a channel equal, so
rules come out per channel, and the pool moves after the threshold as ``PoolBits``
(max where the threshold and the part before the pool move the same way, else min),
as in ``fuse_sign_threshold``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import UnsupportedError
from ..frontend.pooling import pool_bits
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.types import DType
from ..onnx_eval import run_nodes
from .float_search import from_key, step_rules
from .fuse_sign_threshold import per_channel

INF = np.float32(np.inf)


def _encode(dirs, lo, hi, cval):
    """Fold step_rules' constant elements (dir 0) into dir/lo/hi."""
    const = dirs == 0
    lo = np.where(const, -INF, lo).astype(np.float32)
    hi = np.where(const & (cval == 0), INF, np.where(const, -INF, hi)).astype(np.float32)
    dirs = np.where(const, np.where(cval < 0, -1, 1), dirs).astype(np.int8)
    return dirs, lo, hi


def _run(op, x_onnx, nodes=None, out_name=None):
    (y,) = run_nodes(op.nodes if nodes is None else nodes, op.consts, op.opsets, op.onnx_in,
                     x_onnx.reshape(op.onnx_in_shape), [op.onnx_out if out_name is None else out_name])
    return np.asarray(y, np.float32)


def _finite_bound(op, scale, where) -> float:
    """The largest power of two B (<= 2**127) with a finite chain before the quantizer at +-B."""
    if len(op.nodes) < 2:
        return float(2.0**127)
    for e in range(127, -1, -1):
        ys = [_run(op, np.float32(v) * scale, op.nodes[:-1], op.nodes[-2].output[0]) for v in (-(2.0**e), 2.0**e)]
        if all(np.isfinite(y).all() for y in ys):
            return float(2.0**e)
    raise UnsupportedError("the chain before the quantizer is not finite even for small accumulators", where=where)


def _lower(g: Graph, op: O.FloatChain, tensors: dict) -> list[O.Op]:
    where = f"node '{op.name}'"
    acc_t = g.tensors[op.inputs[0]]
    scale = op.acc_scale.astype(np.float32)
    bound = _finite_bound(op, scale, where)
    pools = [n for n in op.nodes if n.op_type == "MaxPool"]
    if not pools:
        n = scale.size
        if int(np.prod(op.onnx_out_shape)) != n:
            raise UnsupportedError("the activation must be elementwise", where=where)
        dirs, lo, hi, cval, _ = step_rules(lambda k: _run(op, from_key(k) * scale).reshape(-1), n, op.level, where, bound)
        dirs, lo, hi = _encode(dirs, lo, hi, cval)
        (dirs, lo, hi), per = per_channel((dirs[op.out_perm], lo[op.out_perm], hi[op.out_perm]), acc_t.shape)
        dtype = DType.TERNARY if (lo != hi).any() else DType.BIPOLAR
        tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=dtype)
        return [O.Threshold(op.name, op.inputs, op.output, dir=dirs, lo=lo, hi=hi, per=per)]
    if len(pools) > 1:
        raise UnsupportedError("more than one MaxPool between two layers", where=where)
    c = op.onnx_in_shape[1]
    spatial = scale.size // c

    def per_chan(keys):  # every element of channel i set to from_key(keys[i])
        x = np.repeat(from_key(keys), spatial) * scale
        y = _run(op, x).reshape(c, -1)
        if not (y == y[:, :1]).all():
            raise UnsupportedError("with MaxPool, the chain's constants must be per channel", where=where)
        return y[:, 0]

    dirs, lo, hi, cval, _ = step_rules(per_chan, c, op.level, where, bound)
    dirs, lo, hi = _encode(dirs, lo, hi, cval)
    pool = pools[0]
    prefix = list(op.nodes[: op.nodes.index(pool)])
    d1 = np.ones(c, dtype=np.int8)
    if prefix:
        ends = [_run(op, np.repeat(np.full(c, v, np.float32), spatial) * scale, prefix, pool.input[0]).reshape(c, -1)[:, 0]
                for v in (-bound, bound)]
        d1 = np.sign(ends[1].astype(np.float64) - ends[0]).astype(np.int8)
        if (d1 == 0).any():
            raise UnsupportedError("cannot tell whether the ops before MaxPool increase or decrease", where=where)
    dtype = DType.TERNARY if (lo != hi).any() else DType.BIPOLAR
    mid = f"{op.output}_pre"
    tensors[mid] = dataclasses.replace(tensors[op.output], shape=acc_t.shape, dtype=dtype)
    tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=dtype)
    return [O.Threshold(op.name, op.inputs, mid, dir=dirs, lo=lo, hi=hi, per="channel"),
            pool_bits(pool, (mid,), op.output, (dirs * d1) >= 0)]


def run(g: Graph, options=None) -> Graph:
    tensors = dict(g.tensors)
    new_ops: list[O.Op] = []
    for op in g.ops:
        if isinstance(op, O.FloatChain) and op.role == "activation" and g.tensors[op.inputs[0]].dtype is DType.FLOAT32:
            new_ops.extend(_lower(g, op, tensors))
        elif isinstance(op, O.PoolBits):  # a pool after the quantizer keeps the narrowed dtype
            tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=tensors[op.inputs[0]].dtype)
            new_ops.append(op)
        else:
            new_ops.append(op)
    return g.replace(tensors=tensors, ops=tuple(new_ops))
