"""Pass: the chain from the float graph input to the first quantizer becomes a
per-element comparison rule (``BinarizeInput``).

Matches: the ``FloatChain`` with role ``input`` (e.g. Reshape, Mul 2, Sub 1,
BipolarQuant; or Div 255, ..., MultiThreshold; or Sign).

Identity: the chain is elementwise and monotone in each input element, and float32 is
totally ordered, so each element's output is a step function of x with at most three
levels {-a, 0, +a}.  ``float_search.step_rules`` finds the steps by binary search over
the float32 values, evaluating the *reference* chain (onnxruntime) at each probe:

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
from .float_search import from_key, step_rules


def _lower(op: O.FloatChain, tensors) -> O.BinarizeInput:
    n = int(np.prod(op.onnx_in_shape))
    where = f"node '{op.name}'"
    if int(np.prod(op.onnx_out_shape)) != n:
        raise UnsupportedError("the input quantizer must see every input element once", where=where)

    def evaluate(keys):
        x = from_key(keys).reshape(op.onnx_in_shape)
        (y,) = run_nodes(op.nodes, op.consts, op.opsets, op.onnx_in, x, [op.onnx_out])
        return y.reshape(-1)

    dirs, lo, hi, cval, ternary = step_rules(evaluate, n, op.level, where)
    tensors[op.output] = dataclasses.replace(tensors[op.output], dtype=DType.TERNARY if ternary else DType.BIPOLAR)
    return O.BinarizeInput(op.name, op.inputs, op.output, dir=dirs, lo=lo, hi=hi, const=cval,
                           perm=op.out_perm.astype(np.int64), level=float(op.level))


def run(g: Graph, options=None) -> Graph:
    tensors = dict(g.tensors)
    ops = tuple(_lower(op, tensors) if isinstance(op, O.FloatChain) and op.role == "input" else op for op in g.ops)
    return g.replace(tensors=tensors, ops=ops)
