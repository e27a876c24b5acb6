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

from ..errors import UnsupportedError
from ..ir import ops as O
from ..ir.graph import Graph
from ..ir.interp import apply_step
from .onnx_steps import step_options
from .sweep import sweep

def _lower(op: O.FloatChain, max_lut_bytes: int) -> O.AffineOut:
    k = op.acc_range
    xs = np.arange(-k, k + 1, dtype=np.int64)
    ref = sweep(op, xs)  # [2K+1, n_out]
    n_out = ref.shape[1]
    if n_out != math.prod(op.onnx_in_shape):
        raise UnsupportedError("the float tail must be elementwise", where=f"node '{op.name}'")
    base = (xs.astype(np.float32)[:, None] * op.acc_scale[None, :]).astype(np.float32)
    options = step_options(op) if op.nodes else [[[]]]
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
