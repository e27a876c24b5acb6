"""Exhaustive evaluation of a ``FloatChain`` with the reference engine.

The accumulator of a binary layer is an integer in [-K, K], so a float chain applied
to it is a function on at most 2K+1 points: evaluate it on all of them, in
onnxruntime, and nothing about float rounding needs to be assumed.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import BnnccError, UnsupportedError
from ..ir import ops as O
from ..onnx_eval import run_nodes

CHUNK_ELEMENTS = 1 << 22
# values the exhaustive evaluation may produce (float32: 512 MiB); far above MCU-sized layers
MAX_SWEEP_VALUES = 1 << 27


def sweep(op: O.FloatChain, values: np.ndarray, nodes=None, out_name=None) -> np.ndarray:
    """Evaluate the chain with every accumulator element equal to v, for each v in
    ``values``.  Returns float32 [len(values), n_out] (ONNX output order)."""
    nodes = op.nodes if nodes is None else nodes
    out_name = op.onnx_out if out_name is None else out_name
    shape = tuple(op.onnx_in_shape)
    numel = math.prod(shape)
    scale = op.acc_scale.reshape(shape)
    values = np.asarray(values, dtype=np.int64)
    if len(values) * numel > MAX_SWEEP_VALUES:
        raise UnsupportedError(
            f"the chain after this layer would be evaluated on {len(values)} accumulator values x {numel} elements; "
            f"the limit is {MAX_SWEEP_VALUES} (bnncc.passes.sweep.MAX_SWEEP_VALUES)", where=f"node '{op.name}'")
    rows = []
    per = max(1, CHUNK_ELEMENTS // max(1, numel))
    batched = True
    for start in range(0, len(values), per):
        vs = values[start:start + per]
        x = (vs.astype(np.float32)[:, None] * scale.reshape(1, -1)).reshape((len(vs),) + shape[1:])
        if batched and shape[0] == 1:
            try:
                (y,) = run_nodes(nodes, op.consts, op.opsets, op.onnx_in, x, [out_name], free_batch=True)
                if y.shape[0] == len(vs):
                    rows.append(y.reshape(len(vs), -1))
                    continue
            except BnnccError:
                pass
            batched = False  # a fixed-batch reshape in the chain: one value at a time
        for row in x:
            (y,) = run_nodes(nodes, op.consts, op.opsets, op.onnx_in, row.reshape(shape), [out_name])
            rows.append(y.reshape(1, -1))
    return np.concatenate(rows).astype(np.float32)
