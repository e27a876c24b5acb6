"""Pass: the elementwise chain before a first layer with real-valued input (e.g. Div
255, Sub mean, Div std) becomes ``FloatSteps``.

Matches: the ``FloatChain`` with role ``input_real``.

Identity: each node is one IEEE-754 float32 operation per element with a constant
(Add, Sub, Mul, Div, Neg, Relu/Clip as max/min), and the reference engine evaluates it
as exactly that operation, correctly rounded; replaying the same operations in the
same order, each rounded to float32 (the C backend compiles with
``-ffp-contract=off``), gives the same bits for every input.  Nodes with several
possible spellings (BatchNormalization) cannot be proven on an infinite input domain
and are refused.  As a guard against a misread graph, the replay is also compared with
onnxruntime on probe inputs (integers 0..255, signed values over many magnitudes,
zeros) and must match bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.interp import apply_step
from ..onnx_eval import run_nodes
from .onnx_steps import step_options


def _probes(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = [np.arange(n) % 256, np.zeros(n), -np.arange(n) % 7,
            rng.standard_normal(n), rng.standard_normal(n) * 1e3, rng.standard_normal(n) * 1e-3,
            rng.uniform(0, 1, n)]
    return np.stack(rows).astype(np.float32)


def _lower(op: O.FloatChain) -> O.FloatSteps:
    where = f"node '{op.name}'"
    n = math.prod(op.onnx_in_shape)
    if math.prod(op.onnx_out_shape) != n:
        raise UnsupportedError("the chain before a real-input layer must keep the number of elements", where=where)
    options = step_options(op)
    if options is None or any(len(o) != 1 for o in options):
        bad = next((node for node, o in zip(op.nodes, options or []) if len(o) != 1), op.nodes[0])
        raise UnsupportedError(f"{bad.op_type} before a real-input layer cannot be reproduced exactly "
                               "(spell the preprocessing as Sub/Div/Mul/Add)", where=f"node '{bad.name or bad.output[0]}'")
    steps = tuple(s for o in options for s in o[0])
    for _, c in steps:
        if c.size != n:
            raise UnsupportedError("a constant broadcasts the input to a larger shape", where=where)
    for x in _probes(n):
        (ref,) = run_nodes(op.nodes, op.consts, op.opsets, op.onnx_in, x.reshape(op.onnx_in_shape), [op.onnx_out])
        v = x
        for kind, c in steps:
            v = apply_step(kind, v, c)
        if not np.array_equal(v.view(np.int32), np.asarray(ref, np.float32).reshape(-1).view(np.int32)):
            raise UnsupportedError("cannot reproduce the input preprocessing bit for bit", where=where)
    return O.FloatSteps(op.name, op.inputs, op.output, steps=steps, src=op.out_perm.astype(np.int64))


def run(g: Graph, options=None) -> Graph:
    ops = tuple(_lower(op) if isinstance(op, O.FloatChain) and op.role == "input_real" else op for op in g.ops)
    return g.replace(ops=ops)
