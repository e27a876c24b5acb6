"""The meaning of every IR op, as numpy.  This interpreter is the specification that
passes and backends must preserve: tests run it before and after each pass and demand
exact equality, and compare the generated C with it and with onnxruntime.

Values: float32 / int32 / int64 arrays; binary tensors as int8 arrays of -1/0/+1 in
the IR's channel-last layout (packing is a storage detail of the backends).
"""

from __future__ import annotations

import numpy as np

from ..onnx_eval import run_nodes
from . import ops as O
from .graph import Graph, conv_out_hw


def run(g: Graph, x: np.ndarray) -> np.ndarray:
    """Run one sample ``x`` (the ONNX input shape, batch 1 included or not)."""
    env = {g.input: np.asarray(x, dtype=np.float32).reshape(g.tensors[g.input].shape)}
    for op in g.ops:
        env[op.output] = EVAL[type(op)](op, *[env[i] for i in op.inputs]).reshape(g.tensors[op.output].shape)
    return env[g.output]


def float_chain(op: O.FloatChain, x):
    flat = np.asarray(x).reshape(-1)
    if op.role.startswith("input"):
        onnx_x = flat.astype(np.float32)
    else:
        onnx_x = flat[op.in_perm].astype(np.float32) * op.acc_scale
    (y,) = run_nodes(op.nodes, op.consts, op.opsets, op.onnx_in, onnx_x.reshape(op.onnx_in_shape), [op.onnx_out])
    y = y.reshape(-1)
    if op.role == "tail":
        return y.astype(np.float32)
    if op.role == "input_real":
        return y[op.out_perm].astype(np.float32)
    return np.sign(y[op.out_perm]).astype(np.int8)


def float_steps(op: O.FloatSteps, x):
    v = np.asarray(x, dtype=np.float32).reshape(-1)
    for kind, c in op.steps:
        v = apply_step(kind, v, c)
    return v[op.src]


def binarize_input(op: O.BinarizeInput, x):
    v = np.asarray(x, dtype=np.float32).reshape(-1)
    ge_lo, ge_hi = v >= op.lo, v >= op.hi
    val = ge_hi.astype(np.int8) + ge_lo.astype(np.int8) - 1
    out = np.where(op.dir == 0, op.const, op.dir * val).astype(np.int8)
    return out[op.perm]


def dense(op: O.Dense, a):
    if op.acc == "float":
        x = np.asarray(a, dtype=np.float32).reshape(-1)
        acc = np.zeros(op.weight.shape[0], dtype=np.float32)
        for k in range(x.size):  # the summation order is part of the semantics
            acc = (acc + op.weight[:, k].astype(np.float32) * x[k]).astype(np.float32)
        return acc
    a = np.asarray(a, dtype=np.int64).reshape(-1)
    w = op.weight.astype(np.int64)
    dot = w @ a if op.mst is None else mst_tree(op.mst, w, lambda wv: wv @ a)
    if op.acc == "xor_popcount":
        return ((a.size - dot) // 2).astype(np.int32)
    return dot.astype(np.int32)


def mst_tree(plan: O.MstPlan, w: np.ndarray, dot_with):
    """Output channels along the tree of ``plan`` (the specification of MST evaluation):
    a root is ``dot_with(w_j)``; a child j of p with difference set D and sign s
    (s = -1 for a complement edge) is ``s * (dot_p - 2 * dot_with(w_p * [k in D]))``,
    which equals dot_with(w_j) for any a in {-1, 0, +1} (mst_reorder's identity).
    Channels are evaluated in ``plan.order``; a parent must come first."""
    out: list = [None] * w.shape[0]
    for j in plan.order:
        p = int(plan.parent[j])
        if p < 0:
            out[j] = dot_with(w[j])
            continue
        if out[p] is None:
            raise ValueError(f"MST order evaluates channel {j} before its parent {p}")
        d = (w[j] == w[p]) if plan.comp[j] else (w[j] != w[p])
        s = -1 if plan.comp[j] else 1
        out[j] = s * (out[p] - 2 * dot_with(w[p] * d))
    return np.stack(out)


def _windows(a, kernel, strides, pads, dilations, out_hw, fill):
    """[OH, OW, kh, kw, C] view of the padded input (fill value where padded)."""
    h, w, c = a.shape
    t, l, b, r = pads
    big = np.full((h + t + b + strides[0] * out_hw[0] + 1, w + l + r + strides[1] * out_hw[1] + 1, c), fill, dtype=a.dtype)
    big[t:t + h, l:l + w] = a
    kh, kw = kernel
    out = np.empty(out_hw + (kh, kw, c), dtype=a.dtype)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilations[0], j * dilations[1]
            out[:, :, i, j] = big[y0:y0 + strides[0] * out_hw[0]:strides[0], x0:x0 + strides[1] * out_hw[1]:strides[1]][: out_hw[0], : out_hw[1]]
    return out


def conv2d(op: O.Conv2d, a):
    co, kh, kw, ci = op.weight.shape
    oh, ow = conv_out_hw(a.shape[0], a.shape[1], (kh, kw), op.strides, op.pads, op.dilations, False)
    if op.acc == "float":
        # ky, kx, ci order; a padded tap adds nothing (the kernel skips it)
        geo = ((kh, kw), op.strides, op.pads, op.dilations, (oh, ow))
        win = _windows(np.asarray(a, dtype=np.float32), *geo, 0)
        inside = _windows(np.ones(a.shape[:2] + (1,), dtype=bool), *geo, False)
        acc = np.zeros((oh, ow, co), dtype=np.float32)
        w = op.weight.astype(np.float32)
        for i in range(kh):
            for j in range(kw):
                for c in range(ci):
                    x = win[:, :, i, j, c][:, :, None]
                    acc = np.where(inside[:, :, i, j], (acc + x * w[None, None, :, i, j, c]).astype(np.float32), acc)
        return acc.astype(np.float32)
    win = _windows(np.asarray(a, dtype=np.int64), (kh, kw), op.strides, op.pads, op.dilations, (oh, ow), 0)
    if op.mst is None:
        dot = np.einsum("yxijc,oijc->yxo", win, op.weight.astype(np.int64))
    else:
        dot = np.moveaxis(mst_tree(op.mst, op.weight.astype(np.int64), lambda wv: np.einsum("yxijc,ijc->yx", win, wv)), 0, -1)
    if op.acc == "xor_popcount":
        return ((kh * kw * ci - dot) // 2).astype(np.int32)
    return dot.astype(np.int32)


def threshold(op: O.Threshold, x):
    x = np.asarray(x, dtype=np.float32 if op.lo.dtype == np.float32 else np.int64)
    shape = x.shape
    flat = x.reshape(-1, shape[-1]) if op.per == "channel" else x.reshape(1, -1)
    val = (flat >= op.hi).astype(np.int8) + (flat >= op.lo).astype(np.int8) - 1
    return (op.dir * val).astype(np.int8).reshape(shape)


def pool_bits(op: O.PoolBits, a):
    h, w, c = a.shape
    oh, ow = conv_out_hw(h, w, op.kernel, op.strides, op.pads, op.dilations, op.ceil_mode)
    # padded taps take a value that never wins: +2 for a min, -2 for a max
    hi = _windows(np.asarray(a, np.int8), op.kernel, op.strides, op.pads, op.dilations, (oh, ow), -2).max(axis=(2, 3))
    lo = _windows(np.asarray(a, np.int8), op.kernel, op.strides, op.pads, op.dilations, (oh, ow), 2).min(axis=(2, 3))
    return np.where(op.is_max, hi, lo).astype(np.int8)


def affine_out(op: O.AffineOut, x):
    acc = np.asarray(x).reshape(-1)[op.src]
    if op.lut is not None:
        return op.lut[np.arange(acc.size), acc.astype(np.int64) + op.acc_range]
    v = acc.astype(np.float32) * op.acc_scale
    for kind, c in op.steps:
        v = apply_step(kind, v, c)
    return v


def apply_step(kind, v, c):
    """One float32 step of a tail; numpy rounds each op as IEEE single precision."""
    with np.errstate(all="ignore"):
        if kind == "add":
            return (v + c).astype(np.float32)
        if kind == "sub":
            return (v - c).astype(np.float32)
        if kind == "rsub":
            return (c - v).astype(np.float32)
        if kind == "mul":
            return (v * c).astype(np.float32)
        if kind == "div":
            return (v / c).astype(np.float32)
        if kind == "rdiv":
            return (c / v).astype(np.float32)
        if kind == "max":
            return np.maximum(v, c).astype(np.float32)
        if kind == "min":
            return np.minimum(v, c).astype(np.float32)
    raise ValueError(kind)


def unpack(op: O.Unpack, a):
    return (np.asarray(a).reshape(-1)[op.src].astype(np.float32) * np.float32(op.level)).astype(np.float32)


def argmax(op: O.ArgMax, v):
    return np.array([int(np.argmax(np.asarray(v).reshape(-1)))], dtype=np.int64)


EVAL = {
    O.FloatChain: float_chain,
    O.BinarizeInput: binarize_input,
    O.FloatSteps: float_steps,
    O.Dense: dense,
    O.Conv2d: conv2d,
    O.Threshold: threshold,
    O.PoolBits: pool_bits,
    O.AffineOut: affine_out,
    O.Unpack: unpack,
    O.ArgMax: argmax,
}
