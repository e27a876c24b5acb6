"""``Graph``: a sequential SSA program over typed tensors; ``verify`` and ``dump``."""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import BnnccError
from . import ops as O
from .types import DType, TensorType

STEP_KINDS = ("add", "sub", "rsub", "mul", "div", "rdiv", "max", "min")


@dataclass(frozen=True)
class Graph:
    name: str
    input: str
    output: str
    tensors: dict[str, TensorType]
    ops: tuple[O.Op, ...]
    input_onnx_shape: tuple[int, ...]   # batch included (always 1)
    output_onnx_shape: tuple[int, ...]
    source: str = ""
    meta: dict = field(default_factory=dict)

    def replace(self, **kw) -> "Graph":
        return dataclasses.replace(self, **kw)

    def type_of(self, name: str) -> TensorType:
        return self.tensors[name]


class VerifyError(BnnccError):
    """The IR broke an invariant: a bug in a pass, never the user's fault."""


def _check(cond, op, msg):
    if not cond:
        raise VerifyError(f"IR verifier: {op.kind} '{op.name}': {msg}")


def _pm1(a) -> bool:
    return a is not None and np.isin(a, (-1, 1)).all()


def verify(g: Graph) -> Graph:
    """Check the invariants of ``g``; return it unchanged so passes can chain."""
    defined = {g.input}
    if g.input not in g.tensors or g.tensors[g.input].dtype is not DType.FLOAT32:
        raise VerifyError("IR verifier: graph input must be a float32 tensor")
    for op in g.ops:
        for i in op.inputs:
            _check(i in defined, op, f"input '{i}' is used before it is defined")
        _check(op.output not in defined, op, f"output '{op.output}' is defined twice")
        _check(op.output in g.tensors, op, f"output '{op.output}' has no type")
        ins = [g.tensors[i] for i in op.inputs]
        out = g.tensors[op.output]
        _verify_op(op, ins, out)
        defined.add(op.output)
    _check(g.output in defined, g.ops[-1] if g.ops else O.Op("graph", (), ""), "graph output is never defined")
    return g


def _verify_op(op, ins, out):
    if isinstance(op, O.FloatChain):
        _check(len(ins) == 1, op, "takes one input")
        _check(op.role in ("input", "input_real", "activation", "tail"), op, f"bad role {op.role}")
        if op.role.startswith("input"):
            _check(ins[0].dtype is DType.FLOAT32, op, "input dtype does not fit role")
        else:
            _check(ins[0].dtype in (DType.INT32, DType.FLOAT32), op, "input dtype does not fit role")
        if op.role == "input_real":
            _check(out.dtype is DType.FLOAT32, op, "an input_real chain produces float32")
        elif op.role != "tail":
            _check(out.dtype.is_binary, op, "a chain ending in a quantizer produces a binary tensor")
    elif isinstance(op, O.FloatSteps):
        _check(ins[0].dtype is DType.FLOAT32 and out.dtype is DType.FLOAT32, op, "float32 -> float32")
        _check(op.src is not None and np.array_equal(np.sort(op.src), np.arange(out.numel)), op, "src is a permutation")
        for kind, c in op.steps:
            _check(kind in STEP_KINDS and c.shape == (out.numel,), op, f"bad step {kind}")
    elif isinstance(op, O.BinarizeInput):
        n = out.numel
        _check(ins[0].dtype is DType.FLOAT32 and out.dtype.is_binary, op, "float32 -> binary")
        for a in (op.dir, op.lo, op.hi, op.const, op.perm):
            _check(a is not None and a.shape == (n,), op, "rule arrays must have one entry per element")
        _check(((op.lo <= op.hi) | (op.dir == 0)).all(), op, "lo <= hi")
        _check(np.array_equal(np.sort(op.perm), np.arange(n)), op, "perm is not a permutation")
    elif isinstance(op, (O.Dense, O.Conv2d)):
        a = ins[0]
        _check(op.acc in ("dot", "xor_popcount", "float"), op, f"bad acc {op.acc}")
        if op.acc == "float":
            _check(a.dtype is DType.FLOAT32 and out.dtype is DType.FLOAT32, op, "acc=float maps float32 -> float32")
        else:
            _check(a.dtype.is_binary, op, f"input must be binary, got {a}")
            _check(out.dtype is DType.INT32, op, "output must be int32")
        _check(_pm1(op.weight), op, "weights must be ±1")
        if op.acc == "xor_popcount":
            _check(a.dtype is DType.BIPOLAR, op, "xor_popcount needs a bipolar input")
        if isinstance(op, O.Dense):
            _check(op.weight.shape == (out.numel, a.numel), op, f"weight {op.weight.shape} vs {a} -> {out}")
            _check(len(out.shape) == 1, op, "output is a vector")
        else:
            co, kh, kw, ci = op.weight.shape
            _check(len(a.shape) == 3 and a.shape[2] == ci, op, f"input {a} does not match Cin={ci}")
            oh, ow = _conv_out(a.shape[0], a.shape[1], (kh, kw), op.strides, op.pads, op.dilations, False)
            _check(out.shape == (oh, ow, co), op, f"output {out} should be ({oh}, {ow}, {co})")
            if op.acc == "xor_popcount":
                _check(op.pads == (0, 0, 0, 0), op, "xor_popcount cannot see padding")
        if op.mst is not None:
            _verify_mst(op, op.weight.shape[0])
        if op.packed is not None and op.acc == "float":
            wb = op.packed.dtype.itemsize * 8
            n = a.numel if isinstance(op, O.Dense) else a.channels
            _check(op.packed.shape[-1] == -(-n // wb), op, "packed weights do not match the input size")
        elif op.packed is not None:
            words = a.plane_words if isinstance(op, O.Dense) else a.words_per_pixel
            _check(a.word_bits and op.packed.shape[-1] == words, op, "packed weights do not match input words")
    elif isinstance(op, O.Threshold):
        _check(ins[0].dtype in (DType.INT32, DType.FLOAT32) and out.dtype.is_binary, op, "int32/float32 -> binary")
        _check(op.lo.dtype == op.hi.dtype == (np.float32 if ins[0].dtype is DType.FLOAT32 else np.int32), op,
               "lo/hi have the input's type")
        _check(ins[0].shape == out.shape, op, "shape preserved")
        n = out.channels if op.per == "channel" else out.numel
        for a in (op.dir, op.lo, op.hi):
            _check(a is not None and a.shape == (n,), op, f"parameter arrays must have {n} entries")
        _check(np.isin(op.dir, (-1, 1)).all(), op, "dir must be ±1")
        _check((op.lo.astype(np.float64) <= op.hi).all(), op, "lo <= hi")
        if out.dtype is DType.BIPOLAR:
            _check(np.array_equal(op.lo, op.hi), op, "a bipolar output needs lo == hi")
    elif isinstance(op, O.PoolBits):
        a = ins[0]
        _check(a.dtype.is_binary and out.dtype.is_binary, op, "binary -> binary")
        _check(out.dtype is a.dtype, op, "pooling keeps the dtype")
        _check(op.is_max is not None and op.is_max.shape == (a.channels,), op, "is_max per channel")
    elif isinstance(op, O.AffineOut):
        _check(ins[0].dtype is DType.INT32 and out.dtype is DType.FLOAT32, op, "int32 -> float32")
        _check(op.src is not None and op.src.shape == (out.numel,), op, "src per output element")
        _check(op.lut is None or not op.steps, op, "steps and lut exclude each other")
        if op.lut is not None:
            _check(op.lut.shape == (out.numel, 2 * op.acc_range + 1), op, "lut shape")
    elif isinstance(op, O.Unpack):
        _check(ins[0].dtype.is_binary and out.dtype is DType.FLOAT32, op, "binary -> float32")
        _check(op.src is not None and op.src.shape == (out.numel,), op, "src per output element")
    elif isinstance(op, O.ArgMax):
        _check(ins[0].dtype is DType.FLOAT32 and out.dtype is DType.INT64 and out.numel == 1, op, "float32 -> int64[1]")
    else:
        _check(False, op, "unknown op")


def mst_depths(plan: O.MstPlan) -> np.ndarray:
    """Depth of every channel in an MST plan (roots 0), assuming parents come first in order."""
    depth = np.zeros(plan.parent.shape, dtype=np.int64)
    for j in plan.order:
        if plan.parent[j] >= 0:
            depth[j] = depth[plan.parent[j]] + 1
    return depth


def _verify_mst(op, n):
    m = op.mst
    _check(op.acc in ("dot", "xor_popcount"), op, "an MST plan needs a binary input")
    for a in (m.order, m.parent, m.comp):
        _check(a is not None and a.shape == (n,), op, f"MST arrays must have {n} entries")
    _check(np.array_equal(np.sort(m.order), np.arange(n)), op, "MST order is not a permutation")
    _check(((m.parent >= -1) & (m.parent < n)).all(), op, "MST parent out of range")
    pos = np.empty(n, dtype=np.int64)
    pos[m.order] = np.arange(n)
    kids = m.parent >= 0
    _check((pos[m.parent[kids]] < pos[kids]).all(), op, "MST order puts a child before its parent")
    _check(not m.comp[~kids].any(), op, "a root cannot be a complement")
    _check(m.metric in ("bits", "cycles"), op, f"bad MST metric {m.metric}")
    _check(int(mst_depths(m).max(initial=0)) == m.depth, op, "MST depth does not match the tree")


def _conv_out(h, w, k, s, p, d, ceil_mode):
    def one(n, k, s, p0, p1, d):
        span = d * (k - 1) + 1
        num = n + p0 + p1 - span
        q = -(-num // s) if ceil_mode else num // s
        return q + 1
    return one(h, k[0], s[0], p[0], p[2], d[0]), one(w, k[1], s[1], p[1], p[3], d[1])


conv_out_hw = _conv_out


def _fmt_arr(a) -> str:
    a = np.asarray(a)
    if a.size <= 6:
        return np.array2string(a.reshape(-1), separator=",", max_line_width=200)
    flat = a.reshape(-1)
    return f"[{flat[0]},{flat[1]},{flat[2]},…,{flat[-1]}] ({a.size})"


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.:/+-]+")


def _nm(name: str) -> str:
    """A name as the dump shows it: plain names as they are, anything else (spaces,
    newlines, control characters, quotes: names come from the ONNX file) quoted with
    JSON escapes, so one op is always one line."""
    return name if _PLAIN_NAME.fullmatch(name) else json.dumps(name)


def dump(g: Graph) -> str:
    """A readable text form of ``g`` (``bnncc inspect --ir``)."""
    lines = [f"graph {_nm(g.name)} ({_nm(str(g.source))}) input %{_nm(g.input)}: {g.tensors[g.input]} "
             f"-> %{_nm(g.output)}"]
    for op in g.ops:
        args = ", ".join(f"%{_nm(i)}" for i in op.inputs)
        attrs = []
        if isinstance(op, O.FloatChain):
            attrs.append(f"role={op.role}")
            attrs.append("nodes=[" + ", ".join(n.op_type for n in op.nodes) + "]")
            if op.acc_range:
                attrs.append(f"acc_range=±{op.acc_range}")
        elif isinstance(op, (O.Dense, O.Conv2d)):
            attrs.append(f"weight={'x'.join(map(str, op.weight.shape))}")
            attrs.append(f"acc={op.acc}")
            if isinstance(op, O.Conv2d):
                attrs += [f"strides={op.strides}", f"pads={op.pads}", f"dilations={op.dilations}"]
            if op.mst is not None:
                m = op.mst
                attrs.append(f"mst=(metric={m.metric}, roots={int((m.parent < 0).sum())}, depth={m.depth}, "
                             f"complement={int(m.comp.sum())}, order={_fmt_arr(m.order)}, parent={_fmt_arr(m.parent)})")
        elif isinstance(op, O.Threshold):
            attrs += [f"per={op.per}", f"dir={_fmt_arr(op.dir)}", f"lo={_fmt_arr(op.lo)}", f"hi={_fmt_arr(op.hi)}"]
        elif isinstance(op, O.BinarizeInput):
            attrs += [f"level={op.level:g}", f"lo={_fmt_arr(op.lo)}", f"hi={_fmt_arr(op.hi)}"]
        elif isinstance(op, O.PoolBits):
            attrs += [f"kernel={op.kernel}", f"strides={op.strides}", f"pads={op.pads}",
                      f"min_channels={int((~op.is_max).sum())}"]
        elif isinstance(op, O.FloatSteps):
            attrs.append("steps=[" + ", ".join(s for s, _ in op.steps) + "]")
        elif isinstance(op, O.AffineOut):
            attrs.append(f"lut={op.lut.shape}" if op.lut is not None else "steps=[" + ", ".join(s for s, _ in op.steps) + "]")
        elif isinstance(op, O.Unpack):
            attrs.append(f"level={op.level:g}")
        lines.append(f"  %{_nm(op.output)}: {g.tensors[op.output]} = {op.kind}({args}) {{{', '.join(attrs)}}}  "
                     f"# {_nm(op.name)}")
    return "\n".join(lines) + "\n"
