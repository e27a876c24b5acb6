"""Pass: the float tail after the last binary layer becomes ``AffineOut``.

Matches: the ``FloatChain`` with role ``tail`` (e.g. TensorNorm spelled Sub, Div, Mul,
Add; or a BatchNormalization; scalar or per-channel constants; Relu/Clip).

Identity: the tail is a function of the integer accumulator x in [-K, K].  We evaluate
the reference chain at every x and then either

* replay it as float32 steps (x*scale, then each Add/Sub/Mul/Div/Max/Min in the
  graph's order; BatchNormalization spelled the way onnxruntime computes it), accepted
  only if the replay equals the reference bit for bit at **every** x in [-K, K]; the C
  backend emits the same steps, each rounded to float32 (``-ffp-contract=off``); or
* store the reference values as a lookup table (n_out x (2K+1) floats) when no replay
  matches and the table fits the target's ``max_lut_bytes``.

Otherwise the model is refused: there is no float guesswork in the output.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from onnx import helper

from ..errors import UnsupportedError
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.interp import apply_step
from .sweep import sweep

ARITH = {"Add": ("add", "add"), "Sub": ("sub", "rsub"), "Mul": ("mul", "mul"), "Div": ("div", "rdiv")}


def _bcast(c, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(c, np.float32), shape).reshape(-1).astype(np.float32)


def _bn_variants(node, consts, shape):
    """Candidate float32 spellings of BatchNormalization as steps."""
    g, b, m, v = (np.asarray(consts[i], np.float32) for i in node.input[1:5])
    eps = np.float32(next((helper.get_attribute_value(a) for a in node.attribute if a.name == "epsilon"), 1e-5))
    cshape = (g.size,) + (1,) * (len(shape) - 2)
    r = lambda a: _bcast(a.reshape(cshape), shape)  # noqa: E731
    with np.errstate(all="ignore"):
        sd = np.sqrt(v + eps).astype(np.float32)
        s1 = (g / sd).astype(np.float32)
        inv = (np.float32(1) / sd).astype(np.float32)
        s2 = (inv * g).astype(np.float32)
        yield [("mul", r(s1)), ("add", r((b - m * s1).astype(np.float32)))]
        yield [("mul", r(s2)), ("add", r((b - m * s2).astype(np.float32)))]
        yield [("sub", r(m)), ("div", r(sd)), ("mul", r(g)), ("add", r(b))]
        yield [("sub", r(m)), ("mul", r(s1)), ("add", r(b))]
        yield [("sub", r(m)), ("mul", r(inv)), ("mul", r(g)), ("add", r(b))]


def _step_options(op: O.FloatChain, shapes):
    """For each node, the list of candidate step sequences."""
    opts = []
    for node in op.nodes:
        t = node.op_type
        shape = shapes[node.output[0]]
        if t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
            opts.append([[]])
        elif t in ARITH:
            act_first = node.input[0] not in op.consts
            c = op.consts[node.input[1] if act_first else node.input[0]]
            kind = ARITH[t][0 if act_first else 1]
            opts.append([[(kind, _bcast(c, shape))]])
        elif t == "Neg":
            opts.append([[("mul", _bcast(np.float32(-1), shape))]])
        elif t == "Relu":
            opts.append([[("max", _bcast(np.float32(0), shape))]])
        elif t == "Clip":
            lo = op.consts.get(node.input[1]) if len(node.input) > 1 and node.input[1] else None
            hi = op.consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
            lo = a.get("min") if lo is None else lo
            hi = a.get("max") if hi is None else hi
            steps = ([("max", _bcast(np.float32(lo), shape))] if lo is not None else []) + \
                    ([("min", _bcast(np.float32(hi), shape))] if hi is not None else [])
            opts.append([steps])
        elif t == "BatchNormalization":
            opts.append(list(_bn_variants(node, op.consts, shape)))
        else:
            return None
    return opts


def _shapes(op: O.FloatChain):
    from ..onnx_eval import submodel
    from ..onnx_shapes import infer_shapes
    m = submodel(op.nodes, op.consts, op.opsets, op.onnx_in, op.onnx_in_shape, [op.onnx_out])
    return infer_shapes(m)


def _lower(op: O.FloatChain, max_lut_bytes: int) -> O.AffineOut:
    k = op.acc_range
    xs = np.arange(-k, k + 1, dtype=np.int64)
    ref = sweep(op, xs)  # [2K+1, n_out]
    n_out = ref.shape[1]
    if n_out != math.prod(op.onnx_in_shape):
        raise UnsupportedError("the float tail must be elementwise", where=f"node '{op.name}'")
    base = (xs.astype(np.float32)[:, None] * op.acc_scale[None, :]).astype(np.float32)
    options = _step_options(op, _shapes(op)) if op.nodes else [[[]]]
    if options is not None:
        for combo in itertools.islice(itertools.product(*options), 64):
            steps = [s for seq in combo for s in seq]
            v = base
            for kind, c in steps:
                v = apply_step(kind, v, c[None, :])
            if np.array_equal(v.view(np.int32), ref.view(np.int32)):
                return O.AffineOut(op.name, op.inputs, op.output, acc_scale=op.acc_scale, steps=tuple(steps),
                                   acc_range=k, src=op.in_perm.astype(np.int64))
    lut_bytes = ref.size * 4
    if lut_bytes <= max_lut_bytes:
        return O.AffineOut(op.name, op.inputs, op.output, acc_scale=op.acc_scale, lut=np.ascontiguousarray(ref.T),
                           acc_range=k, src=op.in_perm.astype(np.int64))
    raise UnsupportedError(
        f"cannot reproduce the float tail exactly with float32 steps, and its lookup table ({lut_bytes} bytes) "
        f"exceeds the target's max_lut_bytes ({max_lut_bytes})", where=f"node '{op.name}'")


def run(g: Graph, options=None) -> Graph:
    max_lut = (options or {}).get("max_lut_bytes", 65536)
    ops = tuple(_lower(op, max_lut) if isinstance(op, O.FloatChain) and op.role == "tail" else op for op in g.ops)
    return g.replace(ops=ops)
