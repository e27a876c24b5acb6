"""ONNX elementwise nodes -> candidate float32 step sequences (helper of
``lower_float_tail`` and ``lower_input_steps``).

A step is ``(kind, const)``: x' = x kind const, rounded to float32, const one float32
per element of the node's output (flat order; views keep that order).  Add, Sub, Mul,
Div, Neg, Relu and Clip have one spelling; BatchNormalization has several, because
its float32 result depends on how the engine groups the arithmetic: the callers keep
a candidate only if it reproduces the reference bit for bit.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..ir import ops as O
from ..onnx_eval import submodel
from ..onnx_shapes import infer_shapes

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


def step_options(op: O.FloatChain):
    """For each node, the list of candidate step sequences (None: a node that is not
    an elementwise op with constants)."""
    shapes = _shapes(op)
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
    m = submodel(op.nodes, op.consts, op.opsets, op.onnx_in, op.onnx_in_shape, [op.onnx_out])
    return infer_shapes(m)
