"""Evaluate a piece of an ONNX graph with the reference engine (onnxruntime).

Float semantics are onnxruntime's; bnncc never re-derives them with its own float
formulas.  Passes that turn float chains into integer thresholds or lookup tables
evaluate the chain here on every value the integer accumulator can take.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .reference import session

_CACHE: dict[tuple, object] = {}


def submodel(nodes, consts: dict, opsets, in_name: str, in_shape, out_names) -> onnx.ModelProto:
    """A standalone model: input ``in_name`` (float32, ``in_shape``; use None for a free
    dimension), outputs ``out_names``, the given nodes and constant initializers."""
    used = {i for n in nodes for i in n.input}
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in sorted(consts.items()) if k in used and k != in_name]
    graph = helper.make_graph(
        list(nodes), "bnncc_chain",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, list(in_shape))],
        [onnx.ValueInfoProto(name=o) for o in out_names],
        initializer=inits,
    )
    ops = [helper.make_opsetid(d, v) for d, v in opsets] or [helper.make_opsetid("", 13)]
    return helper.make_model(graph, opset_imports=ops, ir_version=8)


def run_nodes(nodes, consts, opsets, in_name, x: np.ndarray, out_names, free_batch=False) -> list[np.ndarray]:
    """Run the nodes on ``x`` (float32, full ONNX shape) and return the named outputs."""
    if not nodes:
        return [np.asarray(x, dtype=np.float32) for _ in out_names]
    shape = list(x.shape)
    if free_batch:
        shape[0] = None
    key = (tuple(id(n) for n in nodes), in_name, tuple(shape), tuple(out_names))
    if key not in _CACHE:
        if len(_CACHE) > 256:
            _CACHE.clear()
        # keep the nodes alive with the session so that their ids stay unique
        _CACHE[key] = (session(submodel(nodes, consts, opsets, in_name, shape, out_names)), nodes)
    sess = _CACHE[key][0]
    return [np.asarray(o) for o in sess.run(list(out_names), {in_name: np.ascontiguousarray(x, dtype=np.float32)})]
